"""Measure a checkpoint on its dataset's test split and write its metrics.json and model card: the library behind
`genviz evaluate` (its command line) and the Compare page's Compute button.

Offline: nothing is downloaded. Each model reports its own figures on test batches (`Model.test_figures`); the
evaluator averages them, and adds what the model's capabilities ask for. For the shipped families that gives:
- AE, DAE, VAE: reconstruction MSE and PSNR.
- DAE: PSNR of denoised outputs beside that of the noisy input, for gaussian noise at sigma 0.3, 0.5 and 0.7 and
  for 20% salt-and-pepper.
- VAE: negative ELBO in nats (one posterior sample, as pytorch/examples' VAE) and an importance-weighted estimate
  of the negative log-likelihood (k = 1000, on the first 1000 test images unless `iwae_limit` says otherwise);
  for a Gaussian likelihood, both also in bits per dimension of the 8-bit image (`likelihood_figures`).
- AE, DAE, VAE, GAN samples, where a classifier for the dataset exists (<dataset>-classifier beside the
  checkpoint, or `classifier`): Frechet distance and precision/recall on its features against the test set, and
  the share of samples it assigns to each class; and the standard Inception FID where torch-fidelity and its
  weights are installed.
- AE, DAE, VAE, CVAE: the SSIM of reconstructions; a linear probe (logistic regression) on the codes of the
  training set, tested on those of the test set, against the same probe on raw pixels; and the code quantised to
  2-8 bits per dimension as a rate-distortion curve (bits per image against PSNR), with Pillow's JPEG and WebP as
  baselines and the bits each needs for 20 dB.
- VAE, CVAE: the KL of each latent dimension from the prior, and Burda et al. 2016's active units.
- Samples: the entropy of their class shares.
- Conditional models: Ravuri & Vinyals 2019's classification accuracy score, a small classifier trained on
  generated labelled samples (and on as many real images, and on both) and tested on the real test set.
- Classifier: test accuracy, overall and per class.
Each measurement can be run alone (`metrics=["linear-probe", "compression"]`): its figures replace those
metrics.json holds and the rest are kept. Every metrics.json also records the command, date, device and seconds
taken, per measurement too.
"""

import shlex
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

import torch
from tqdm.auto import tqdm

from genviz import diagnostics as dg
from genviz import inception
from genviz.checkpoint import (
    LIKELIHOOD_NOTE,
    CheckpointError,
    find_classifier,
    load_model,
    read_config,
    read_metrics,
    write_metrics,
)
from genviz.data import ImageDataset, load_dataset
from genviz.diagnostics import Track
from genviz.metrics import bits_per_dimension, frechet_distance, iwae_nll, precision_recall, ssim
from genviz.models import Classifier, GenerativeModel, Model, model_class

COMMAND = "genviz evaluate"  # the command line over `evaluate`, which metrics.json records
SEED = 0  # noise, posterior and prior samples are seeded, so a re-run gives the same figures
IWAE_SAMPLES = 1000
# k decoder passes per image make the importance-weighted NLL the slow figure: about 0.3 s per
# image for the shipped MNIST VAE on 2 CPU cores. By default it covers the first 1000 test images.
IWAE_IMAGES = 1000
TARGET_PSNR_DB = 20.0  # the quality at which the codes' and the codecs' bits per image are compared


def _bar(iterable, total: int, desc: str):
    """The default Track: a tqdm bar on a terminal, nothing in a log."""
    return tqdm(iterable, total=total, desc=desc, leave=False, disable=None)


@torch.no_grad()
def measure_test_set(model: Model, images: ImageDataset, batch_size: int, track: Track = _bar) -> dict:
    """Test-set means of each per-image figure the model reports (`Model.test_figures`); names with
    '/' nest, and the model's `per_class_figures` are also given per class."""
    sums: dict[str, float] = defaultdict(float)
    generator = torch.Generator().manual_seed(SEED)
    classes = len(images.class_names)
    per_class: dict[str, torch.Tensor] = {name: torch.zeros(classes) for name in model.per_class_figures}
    counts = torch.zeros(classes)
    for x, labels in track(images.batches(batch_size), -(-len(images) // batch_size), "test set"):
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


def importance_weighted_nll(run: "Run", images: ImageDataset, k: int) -> float:
    generator = torch.Generator().manual_seed(SEED)
    total = 0.0
    for x, _ in run.batches(images, f"importance-weighted NLL, k={k}", max(1, run.options.batch_size // 10)):
        total += iwae_nll(run.model, x, k, generator).sum().item()
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
        "sample_class_entropy_bits": dg.class_entropy_bits(shares.tolist()),
    } | ({} if labels is None else drawn_class_accuracy(classes, labels, test.class_names))


def drawn_class_accuracy(classes: torch.Tensor, labels: torch.Tensor, names: list[str]) -> dict:
    """The share of samples drawn for each class that the classifier puts in it (`classes` against `labels`)."""
    right = (classes == labels).float()
    per_class = torch.bincount(labels, right, minlength=len(names)) / torch.bincount(labels, minlength=len(names))
    return {
        "sample_label_accuracy": right.mean().item(),
        "sample_label_accuracy_per_class": {c: round(a, 4) for c, a in zip(names, per_class.tolist(), strict=True)},
    }


@dataclass(frozen=True)
class Options:
    """How much of each measurement an evaluation does."""

    limit: int | None = None  # first N test images only
    batch_size: int = 500
    classifier: Path | None = None  # judges samples (None: <dataset>-classifier beside the checkpoint)
    samples: int = 10_000  # drawn for FID, precision, recall and class shares
    iwae_samples: int = IWAE_SAMPLES
    iwae_limit: int | None = IWAE_IMAGES  # first N test images for the importance-weighted NLL (None: all)
    probe_images: int | None = None  # training images the linear probes learn from (None: all)
    compression_images: int = 2000  # first N test images for the rate-distortion curves
    cas_images: int = 10_000  # generated images (and as many real ones) the accuracy-score classifier learns from
    cas_epochs: int = 5


class Run:
    """What the metrics of one evaluation share: the model, its test images, and what is made once when a
    metric first asks for it (the training set, its codes, the samples, the judging classifier)."""

    def __init__(self, path: Path, model: Model, test: ImageDataset, options: Options, track: Track):
        self.path, self.model, self.test, self.options, self.track = path, model, test, options, track
        self.dataset = model.checkpoint.dataset.name
        self.notes: dict = {}
        self._drawn: dict[int, tuple[torch.Tensor, torch.Tensor | None]] = {}

    def batches(self, images: ImageDataset, desc: str, batch_size: int | None = None):
        batch_size = batch_size or self.options.batch_size
        return self.track(images.batches(batch_size), -(-len(images) // batch_size), desc)

    def drawn(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`draw_samples`' n samples and their classes, drawn once for the metrics that share them."""
        if n not in self._drawn:
            self._drawn[n] = draw_samples(self.model, n, self.options.batch_size, len(self.test.class_names))
        return self._drawn[n]

    @cached_property
    def train(self) -> ImageDataset:
        train = load_dataset(self.dataset, "train", image_size=self.model.image_shape[1])
        return train.sample(self.options.probe_images).to(self.model.device)

    @torch.no_grad()
    def codes(self, images: ImageDataset, desc: str) -> torch.Tensor:
        """The model's latents (N, D) of `images`, on the CPU."""
        return torch.cat([self.model.encode(x).float().cpu() for x, _ in self.batches(images, desc)])

    @cached_property
    def train_codes(self) -> torch.Tensor:
        return self.codes(self.train, "encoding the training set")

    @cached_property
    def judge(self) -> Classifier | None:
        path = self.options.classifier or find_classifier(self.path, self.dataset)
        if path is None:
            return None
        judge = load_model(path, self.model.device)
        if not isinstance(judge, Classifier) or judge.image_shape != self.model.image_shape:
            raise CheckpointError(f"{path}: not a classifier for {self.model.image_shape} images")
        self.notes["classifier"] = str(path)
        return judge


def _encodes(model: type[Model]) -> bool:
    """An autoencoder or VAE: its code of an image is computed, not searched for (a GAN's)."""
    return model.explorable and model.has_exact_encoder


def _test(run: Run) -> dict:
    metrics = measure_test_set(run.model, run.test, run.options.batch_size, run.track)
    if _encodes(type(run.model)):
        metrics["test_ssim"] = reconstruction_ssim(run)
    return metrics


@torch.no_grad()
def reconstruction_ssim(run: Run) -> float:
    """Mean SSIM of the model's reconstructions of the test images."""
    total = sum(ssim(run.model.reconstruct(x), x).sum().item() for x, _ in run.batches(run.test, "SSIM"))
    return total / len(run.test)


def _likelihood(run: Run) -> dict:
    subset = run.test.take(run.options.iwae_limit)
    k = run.options.iwae_samples
    metrics = {"test_nll_iwae_nats": importance_weighted_nll(run, subset, k)}
    if len(subset) < len(run.test):  # the ELBO on the same images, to set the estimate against
        metrics["iwae_images_negative_elbo_nats"] = measure_test_set(
            run.model, subset, run.options.batch_size, run.track
        )["test_negative_elbo_nats"]
    run.notes |= {"iwae_samples_per_image": k, "iwae_test_images": len(subset)}
    return metrics


# The likelihood figures, in nats per image; `likelihood_figures` gives each in bits per dimension beside it.
LIKELIHOOD_FIGURES = ("test_negative_elbo_nats", "test_nll_iwae_nats", "iwae_images_negative_elbo_nats")


def _bits_key(key: str) -> str:
    return key.removesuffix("_nats") + "_bits_per_dim"


def likelihood_note(settings: dict) -> str | None:
    """What the likelihood figures of a model with these settings (config.json's 'model') are, in words; None for
    a model without a likelihood. Only a density of the pixels converts to bits per dimension of the 8-bit image.

    The continuous density with the bin correction (`bits_per_dimension`), not a discretised likelihood: it is the
    exact conversion of the nats the model is trained and scored with, so the two units give one figure. A
    discretised Gaussian (each pixel's bin integrated, the edge bins open) is a proper distribution over 8-bit
    images and gives slightly fewer bits (cifar10-vae: 6.43 against 6.54 bits per dimension, importance-weighted,
    k = 200, on the first 500 test images), almost all from the pixels at 0 or 255, whose open bins collect the
    density's mass beyond [0, 1]; the correction's figure is the conservative one."""
    likelihood = settings.get("likelihood")
    if likelihood == "gaussian":
        c, h, w = settings["image_shape"]
        return (
            f"Bits per dimension of the 8-bit image from the continuous Gaussian density (sigma "
            f"{settings['gaussian_sigma']:g}) of its pixels k/255, with the 256-bin correction: each value is a bin "
            f"1/255 wide, so bpd = (nats + D ln 255) / (D ln 2), D = {c}x{h}x{w} = {c * h * w} (Theis et al. 2016, "
            "section 3.1). The nats are the density's, of pixels in [0, 1], and negative where sigma is small: "
            "compare the bits per dimension, not the nats, with published figures."
        )
    if likelihood == "bernoulli":
        return (
            "Nats per image, not bits per dimension: a Bernoulli likelihood of grey pixels in [0, 1] (their summed "
            "binary cross-entropy) is not the probability of an 8-bit image. Compare these figures among models of "
            "this likelihood and dataset, not with published NLLs of binarised images (binarised MNIST's)."
        )
    return None


def likelihood_figures(config: dict, metrics: dict) -> dict:
    """`metrics` of the model config.json describes (as read_config gives it) with its likelihood figures in bits
    per dimension beside their nats, for a density of the pixels, and LIKELIHOOD_NOTE saying what they are. Figures
    in bits are recomputed from the nats, so that the two agree whichever were measured last."""
    note = likelihood_note(config["model"])
    if note is None or not metrics.keys() & set(LIKELIHOOD_FIGURES):
        return metrics
    c, h, w = config["model"]["image_shape"]
    derived = {_bits_key(key) for key in LIKELIHOOD_FIGURES} | {LIKELIHOOD_NOTE}
    last = [key for key in metrics if key in LIKELIHOOD_FIGURES][-1]
    out = {}
    for key, value in metrics.items():
        if key in derived:
            continue
        out[key] = value
        number = isinstance(value, int | float) and not isinstance(value, bool)  # a hand-edited file may hold text
        if key in LIKELIHOOD_FIGURES and number and config["model"]["likelihood"] == "gaussian":
            out[_bits_key(key)] = bits_per_dimension(value, c * h * w)
        if key == last:
            out[LIKELIHOOD_NOTE] = note
    return out


@torch.no_grad()
def _latent_usage(run: Run) -> dict:
    """KL per latent dimension over the test set, and Burda et al. 2016's active units: dimensions whose
    posterior mean varies over the data by more than ACTIVE_THRESHOLD."""
    means, kl = [], 0.0
    for x, labels in run.batches(run.test, "latent usage"):
        usage = run.model.latent_usage(x, labels)
        means.append(usage["mean"].float().cpu())
        kl = kl + usage["kl"].float().sum(0).cpu()
    variance, active = dg.active_units(torch.cat(means))
    return {
        "latent_usage": {
            "kl_per_dimension_nats": [round(v, 5) for v in (kl / len(run.test)).tolist()],
            "posterior_mean_variance": [round(v, 5) for v in variance.tolist()],
            "active": active.tolist(),
            "active_units": int(active.sum()),
            "dimensions": len(active),
            "threshold": dg.ACTIVE_THRESHOLD,
        }
    }


def _samples(run: Run) -> dict:
    o = run.options
    drawn, labels = run.drawn(o.samples)
    metrics = {}
    if run.judge is not None:
        metrics |= classifier_sample_metrics(drawn, run.judge, run.test, o.batch_size, labels)
    if inception.available():
        metrics["sample_fid_inception"] = inception.fid(run.test.float_images(slice(None)), drawn, o.batch_size)
    run.notes["samples"] = o.samples
    return metrics


_PIXEL_PROBES: dict[tuple, float] = {}  # (dataset, image size, training images, test images) -> accuracy


def _linear_probe(run: Run) -> dict:
    """Logistic regressions on the training set's codes and on its raw pixels, tested on the test set."""
    classes = len(run.test.class_names)
    train_y, test_y = run.train.labels.cpu(), run.test.labels.cpu()
    latent = dg.linear_probe(
        run.train_codes, train_y, run.codes(run.test, "encoding the test set"), test_y, classes, track=run.track
    )
    key = (run.dataset, run.model.image_shape, len(run.train), len(run.test))
    if key not in _PIXEL_PROBES:  # the same for every model of a dataset
        pixels = lambda images: images.float_images(slice(None)).flatten(1).cpu()  # noqa: E731
        _PIXEL_PROBES[key] = dg.linear_probe(
            pixels(run.train), train_y, pixels(run.test), test_y, classes, track=run.track
        )
    return {
        "linear_probe": {
            "latent_accuracy": latent,
            "pixel_accuracy": _PIXEL_PROBES[key],
            "train_images": len(run.train),
            "test_images": len(run.test),
        }
    }


_CODEC_CURVES: dict[tuple, dict] = {}  # (dataset, image shape, test images) -> {codec: curve}


def _compression(run: Run) -> dict:
    """The code quantised to 2-8 bits per dimension against JPEG and WebP, and the bits each needs for 20 dB."""
    images = run.test.take(run.options.compression_images)
    model = dg.model_rate_distortion(
        run.model.encode,
        run.model.decode,
        images.float_images(slice(None)),
        run.train_codes,
        batch_size=run.options.batch_size,
        track=run.track,
    )
    key = (run.dataset, run.model.image_shape, len(images))
    if key not in _CODEC_CURVES:  # the same for every model of a dataset
        pixels = images.float_images(slice(None)).cpu()
        _CODEC_CURVES[key] = {codec: dg.codec_curve(pixels, codec, track=run.track) for codec in dg.CODECS}
    curves = {"model": model} | _CODEC_CURVES[key]
    at = {name: dg.bits_at_psnr(curve, TARGET_PSNR_DB) for name, curve in curves.items()}
    at["model_entropy"] = dg.bits_at_psnr(model, TARGET_PSNR_DB, key="entropy_bits_per_image")
    return {"rate_distortion": curves | {"bits_at_20db": at, "test_images": len(images)}}


def _augmentation(run: Run) -> dict:
    """Ravuri & Vinyals 2019's classification accuracy score of the conditional model's samples."""
    o, classes = run.options, len(run.test.class_names)
    real = run.train.sample(o.cas_images)  # as many generated images as these (fewer on a small training set)
    drawn, labels = run.drawn(len(real))
    device = run.model.device
    score = dg.classification_accuracy_score(
        (drawn.to(device), labels.to(device)),
        (real.float_images(slice(None)), real.labels),
        (run.test.float_images(slice(None)), run.test.labels),
        classes,
        epochs=o.cas_epochs,
        track=run.track,
    )
    return {"classification_accuracy_score": score}


@dataclass(frozen=True)
class Metric:
    title: str  # as progress and the Compare page name it
    keys: tuple[str, ...]  # metrics.json entries of which any means it was measured
    applies: Callable[[type[Model]], bool]  # from the model's capabilities
    measure: Callable[[Run], dict]


# What the evaluator measures, in order; `--metrics` names them.
METRICS: dict[str, Metric] = {
    "test": Metric(
        "test-set figures",
        ("test_mse", "test_accuracy"),
        lambda m: not m.explorable or m.has_exact_encoder,
        _test,
    ),
    "likelihood": Metric("importance-weighted NLL", ("test_nll_iwae_nats",), lambda m: m.has_likelihood, _likelihood),
    "latent-usage": Metric(
        "KL per dimension and active units",
        ("latent_usage",),
        lambda m: m.explorable and m.has_posterior,
        _latent_usage,
    ),
    "samples": Metric(
        "sample quality and class shares", ("sample_class_entropy_bits",), lambda m: m.explorable, _samples
    ),
    "linear-probe": Metric("linear probe", ("linear_probe",), _encodes, _linear_probe),
    "compression": Metric(
        "rate-distortion against JPEG and WebP",
        ("rate_distortion",),
        _encodes,
        _compression,
    ),
    "augmentation": Metric(
        "classification accuracy score",
        ("classification_accuracy_score",),
        lambda m: m.explorable and m.conditional,
        _augmentation,
    ),
}


def known(names: list[str]) -> list[str]:
    """`names`, when each names one of METRICS; else a ValueError that names the known ones."""
    if unknown := [name for name in names if name not in METRICS]:
        raise ValueError(f"unknown metric {', '.join(unknown)}; known: {', '.join(METRICS)}")
    return names


def applicable(path: Path, config: dict | None = None) -> list[str]:
    """The metrics that apply to the checkpoint at `path` (its config.json as read, if given), by its family's
    capabilities (no weights are read); "samples" only where a classifier for its dataset is beside it or
    Inception FID is installed."""
    config = read_config(path) if config is None else config
    model = model_class(config["family"], config["model"])
    names = [name for name, metric in METRICS.items() if metric.applies(model)]
    if find_classifier(path, config["dataset"]["name"]) is None and not inception.available():
        names = [name for name in names if name != "samples"]
    return names


def missing(path: Path, config: dict | None = None, metrics: dict | None = None) -> list[str]:
    """The metrics that apply to the checkpoint at `path` but that its metrics.json lacks (config.json and
    metrics.json as read, if given)."""
    metrics = read_metrics(path) if metrics is None else metrics
    return [name for name in applicable(path, config) if not metrics.keys() & set(METRICS[name].keys)]


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
    metrics: list[str] | None = None,
    track: Track | None = None,
    **options,
) -> dict:
    """Measure the checkpoint at `path`, write its metrics.json and card, and return the metrics.

    metrics: the names of METRICS to measure (None: every one that applies); their figures replace those
    metrics.json holds and the others are kept. limit: first N test images only. iwae_limit: first N of those
    for the importance-weighted NLL, which costs k decoder passes per image (None: all). track(iterable,
    total, desc) wraps each loop to show progress (default: tqdm bars on a terminal). options: the other
    fields of Options.
    """
    start = time.perf_counter()
    names = applicable(path) if metrics is None else known(list(metrics))
    model = load_model(path, device)
    if refused := [name for name in names if not METRICS[name].applies(type(model))]:
        raise ValueError(f"a {model.kind} has no {', '.join(METRICS[n].title for n in refused)} to measure")
    o = Options(limit, batch_size, classifier, samples, iwae_samples, iwae_limit, **options)
    name = model.checkpoint.dataset.name
    test = load_dataset(name, "test", image_size=model.image_shape[1]).take(limit).to(model.device)
    run = Run(path, model, test, o, track or _bar)
    previous = read_metrics(path) if metrics is not None else {}
    measured, timings = {}, {}
    for metric in names:
        began = time.perf_counter()
        measured |= METRICS[metric].measure(run)
        timings[metric] = round(time.perf_counter() - began, 1)
    if "samples" in names and run.judge is None:
        run.notes["classifier"] = f"none: no {name}-classifier beside the checkpoint and no --classifier"
    if "samples" in names and not inception.available():
        run.notes["inception_fid"] = "skipped: needs torch-fidelity and its Inception weights on disk"
    evaluation = previous.get("evaluation", {}) | {
        "command": shlex.join([*COMMAND.split(), *(argv or [str(path)])]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "device": str(model.device),
        "seconds": round(time.perf_counter() - start, 1),
        "test_images": len(test),
        **run.notes,
    }
    evaluation["metrics"] = previous.get("evaluation", {}).get("metrics", {}) | {
        metric: {"command": evaluation["command"], "date": evaluation["date"], "seconds": seconds}
        for metric, seconds in timings.items()
    }
    result = {k: v for k, v in previous.items() if k != "evaluation"} | measured | {"evaluation": evaluation}
    result = likelihood_figures(read_config(path), result)
    write_metrics(path, result)
    return result
