"""Measure a checkpoint on its dataset's test split and write metrics.json and the model card.

    python -m training.evaluate checkpoints/mnist-vae

Reconstruction MSE and PSNR (AE, DAE, VAE), denoising PSNR at the trained corruption (DAE),
negative ELBO in nats (VAE); for every model the command, date, device and seconds taken.
"""

import argparse
import shlex
import sys
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import torch
from tqdm.auto import tqdm

from genviz import CheckpointError, load_model
from genviz.checkpoint import read_config, write_metrics
from genviz.data import DatasetError, load_dataset
from genviz.metrics import mse, negative_elbo, psnr
from genviz.models import GenerativeModel

SEED = 0  # noise and posterior samples are seeded, so a re-run gives the same figures


@torch.no_grad()
def test_metrics(model: GenerativeModel, images, batch_size: int) -> dict[str, float]:
    """Means over the test set of each per-image figure."""
    sums: dict[str, float] = defaultdict(float)
    generator = torch.Generator().manual_seed(SEED)
    kind = model.kind
    batches = tqdm(
        images.batches(batch_size), total=-(-len(images) // batch_size), desc="evaluating", leave=False, disable=None
    )  # disable=None: no bar when output is not a terminal
    for x, _ in batches:
        per_image: dict[str, torch.Tensor] = {}
        if kind in ("ae", "dae", "vae"):
            recon = model.reconstruct(x)
            per_image |= {"test_mse": mse(recon, x), "test_psnr_db": psnr(recon, x)}
        if kind == "dae":
            noisy = model.corrupt(x, generator)
            per_image |= {"noisy_input_psnr_db": psnr(noisy, x), "denoised_psnr_db": psnr(model.reconstruct(noisy), x)}
        if kind == "vae":
            per_image["test_negative_elbo_nats"] = negative_elbo(model, x, generator)
        for name, values in per_image.items():
            sums[name] += values.sum().item()
    return {name: total / len(images) for name, total in sums.items()}


def evaluate(
    path: Path,
    limit: int | None = None,
    batch_size: int = 500,
    device: str | None = None,
    argv: list[str] | None = None,
) -> dict:
    start = time.perf_counter()
    model = load_model(path, device)
    name = read_config(path)["dataset"]["name"]
    test = load_dataset(name, "test", image_size=model.image_shape[1]).take(limit).to(model.device)
    metrics = test_metrics(model, test, batch_size)
    if model.kind == "dae":
        metrics["denoising_gain_db"] = metrics["denoised_psnr_db"] - metrics["noisy_input_psnr_db"]
        metrics["corruption"] = f"{model.config.corruption} {model.config.noise_level:g}"
    metrics["evaluation"] = {
        "command": shlex.join(["python", "-m", "training.evaluate", *(argv or [str(path)])]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "device": str(model.device),
        "seconds": round(time.perf_counter() - start, 1),
        "test_images": len(test),
    }
    write_metrics(path, metrics)
    return metrics


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("path", type=Path, help="checkpoint folder")
    p.add_argument("--limit", type=int, default=None, help="evaluate on the first N test images only")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--device", default=None)
    args = p.parse_args(argv)
    try:
        metrics = evaluate(args.path, args.limit, args.batch_size, args.device, argv)
    except (CheckpointError, DatasetError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name, value in metrics.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        print(f"{name:28s} {value:.4f}" if isinstance(value, float) else f"{name:28s} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
