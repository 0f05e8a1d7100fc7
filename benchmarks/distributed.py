"""Images/s of `genviz.training.train_model` on one process against several under torchrun (DDP), on MNIST.

Every run is a real training run, `genviz.training.train_model` in fresh Python processes (torchrun
starts N of them, as it would start `genviz train`), on a fresh output folder:

- CPU (always): 1 process with as many threads as cores (the baseline), and N processes over gloo
  with cores / N threads each, so that every run has the machine's cores and no more. A reference
  row, 1 process with cores / N threads, shows what one process gets from the same share of the
  cores as each of the N: N processes over it is the scaling over cores, the baseline over it the
  scaling over threads.
- CUDA (when torch sees a GPU): 1 process with amp off and on, each with and without compile, and,
  with several GPUs, 1 to all of them over nccl (trainer's default precision).

Every process trains --batch-size images per step (so the global batch grows with the processes)
on the same --limit images per epoch (so N processes take 1/N of the steps each). The figure is the
trainer's own images/s of the last epoch (rank 0's line: all processes' images over its wall time,
start-up, the first epoch's warm-up and compilation, and the checkpoint saves excluded); the wall
time of the whole command, start-up included, is reported beside it. Runs alternate their order
over --repeats and the median is reported. Run from the repo root:

    GENVIZ_DATA_DIR=../shared/data python -m benchmarks.distributed

It prints a markdown table and writes JSON to benchmarks/results/distributed.json. Run nothing else
on the machine meanwhile: the processes compete for the same cores as anything else running.
"""

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch

from support.machine import machine

MODELS = ("vae", "ae", "gan")
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "distributed.json"
EPOCH_LINE = re.compile(r"^epoch (\d+)/(\d+): loss (\S+), (\d+) images/s", re.MULTILINE)
ROOT = Path(__file__).resolve().parent.parent
# One training process: train_model on the TrainConfig fields given as JSON in argv[1].
WORKER = """
import json, sys
from genviz.training import TrainConfig, train_model
train_model(TrainConfig(**json.loads(sys.argv[1])))
"""


@dataclass(frozen=True)
class Setup:
    """One way to run the trainer: where, on how many processes, with which options."""

    device: str  # "cpu" or "cuda"
    processes: int
    threads: int  # --threads of each process
    options: tuple[tuple[str, bool], ...] = ()  # TrainConfig fields set besides the defaults: amp, compile
    role: str = ""  # "baseline" (the speed-ups' reference), "reference", or ""

    @property
    def label(self) -> str:
        return " ".join(f"{name}={value}" for name, value in self.options) or "default"


def setups(cores: int, processes: list[int], devices: list[str], gpus: int) -> list[Setup]:
    found = []
    if "cpu" in devices:
        found.append(Setup("cpu", 1, cores, role="baseline"))
        for n in sorted(set(processes) - {1}):
            if cores // n >= 1:
                found.append(Setup("cpu", 1, cores // n, role="reference"))
                found.append(Setup("cpu", n, cores // n))
    if "cuda" in devices and gpus:
        for amp in (False, True):
            for compile_ in ((), (("compile", True),)):
                role = "baseline" if amp and not compile_ else ""
                found.append(Setup("cuda", 1, max(1, cores), (("amp", amp), *compile_), role))
        found += [Setup("cuda", n, max(1, cores // n)) for n in range(2, gpus + 1)]
    unique = {}  # the same setup listed twice (a reference equal to the baseline) is run once, as listed first
    for s in found:
        unique.setdefault((s.device, s.processes, s.threads, s.options), s)
    return list(unique.values())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(setup: Setup, model: str, args: argparse.Namespace) -> dict:
    """One training run: the last epoch's images/s (rank 0's figure, global) and the run's wall time."""
    cuda = setup.device == "cuda"
    limit, epochs = (args.cuda_limit, args.cuda_epochs) if cuda else (args.limit, args.epochs)
    with tempfile.TemporaryDirectory(prefix="genviz-distributed-") as tmp:
        config = {
            **{"model": model, "dataset": "mnist", "out": f"{tmp}/out", "run_dir": f"{tmp}/run", "epochs": epochs},
            **{"batch_size": args.batch_size, "threads": setup.threads, "device": setup.device, "limit": limit or None},
            **dict(setup.options),
        }
        train = [sys.executable, "-c", WORKER, json.dumps(config)]
        if setup.processes > 1:
            launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(setup.processes)]
            launch += ["--master_addr", "127.0.0.1", "--master_port", str(free_port()), "--no-python"]
        else:
            launch = []
        # torchrun would set OMP_NUM_THREADS=1 (and warn); set it to the threads for every run alike.
        env = {**os.environ, "OMP_NUM_THREADS": str(setup.threads)}
        start = time.perf_counter()
        done = subprocess.run([*launch, *train], capture_output=True, text=True, env=env, cwd=ROOT)
        wall = time.perf_counter() - start
    epochs_seen = [(int(e), float(loss), int(rate)) for e, _, loss, rate in EPOCH_LINE.findall(done.stdout)]
    if done.returncode != 0 or len(epochs_seen) != epochs:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise RuntimeError(f"{model} on {setup} failed (exit {done.returncode}):\n{tail}")
    return {
        "images_per_s": epochs_seen[-1][2],
        "first_epoch_images_per_s": epochs_seen[0][2],
        "loss": epochs_seen[-1][1],
        "wall_s": round(wall, 2),
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.distributed", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--processes", nargs="+", type=int, default=[1, 2], help="CPU process counts (1 is always run)")
    p.add_argument("--devices", nargs="+", choices=("cpu", "cuda"), default=["cpu", "cuda"])
    p.add_argument("--batch-size", type=int, default=128, help="images per step, per process")
    p.add_argument("--limit", type=int, default=12_800, help="CPU: images per epoch (all processes together)")
    p.add_argument("--epochs", type=int, default=2, help="CPU: epochs per run; the last one is measured")
    p.add_argument("--cuda-limit", type=int, default=0, help="CUDA: images per epoch (0: all 60,000)")
    p.add_argument("--cuda-epochs", type=int, default=3, help="CUDA: epochs per run (the first compiles)")
    p.add_argument("--cores", type=int, default=os.cpu_count(), help="threads to share among the processes")
    p.add_argument("--repeats", type=int, default=3, help="runs per model and setup; the median is reported")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    args = p.parse_args()
    if args.epochs < 2 or args.cuda_epochs < 2:
        p.error("--epochs and --cuda-epochs must be at least 2: the first epoch warms up and is not measured")

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    found = setups(args.cores, args.processes, args.devices, gpus)
    notes = []
    if "cuda" in args.devices and not gpus:
        notes.append("no CUDA GPU: the GPU rows were not run")
    load_before = os.getloadavg()
    total_start = time.perf_counter()

    runs: dict[tuple[str, Setup], list[dict]] = {}
    for repeat in range(args.repeats):
        order = found if repeat % 2 == 0 else found[::-1]  # none always meets a cold or a warm machine
        for model in args.models:
            for setup in order:
                result = run(setup, model, args)
                runs.setdefault((model, setup), []).append(result)
                print(
                    f"repeat {repeat + 1}/{args.repeats} {model:4} {setup.device:4} {setup.processes} x "
                    f"{setup.threads} threads {setup.label:18}: {result['images_per_s']:6d} images/s "
                    f"(wall {result['wall_s']:.1f} s)",
                    flush=True,
                )
    total = time.perf_counter() - total_start
    load_after = os.getloadavg()

    rows = []
    for model in args.models:
        for device in ("cpu", "cuda"):
            mine = [s for s in found if s.device == device]
            if not mine:
                continue
            base = next(s for s in mine if s.role == "baseline")
            base_rate = statistics.median(r["images_per_s"] for r in runs[model, base])
            for setup in mine:
                rate = statistics.median(r["images_per_s"] for r in runs[model, setup])
                speedup = rate / base_rate
                rows.append(
                    {
                        "model": model,
                        **asdict(setup),
                        "label": setup.label,
                        "global_batch": args.batch_size * setup.processes,
                        "images_per_s": rate,
                        "runs": [r["images_per_s"] for r in runs[model, setup]],
                        "first_epoch_images_per_s": statistics.median(
                            r["first_epoch_images_per_s"] for r in runs[model, setup]
                        ),
                        "wall_s": statistics.median(r["wall_s"] for r in runs[model, setup]),
                        "loss": statistics.median(r["loss"] for r in runs[model, setup]),
                        "speedup": round(speedup, 3),
                        "efficiency": round(speedup / setup.processes, 3),
                    }
                )

    info = machine(torch.device("cuda" if gpus else "cpu"))
    print(
        f"\n{info['processor']}, {info['cpu_count']} cores, torch {info['torch']}"
        + (f", {gpus} x {info['device']}" if gpus else "")
        + f"; batch {args.batch_size} per process; CPU: {args.limit} images per epoch, epoch {args.epochs} "
        f"of {args.epochs} measured; median of {args.repeats}\n"
    )
    print(
        "| model | device | processes | threads each | options | global batch | images/s | runs "
        "| speed-up vs 1 process | scaling efficiency | wall s (start-up incl.) |"
    )
    print("| --- | --- | ---: | ---: | --- | ---: | ---: | --- | ---: | ---: | ---: |")
    for row in rows:
        note = " (baseline)" if row["role"] == "baseline" else " (reference)" if row["role"] == "reference" else ""
        print(
            f"| {row['model']} | {row['device']}{note} | {row['processes']} | {row['threads']} "
            f"| {row['label']} | {row['global_batch']} | {row['images_per_s']:.0f} "
            f"| {', '.join(map(str, row['runs']))} | {row['speedup']:.2f}x "
            f"| {'-' if row['role'] == 'reference' else format(row['efficiency'], '.0%')} "
            f"| {row['wall_s']:.1f} |"
        )
    print()
    for model in args.models:
        cpu = {(r["processes"], r["threads"]): r["images_per_s"] for r in rows if r["model"] == model}
        for n in sorted(set(args.processes) - {1}):
            share = args.cores // n
            if (n, share) in cpu and (1, share) in cpu and share != args.cores:
                over_cores = cpu[n, share] / cpu[1, share]
                over_threads = cpu[1, args.cores] / cpu[1, share]
                print(
                    f"{model}, CPU: {n} processes x {share} threads over 1 process x {share}: {over_cores:.2f}x "
                    f"({over_cores / n:.0%} of {n}x); 1 process x {args.cores} threads over x {share}: "
                    f"{over_threads:.2f}x ({over_threads / n:.0%} of {n}x)"
                )
    print(
        f"\nload average (1, 5, 15 min) before {', '.join(f'{x:.2f}' for x in load_before)}, "
        f"after {', '.join(f'{x:.2f}' for x in load_after)}; total {total:.0f} s"
    )
    for note in notes:
        print(f"note: {note}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {**info, "gpus": gpus},
        "settings": {
            "models": args.models,
            "batch_size_per_process": args.batch_size,
            "cpu_images_per_epoch": args.limit,
            "cpu_epochs": args.epochs,
            "cuda_images_per_epoch": args.cuda_limit or None,
            "cuda_epochs": args.cuda_epochs,
            "cores": args.cores,
            "repeats": args.repeats,
        },
        "load_average_before": load_before,
        "load_average_after": load_after,
        "total_seconds": round(total, 1),
        "notes": notes,
        "rows": rows,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
