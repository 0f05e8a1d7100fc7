"""Cold start: from `streamlit run app.py` to the home page's sample grid painted in Chromium.

Timed from launching the server process to the first `st.image` picture loaded and drawn in a
page opened as soon as the server answers its health check (Chromium is started beforehand, as
a user's browser is). Baseline in the same run: a stock one-file Streamlit app that imports
torch and shows one picture, the floor any PyTorch app in Streamlit pays. Medians of --repeats
runs, alternating the two. Run from the repo root:

    python -m benchmarks.cold_start

It prints a markdown table and writes JSON to benchmarks/results/cold_start.json.
"""

import argparse
import json
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from support.browser import STOCK_APP, chromium, serve, wait_for_painted_image
from support.machine import machine

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "cold_start.json"
GOAL_S = 6.0


def cold_start(page, script: str | Path) -> dict:
    with serve(script) as server:
        page.goto(server.url)
        wait_for_painted_image(page)
        painted = time.perf_counter()
    return {"server_up_s": server.healthy - server.started, "painted_s": painted - server.started}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    runs = {"stock": [], "genviz": []}
    with tempfile.TemporaryDirectory() as folder, chromium() as page:
        stock = Path(folder) / "stock_app.py"
        stock.write_text(STOCK_APP)
        for _ in range(args.repeats):
            for name, script in (("stock", stock), ("genviz", "app.py")):
                runs[name].append(cold_start(page, script))
                page.goto("about:blank")
    rows = {
        name: {key: round(statistics.median(r[key] for r in results), 2) for key in ("server_up_s", "painted_s")}
        for name, results in runs.items()
    }
    result = {
        "rows": rows,
        "runs": runs,
        "goal_s": GOAL_S,
        "goal_met": rows["genviz"]["painted_s"] < GOAL_S,
        "machine": machine(torch.device("cpu")),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    where = f"{result['machine']['processor']}, {result['machine']['cpu_count']} cores"
    print(f"\nCold start, median of {args.repeats}, {where}, {result['date']}\n")
    print("| app | server answering | first picture painted |\n| --- | ---: | ---: |")
    labels = {"stock": "stock Streamlit app (torch + one picture)", "genviz": "genviz home page (64 samples)"}
    for name, row in rows.items():
        print(f"| {labels[name]} | {row['server_up_s']:.2f} s | {row['painted_s']:.2f} s |")
    verdict = "met" if result["goal_met"] else "missed"
    print(f"\nGoal: genviz painted under {GOAL_S} s: {verdict} ({rows['genviz']['painted_s']:.2f} s).")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
