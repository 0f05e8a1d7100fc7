"""Measure checkpoints on their dataset's test split and write metrics.json and the model cards.

    python -m training.evaluate checkpoints/mnist-vae
    python -m training.evaluate checkpoints/*        # every shipped model, then the quality bars

Offline: nothing is downloaded. Each model reports its own figures on test batches
(`Model.test_figures`); the evaluator averages them, and adds what the model's capabilities ask
for. For the shipped families that gives:
- AE, DAE, VAE: reconstruction MSE and PSNR.
- DAE: PSNR of denoised outputs beside that of the noisy input, for gaussian noise at sigma
  0.3, 0.5 and 0.7 and for 20% salt-and-pepper.
- VAE: negative ELBO in nats (one posterior sample, as pytorch/examples' VAE) and an
  importance-weighted estimate of the negative log-likelihood (k = 1000, on the first 1000
  test images unless --iwae-limit says otherwise).
- AE, DAE, VAE, GAN samples, where a classifier for the dataset exists (<dataset>-classifier
  beside the checkpoint, or --classifier): Frechet distance and precision/recall on its
  features against the test set, and the share of samples it assigns to each class; and the
  standard Inception FID where torch-fidelity and its weights are installed.
- Classifier: test accuracy, overall and per class.
Every metrics.json also records the command, date, device and seconds taken.
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
from genviz.checkpoint import find_classifier, read_config, read_metrics, write_metrics
from genviz.data import DatasetError, ImageDataset, load_dataset
from genviz.metrics import frechet_distance, iwae_nll, precision_recall
from genviz.models import Classifier, GenerativeModel, Model
from training import inception

SEED = 0  # noise, posterior and prior samples are seeded, so a re-run gives the same figures
IWAE_SAMPLES = 1000
# k decoder passes per image make the importance-weighted NLL the slow figure: about 0.3 s per
# image for the shipped MNIST VAE on 2 CPU cores. By default it covers the first 1000 test images.
IWAE_IMAGES = 1000


def _batches(images: ImageDataset, batch_size: int, desc: str):
    total = -(-len(images) // batch_size)
    return tqdm(images.batches(batch_size), total=total, desc=desc, leave=False, disable=None)  # bar on a terminal


@torch.no_grad()
def measure_test_set(model: Model, images: ImageDataset, batch_size: int) -> dict:
    """Test-set means of each per-image figure the model reports (`Model.test_figures`); names with
    '/' nest, and the model's `per_class_figures` are also given per class."""
    sums: dict[str, float] = defaultdict(float)
    generator = torch.Generator().manual_seed(SEED)
    classes = len(images.class_names)
    per_class: dict[str, torch.Tensor] = {name: torch.zeros(classes) for name in model.per_class_figures}
    counts = torch.zeros(classes)
    for x, labels in _batches(images, batch_size, "test set"):
        figures = model.test_figures(x, labels, generator)
        for name, values in figures.items():
            sums[name] += values.sum().item()
        for name, totals in per_class.items():
            totals += torch.bincount(labels.cpu(), figures[name].float().cpu(), minlength=classes)
        counts += torch.bincount(labels.cpu(), minlength=classes)
    means: dict = {}
    for name, total in sums.items():
        *outer, last = name.split("/")
        table = means
        for key in outer:
            table = table.setdefault(key, {})
        table[last] = total / len(images)
    for name, totals in per_class.items():
        shares = (totals / counts.clamp_min(1)).tolist()
        means[f"{name}_per_class"] = {c: round(a, 4) for c, a in zip(images.class_names, shares, strict=True)}
    return means


def importance_weighted_nll(model, images: ImageDataset, k: int, batch_size: int) -> float:
    generator = torch.Generator().manual_seed(SEED)
    total = 0.0
    for x, _ in _batches(images, max(1, batch_size // 10), f"importance-weighted NLL, k={k}"):
        total += iwae_nll(model, x, k, generator).sum().item()
    return total / len(images)


@torch.no_grad()
def features(classifier: Classifier, images: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Classifier features (N, D) and predicted classes (N,) of images (N, C, H, W)."""
    feats, classes = [], []
    for start in range(0, len(images), batch_size):
        f = classifier.features(images[start : start + batch_size].to(classifier.device))
        feats.append(f.cpu())
        classes.append(classifier.head(f).argmax(1).cpu())
    return torch.cat(feats), torch.cat(classes)


@torch.no_grad()
def draw_samples(
    model: GenerativeModel, n: int, batch_size: int, classes: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """n samples (n, C, H, W) from the prior; a conditional model's drawn for each of `classes` classes in
    turn, with those classes (n,), else None."""
    generator = torch.Generator().manual_seed(SEED)
    labels = torch.arange(n) % classes if model.conditional else None
    drawn = [
        model.sample(min(batch_size, n - i), generator, labels=None if labels is None else labels[i : i + batch_size])
        for i in range(0, n, batch_size)
    ]
    return torch.cat([x.cpu() for x in drawn]), labels


def classifier_sample_metrics(
    samples: torch.Tensor, classifier: Classifier, test: ImageDataset, batch_size: int, labels: torch.Tensor | None
) -> dict:
    """Frechet distance, precision and recall of samples against the test set on the classifier's
    features, and the share of samples the classifier puts in each class; for samples drawn for classes
    `labels`, the share it puts in the class asked for, overall and per class."""
    real, _ = features(classifier, test.float_images(slice(None)), batch_size)
    fake, classes = features(classifier, samples, batch_size)
    precision, recall = precision_recall(real, fake)
    shares = torch.bincount(classes, minlength=len(test.class_names)).float() / len(samples)
    return {
        "sample_fid_classifier": frechet_distance(real, fake),
        "sample_precision": precision,
        "sample_recall": recall,
        "sample_class_shares": {c: round(s, 4) for c, s in zip(test.class_names, shares.tolist(), strict=True)},
        "sample_min_class_share": shares.min().item(),
    } | ({} if labels is None else drawn_class_accuracy(classes, labels, test.class_names))


def drawn_class_accuracy(classes: torch.Tensor, labels: torch.Tensor, names: list[str]) -> dict:
    """The share of samples drawn for each class that the classifier puts in it (`classes` against `labels`)."""
    right = (classes == labels).float()
    per_class = torch.bincount(labels, right, minlength=len(names)) / torch.bincount(labels, minlength=len(names))
    return {
        "sample_label_accuracy": right.mean().item(),
        "sample_label_accuracy_per_class": {c: round(a, 4) for c, a in zip(names, per_class.tolist(), strict=True)},
    }


def evaluate(
    path: Path,
    limit: int | None = None,
    batch_size: int = 500,
    device: str | None = None,
    argv: list[str] | None = None,
    classifier: Path | None = None,
    samples: int = 10_000,
    iwae_samples: int = IWAE_SAMPLES,
    iwae_limit: int | None = IWAE_IMAGES,
) -> dict:
    """Measure the checkpoint at `path`, write its metrics.json and card, and return the metrics.

    limit: first N test images only. iwae_limit: first N of those for the importance-weighted
    NLL, which costs k decoder passes per image (None: all).
    """
    start = time.perf_counter()
    model = load_model(path, device)
    name = read_config(path)["dataset"]["name"]
    test = load_dataset(name, "test", image_size=model.image_shape[1]).take(limit).to(model.device)
    metrics = measure_test_set(model, test, batch_size)
    notes = {}
    if model.has_likelihood:
        subset = test.take(iwae_limit)
        metrics["test_nll_iwae_nats"] = importance_weighted_nll(model, subset, iwae_samples, batch_size)
        if len(subset) < len(test):  # the ELBO on the same images, to set the estimate against
            metrics["iwae_images_negative_elbo_nats"] = measure_test_set(model, subset, batch_size)[
                "test_negative_elbo_nats"
            ]
        notes |= {"iwae_samples_per_image": iwae_samples, "iwae_test_images": len(subset)}
    if model.explorable:
        drawn, labels = draw_samples(model, samples, batch_size, len(test.class_names))
        classifier_path = classifier or find_classifier(path, name)
        if classifier_path is None:
            notes["classifier"] = f"none: no {name}-classifier beside the checkpoint and no --classifier"
        else:
            judge = load_model(classifier_path, model.device)
            if not isinstance(judge, Classifier) or judge.image_shape != model.image_shape:
                raise CheckpointError(f"{classifier_path}: not a classifier for {model.image_shape} images")
            metrics |= classifier_sample_metrics(drawn, judge, test, batch_size, labels)
            notes["classifier"] = str(classifier_path)
        if inception.available():
            metrics["sample_fid_inception"] = inception.fid(test.float_images(slice(None)), drawn, batch_size)
        else:
            notes["inception_fid"] = "skipped: needs torch-fidelity and its Inception weights on disk"
        notes["samples"] = samples
    metrics["evaluation"] = {
        "command": shlex.join(["python", "-m", "training.evaluate", *(argv or [str(path)])]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "device": str(model.device),
        "seconds": round(time.perf_counter() - start, 1),
        "test_images": len(test),
        **notes,
    }
    write_metrics(path, metrics)
    return metrics


def quality_bars(root: Path) -> list[tuple[str, str, bool]]:
    """The issue's quality bars for the shipped models under `root`: (bar, measured, met) for
    each whose checkpoints have been evaluated."""
    names = ("mnist-vae", "mnist-dae", "mnist-gan", "mnist-classifier", "mnist-ae", "mnist-sparse-ae", "mnist-cae")
    names += ("mnist-wgan-gp", "mnist-cvae")
    m = {name: read_metrics(root / name) for name in names}
    bars = []
    if "test_negative_elbo_nats" in m["mnist-vae"]:
        elbo = m["mnist-vae"]["test_negative_elbo_nats"]
        bars.append(("mnist-vae negative ELBO <= 95 nats", f"{elbo:.2f}", elbo <= 95))
    if gain := m["mnist-dae"].get("denoising_psnr_db", {}).get("gaussian 0.5", {}).get("gain"):
        bars.append(("mnist-dae gain at sigma 0.5 >= 8 dB", f"{gain:.2f}", gain >= 8))
    gan, vae = m["mnist-gan"].get("sample_fid_classifier"), m["mnist-vae"].get("sample_fid_classifier")
    if gan is not None and vae is not None:
        bars.append(("mnist-gan FID <= mnist-vae FID / 3", f"{gan:.2f} vs {vae / 3:.2f}", gan <= vae / 3))
    if (share := m["mnist-gan"].get("sample_min_class_share")) is not None:
        bars.append(("mnist-gan samples: every digit >= 5%", f"{share:.1%}", share >= 0.05))
    if (accuracy := m["mnist-classifier"].get("test_accuracy")) is not None:
        bars.append(("mnist-classifier accuracy >= 99.0%", f"{accuracy:.2%}", accuracy >= 0.99))
    wgan = m["mnist-wgan-gp"].get("sample_fid_classifier")
    if wgan is not None and gan is not None and vae is not None:
        measured, met = f"{wgan:.2f} vs {gan:.2f}, {vae / 3:.2f}", wgan < gan and wgan <= vae / 3
        bars.append(("mnist-wgan-gp FID < mnist-gan's and <= mnist-vae's / 3", measured, met))
    if (share := m["mnist-wgan-gp"].get("sample_min_class_share")) is not None:
        bars.append(("mnist-wgan-gp samples: every digit >= 5%", f"{share:.1%}", share >= 0.05))
    cvae = m["mnist-cvae"]
    if "test_negative_elbo_nats" in cvae and "test_negative_elbo_nats" in m["mnist-vae"]:
        elbo, plain = cvae["test_negative_elbo_nats"], m["mnist-vae"]["test_negative_elbo_nats"]
        bars.append(("mnist-cvae negative ELBO <= mnist-vae's", f"{elbo:.2f} vs {plain:.2f}", elbo <= plain))
    if (accuracy := cvae.get("sample_label_accuracy")) is not None:
        bars.append(("mnist-cvae samples classified as drawn >= 95%", f"{accuracy:.2%}", accuracy >= 0.95))
    ae = m["mnist-ae"]
    if "code" in ae and "code" in (sparse := m["mnist-sparse-ae"]):
        hoyer, plain = sparse["code"]["hoyer_sparsity"], ae["code"]["hoyer_sparsity"]
        bars.append(("mnist-sparse-ae Hoyer >= 0.6 and 2x mnist-ae's", f"{hoyer:.3f} vs {plain:.3f}",
                     hoyer >= 0.6 and hoyer >= 2 * plain))  # fmt: skip
        bars.append(_mse_bar("mnist-sparse-ae", sparse, ae))
    if "code" in ae and "code" in (cae := m["mnist-cae"]):
        jac, plain = cae["code"]["jacobian_norm_relative"], ae["code"]["jacobian_norm_relative"]
        bars.append(("mnist-cae Jacobian (relative) <= mnist-ae's / 2", f"{jac:.3f} vs {plain:.3f}", jac <= plain / 2))
        bars.append(_mse_bar("mnist-cae", cae, ae))
        key = next(k for k in cae["code"] if k.startswith("shift_under_noise"))
        moved, plain = cae["code"][key], ae["code"][key]
        bars.append(
            (f"mnist-cae code moves less than mnist-ae's ({key})", f"{moved:.3f} vs {plain:.3f}", moved < plain)
        )
    return bars


def _mse_bar(name: str, metrics: dict, ae: dict) -> tuple[str, str, bool]:
    mse, plain = metrics["test_mse"], ae["test_mse"]
    return (f"{name} MSE <= 1.5x mnist-ae's", f"{mse:.5f} vs {plain:.5f}", mse <= 1.5 * plain)


def _show(name: str, value, indent: str = "") -> None:
    if isinstance(value, dict):
        print(f"{indent}{name}")
        for k, v in value.items():
            _show(k, v, indent + "  ")
    else:
        print(f"{indent}{name:32s} {value:.4f}" if isinstance(value, float) else f"{indent}{name:32s} {value}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("paths", nargs="+", type=Path, help="checkpoint folders")
    p.add_argument("--limit", type=int, default=None, help="evaluate on the first N test images only")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    p.add_argument("--classifier", type=Path, default=None, help="classifier checkpoint for the sample figures")
    p.add_argument("--samples", type=int, default=10_000, help="samples drawn for FID, precision and recall")
    p.add_argument("--iwae-samples", type=int, default=IWAE_SAMPLES, help="VAE: importance samples per image")
    p.add_argument(
        "--iwae-limit",
        type=int,
        default=IWAE_IMAGES,
        help=f"VAE: importance-weighted NLL on the first N test images (default {IWAE_IMAGES}; 0: all)",
    )
    args = p.parse_args(argv)
    # Classifiers first: the other models' sample figures are measured with them.
    paths = sorted(args.paths, key=lambda path: not path.name.endswith("classifier"))
    failed = False
    for path in paths:
        print(f"== {path}")
        try:
            metrics = evaluate(
                path,
                args.limit,
                args.batch_size,
                args.device,
                argv,
                args.classifier,
                args.samples,
                args.iwae_samples,
                args.iwae_limit or None,
            )
        except (CheckpointError, DatasetError) as e:
            print(f"error: {e}", file=sys.stderr)
            failed = True
            continue
        for name, value in metrics.items():
            _show(name, value)
    for root in sorted({path.parent for path in paths}):
        if bars := quality_bars(root):
            print(f"== quality bars ({root})")
            for bar, measured, met in bars:
                print(f"{'met   ' if met else 'MISSED'} {bar:40s} {measured}")
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
