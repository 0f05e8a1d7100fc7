"""A brought model against the same model shipped natively: open, first map, and server decode and encode in
onnxruntime against torch.

The same weights in two forms. The native one is the shipped checkpoints/mnist-vae (genviz's convolutional VAE,
16 latents: config.json and model.safetensors, run by torch). The brought one is that model passed through
`genviz.bring.from_torch` into a temporary folder: its `decode` as the decoder, a module returning its
`encode_dist` as a `mean-logvar` encoder, a Bernoulli likelihood, no explore bundle (decoder.onnx and encoder.onnx,
run by onnxruntime). The issue asks for "the MLP VAE in both forms", but genviz has no MLP family to ship an MLP
natively, so the conv VAE stands in for it.

- open: `genviz.load_model(folder, device="cpu")` in a fresh process, timed from the call to its return; the
  imports of torch and genviz before it are not counted. A brought model needs onnxruntime, whose first import in
  a process is timed apart. Both folders' files are in the OS's page cache (a fresh process, not a cold disk).
- first map: then, in the same process, what the Latent map page computes on its first open of a model without an
  explore bundle (`ui.maps.latent_map`): --points test images (5,000: the page's default), a stratified sample
  (seed 0), encoded by `genviz.latent.encode_images` (batches of 500), then `genviz.latent.project` (UMAP, 15
  neighbours, min_dist 0.1, seed 0), each timed. UMAP's work does not depend on the form (the two forms' latents
  agree to about 1e-6; the JSON records by how much) and costs most of the run, so only the first --umap-repeats
  processes of each form run it. One untimed map comes first, so that numba's disk cache holds UMAP's compiled
  code, as after the app's first start.
- decode, encode: `model.decode` of batches of 1, 64 and 500 prior latents, `model.encode` of as many MNIST test
  images, in one process, native and brought calls alternating for --seconds each; images/s of the median call.

torch's intra-op threads and onnxruntime's are both --threads (1 by default: the machine is shared): genviz's
onnxruntime sessions take torch's thread count when they are made. Each fresh process's figures are medians over
--repeats processes per form, the forms taking turns. Run from the repo root (about 3 minutes on 2 idle cores; --quick
about 1):

    GENVIZ_DATA_DIR=../shared/data python -m benchmarks.bring

It prints a markdown table of the medians and their ratios (brought / native) and writes JSON to
benchmarks/results/bring.json.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "bring.json"
NATIVE = ROOT / "checkpoints" / "mnist-vae"
BATCHES = (1, 64, 500)
MIN_CALLS = 5  # timed calls of each form per batch, however long they take
WARM_UP_POINTS = 500  # the untimed first map: enough for UMAP to compile everything a larger one needs


class Decode(nn.Module):
    """A genviz model's `decode` as a module: z (B, D) -> images (B, C, H, W) in [0, 1]."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.decode(z)


class Posterior(nn.Module):
    """A genviz VAE's `encode_dist` as a module: images (B, C, H, W) in [0, 1] -> (mean, logvar), (B, D) each."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.encode_dist(x)


def bring_native(out: Path) -> float:
    """The shipped mnist-vae brought into `out` as ONNX; the seconds it took (export, checks, writing)."""
    from genviz.bring import from_torch
    from genviz.checkpoint import load_model

    model = load_model(NATIVE, device="cpu")
    start = time.perf_counter()
    from_torch(
        Decode(model), Posterior(model), latent_shape=(model.latent_dim,), image_shape=model.image_shape,
        dataset="mnist", out=out, encoder_outputs="mean-logvar", likelihood="bernoulli",
        origin="genviz's checkpoints/mnist-vae, for benchmarks/bring.py", bundle=False, say=lambda _: None,
    )  # fmt: skip
    return time.perf_counter() - start


# Each of these runs in a fresh process (`child`) and returns its figures.


def first_once(folder: str, brought: bool, threads: int, points: int, umap: bool, latents: str | None) -> dict:
    """A server's first open of the model, then its first map: encoding the map's test images, and UMAP."""
    torch.set_num_threads(threads)
    from genviz import latent as lt
    from genviz.checkpoint import load_model
    from genviz.data import load_dataset

    figures = {}
    if brought:
        start = time.perf_counter()
        import onnxruntime  # noqa: F401  (timed: a brought model's first one in a process pays it)

        figures["import_onnxruntime_s"] = time.perf_counter() - start
    start = time.perf_counter()
    model = load_model(folder, device="cpu")
    figures["open_s"] = time.perf_counter() - start
    data = load_dataset("mnist", "test").sample(points, 0)  # the page's test_subset: stratified, seed 0
    start = time.perf_counter()
    z = lt.encode_images(model, data.images)  # (points, 16)
    figures["encode_s"] = time.perf_counter() - start
    if umap:
        start = time.perf_counter()
        lt.project(z, data.labels.cpu(), "umap", 15, 0.1, seed=0)
        figures["umap_s"] = time.perf_counter() - start
    if latents:
        np.save(latents, z.numpy())
    return figures


def throughput(native: str, brought: str, threads: int, seconds: float) -> dict:
    """Images/s of the median call of `decode` and `encode`, per batch size and form, calls alternating."""
    from genviz.checkpoint import load_model
    from genviz.data import load_dataset, to_float

    torch.set_num_threads(threads)  # a brought model's onnxruntime sessions take torch's thread count
    models = {"native": load_model(native, device="cpu"), "brought": load_model(brought, device="cpu")}
    largest = max(BATCHES)
    z = models["native"].prior(largest, torch.Generator().manual_seed(0))  # (500, 16)
    x = to_float(load_dataset("mnist", "test").sample(largest, 0).images)  # (500, 1, 28, 28) in [0, 1]
    result = {}
    with torch.no_grad():  # as genviz.latent's decode and encode_images run
        for op, inputs in (("decode", z), ("encode", x)):
            for batch in BATCHES:
                given = inputs[:batch]
                calls = {name: getattr(model, op) for name, model in models.items()}
                for call in calls.values():
                    call(given)  # the first call of a shape allocates
                times = {name: [] for name in calls}
                end = time.perf_counter() + seconds * len(calls)
                while time.perf_counter() < end or min(map(len, times.values())) < MIN_CALLS:
                    for name, call in calls.items():
                        start = time.perf_counter()
                        call(given)
                        times[name].append(time.perf_counter() - start)
                result[f"{op}_{batch}"] = {
                    name: {"images_per_s": batch / statistics.median(t), "calls": len(t)} for name, t in times.items()
                }
    return result


def child(task: dict) -> None:
    """Run one task (a JSON object from the parent) in this process and print its figures as JSON."""
    kind = task.pop("task")
    figures = {"first": first_once, "throughput": throughput}[kind](**task)
    print(json.dumps(figures))


def fresh(task: dict) -> dict:
    """`task` in a fresh Python process, with OpenMP's threads set as torch's."""
    env = {**os.environ, "OMP_NUM_THREADS": str(task["threads"])}
    command = [sys.executable, "-m", "benchmarks.bring", "--child", json.dumps(task)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"benchmarks.bring: a {task['task']} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def medians(runs: list[dict]) -> dict:
    """The median of each figure, over the runs that have it."""
    keys = {key for r in runs for key in r}
    return {key: statistics.median(r[key] for r in runs if key in r) for key in sorted(keys)}


def folder_bytes(folder: Path, names: tuple[str, ...]) -> int:
    return sum((folder / name).stat().st_size for name in names)


def alternating(forms: dict[str, str], repeats: int, task) -> dict[str, list[dict]]:
    """`task(name, folder, r)`'s figures in a fresh process per form and repeat r, which form goes first
    alternating, so that a burst of load on the shared machine falls on both."""
    runs = {name: [] for name in forms}
    for r in range(repeats):
        for name in forms if r % 2 == 0 else reversed(forms):
            runs[name].append(fresh(task(name, forms[name], r)))
    return runs


def measure(args, folder: Path) -> dict:
    brought = folder / "mnist-vae-brought"
    bring_s = bring_native(brought)
    print(f"brought mnist-vae in {bring_s:.1f} s", flush=True)
    forms = {"native": str(NATIVE), "brought": str(brought)}
    start = time.perf_counter()
    fresh({"task": "first", "folder": forms["native"], "brought": False, "threads": args.threads,
           "points": WARM_UP_POINTS, "umap": True, "latents": None})  # fmt: skip
    print(f"warm-up map ({time.perf_counter() - start:.0f} s)", flush=True)
    start = time.perf_counter()
    runs = alternating(forms, args.repeats, lambda name, path, r: {
        "task": "first", "folder": path, "brought": name == "brought", "threads": args.threads, "points": args.points,
        "umap": r < args.umap_repeats, "latents": str(folder / f"{name}-latents.npy") if r == 0 else None,
    })  # fmt: skip
    shown = {name: {k: round(v, 3) for k, v in medians(figures).items()} for name, figures in runs.items()}
    print(f"open and first map: {shown} ({time.perf_counter() - start:.0f} s)", flush=True)
    differ = float(np.abs(np.load(folder / "native-latents.npy") - np.load(folder / "brought-latents.npy")).max())
    start = time.perf_counter()
    speeds = fresh({"task": "throughput", **forms, "threads": args.threads, "seconds": args.seconds})
    print(f"decode and encode ({time.perf_counter() - start:.0f} s)", flush=True)
    config = json.loads((brought / "config.json").read_text())
    return {
        "bring_s": bring_s,
        "bring_checks": {k: v for k, v in config["training"].items() if k.endswith("_max_abs_diff")},
        "files_bytes": {
            "native": folder_bytes(NATIVE, ("config.json", "model.safetensors")),
            "brought": folder_bytes(brought, ("config.json", "decoder.onnx", "encoder.onnx")),
        },
        "first": {name: {"median": medians(figures), "runs": figures} for name, figures in runs.items()},
        "first_map_latents_max_abs_diff": differ,
        "throughput": speeds,
    }


def table(result: dict, args) -> list[tuple[str, float, float, str]]:
    """(measure, native, brought, unit) rows; for "s" lower is better, for "images/s" higher."""
    native, brought = result["first"]["native"]["median"], result["first"]["brought"]["median"]
    umap = f"median of {args.umap_repeats}" if args.umap_repeats > 1 else "one run"
    rows = [
        ("open: load_model", native["open_s"], brought["open_s"], "s"),
        ("open: load_model, with the process's first import of onnxruntime", native["open_s"],
         brought["open_s"] + brought["import_onnxruntime_s"], "s"),
        (f"first map: encode {args.points:,} test images", native["encode_s"], brought["encode_s"], "s"),
        (f"first map: UMAP of their latents ({umap})", native["umap_s"], brought["umap_s"], "s"),
        ("first map: encode + UMAP (medians summed)", native["encode_s"] + native["umap_s"],
         brought["encode_s"] + brought["umap_s"], "s"),
    ]  # fmt: skip
    for key, speeds in result["throughput"].items():
        op, batch = key.split("_")
        rows.append((f"server {op}, batch {int(batch):,}", speeds["native"]["images_per_s"],
                     speeds["brought"]["images_per_s"], "images/s"))  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bring", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per form: open, encode; medians")
    parser.add_argument("--umap-repeats", type=int, default=1, help="of those, how many also run UMAP")
    parser.add_argument("--points", type=int, default=5000, help="test images in the first map (the page's default)")
    parser.add_argument("--seconds", type=float, default=2.0, help="of calls per form, operation and batch size")
    parser.add_argument("--threads", type=int, default=1, help="torch's and onnxruntime's intra-op threads")
    parser.add_argument("--quick", action="store_true", help="2 repeats, 1,000-point maps, 0.5 s of calls")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--child", help=argparse.SUPPRESS)  # a task the parent runs in a fresh process
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    if args.quick:
        args.repeats, args.umap_repeats, args.points, args.seconds = 2, 1, 1000, 0.5
    if min(args.repeats, args.umap_repeats, args.points, args.threads) < 1 or args.seconds <= 0:
        raise SystemExit("--repeats, --umap-repeats, --points and --threads must be at least 1, --seconds positive")
    if args.umap_repeats > args.repeats:
        raise SystemExit(f"--umap-repeats ({args.umap_repeats}) cannot exceed --repeats ({args.repeats})")

    import onnxruntime

    from support.machine import machine

    torch.set_num_threads(args.threads)  # the export and checks of bringing, too
    with tempfile.TemporaryDirectory(prefix="genviz-bench-bring-") as folder:
        result = measure(args, Path(folder))
    rows = table(result, args)
    info = machine(torch.device("cpu"))
    date = datetime.now(timezone.utc).isoformat(timespec="seconds")
    print(f"\nmnist-vae native (torch) and brought (onnxruntime), {args.threads} intra-op thread(s) each, "
          f"{info['processor']}, {info['cpu_count']} cores, {date}; medians of {args.repeats} fresh processes "
          f"per form (UMAP: {args.umap_repeats}) and of {args.seconds:g} s of calls\n")  # fmt: skip
    print("| measure | native | brought | brought / native | brought is |")
    print("| --- | ---: | ---: | ---: | --- |")
    for label, native, brought, unit in rows:
        ratio = brought / native
        faster = ratio < 1 if unit == "s" else ratio > 1
        factor = max(ratio, 1 / ratio)
        verdict = "about the same" if factor < 1.05 else f"{factor:.2f}x {'faster' if faster else 'slower'}"
        digits = 3 if unit == "s" else 0
        print(f"| {label} | {native:,.{digits}f} {unit} | {brought:,.{digits}f} {unit} | {ratio:.2f} | {verdict} |")
    b = result["files_bytes"]
    print(f"\nBringing it took {result['bring_s']:.1f} s; its checks: "
          + ", ".join(f"{k} {v:.2g}" for k, v in result["bring_checks"].items())
          + f". The first maps' latents differ by at most {result['first_map_latents_max_abs_diff']:.2g}. "
          f"Files: native {b['native']:,} bytes, brought {b['brought']:,}. UMAP does the same work for both forms: "
          "its ratio is the shared machine's noise.")  # fmt: skip
    result |= {
        "date": date,
        "machine": info,
        "onnxruntime": onnxruntime.__version__,
        "model": "checkpoints/mnist-vae",
        "settings": {
            "threads": args.threads,
            "repeats": args.repeats,
            "umap_repeats": args.umap_repeats,
            "points": args.points,
            "seconds": args.seconds,
            "batches": list(BATCHES),
        },  # fmt: skip
        "rows": [
            {"measure": label, "native": native, "brought": brought, "unit": unit, "ratio": brought / native}
            for label, native, brought, unit in rows
        ],  # fmt: skip
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
