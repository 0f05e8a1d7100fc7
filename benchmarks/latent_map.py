"""Latent map speed: how long a map takes to build and reopen, and a click on empty space, against
stock umap-learn's `UMAP.inverse_transform` on the same fitted map.

For each map size: the seconds to encode the test images with the model, to fit UMAP (seed 0, as
the app does) and PCA, to reopen the map from its cache file, and to carry one clicked point back
to latent space: stock `inverse_transform` (median of --repeats) against
`genviz.latent.Projection.inverse` (median of --repeats), after the map's clickable grid is
built (which builds the triangulation the inverse reuses; timed as "click grid"). Both must
return the same latents, or the script stops. numba's compilation is done first and timed apart. Run from the repo root:

    GENVIZ_DATA_DIR=../shared/data python -m benchmarks.latent_map

It prints a markdown table and writes JSON to benchmarks/results/latent_map.json.
"""

import argparse
import json
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import umap

from genviz import latent as lt
from genviz.checkpoint import load_model
from genviz.data import load_dataset
from support.machine import machine

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latent_map.json"


def seconds(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def warm_up() -> None:
    """Compile what numba compiles on first use, outside the timings: UMAP's exact neighbours
    (under 4,096 points), NN-descent (above) and its layout, and both inverses."""
    rng = np.random.default_rng(0)
    for n in (500, 4200):
        z = rng.normal(size=(n, 16)).astype(np.float32)
        reducer = umap.UMAP(random_state=0, n_jobs=1).fit(z)
        reducer.inverse_transform(reducer.embedding_[:1])
        lt.project(z, method="umap").inverse(reducer.embedding_[:1])


def measure(model, data, n: int, repeats: int, folder: Path) -> dict:
    images, labels = data.images[:n], data.labels[:n]
    encode_s, z = seconds(lambda: lt.encode_images(model, images))
    z = z.numpy()
    fit_s, reducer = seconds(lambda: umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=0, n_jobs=1).fit(z))
    pca_s, _ = seconds(lambda: lt.project(z, labels, "pca"))
    # The map the app saves: the same fit's arrays (lt.project makes exactly this fit; see tests).
    state = {"sigmas": reducer._sigmas, "rhos": reducer._rhos, "a": np.float64(reducer._a), "b": np.float64(reducer._b)}
    settings = {"n_neighbors": 15, "min_dist": 0.1, "seed": 0}
    fitted = lt.Projection("umap", settings, z, reducer.embedding_.astype(np.float32), labels.numpy(), state)
    fitted.save(folder / f"{n}.npz")
    reopen_s, projection = seconds(lambda: lt.Projection.load(folder / f"{n}.npz"))
    grid_s, spots = seconds(lambda: lt.click_grid(projection))  # builds the triangulation the inverse reuses
    picks = spots[np.random.default_rng(0).choice(len(spots), repeats + 1, replace=False)][:, None]
    stock = [seconds(lambda s=spot: reducer.inverse_transform(s))[0] for spot in picks[1:]]
    got = projection.inverse(picks[0])
    if not np.array_equal(got, reducer.inverse_transform(picks[0])):
        raise SystemExit(f"{n} points: genviz's inverse differs from UMAP's")
    ours = [seconds(lambda s=spot: projection.inverse(s))[0] for spot in picks[1:]]
    return {
        "points": n,
        "encode_s": encode_s,
        "umap_fit_s": fit_s,
        "pca_fit_s": pca_s,
        "reopen_s": reopen_s,
        "click_grid_s": grid_s,
        "click_stock_s": statistics.median(stock),
        "click_ours_s": statistics.median(ours),
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.latent_map", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default="checkpoints/mnist-vae")
    p.add_argument("--points", nargs="+", type=int, default=[1000, 5000, 10000])
    p.add_argument("--repeats", type=int, default=3, help="clicks timed per map; the median is reported")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args()

    model = load_model(args.checkpoint, "cpu")
    data = load_dataset(model.checkpoint.dataset.name, "test")
    warmup_s, _ = seconds(warm_up)
    with tempfile.TemporaryDirectory() as folder:
        rows = [measure(model, data, n, args.repeats, Path(folder)) for n in args.points]

    print(f"\n{args.checkpoint}, {model.checkpoint.dataset.name} test images, CPU\n")
    print(f"numba compilation before timing (once per process; the app's first map pays it): {warmup_s:.1f} s\n")
    print(
        "| points | encode s | UMAP fit s | PCA s | reopen ms | click grid ms "
        "| click: stock UMAP s | click: ours ms | click speed-up |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['points']:,} | {r['encode_s']:.2f} | {r['umap_fit_s']:.1f} | {r['pca_fit_s']:.3f} | "
            f"{r['reopen_s'] * 1000:.0f} | {r['click_grid_s'] * 1000:.0f} | {r['click_stock_s']:.2f} | "
            f"{r['click_ours_s'] * 1000:.1f} | {r['click_stock_s'] / r['click_ours_s']:.0f}x |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "checkpoint": args.checkpoint,
        "machine": machine(model.device),
        "umap": umap.__version__,
        "numba_warmup_s": warmup_s,
        "rows": rows,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
