"""One-class anomaly detection on MNIST, the standard protocol (as in Ruff et al. 2018): for each
digit, train an autoencoder on that digit's training images alone, score every test image by
its reconstruction error, and report the AUROC of telling the other nine digits from it.
IsolationForest and OneClassSVM (scikit-learn defaults) on raw pixels are measured in the same
run on the same images.

    genviz anomaly                      # all ten digits, about 15 minutes on 2 CPU cores
    genviz anomaly --digits 1 7 --epochs 2

The one-class AEs are ordinary checkpoint folders under --out (not in checkpoints/: the app
uses the all-digit models). An interrupted run resumes where it stopped when run again.
"""

import argparse
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from sklearn.ensemble import IsolationForest
from sklearn.svm import OneClassSVM

from genviz import best_device, load_model
from genviz.data import DatasetError, load_dataset
from genviz.files import write_json
from genviz.metrics import auroc, mse
from genviz.training import STATE_FILE, TrainConfig, TrainingError, train_model

METHODS = ("autoencoder", "isolation_forest", "one_class_svm")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genviz anomaly", description=__doc__.split("\n\n")[0])
    p.add_argument("--digits", type=int, nargs="+", default=list(range(10)), help="normal classes, one run each")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--latent-dim", type=int, default=16)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--limit", type=int, default=None, help="first N training images of each digit only")
    p.add_argument("--test-limit", type=int, default=None, help="first N test images only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--out", type=Path, default=Path("runs/one-class-mnist"), help="AEs and results.json go here")
    return p


def train_one_class_ae(args: argparse.Namespace, digit: int) -> Path:
    """Train (or finish training) the AE for `digit`; returns its checkpoint folder."""
    folder, run_dir = args.out / f"digit-{digit}", args.out / f"digit-{digit}-run"
    state = run_dir / STATE_FILE
    resume = state.is_file()
    if resume and torch.load(state, map_location="cpu", weights_only=True)["epoch"] >= args.epochs:
        return folder
    config = TrainConfig(
        model="ae",
        dataset="mnist",
        out=folder,
        classes=[digit],
        epochs=args.epochs,
        latent_dim=args.latent_dim,
        width=args.width,
        seed=args.seed,
        lr_schedule="cosine",
        limit=args.limit or None,
        device=args.device,
        run_dir=run_dir,
        resume=resume,
        overwrite=not resume,
    )
    return train_model(config)


@torch.no_grad()
def reconstruction_errors(folder: Path, images: torch.Tensor, device, batch_size: int = 1000) -> torch.Tensor:
    model = load_model(folder, device)
    errors = []
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size].to(model.device)
        errors.append(mse(model.reconstruct(x), x).cpu())
    return torch.cat(errors)


def pixel_baselines(train_pixels: np.ndarray, test_pixels: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Anomaly scores (higher: more anomalous) of scikit-learn's detectors, default settings."""
    forest = IsolationForest(random_state=seed).fit(train_pixels)
    svm = OneClassSVM().fit(train_pixels)
    return {
        "isolation_forest": -forest.score_samples(test_pixels),
        "one_class_svm": -svm.decision_function(test_pixels),
    }


def run(argv: list[str]) -> dict:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    device = best_device(args.device)
    train_set = load_dataset("mnist", "train")
    test = load_dataset("mnist", "test").take(args.test_limit)
    test_images = test.float_images(slice(None))
    test_pixels = test_images.flatten(1).numpy()
    per_digit = {}
    for digit in args.digits:
        folder = train_one_class_ae(args, digit)
        normal = train_set.of_classes([digit]).take(args.limit)
        is_anomaly = test.labels != digit
        scores = {"autoencoder": reconstruction_errors(folder, test_images, device)}
        scores |= {
            k: torch.from_numpy(v)
            for k, v in pixel_baselines(
                normal.float_images(slice(None)).flatten(1).numpy(), test_pixels, args.seed
            ).items()
        }
        per_digit[str(digit)] = {method: round(auroc(scores[method], is_anomaly), 4) for method in METHODS}
        row = ", ".join(f"{m} {per_digit[str(digit)][m]:.4f}" for m in METHODS)
        print(f"digit {digit}: AUROC {row}", flush=True)
    results = {
        "auroc_per_digit": per_digit,
        "auroc_mean": {m: round(float(np.mean([r[m] for r in per_digit.values()])), 4) for m in METHODS},
        "settings": {
            "autoencoder": f"conv AE, latent {args.latent_dim}, width {args.width}, {args.epochs} epochs, "
            "score = reconstruction MSE",
            "baselines": "scikit-learn IsolationForest(random_state=seed) and OneClassSVM() on raw pixels in [0, 1]",
            "test_images": len(test),
        },
        "command": shlex.join(["genviz", "anomaly", *argv]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "device": str(device),
        "seconds": round(time.perf_counter() - start, 1),
    }
    write_json(args.out / "results.json", results)
    return results


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        results = run(argv)
    except (TrainingError, DatasetError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: finished digits are kept; run the same command again to go on", file=sys.stderr)
        return 130
    print(f"\n| digit | {' | '.join(METHODS)} |\n| --- |{' ---: |' * len(METHODS)}")
    rows = {**results["auroc_per_digit"], "mean": results["auroc_mean"]}
    for digit, row in rows.items():
        print(f"| {digit} | {' | '.join(f'{row[m]:.4f}' for m in METHODS)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
