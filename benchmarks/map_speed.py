"""Map open time: UMAP projection of 10,000 and 70,000 MNIST latents, genviz against stock umap-learn,
and the Latent map page in a real browser, first time and cached.

(a) Projection. The model's latents of the first n images of MNIST's test set followed by its
training set are written once; each fit then runs in a fresh Python process, timed from before
`import umap` to the coordinates returned, numba compilation included:

- stock: `umap.UMAP().fit_transform(z)`, every default, numba's cache where umap-learn keeps it;
- genviz, cold: `genviz.latent.project(z, labels)` with an empty NUMBA_CACHE_DIR: a first map on a
  fresh install;
- genviz, warm: the same again, with what the cold run left in that NUMBA_CACHE_DIR: a first map
  after any later server start.

Trustworthiness (`sklearn.manifold.trustworthiness`, 15 neighbours) of each map is computed on a
fixed sample of --sample points (seed 0): latents against their 2-D coordinates.

(b) Browser. `streamlit run app.py` over a copy of the checkpoint (without its explore bundle), an empty
GENVIZ_CACHE_DIR and the NUMBA_CACHE_DIR of (a) (so UMAP is compiled as after a server start), with the page's
Plotly map (GENVIZ_BROWSER_DECODE=0; benchmarks/map_open.py times the WebGL map), driven by Playwright with
Debian's Chromium. For each size, "first": on the Latent map page, from choosing the point count
in its selectbox to every point of the map drawn (the SVG paths of its data traces,
`.js-plotly-plot .scatterlayer .trace .points path`, number the map's points): encoding, UMAP,
saving, the figure and its drawing. "cached": then Home, and from the click on "Latent map" in the
sidebar navigation (the page remembers the point count) to the same points drawn. Run from the
repo root:

    GENVIZ_DATA_DIR=../shared/data python -m benchmarks.map_speed

It prints markdown tables and writes JSON to benchmarks/results/map_speed.json.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from genviz import latent as lt
from genviz.checkpoint import load_model
from genviz.data import load_dataset
from support.browser import CHROMIUM, FLAGS, serve
from support.machine import machine

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "map_speed.json"
SPEED_GOAL = 3.0  # a first 70,000-point projection at least this many times faster than stock
TRUST_SLACK = 0.01  # and trustworthiness no more than this below stock's
CACHED_GOAL_S = 1.5  # a cached 10,000-point map open in under this
ALL = "all test and training images"  # the Latent map page's choice of every image
# The points drawn: the SVG markers of every data trace (the first trace is the clickable empty-space grid).
DRAWN = """(n) => {
    const traces = document.querySelectorAll('.js-plotly-plot .scatterlayer .trace');
    let count = 0;
    for (const t of [...traces].slice(1)) count += t.querySelectorAll('.points path').length;
    return count === n;
}"""


def fit(kind: str, latents: Path, n: int, coords: Path) -> None:
    """One fit in this (fresh) process; prints its seconds, from before `import umap`."""
    with np.load(latents) as data:
        z, labels = data["z"][:n], data["labels"][:n]
    start = time.perf_counter()
    if kind == "stock":
        import umap

        result = umap.UMAP().fit_transform(z)
    else:
        result = lt.project(z, labels).coords
    print(json.dumps({"seconds": time.perf_counter() - start}))
    np.save(coords, result)


def fresh_fit(kind: str, latents: Path, n: int, folder: Path, numba_cache: Path | None) -> tuple[float, np.ndarray]:
    env = {**os.environ}
    if numba_cache:
        env["NUMBA_CACHE_DIR"] = str(numba_cache)
    coords = folder / f"{kind}-{n}.npy"
    command = [sys.executable, "-m", "benchmarks.map_speed", "--fit", kind, str(latents), str(n), str(coords)]
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["seconds"], np.load(coords)


def trust(z: np.ndarray, coords: np.ndarray, sample: int) -> float:
    from sklearn.manifold import trustworthiness

    pick = np.random.default_rng(0).choice(len(z), min(sample, len(z)), replace=False)
    return float(trustworthiness(z[pick], coords[pick], n_neighbors=15))


def projections(model, points: list[int], sample: int, folder: Path, numba_cache: Path) -> list[dict]:
    name = model.checkpoint.dataset.name
    test, train = load_dataset(name, "test"), load_dataset(name, "train")
    z = torch.cat([lt.encode_images(model, test.images), lt.encode_images(model, train.images)]).numpy()
    latents = folder / "latents.npz"
    np.savez(latents, z=z, labels=torch.cat([test.labels, train.labels]).numpy())
    rows = []
    for n in points:
        row = {"points": n}
        for kind, cache in (("stock", None), ("cold", numba_cache / str(n)), ("warm", numba_cache / str(n))):
            seconds, coords = fresh_fit("stock" if kind == "stock" else "genviz", latents, n, folder, cache)
            row[f"{kind}_s"], row[f"{kind}_trust"] = seconds, trust(z[:n], coords, sample)
            print(f"{n:,} points, {kind}: {seconds:.1f} s, trustworthiness {row[f'{kind}_trust']:.4f}", flush=True)
        rows.append(row)
    return rows


def browser_opens(checkpoint: Path, folder: Path, numba_cache: Path, sizes: list[tuple[str, int]]) -> list[dict]:
    from playwright.sync_api import sync_playwright

    checkpoints = folder / "checkpoints"
    shutil.copytree(checkpoint, checkpoints / checkpoint.name, ignore=shutil.ignore_patterns("explore"))
    env = {
        "GENVIZ_BROWSER_DECODE": "0",
        "GENVIZ_CHECKPOINTS": str(checkpoints),
        "GENVIZ_CACHE_DIR": str(folder / "cache"),
        "NUMBA_CACHE_DIR": str(numba_cache),
    }
    rows = []
    with serve("genviz/app.py", env, timeout=240) as server:
        url = server.url
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.set_default_timeout(600_000)
            page.goto(url)
            page.get_by_role("heading", name="genviz", exact=True).wait_for()
            page.get_by_role("link", name="Latent map").click()
            page.locator(".js-plotly-plot .scatterlayer .trace .points path").first.wait_for()  # the default map
            for option, n in sizes:
                start = time.perf_counter()
                page.get_by_test_id("stMain").get_by_role("combobox").first.click()  # the point count
                page.get_by_role("option", name=option, exact=True).click()
                page.wait_for_function(DRAWN, arg=n, polling=50)
                first = time.perf_counter() - start
                page.get_by_role("link", name="Home").click()
                page.get_by_role("heading", name="genviz", exact=True).wait_for()
                page.wait_for_timeout(500)
                start = time.perf_counter()
                page.get_by_role("link", name="Latent map").click()
                page.wait_for_function(DRAWN, arg=n, polling=50)
                cached = time.perf_counter() - start
                rows.append({"points": n, "first_s": first, "cached_s": cached})
                print(f"browser, {n:,} points: first {first:.1f} s, cached {cached:.2f} s", flush=True)
            browser.close()
    return rows


def met(ok: bool) -> str:
    return "met" if ok else "missed"


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.map_speed", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", type=Path, default=ROOT / "checkpoints" / "mnist-vae")
    p.add_argument("--points", nargs="+", type=int, default=[10_000, 70_000])
    p.add_argument("--sample", type=int, default=5000, help="points the trustworthiness is computed on")
    p.add_argument("--no-browser", action="store_true", help="only part (a), the projections")
    p.add_argument("--no-projections", action="store_true", help="only part (b), the browser")
    p.add_argument("--numba-cache", type=Path, help="numba's cache to use and keep (default: a new one, removed after)")
    p.add_argument("--fit", nargs=4, metavar=("KIND", "LATENTS", "N", "COORDS"), help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args()
    if args.fit:
        kind, latents, n, coords = args.fit
        fit(kind, Path(latents), int(n), Path(coords))
        return

    model = load_model(args.checkpoint, "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        numba_cache = args.numba_cache or folder / "numba"
        rows = [] if args.no_projections else projections(model, args.points, args.sample, folder, numba_cache)
        opens = []
        if not args.no_browser:
            # The selectbox's labels: 10,000 is all of MNIST's test set; more take the training set too.
            sizes = [(f"{n:,}" + " (all)" * (n == 10_000) if n <= 10_000 else ALL, n) for n in args.points]
            opens = browser_opens(args.checkpoint.resolve(), folder, numba_cache / str(max(args.points)), sizes)

    print(f"\n{args.checkpoint.name}, MNIST test then training latents, CPU, {os.cpu_count()} cores\n")
    print(
        "| points | stock s | cold s | warm s | speed-up warm (cold) | trust stock | trust genviz warm (cold) | goal |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        trust_ok = (
            r["warm_trust"] >= r["stock_trust"] - TRUST_SLACK and r["cold_trust"] >= r["stock_trust"] - TRUST_SLACK
        )
        goal = "-"
        if r["points"] == 70_000:
            goal = f">= {SPEED_GOAL:.0f}x: {met(r['stock_s'] / r['warm_s'] >= SPEED_GOAL and trust_ok)} warm, "
            goal += f"{met(r['stock_s'] / r['cold_s'] >= SPEED_GOAL and trust_ok)} cold"
        print(
            f"| {r['points']:,} | {r['stock_s']:.1f} | {r['cold_s']:.1f} | {r['warm_s']:.1f} | "
            f"{r['stock_s'] / r['warm_s']:.1f}x ({r['stock_s'] / r['cold_s']:.1f}x) | {r['stock_trust']:.4f} | "
            f"{r['warm_trust']:.4f} ({r['cold_trust']:.4f}) | {goal} |"
        )
    if opens:
        print("\n| points | first open s | cached open s | goal |")
        print("| ---: | ---: | ---: | --- |")
        for r in opens:
            goal = f"cached < {CACHED_GOAL_S} s: {met(r['cached_s'] < CACHED_GOAL_S)}" if r["points"] == 10_000 else "-"
            print(f"| {r['points']:,} | {r['first_s']:.1f} | {r['cached_s']:.2f} | {goal} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "checkpoint": str(args.checkpoint),
        "machine": machine(model.device),
        "umap": __import__("umap").__version__,
        "large_map": {"above": lt.LARGE_MAP, **lt.umap_options(lt.LARGE_MAP + 1, 0)},
        "projections": rows,
        "browser": opens,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
