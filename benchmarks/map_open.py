"""The Latent map as a newcomer meets it: genviz against the stock baseline in the same run.

Two `streamlit run app.py` servers over the shipped checkpoints, each with an empty GENVIZ_CACHE_DIR and an empty
NUMBA_CACHE_DIR (a fresh install; the ONNX decoders exported first, as `make run` does):

- genviz: the app as it ships: the map opens from the checkpoint's explore bundle in genviz's component (WebGL);
- stock: the app before explore bundles and the WebGL map: the checkpoints copied without their bundles and
  GENVIZ_BROWSER_DECODE=0, so the page encodes, runs UMAP and draws Plotly's map, as it did.

Playwright drives Debian's Chromium, headless, a fresh browser context (empty HTTP cache and IndexedDB) for each
open. Measured on mnist-vae:

- first open: from `goto /map?model=mnist-vae` to every point of the default map drawn (the component's canvas
  reports them drawn; Plotly's SVG markers number them), on the server's first map;
- 70,000-point cached open: the map of every test and training image (`points=all`), computed once on each
  server beforehand (genviz computes it and the stock server gets a copy of the cache file), then opened in a
  fresh context: from `goto` to its 70,000 points drawn;
- click a point: from the pointer going down on a lone point to its image and its reconstruction painted (the
  component's pick panel; Plotly: the page's "reconstruction" picture loaded after the rerun);
- click empty space: from the pointer going down on empty space (a spot far from every point inside the map) to
  the decode of UMAP's exact inverse there painted (the component shows the server's answer; Plotly: the
  "inverse of the clicked spot" picture).

Run from the repo root (about 10 minutes: the stock server's first map compiles UMAP, and each server computes
the 70,000-point map once):

    GENVIZ_DATA_DIR=../shared/data python -m benchmarks.map_open

It prints a markdown table and writes JSON to benchmarks/results/map_open.json. benchmarks/map_render.py measures
pan and zoom frame rates and hover latency.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from scipy.spatial import Delaunay, cKDTree

from benchmarks.map_speed import DRAWN
from support.browser import CHROMIUM, FLAGS, serve
from support.machine import machine
from support.probes import PLOTLY_EMPTY_SPOT

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "map_open.json"
MODEL = "mnist-vae"
FRAME = "iframe[title*=genviz_decoder_canvas]"
GOALS = {"first_s": 3.0, "cached_all_s": 1.0, "point_ms": 200.0, "space_ms": 500.0}
# The component's map drawn with n points (evaluated in the page).
CANVAS_DRAWN = """(n) => {
  const frame = document.querySelector('iframe[title*=genviz_decoder_canvas]');
  const canvas = frame && frame.contentDocument && frame.contentDocument.querySelector('[data-testid=map-canvas]');
  return Boolean(canvas) && canvas.dataset.points === String(n);
}"""
# In the component's frame: from the next pointer press to the pick panel's canvas `label` painted (ms).
PICK_TIMER = """(label) => {
  window.__pickMs = null;
  let down = null;
  addEventListener('pointerdown', (e) => { down = e.timeStamp; }, { capture: true, once: true });
  const observer = new MutationObserver(() => {
    const canvas = document.querySelector(`[data-testid=map-pick] canvas[aria-label="${label}"]`);
    if (down === null || !canvas || !(Number(canvas.dataset.frames) > 0)) return;
    observer.disconnect();
    requestAnimationFrame(() => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => { window.__pickMs = performance.now() - down; };
      channel.port2.postMessage(null);
    });
  });
  const watched = { subtree: true, childList: true, attributes: true, attributeFilter: ['data-frames'] };
  observer.observe(document.body, watched);
}"""


def stock_checkpoints(folder: Path) -> Path:
    """The shipped checkpoints as they were before explore bundles."""
    out = folder / "stock-checkpoints"
    shutil.copytree(ROOT / "checkpoints", out, ignore=shutil.ignore_patterns("explore", "thumbnails"))
    return out


def fresh_env(folder: Path, name: str, checkpoints: Path, extra: dict) -> dict:
    env = {
        "GENVIZ_CHECKPOINTS": str(checkpoints),
        "GENVIZ_CACHE_DIR": str(folder / f"{name}-cache"),
        "NUMBA_CACHE_DIR": str(folder / f"{name}-numba"),
        **extra,
    }
    # As `make run` does before starting the app: the decoders exported for the browser.
    subprocess.run([sys.executable, "-m", "genviz.export", str(checkpoints)], cwd=ROOT, env={**os.environ, **env},
                   check=True, capture_output=True)  # fmt: skip
    return env


def component_frame(page):
    return page.locator(FRAME).element_handle().content_frame()


def open_map(browser, url: str, genviz: bool, n: int, query: str = "") -> tuple[float, object]:
    """Seconds from goto to the map's n points drawn, in a fresh context; and the page, left open."""
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(900_000)
    start = time.perf_counter()
    page.goto(f"{url}/map?model={MODEL}{query}")
    page.wait_for_function(CANVAS_DRAWN if genviz else DRAWN, arg=n, polling=20)
    return time.perf_counter() - start, page


def screen_points(page, n: int) -> tuple[np.ndarray, object]:
    """Every point's page position on the component's map, and the frame."""
    frame = component_frame(page)
    frame.wait_for_function("() => document.querySelector('[data-testid=map-canvas]').dataset.decoder === 'ready'")
    box = page.locator(FRAME).bounding_box()
    every = f"() => Array.from({{length: {n}}}, (_, i) => genvizMap.screenOf(i))"
    return np.array(frame.evaluate(every)) + [box["x"], box["y"]], frame


def lone_point(at: np.ndarray) -> int:
    distance, _ = cKDTree(at).query(at, k=2)
    middle = np.linalg.norm(at - np.median(at, 0), axis=1) < 250  # clear of the toolbar and the edges
    return int(np.argmax(np.where(middle, distance[:, 1], -1)))


def empty_spot(at: np.ndarray) -> np.ndarray:
    tri = Delaunay(at)
    centroids = at[tri.simplices].mean(1)
    distance, _ = cKDTree(at).query(centroids)
    return centroids[int(np.argmax(distance))]


def timed_pick(page, frame, label: str, xy) -> float:
    frame.evaluate(PICK_TIMER, label)
    page.mouse.move(*xy, steps=3)
    page.mouse.click(*xy)
    frame.wait_for_function("() => window.__pickMs !== null", polling=10)
    return float(frame.evaluate("() => window.__pickMs"))


def genviz_clicks(page, n: int, repeats: int) -> dict:
    at, frame = screen_points(page, n)
    point, spot = lone_point(at), empty_spot(at)
    points, spaces = [], []
    for _ in range(repeats):
        points.append(timed_pick(page, frame, "Reconstruction", at[point]))
        spaces.append(timed_pick(page, frame, "UMAP inverse, on the server", spot))
    return {"point_ms": statistics.median(points), "space_ms": statistics.median(spaces)}


def settled(page) -> None:
    page.wait_for_timeout(300)
    page.get_by_test_id("stStatusWidget").wait_for(state="detached", timeout=900_000)


def loaded(page, caption: str) -> None:
    image = page.locator("[data-testid=stMain] [data-testid=stImage]", has_text=caption).locator("img").first
    image.wait_for()
    image.evaluate("img => img.decode()")


def stock_clicks(page, repeats: int) -> dict:
    points, spaces = [], []
    data = page.locator(".js-plotly-plot .scatterlayer .trace:nth-child(2) .points path")
    spot = page.evaluate(PLOTLY_EMPTY_SPOT)
    for k in range(repeats):
        start = time.perf_counter()
        data.nth(3 + k).click(force=True)
        settled(page)
        loaded(page, "reconstruction")
        points.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        page.mouse.click(*spot)
        settled(page)
        loaded(page, "inverse of the clicked spot")
        spaces.append((time.perf_counter() - start) * 1000)
    return {"point_ms": statistics.median(points), "space_ms": statistics.median(spaces)}


def measure(args) -> dict:
    from playwright.sync_api import sync_playwright

    rows = {}
    with tempfile.TemporaryDirectory(prefix="genviz-map-open-") as tmp, sync_playwright() as p:
        folder = Path(tmp)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        apps = {
            "genviz": fresh_env(folder, "genviz", ROOT / "checkpoints", {}),
            "stock": fresh_env(folder, "stock", stock_checkpoints(folder), {"GENVIZ_BROWSER_DECODE": "0"}),
        }
        for name, env in apps.items():
            genviz = name == "genviz"
            with serve("genviz/app.py", env, timeout=300, log=folder / f"{name}.log") as server:
                first, page = open_map(browser, server.url, genviz, args.points)
                print(f"{name}: first open {first:.1f} s", flush=True)
                clicks = genviz_clicks(page, args.points, args.repeats) if genviz else stock_clicks(page, args.repeats)
                print(f"{name}: clicks {clicks}", flush=True)
                page.context.close()
                row = {"first_s": first, **clicks}
                if not args.no_all:
                    if not genviz:  # the map genviz's server computed, as the stock server would have cached it
                        shutil.copytree(
                            folder / "genviz-cache" / "maps", Path(env["GENVIZ_CACHE_DIR"]) / "maps", dirs_exist_ok=True
                        )
                    computed, page = open_map(browser, server.url, genviz, 70_000, "&points=all")
                    page.context.close()
                    cached, page = open_map(browser, server.url, genviz, 70_000, "&points=all")
                    page.context.close()
                    row |= {"all_first_s": computed, "cached_all_s": cached}
                    print(f"{name}: 70,000 points, first {computed:.1f} s, cached {cached:.2f} s", flush=True)
                rows[name] = row
        browser.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.map_open", description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=5000, help="the default map's points (the bundle's)")
    parser.add_argument("--repeats", type=int, default=3, help="clicks of each kind; the median is kept")
    parser.add_argument("--no-all", action="store_true", help="skip the 70,000-point map")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    rows = measure(args)
    labels = {
        "first_s": "fresh install, first open of the map, s",
        "cached_all_s": "70,000-point map, cached open, s",
        "point_ms": "click a point to its image and reconstruction painted, ms",
        "space_ms": "click empty space to UMAP's exact inverse decoded and painted, ms",
    }
    print(f"\n{MODEL}, {args.points:,}-point default map, Chromium headless, {os.cpu_count()} cores\n")
    print("| measure | stock (Plotly, no bundle) | genviz | goal |")
    print("| --- | ---: | ---: | --- |")
    for key, label in labels.items():
        if key not in rows["genviz"]:
            continue
        ok = "met" if rows["genviz"][key] <= GOALS[key] else "missed"
        unit = "s" if key.endswith("_s") else "ms"
        print(f"| {label} | {rows['stock'][key]:,.2f} | {rows['genviz'][key]:,.2f} | <= {GOALS[key]:g} {unit}: {ok} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(torch.device("cpu")),
        "model": MODEL,
        "points": args.points,
        "goals": GOALS,
        "rows": rows,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
