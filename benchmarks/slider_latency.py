"""Latent sliders, slider to pixels in a real browser: how long from a key press on a latent
slider to the new decoded image painted, with the image editor in a fragment (the page as it
ships) against the same page rerunning its whole script (GENVIZ_SLIDER_FRAGMENT=0): Streamlit's own
sliders, decoded on the server (GENVIZ_BROWSER_DECODE=0 turns off decoding in the browser for both).

Two `streamlit run app.py` servers, one per variant, over the shipped checkpoints (the default
model, mnist-vae); Playwright drives Debian's Chromium. On each page the first dimension slider is
sent Home and then ArrowRight --moves times, one key press at a time, the variants taking turns in
blocks of --block presses so that a busy machine slows both alike. Each press is timed in the page
with `performance.now()`: from the keydown event (a capture listener on window; the event's own
timestamp) to the "decoded" image painted (its <img> has a new src, `img.decode()` has resolved and
two animation frames have passed). The next press waits until the run has ended. The first
--warmup presses of each page are not counted. Each press is also split in stages: from the key
press to the rerun request on the websocket (Streamlit's frontend), to the server's first message
back (the run has started), to the new src in the page (the run up to the image, its messages
sent and rendered), to the image loaded and decoded, and two frames. Run from the repo root:

    GENVIZ_DATA_DIR=../shared/data python -m benchmarks.slider_latency

It prints a markdown table and writes JSON to benchmarks/results/slider_latency.json.
"""

import argparse
import json
import statistics
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

import streamlit
import torch
from playwright.sync_api import sync_playwright

from support.browser import CHROMIUM, FLAGS, serve
from support.machine import machine
from support.probes import IDLE, PROBE, percentile

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "slider_latency.json"
VARIANTS = {"baseline (full rerun)": "0", "fragment": "1"}  # name: GENVIZ_SLIDER_FRAGMENT
GOAL_MEDIAN_MS, GOAL_P95_MS = 100, 200
SLIDER = "[data-testid=stSlider] input[type=range]"


def open_sliders(browser, url: str):
    """The Latent sliders page, settled, with its first dimension slider focused."""
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.set_default_timeout(120_000)
    page.add_init_script(PROBE)
    page.goto(f"{url}/sliders")
    page.locator("[data-testid=stImage]", has_text="decoded").locator("img").wait_for()
    page.wait_for_selector(IDLE, state="attached")
    if page.get_by_test_id("stException").count():
        raise SystemExit(f"the page failed: {page.get_by_test_id('stException').first.inner_text()}")
    page.locator(SLIDER).first.focus()
    return page


def press(page, key: str) -> dict:
    """One key press on the focused slider; its timestamps once the new image is painted and the run ended."""
    pending = page.evaluate_handle("() => ({ done: window.__arm() })")  # not awaited here
    page.keyboard.press(key)
    mark = page.evaluate("(p) => p.done", pending)
    pending.dispose()
    page.wait_for_selector(IDLE, state="attached")
    return mark


def stages(mark: dict) -> dict:
    """A press's latency and its stages, in ms."""
    return {
        "total": mark["end"] - mark["key"],
        "frontend": mark["sent"] - mark["key"],  # key press to the rerun request on the websocket
        "ack": mark["ack"] - mark["sent"],  # to the server's first message back: the run has started
        "src": mark["src"] - mark["ack"],  # to the new src in the DOM: the run up to the image, sent, rendered
        "load": mark["decoded"] - mark["src"],  # the image fetched (unless inline) and decoded
        "frames": mark["end"] - mark["decoded"],  # two animation frames, the first of which paints it
        "long_tasks": mark["long"],  # of the total: main-thread tasks over 50 ms
        "messages": mark["messages"],  # from the server before the new image was painted
    }


def summary(name: str, presses: list[dict]) -> dict:
    timed = [stages(m) for m in presses if not m.get("unchanged")]
    totals = [t["total"] for t in timed]
    return {
        "variant": name,
        "n": len(totals),
        "unchanged": sum(1 for m in presses if m.get("unchanged")),
        "median_ms": statistics.median(totals),
        "p95_ms": percentile(totals, 95),
        "min_ms": min(totals),
        "max_ms": max(totals),
        "stage_medians_ms": {k: statistics.median(t[k] for t in timed) for k in timed[0] if k != "total"},
        "presses_ms": timed,
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.slider_latency", description=__doc__.split("\n\n")[0])
    p.add_argument("--moves", type=int, default=50, help="timed key presses per variant")
    p.add_argument(
        "--warmup", type=int, default=5, help="untimed key presses per variant first (Home, then ArrowRight)"
    )
    p.add_argument("--block", type=int, default=10, help="presses on one variant before the other takes its turn")
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args()
    if not Path(CHROMIUM).is_file():
        raise SystemExit(f"no Chromium at {CHROMIUM} (apt-get install chromium)")

    presses: dict[str, list[dict]] = {name: [] for name in args.variants}
    with ExitStack() as stack:
        pages = {}
        for name in args.variants:
            pages[name] = stack.enter_context(
                serve("genviz/app.py", {"GENVIZ_SLIDER_FRAGMENT": VARIANTS[name], "GENVIZ_BROWSER_DECODE": "0"})
            ).url
        playwright = stack.enter_context(sync_playwright())
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        stack.callback(browser.close)
        chromium = browser.version
        for name, url in pages.items():
            pages[name] = page = open_sliders(browser, url)
            for i in range(args.warmup):
                press(page, "Home" if i == 0 else "ArrowRight")
        while any(len(presses[name]) < args.moves for name in args.variants):
            for name, page in pages.items():
                for _ in range(min(args.block, args.moves - len(presses[name]))):
                    presses[name].append(press(page, "ArrowRight"))

    rows = [summary(name, presses[name]) for name in args.variants]
    print(f"\nmnist-vae, Latent sliders page, {args.moves} key presses per variant, Chromium (headless), CPU\n")
    print(
        "| variant | median ms | p95 ms | min ms | max ms | n "
        "| median stages ms: frontend / ack / src / load / frames | long tasks ms | messages |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
    for r in rows:
        s = r["stage_medians_ms"]
        print(
            f"| {r['variant']} | {r['median_ms']:.0f} | {r['p95_ms']:.0f} | {r['min_ms']:.0f} | {r['max_ms']:.0f} | "
            f"{r['n']} | {s['frontend']:.0f} / {s['ack']:.0f} / {s['src']:.0f} / {s['load']:.0f} / {s['frames']:.0f} "
            f"| {s['long_tasks']:.0f} | {s['messages']:.0f} |"
        )
    print(f"\nGoal: median at most {GOAL_MEDIAN_MS} ms, 95th percentile at most {GOAL_P95_MS} ms.")
    for r in rows:
        met = r["median_ms"] <= GOAL_MEDIAN_MS and r["p95_ms"] <= GOAL_P95_MS
        skipped = f" ({r['unchanged']} presses left the image unchanged, not counted)" if r["unchanged"] else ""
        print(f"- {r['variant']}: {'met' if met else 'missed'}{skipped}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "checkpoint": "checkpoints/mnist-vae",
        "machine": machine(torch.device("cpu")),
        "streamlit": streamlit.__version__,
        "chromium": chromium,
        "moves": args.moves,
        "warmup": args.warmup,
        "goal": {"median_ms": GOAL_MEDIAN_MS, "p95_ms": GOAL_P95_MS},
        "rows": rows,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
