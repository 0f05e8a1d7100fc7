"""Cold start: from launching the app as `make run` does to the home page's sample grid painted in Chromium.

genviz is started by `make run` itself (its recipe, whatever it holds, with this Python and its install step
taken as done), the server's port given through Streamlit's environment variables; the stock baseline is a
one-file Streamlit app that imports torch and shows one picture, started by a plain `streamlit run` in a folder
of its own: the floor any PyTorch app in Streamlit pays. Each is timed from its launch to the first `st.image`
picture of the main area loaded and drawn in a page opened as soon as the server answers its health check
(Chromium is started beforehand, as a user's browser is).

Two genviz starts: a later one, on genviz's cache as this machine has it (decoders exported by an earlier
start), and a fresh clone's first, on an empty cache, where `make run` exports every decoder in the background
meanwhile. Medians of --repeats rounds, each round running the three in turn (the fresh clone in the first
--fresh-repeats only). Run from the repo root:

    python -m benchmarks.cold_start

It prints a markdown table and writes JSON to benchmarks/results/cold_start.json.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import torch

from support.browser import ROOT, STOCK_APP, chromium, free_port, wait_for_painted_image, wait_until_healthy
from support.machine import machine

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "cold_start.json"
GOAL_RATIO = 1.15  # genviz's later start to its first picture, at most this many times the stock app's
VENV = ".venv"  # the Makefile's; its install step is taken as done (make -o)
LABELS = {
    "stock": "stock Streamlit app (torch + one picture)",
    "genviz": "genviz home page (64 samples), `make run`",
    "genviz_fresh": "genviz, a fresh clone's first `make run` (empty cache)",
}


def make_run() -> list[str]:
    """`make run` with this Python, its install step not remade: the command a user types."""
    return ["make", "--no-print-directory", "-s", "-o", f"{VENV}/.installed", "run", f"PY={sys.executable}"]


def stock_run(script: Path) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(script)]


@contextmanager
def launched(command: list[str], cwd: Path, env: dict, timeout: float = 120):
    """Start `command` (a Streamlit server, on the port in env's STREAMLIT_SERVER_PORT) in a process group of its
    own; yield (launch time, URL, time its health endpoint first answered); stop the whole group afterwards
    (make, the server, and whatever the server started)."""
    url = f"http://127.0.0.1:{env['STREAMLIT_SERVER_PORT']}"
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_until_healthy(url, process, started, timeout, command[0])
        yield started, url, time.perf_counter()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def cold_start(page, command: list[str], cwd: Path, env: dict) -> dict:
    env = {
        "STREAMLIT_SERVER_PORT": str(free_port()), "STREAMLIT_SERVER_HEADLESS": "true",
        "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", **env,
    }  # fmt: skip
    with launched(command, cwd, env) as (started, url, healthy):
        page.goto(url)
        wait_for_painted_image(page)
        painted = time.perf_counter()
    page.goto("about:blank")
    return {"server_up_s": healthy - started, "painted_s": painted - started}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--fresh-repeats", type=int, default=None, help="rounds with the fresh clone (default: all)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    runs = {name: [] for name in LABELS}
    checkpoints = {"GENVIZ_CHECKPOINTS": str(ROOT / "checkpoints")}
    with tempfile.TemporaryDirectory(prefix="genviz-cold-") as folder, chromium() as page:
        stock = Path(folder) / "stock" / "stock_app.py"
        stock.parent.mkdir()
        stock.write_text(STOCK_APP)
        for i in range(args.repeats):
            empty = Path(folder) / f"cache-{i}"
            runs["stock"].append(cold_start(page, stock_run(stock), stock.parent, {}))
            runs["genviz"].append(cold_start(page, make_run(), ROOT, checkpoints))
            if i < (args.repeats if args.fresh_repeats is None else args.fresh_repeats):
                fresh = {**checkpoints, "GENVIZ_CACHE_DIR": str(empty)}
                runs["genviz_fresh"].append(cold_start(page, make_run(), ROOT, fresh))
    rows = {
        name: {key: round(statistics.median(r[key] for r in results), 2) for key in ("server_up_s", "painted_s")}
        for name, results in runs.items()
        if results
    }
    stock = rows["stock"]["painted_s"]
    ratios = {name: round(rows[name]["painted_s"] / stock, 2) for name in ("genviz", "genviz_fresh") if name in rows}
    result = {
        "rows": rows,
        "ratios": ratios,
        "runs": runs,
        "command": " ".join(make_run()),
        "goal_ratio": GOAL_RATIO,
        "goal_met": ratios["genviz"] <= GOAL_RATIO,
        "load_average": os.getloadavg(),
        "machine": machine(torch.device("cpu")),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    where = f"{result['machine']['processor']}, {result['machine']['cpu_count']} cores"
    print(f"\nCold start, median of {args.repeats}, {where}, {result['date']}\n")
    print("| app | server answering | first picture painted | against stock |\n| --- | ---: | ---: | ---: |")
    for name, row in rows.items():
        ratio = f"{ratios[name]:.2f}x" if name in ratios else ""
        print(f"| {LABELS[name]} | {row['server_up_s']:.2f} s | {row['painted_s']:.2f} s | {ratio} |")
    verdict = "met" if result["goal_met"] else "missed"
    print(f"\nGoal: a later `make run` at most {GOAL_RATIO}x the stock app: {verdict} ({ratios['genviz']:.2f}x).")
    print("Load average at the end (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in result["load_average"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
