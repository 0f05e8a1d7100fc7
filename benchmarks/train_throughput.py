"""Training images/s of genviz's loop against the stock torchvision pipeline, on MNIST.

Both pipelines run the same step (`training.train.likelihood_step`: loss, backward, Adam)
on the same model, batch size, seed and number of steps. They differ only in where
batches come from:

- stock: `torchvision.datasets.MNIST` with `ToTensor()` and a shuffling `DataLoader`, each
  batch copied to the device, as in pytorch/examples;
- ours: `genviz.data.load_dataset` moved once to the device, batches gathered from its
  uint8 tensor (`ImageDataset.batches`).

Models: genviz's conv `vae` and `ae` (as `python -m training.train` builds them, latent 16,
width 32) and `mlp-vae`, pytorch/examples' 784-400-20 MLP VAE. Dataset loading is timed
once per pipeline and reported as setup seconds, outside images/s. Run from the repo root:

    GENVIZ_DATA_DIR=../shared/data python -m benchmarks.train_throughput

It prints a markdown table and writes JSON to benchmarks/results/train_throughput.json.
"""

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torch.utils.data import DataLoader, Dataset

from genviz import best_device
from genviz.data import ImageDataset, data_root, load_dataset
from genviz.models import build_model
from training.train import build_parser, likelihood_step, make_optimizers, model_config

MODELS = ("vae", "ae", "mlp-vae")
LR = 1e-3  # Adam learning rate of both training.train and pytorch/examples' VAE
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "train_throughput.json"


class MLPVAE(nn.Module):
    """pytorch/examples' MNIST VAE (vae/main.py): 784-400-20 MLP encoder and decoder."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)  # mu
        self.fc22 = nn.Linear(400, 20)  # log-variance
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        x = batch.view(-1, 784)  # (B, 1, 28, 28) -> (B, 784)
        h1 = F.relu(self.fc1(x))
        mu, logvar = self.fc21(h1), self.fc22(h1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        logits = self.fc4(F.relu(self.fc3(z)))
        # Summed BCE as in the example, taken on logits: the same value as BCE(sigmoid(logits)),
        # and safe under autocast, which refuses F.binary_cross_entropy.
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        # KL term: Kingma & Welling 2014, appendix B.
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return {"loss": bce + kld}


def build(name: str, image_shape: tuple[int, int, int], device: torch.device, seed: int) -> nn.Module:
    """A fresh model with seeded weights: genviz's as `python -m training.train --model NAME` builds it."""
    torch.manual_seed(seed)
    if name == "mlp-vae":
        return MLPVAE().to(device)
    args = build_parser().parse_args(
        ["--model", name, "--dataset", "mnist", "--out", "unused", "--latent-dim", "16", "--width", "32"]
    )
    family, config = model_config(args, image_shape)
    return build_model(family, config).to(device)


def stock_batches(dataset: Dataset, batch_size: int, workers: int, seed: int) -> Iterator[torch.Tensor]:
    """Endless image batches from a shuffling DataLoader, epoch after epoch."""
    # drop_last keeps every batch full, as ours, so images/s = steps * batch size.
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        drop_last=True,
        generator=torch.Generator().manual_seed(seed),
    )
    while True:
        for x, _ in loader:
            yield x


def our_batches(data: ImageDataset, batch_size: int, seed: int) -> Iterator[torch.Tensor]:
    """Endless image batches from genviz's in-memory dataset, epoch after epoch."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        for x, _ in data.batches(batch_size, shuffle=True, generator=generator, drop_last=True):
            yield x


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so the clock sees it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def images_per_second(
    model: nn.Module,
    batches: Iterator[torch.Tensor],
    device: torch.device,
    autocast,
    warmup: int,
    steps: int,
    batch_size: int,
) -> float:
    """Train for `warmup` untimed steps, then time `steps` more, data loading included."""
    model.train()
    optimizers = make_optimizers(model, LR)
    for _ in range(warmup):
        likelihood_step(model, optimizers, next(batches).to(device), autocast)
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        likelihood_step(model, optimizers, next(batches).to(device), autocast)
    sync(device)
    seconds = time.perf_counter() - start
    batches.close()  # ends the DataLoader iterator and its workers
    return steps * batch_size / seconds


def machine(device: torch.device) -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else str(device),
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.train_throughput", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=200, help="timed steps per measurement")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps before each measurement")
    p.add_argument("--repeats", type=int, default=3, help="measurements per model and pipeline; the median is reported")
    p.add_argument("--workers", type=int, default=0, help="num_workers of the stock DataLoader")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    p.add_argument(
        "--no-amp", action="store_true", help="no bf16 mixed precision on the GPU (training.train's default is on)"
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    args = p.parse_args()

    device = best_device(args.device)
    amp = device.type == "cuda" and not args.no_amp and torch.cuda.is_bf16_supported()
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if amp else nullcontext()
    stock_name = f"stock (num_workers={args.workers})"
    total_start = time.perf_counter()

    start = time.perf_counter()
    ours = load_dataset("mnist", "train", download=False).to(device)
    sync(device)
    setup = {"ours": time.perf_counter() - start}
    start = time.perf_counter()
    stock = torchvision.datasets.MNIST(
        root=data_root(), train=True, download=False, transform=torchvision.transforms.ToTensor()
    )
    setup["stock"] = time.perf_counter() - start

    runs: dict[tuple[str, str], list[float]] = {}
    for repeat in range(args.repeats):
        # Alternate which pipeline goes first, so neither always meets a cold or a warm machine.
        pipelines = ("stock", "ours") if repeat % 2 == 0 else ("ours", "stock")
        for name in args.models:
            for pipeline in pipelines:
                model = build(name, ours.image_shape, device, args.seed)
                batches = (
                    stock_batches(stock, args.batch_size, args.workers, args.seed)
                    if pipeline == "stock"
                    else our_batches(ours, args.batch_size, args.seed)
                )
                rate = images_per_second(model, batches, device, autocast, args.warmup, args.steps, args.batch_size)
                runs.setdefault((name, pipeline), []).append(rate)
                print(f"repeat {repeat + 1}/{args.repeats} {name:8} {pipeline:5}: {rate:8.0f} images/s", flush=True)

    rows = []
    for name in args.models:
        stock_rate = statistics.median(runs[name, "stock"])
        for pipeline in ("stock", "ours"):
            rate = statistics.median(runs[name, pipeline])
            rows.append(
                {
                    "model": name,
                    "pipeline": stock_name if pipeline == "stock" else "ours",
                    "images_per_s": round(rate, 1),
                    "runs": [round(r, 1) for r in runs[name, pipeline]],
                    "speedup": round(rate / stock_rate, 3),
                }
            )
    total = time.perf_counter() - total_start

    info = machine(device)
    print(
        f"\n{info['device']}, {info['torch_threads']} torch threads, batch {args.batch_size}, {args.steps} timed "
        f"steps after {args.warmup} warm-up, median of {args.repeats}, mixed precision {'bf16' if amp else 'off'}\n"
    )
    print("| model | pipeline | images/s | speed-up (ours / stock) |")
    print("| --- | --- | ---: | ---: |")
    for row in rows:
        print(f"| {row['model']} | {row['pipeline']} | {row['images_per_s']:.0f} | {row['speedup']:.2f}x |")
    print(
        f"\nsetup, not in images/s: ours (load_dataset + .to({device})) {setup['ours']:.2f} s, "
        f"stock (datasets.MNIST) {setup['stock']:.2f} s; total {total:.0f} s"
    )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": info,
        "settings": {
            "models": args.models,
            "batch_size": args.batch_size,
            "steps": args.steps,
            "warmup": args.warmup,
            "repeats": args.repeats,
            "stock_workers": args.workers,
            "seed": args.seed,
            "lr": LR,
            "mixed_precision": "bf16" if amp else "off",
        },
        "setup_seconds": {k: round(v, 3) for k, v in setup.items()},
        "total_seconds": round(total, 1),
        "rows": rows,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
