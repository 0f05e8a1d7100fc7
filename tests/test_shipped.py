"""The shipped checkpoints: they load and decode, their metrics.json is complete, and the quality
bars hold, re-measured here on the full test sets where that takes seconds."""

import pytest
import torch

from genviz import load_model
from genviz.checkpoint import find_checkpoints, read_metrics
from genviz.data import load_dataset
from genviz.metrics import frechet_distance
from training.evaluate import draw_samples, features, quality_bars, test_metrics
from ui import CHECKPOINTS

SHIPPED = ["cifar10-ae", "cifar10-vae", "mnist-ae", "mnist-classifier", "mnist-dae", "mnist-gan", "mnist-vae"]


def shipped(name: str):
    return load_model(CHECKPOINTS / name, "cpu")


def test_every_shipped_checkpoint_is_there_loads_and_decodes():
    assert [f.name for f in find_checkpoints(CHECKPOINTS)] == SHIPPED
    for name in SHIPPED:
        model = shipped(name)
        if model.family == "classifier":
            continue
        images = model.sample(4, torch.Generator().manual_seed(0))
        assert images.shape == (4, *model.image_shape) and 0 <= images.min() and images.max() <= 1
        assert images.std() > 0.05, f"{name} decodes to a flat image"
        assert (CHECKPOINTS / name / "model.safetensors").stat().st_size < 8 << 20  # a few MiB


def test_cifar_cards_say_they_were_trained_on_the_jpeg_copy():
    for name in ("cifar10-ae", "cifar10-vae"):
        assert "Trained on a JPEG copy of CIFAR-10" in (CHECKPOINTS / name / "README.md").read_text()


@pytest.mark.parametrize("name", SHIPPED)
def test_metrics_were_measured_by_the_evaluation_suite(name):
    metrics = read_metrics(CHECKPOINTS / name)
    evaluation = metrics["evaluation"]
    assert evaluation["command"].startswith("python -m training.evaluate")
    assert {"date", "device", "seconds"} <= evaluation.keys() and evaluation["test_images"] == 10_000
    assert "training.evaluate" in (CHECKPOINTS / name / "README.md").read_text()


def test_recorded_figures_meet_every_quality_bar():
    bars = quality_bars(CHECKPOINTS)
    assert len(bars) == 5 and all(met for _, _, met in bars), bars


@pytest.fixture(scope="module")
def mnist_test():
    return load_dataset("mnist", "test")


def test_classifier_accuracy_and_dae_gain_re_measured(mnist_test):
    assert test_metrics(shipped("mnist-classifier"), mnist_test, 1000)["test_accuracy"] >= 0.99
    gain = test_metrics(shipped("mnist-dae"), mnist_test, 1000)["denoising_psnr_db"]["gaussian 0.5"]["gain"]
    assert gain >= 8


def test_vae_elbo_re_measured(mnist_test):
    assert test_metrics(shipped("mnist-vae"), mnist_test, 1000)["test_negative_elbo_nats"] <= 95


def test_gan_sample_quality_re_measured(mnist_test):
    classifier = shipped("mnist-classifier")
    real = features(classifier, mnist_test.float_images(slice(None)), 1000)[0]
    gan, classes = features(classifier, draw_samples(shipped("mnist-gan"), 10_000, 1000), 1000)
    vae = features(classifier, draw_samples(shipped("mnist-vae"), 10_000, 1000), 1000)[0]
    assert frechet_distance(real, gan) <= frechet_distance(real, vae) / 3
    assert torch.bincount(classes, minlength=10).min() >= 500  # no digit under 5% of samples
