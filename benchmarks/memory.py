"""Memory: the app server's peak resident memory after every page has been opened with every shipped MNIST
model, in one browser session.

Chromium opens the app, picks each MNIST model in the sidebar (ae, dae, vae, gan) and visits every
page with it, waiting each time until Streamlit has finished its run (so every map, score and
curve the pages compute by default is computed). The figure is the server process's VmHWM (peak
resident set) from /proc. Baselines in the same run: a stock one-file Streamlit app that imports
torch and shows one picture, and genviz after its home page alone. Run from the repo root:

    GENVIZ_DATA_DIR=../shared/data python -m benchmarks.memory

It prints a markdown table and writes JSON to benchmarks/results/memory.json.
"""

import argparse
import json
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from support.browser import STOCK_APP, chromium, peak_rss_mib, serve, wait_for_painted_image
from support.machine import machine

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "memory.json"
GOAL_MIB = 1.5 * 1024
MODELS = ("mnist-ae", "mnist-dae", "mnist-vae", "mnist-gan")
PAGES = (
    "Home",
    "Latent map",
    "Sample",
    "Latent sliders",
    "Interpolate",
    "Reconstruct and denoise",
    "Anomaly detection",
)


def settled(page) -> None:
    """Until Streamlit's run is over: its status widget shows, after a moment, while a script runs."""
    status = page.get_by_test_id("stStatusWidget")
    try:
        status.wait_for(state="attached", timeout=2_000)
    except PlaywrightTimeout:
        pass  # a run so short that the widget never showed
    status.wait_for(state="detached", timeout=600_000)


def pick_model(page, name: str) -> None:
    page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option", name=name, exact=True).click()
    settled(page)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--env", nargs="*", default=[], help="NAME=VALUE settings for the app's server")
    args = parser.parse_args(argv)
    rows = {}
    with tempfile.TemporaryDirectory() as folder, chromium() as page:
        stock = Path(folder) / "stock_app.py"
        stock.write_text(STOCK_APP)
        with serve(stock) as server:
            page.goto(server.url)
            wait_for_painted_image(page)
            rows["stock Streamlit app (torch + one picture)"] = peak_rss_mib(server.process.pid)
        with serve("genviz/app.py", dict(e.split("=", 1) for e in args.env)) as server:
            page.goto(server.url)
            wait_for_painted_image(page)
            settled(page)
            rows["genviz, home page"] = peak_rss_mib(server.process.pid)
            start = time.perf_counter()
            for model in MODELS:
                pick_model(page, model)
                for title in PAGES:
                    page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
                    settled(page)
                    print(f"{model}, {title}: {peak_rss_mib(server.process.pid):.0f} MiB", flush=True)
            rows[f"genviz, {len(PAGES)} pages x {len(MODELS)} MNIST models"] = peak_rss_mib(server.process.pid)
            walk_s = time.perf_counter() - start
    peak = rows[f"genviz, {len(PAGES)} pages x {len(MODELS)} MNIST models"]
    result = {
        "peak_rss_mib": {k: round(v) for k, v in rows.items()},
        "goal_mib": GOAL_MIB,
        "goal_met": peak < GOAL_MIB,
        "walk_seconds": round(walk_s, 1),
        "machine": machine(torch.device("cpu")),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    where = f"{result['machine']['processor']}, {result['machine']['cpu_count']} cores"
    print(f"\nPeak resident memory of the server process, {where}, {result['date']}\n")
    print("| app, after | peak RSS |\n| --- | ---: |")
    for name, mib in rows.items():
        print(f"| {name} | {mib:,.0f} MiB |")
    print(f"\nGoal: under {GOAL_MIB:,.0f} MiB: {'met' if result['goal_met'] else 'missed'} ({peak:,.0f} MiB).")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
