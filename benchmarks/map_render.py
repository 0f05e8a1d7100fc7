"""The latent map in a real browser (genviz's component, regl-scatterplot on Chromium's software WebGL): pan and
zoom frame rate on big synthetic maps, and hover latency on a real MNIST map.

One `streamlit run` of a page holding nothing but `component.latent_map`, driven by Playwright with Debian's
Chromium, headless (support/browser.py's flags, so WebGL is SwiftShader's: software, on this machine's cores).

- pan/zoom: `latent_map(..., synthetic=N)` (N seeded points in 10 Gaussian clusters, generated in the browser)
  at 1,000,000 and 70,000 points. For --seconds the script repeats: press at the canvas's centre, 20 mouse moves
  of a drag, let go, one wheel notch (zooming in and out in turn). Frames per second = frames drawn in that time
  (full draws, regl-scatterplot's `draw` events, the canvas's data-draws, plus genviz's moved-picture frames,
  data-moved-frames) / the wall time. "stock" is the same component with moving="direct": regl-scatterplot's
  own camera, every point redrawn on each move; "genviz" is moving="auto": a picture of the last full draw moved
  on a 2-D canvas while the hand moves, one crisp full draw 150 ms after the last input. Also: "settle", from the
  last input event (its timestamp) to the end of the last full draw after it (data-drawn-at), i.e. when the
  points are crisp again; and "set-up", from the page opened to the points drawn (data-points), and in the page
  from the map's data in hand (here generated) to its first full draw (User Timing marks genviz:map-start,
  genviz:map-drawn).
- hover: 5,000 MNIST test images (stratified, seed 0) encoded by checkpoints/mnist-vae, mapped with PCA, with PNG
  thumbnail tiles, as tests/test_map_component.py builds its map. 60 single mouse moves, round and round 40 points that
  stand alone (more than 12 CSS pixels from any other): from the mouse event (genviz:input, the event's timestamp)
  to the frame showing the point's thumbnail painted (genviz:paint, after rAF then a posted message); and as many
  onto empty space (centroids of Delaunay triangles off the hull, far from every point): to the decode of the
  blended latent painted. The stock app's map (Plotly) shows no picture on hover, so its column is "-".

Run from the repo root (nothing else running: these are wall-clock figures):

    GENVIZ_DATA_DIR=../shared/data python -m benchmarks.map_render

It prints markdown tables and writes JSON to benchmarks/results/map_render.json.
"""

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from scipy.spatial import Delaunay, cKDTree

from genviz import latent as lt
from genviz.checkpoint import load_model
from genviz.component import map_blob
from genviz.data import load_dataset
from genviz.explore import thumbnail_tiles
from genviz.export import decoder_onnx
from support.browser import CHROMIUM, FLAGS, serve
from support.machine import machine
from support.probes import percentile

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "map_render.json"
FRAME = "iframe[title*=genviz_decoder_canvas]"
SIZES = (1_000_000, 70_000)
HOVER_N = 5000
HOVERS = 60  # hover moves of each kind
GOAL_FPS, GOAL_MEDIAN_MS = 30, 16

# The page: a synthetic map (?n=N) or the real one in this folder, drawn as ?moving= says.
SCRIPT = """import sys
from pathlib import Path
import streamlit as st
sys.path.insert(0, {root!r})
from genviz.component import latent_map

folder = Path({folder!r})
q = st.query_params
n = int(q.get("n", 0))
moving = q.get("moving", "auto")
if n:
    latent_map(None, None, data_id="", class_names=[f"c{{k}}" for k in range(10)], image_shape=(1, 28, 28),
               synthetic=n, moving=moving, key="map")
else:
    latent_map((folder / "decoder.onnx").read_bytes(), (folder / "map.safetensors").read_bytes(),
               data_id="bench-mnist-5000-pca", class_names=[str(k) for k in range(10)], image_shape=(1, 28, 28),
               moving=moving, key="map")
"""
# In the component's frame: the timestamp of the newest input event.
LAST_INPUT = """() => {
  window.__lastInput = 0;
  for (const type of ['mousedown', 'mousemove', 'mouseup', 'wheel'])
    addEventListener(type, (e) => { window.__lastInput = e.timeStamp; }, { capture: true });
}"""
COUNTERS = "(c) => [Number(c.dataset.draws), Number(c.dataset.movedFrames || 0), Number(c.dataset.drawnAt || 0)]"


def write_map(folder: Path) -> None:
    """The hover map's decoder and data, as the page reads them."""
    model = load_model(ROOT / "checkpoints" / "mnist-vae", device="cpu")
    data = load_dataset("mnist", "test").sample(HOVER_N)
    z = lt.encode_images(model, data.images).numpy()
    projection = lt.project(z, data.labels.numpy(), "pca")
    tiles, layout = thumbnail_tiles(data.images)  # as the app sends a map's images
    (folder / "map.safetensors").write_bytes(map_blob(projection.coords, projection.labels, projection.latents,
                                                      tiles, layout))  # fmt: skip
    (folder / "decoder.onnx").write_bytes(decoder_onnx(model))


def open_map(browser, url: str, points: int, ready: str = "points"):
    """A page with the map drawn (and, for the real map, its decoder loaded); its frame, canvas and set-up time."""
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.set_default_timeout(600_000)
    start = time.perf_counter()
    page.goto(url)
    frame = page.frame_locator(FRAME)
    canvas = frame.locator("[data-testid=map-canvas]")
    canvas.wait_for()
    canvas.evaluate(
        f"""(c) => new Promise((resolve) => {{
          const check = () => (c.dataset.points === '{points}' ? resolve() : setTimeout(check, 20));
          check();
        }})"""
    )
    setup = time.perf_counter() - start
    if ready == "decoder":
        canvas.evaluate("""(c) => new Promise((resolve) => {
          const check = () => (c.dataset.decoder === 'ready' ? resolve() : setTimeout(check, 50));
          check();
        })""")
    return page, frame, canvas, setup


def quiet(canvas, ms: float = 1500, timeout_s: float = 120) -> None:
    """Until no full draw has happened for `ms` and no moved view is waiting to be drawn."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = canvas.evaluate(
            f"c => c.dataset.pending !== '1' && performance.now() - Number(c.dataset.drawnAt || 0) > {ms}"
        )
        if done:
            return
        time.sleep(0.1)


def pan_zoom(page, frame, canvas, seconds: float) -> dict:
    """Scripted drags and wheel notches for `seconds`: frames per second, and the settle time after."""
    quiet(canvas)
    frame.locator("body").evaluate(LAST_INPUT)
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    draws, moved, _ = canvas.evaluate(COUNTERS)
    start = time.perf_counter()
    k = 0
    while time.perf_counter() - start < seconds:
        page.mouse.move(cx, cy)
        page.mouse.down()
        for i in range(1, 21):
            page.mouse.move(cx + (-1) ** k * 3 * i, cy + 2 * i)
        page.mouse.up()
        page.mouse.wheel(0, -120 if k % 2 else 120)
        k += 1
    frame.locator("body").evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    elapsed = time.perf_counter() - start
    draws2, moved2, _ = canvas.evaluate(COUNTERS)
    quiet(canvas)
    _, _, drawn_at = canvas.evaluate(COUNTERS)
    last_input = frame.locator("body").evaluate("() => window.__lastInput")
    return {"seconds": elapsed, "gestures": k, "full_draws": draws2 - draws, "moved_frames": moved2 - moved,
            "fps": (draws2 - draws + moved2 - moved) / elapsed, "settle_ms": drawn_at - last_input}  # fmt: skip


def in_page_setup(frame) -> float:
    return frame.locator("body").evaluate(
        "() => performance.getEntriesByName('genviz:map-drawn').at(-1).startTime"
        " - performance.getEntriesByName('genviz:map-start').at(-1).startTime"
    )


def hover_targets(at: np.ndarray, box: dict, k: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """k lonely points' page positions and k empty spots (Delaunay centroids far from every point), inside the
    canvas, clear of its toolbar and edges."""
    x, y = at[:, 0] - box["x"], at[:, 1] - box["y"]
    ok = (x > 20) & (x < box["width"] - 160) & (y > 60) & (y < box["height"] - 160)
    distance, _ = cKDTree(at).query(at, k=2)
    lonely = [i for i in np.argsort(-distance[:, 1]) if ok[i] and distance[i, 1] > 12][:k]
    tri = Delaunay(at)
    centroids = at[tri.simplices].mean(axis=1)
    far, _ = cKDTree(at).query(centroids)
    cx, cy = centroids[:, 0] - box["x"], centroids[:, 1] - box["y"]
    interior = (tri.neighbors >= 0).all(axis=1)  # not a sliver along the hull
    fine = (cx > 20) & (cx < box["width"] - 160) & (cy > 60) & (cy < box["height"] - 160) & (far > 12) & interior
    spots = [centroids[i] for i in np.argsort(-far) if fine[i]][:k]
    return [at[i] for i in lonely], spots


def hover_latencies(page, frame, positions: list[np.ndarray], kind: str) -> list[float]:
    """Move onto each position in one mouse event, wait for the preview to be painted; each input-to-paint (ms)."""
    positions = [positions[k % len(positions)] for k in range(HOVERS)]  # round and round: each move changes
    preview = frame.locator("[data-testid=map-preview]")
    body = frame.locator("body")
    body.evaluate("() => { performance.clearMarks('genviz:input'); performance.clearMarks('genviz:paint'); }")
    for xy in positions:
        before = int(preview.get_attribute("data-frames"))
        page.mouse.move(float(xy[0]), float(xy[1]))
        preview.evaluate(
            f"""(p) => new Promise((resolve, reject) => {{
              const until = performance.now() + 10000;
              const check = () => Number(p.dataset.frames) > {before} ? resolve()
                : performance.now() > until ? reject(new Error('no {kind} preview painted')) : setTimeout(check, 10);
              check();
            }})"""
        )
        page.wait_for_timeout(120)
    return body.evaluate("() => performance.getEntriesByName('genviz:paint').map((m) => m.startTime - m.detail.input)")


def stats(values: list[float]) -> dict:
    return {"n": len(values), "median_ms": statistics.median(values), "p95_ms": percentile(values, 95)}


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.map_render", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=5.0, help="scripted pan and zoom per run")
    p.add_argument("--sizes", type=int, nargs="*", default=list(SIZES), help="synthetic map sizes")
    p.add_argument("--skip-hover", action="store_true")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args()

    from playwright.sync_api import sync_playwright

    result = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(torch.device("cpu")),
              "seconds": args.seconds, "pan_zoom": [], "hover": {}}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="genviz-map-render-") as tmp:
        folder = Path(tmp)
        if not args.skip_hover:
            write_map(folder)
        script = folder / "bench.py"
        script.write_text(SCRIPT.format(root=str(ROOT), folder=str(folder)))
        with serve(script, log=folder / "streamlit.log") as server, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            for n in args.sizes:
                for name, moving in (("stock", "direct"), ("genviz", "auto")):
                    page, frame, canvas, setup = open_map(browser, f"{server.url}/?n={n}&moving={moving}", n)
                    moved = pan_zoom(page, frame, canvas, args.seconds)
                    row = {"points": n, "app": name, "moving": moving, "setup_s": setup,
                           "setup_in_page_ms": in_page_setup(frame), **moved}  # fmt: skip
                    row["mode_used"] = canvas.get_attribute("data-moving")
                    result["pan_zoom"].append(row)
                    print(json.dumps(row), flush=True)
                    page.close()
            if not args.skip_hover:
                page, frame, canvas, setup = open_map(browser, f"{server.url}/?moving=auto", HOVER_N, "decoder")
                box = canvas.bounding_box()
                every = f"() => Array.from({{length: {HOVER_N}}}, (_, i) => genvizMap.screenOf(i))"
                at = np.array(frame.locator("body").evaluate(every)) + [box["x"], box["y"]]
                points, spots = hover_targets(at, box, 40)
                page.wait_for_timeout(1000)
                result["hover"]["thumbnail"] = stats(hover_latencies(page, frame, points, "thumbnail"))
                result["hover"]["decode"] = stats(hover_latencies(page, frame, spots, "decode"))
                result["hover"]["mode_used"] = canvas.get_attribute("data-moving")
                page.close()
            browser.close()

    print(f"\n### Pan and zoom ({args.seconds:g} s of scripted drags and wheel; goal >= {GOAL_FPS} fps)\n")
    print("| points | app | fps | full draws | moved frames | settle ms | set-up s (page / in page ms) |")
    print("|---|---|---|---|---|---|---|")
    for r in result["pan_zoom"]:
        setup = f"{r['setup_s']:.1f} / {r['setup_in_page_ms']:.0f}"
        print(f"| {r['points']:,} | {r['app']} ({r['mode_used']}) | {r['fps']:.1f} | {r['full_draws']} | "
              f"{r['moved_frames']} | {r['settle_ms']:.0f} | {setup} |")  # fmt: skip
    if result["hover"]:
        print(f"\n### Hover to preview painted, {HOVER_N:,}-point MNIST map (goal median <= {GOAL_MEDIAN_MS} ms)\n")
        print("| hover | genviz median ms | genviz p95 ms | n | stock (Plotly) |")
        print("|---|---|---|---|---|")
        for kind, label in (("thumbnail", "point -> thumbnail"), ("decode", "empty space -> live decode")):
            s = result["hover"][kind]
            print(f"| {label} | {s['median_ms']:.1f} | {s['p95_ms']:.1f} | {s['n']} | - |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
