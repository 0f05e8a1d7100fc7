"""Training images/s of genviz's loop against the stock torchvision pipeline, on MNIST.

Every loop runs the same step (the trainer's: `model.train_step` on `training.training_losses`,
loss, backward, an Adam step with lr 1e-3) on the same model, batch size, seed and number of steps,
with the same number of CPU threads. They differ in where batches come from and in how the step is computed:

- stock: `torchvision.datasets.MNIST` with `ToTensor()` and a shuffling `DataLoader`, each
  batch copied to the device, float32, `torch.optim.Adam`'s default implementation: the loop
  of pytorch/examples;
- ours: `genviz.data.load_dataset` moved once to the device, batches gathered from its uint8
  tensor (`ImageDataset.batches`), with what `genviz train` does by default on the
  device (`prepare_model`, the model's `make_optimizers`, `mixed_precision`): on a CPU fused Adam and
  channels-last conv weights, float32; on a CUDA GPU fused Adam and bf16 autocast;
- ours, all options: the same plus bf16 autocast where the device has bf16 in hardware
  (`--amp`), when that differs from the default.

`--ablation` adds ours with one option at a time, from the plain loop (stock's step on our
batches). A breakdown after the table times batch loading alone, to show where stock's time goes.

Models: genviz's conv `vae` and `ae` (as `genviz train` builds them, latent 16,
width 32) and `mlp-vae`, pytorch/examples' 784-400-20 MLP VAE. Dataset loading is timed
once per pipeline and reported as setup seconds, outside images/s. Run from the repo root:

    GENVIZ_DATA_DIR=../shared/data python -m benchmarks.train_throughput

It prints a markdown table and writes JSON to benchmarks/results/train_throughput.json. On a
machine shared with other busy processes, `--threads 1` (for every loop) gives steadier numbers.
"""

import argparse
import json
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torch.utils.data import DataLoader, Dataset

from genviz import best_device
from genviz.data import ImageDataset, data_root, load_dataset
from genviz.models import Model, build_model
from genviz.training import (
    TrainConfig,
    autocast_for,
    mixed_precision,
    model_config,
    native_bf16,
    prepare_model,
    training_losses,
)
from support.machine import machine

MODELS = ("vae", "ae", "mlp-vae")
LR = 1e-3  # Adam learning rate of both the trainer and pytorch/examples' VAE
GOALS = {"mlp-vae": 5.0, "vae": 2.0}  # the speed-up goals over stock, images/s
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "train_throughput.json"


class MLPVAE(Model):
    """pytorch/examples' MNIST VAE (vae/main.py): 784-400-20 MLP encoder and decoder; a genviz Model
    only for the training step and optimiser every genviz model has."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)  # mu
        self.fc22 = nn.Linear(400, 20)  # log-variance
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def loss(self, batch: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
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


def build(name: str, image_shape: tuple[int, int, int], seed: int) -> nn.Module:
    """A fresh model with seeded weights on the CPU: genviz's as `genviz train --model NAME` builds it."""
    torch.manual_seed(seed)
    if name == "mlp-vae":
        return MLPVAE()
    settings = TrainConfig(model=name, dataset="mnist", out=Path("unused"), latent_dim=16, width=32)
    family, config = model_config(settings, image_shape, num_classes=10)
    return build_model(family, config)


@dataclass(frozen=True)
class Loop:
    """One way to train: where batches come from and how the step is computed."""

    label: str
    data: str  # "stock" (torchvision DataLoader) or "ours" (in-memory uint8 tensor)
    trainer: bool = False  # model and optimiser as the trainer prepares them (the rest is then ignored)
    fused: bool = False  # torch.optim.Adam(fused=True)
    channels_last: bool = False  # conv weights in channels-last memory format
    amp: bool = False  # bf16 autocast

    def model(self, model: nn.Module, device: torch.device) -> nn.Module:
        if self.trainer:
            return prepare_model(model, device)
        model = model.to(device)
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def optimizers(self, model: nn.Module) -> dict[str, torch.optim.Optimizer]:
        if self.trainer:
            return model.make_optimizers(LR)
        return {"model": torch.optim.Adam(model.parameters(), lr=LR, fused=True if self.fused else None)}


def loops(device: torch.device, amp: bool | None, ablation: bool, workers: int) -> list[Loop]:
    """stock, ours as the trainer runs by default, ours with every option (if different), and the ablation."""
    default_amp = mixed_precision(amp, device)
    found = [
        Loop(f"stock (num_workers={workers})", "stock"),
        Loop("ours, trainer default" + (" (bf16)" if default_amp else ""), "ours", trainer=True, amp=default_amp),
    ]
    if native_bf16(device) and not default_amp:
        found.append(Loop("ours, all options (+ --amp bf16)", "ours", trainer=True, amp=True))
    if ablation:
        found += [
            Loop("ablation: plain (stock's step)", "ours"),
            Loop("ablation: + fused Adam", "ours", fused=True),
            Loop("ablation: + channels-last", "ours", channels_last=True),
        ]
        if native_bf16(device):
            found.append(Loop("ablation: + bf16 autocast", "ours", amp=True))
    return found


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
    loop: Loop,
    model: nn.Module,
    batches: Iterator[torch.Tensor],
    device: torch.device,
    warmup: int,
    steps: int,
    batch_size: int,
) -> float:
    """Train for `warmup` untimed steps, then time `steps` more, data loading included."""
    model = loop.model(model, device).train()
    optimizers, losses = loop.optimizers(model), training_losses(model, device)
    autocast = autocast_for(device, loop.amp)
    for _ in range(warmup):
        model.train_step(losses, optimizers, next(batches).to(device), None, autocast)
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_step(losses, optimizers, next(batches).to(device), None, autocast)
    sync(device)
    seconds = time.perf_counter() - start
    batches.close()  # ends the DataLoader iterator and its workers
    return steps * batch_size / seconds


def loading_ms(batches: Iterator[torch.Tensor], device: torch.device, n: int) -> float:
    """Milliseconds per batch to load and move `n` batches, with no training."""
    next(batches)  # the first batch of a DataLoader also starts its iterator
    sync(device)
    start = time.perf_counter()
    for _ in range(n):
        next(batches).to(device)
    sync(device)
    seconds = time.perf_counter() - start
    batches.close()
    return 1000 * seconds / n


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.train_throughput", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=200, help="timed steps per measurement")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps before each measurement")
    p.add_argument("--repeats", type=int, default=3, help="measurements per model and loop; the median is reported")
    p.add_argument("--workers", type=int, default=0, help="num_workers of the stock DataLoader")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    p.add_argument(
        "--amp",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bf16 mixed precision of 'ours, trainer default', as genviz train's --amp/--no-amp "
        "(default: the trainer's, on for a CUDA GPU with bf16)",
    )
    p.add_argument("--threads", type=int, default=None, help="CPU threads of every loop (default: PyTorch's)")
    p.add_argument("--ablation", action="store_true", help="also time ours with one speed option at a time")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    args = p.parse_args()

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = best_device(args.device)
    variants = loops(device, args.amp, args.ablation, args.workers)
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

    def batches(loop: Loop) -> Iterator[torch.Tensor]:
        if loop.data == "stock":
            return stock_batches(stock, args.batch_size, args.workers, args.seed)
        return our_batches(ours, args.batch_size, args.seed)

    runs: dict[tuple[str, str], list[float]] = {}
    for repeat in range(args.repeats):
        # Alternate the order of the loops, so none always meets a cold or a warm machine.
        order = variants if repeat % 2 == 0 else variants[::-1]
        for name in args.models:
            for loop in order:
                model = build(name, ours.image_shape, args.seed)
                rate = images_per_second(loop, model, batches(loop), device, args.warmup, args.steps, args.batch_size)
                runs.setdefault((name, loop.label), []).append(rate)
                print(f"repeat {repeat + 1}/{args.repeats} {name:8} {loop.label:40}: {rate:8.0f} images/s", flush=True)
    # Batch loading alone, median of `repeats`: what stock pays per step beyond the model's compute.
    loading = {
        data: statistics.median(
            loading_ms(batches(Loop("", data)), device, max(args.steps, 50)) for _ in range(args.repeats)
        )
        for data in ("stock", "ours")
    }

    rows, goals = [], []
    for name in args.models:
        stock_rate = statistics.median(runs[name, variants[0].label])
        for loop in variants:
            rate = statistics.median(runs[name, loop.label])
            rows.append(
                {
                    "model": name,
                    "loop": loop.label,
                    "images_per_s": round(rate, 1),
                    "ms_per_step": round(1000 * args.batch_size / rate, 2),
                    "runs": [round(r, 1) for r in runs[name, loop.label]],
                    "speedup": round(rate / stock_rate, 3),
                }
            )
        if name in GOALS:
            default, best = rows[-len(variants) + 1], max(rows[-len(variants) + 1 :], key=lambda r: r["speedup"])
            goals.append(
                {
                    "model": name,
                    "goal": GOALS[name],
                    "default_speedup": default["speedup"],
                    "best_speedup": best["speedup"],
                    "best_loop": best["loop"],
                    "met_by_default": default["speedup"] >= GOALS[name],
                    "met_with_options": best["speedup"] >= GOALS[name],
                }
            )
    total = time.perf_counter() - total_start

    info = machine(device)
    print(
        f"\n{info['device']}, {info['torch_threads']} torch threads, batch {args.batch_size}, {args.steps} timed "
        f"steps after {args.warmup} warm-up, median of {args.repeats}\n"
    )
    print("| model | loop | images/s | ms/step | speed-up (over stock) |")
    print("| --- | --- | ---: | ---: | ---: |")
    for row in rows:
        print(
            f"| {row['model']} | {row['loop']} | {row['images_per_s']:.0f} | {row['ms_per_step']:.2f} "
            f"| {row['speedup']:.2f}x |"
        )
    print()
    for goal in goals:
        verdict = "met" if goal["met_by_default"] else "met with options" if goal["met_with_options"] else "missed"
        print(
            f"goal {goal['model']} >= {goal['goal']:g}x: {verdict} "
            f"(trainer default {goal['default_speedup']:.2f}x, best {goal['best_speedup']:.2f}x: {goal['best_loop']})"
        )
    print(
        f"\nbatch loading alone: stock {loading['stock']:.2f} ms/batch, ours {loading['ours']:.2f} ms/batch. "
        "Stock's step is its loading plus the model's step, so a loop whose step costs c ms can be at most "
        "(stock ms/step) / c times faster:"
    )
    for name in args.models:
        stock_ms = 1000 * args.batch_size / statistics.median(runs[name, variants[0].label])
        goal = f"; {GOALS[name]:g}x needs ours at {stock_ms / GOALS[name]:.2f} ms/step" if name in GOALS else ""
        model_ms = stock_ms - loading["stock"]
        print(
            f"  {name}: stock {stock_ms:.2f} ms/step = {loading['stock']:.2f} loading + {model_ms:.2f} model step{goal}"
        )
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
            "threads": torch.get_num_threads(),
            "loops": [vars(loop) for loop in variants],
        },
        "setup_seconds": {k: round(v, 3) for k, v in setup.items()},
        "loading_ms_per_batch": {k: round(v, 3) for k, v in loading.items()},
        "total_seconds": round(total, 1),
        "rows": rows,
        "goals": goals,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
