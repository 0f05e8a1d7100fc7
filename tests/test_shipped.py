"""The shipped checkpoints: they load and decode, their metrics.json is complete, and the quality
bars hold, re-measured here on the full test sets where that takes seconds."""

import math
from pathlib import Path

import pytest
import torch

from genviz import latent as lt
from genviz import load_model
from genviz.checkpoint import LIKELIHOOD_NOTE, model_files, read_config, read_metrics
from genviz.data import load_dataset
from genviz.evaluation import LIKELIHOOD_FIGURES, draw_samples, features, measure_test_set, missing
from genviz.folders import find_checkpoints
from genviz.metrics import bits_per_dimension, frechet_distance
from genviz.models import model_class
from genviz.training.evaluate import quality_bars

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"

# Bars the shipped models are known to miss, with the figures in docs/shipped-checkpoints.md. A test fails
# when one of these starts to pass, so that this list and the docs are brought up to date.
KNOWN_MISSES = {"mnist-gan FID <= mnist-vae FID / 3"}
GAN_FID_MISS = "the shipped GAN's classifier-feature FID is 51.8 against 47.8 (a third of the VAE's)"
SHIPPED = [
    "cifar10-ae", "cifar10-diffusers-vae", "cifar10-jpg-classifier", "cifar10-progan", "cifar10-vae", "mnist-ae",
    "mnist-beta-vae", "mnist-beta-vae-free-bits", "mnist-cae", "mnist-classifier", "mnist-cvae", "mnist-dae",
    "mnist-gan", "mnist-progan", "mnist-pytorch-vae", "mnist-sparse-ae", "mnist-vae", "mnist-wgan-gp",
]  # fmt: skip
BROUGHT = ["cifar10-diffusers-vae", "mnist-pytorch-vae"]  # made by genviz.bring from code that is not genviz's


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
        assert sum(f.stat().st_size for f in model_files(CHECKPOINTS / name)) < 8 << 20  # a few MiB


def test_cifar_cards_say_they_were_trained_on_the_jpeg_copy():
    for name in ("cifar10-ae", "cifar10-vae", "cifar10-progan"):
        assert "Trained on a JPEG copy of CIFAR-10" in (CHECKPOINTS / name / "README.md").read_text()


@pytest.mark.parametrize("name", BROUGHT)
def test_brought_models_say_where_they_came_from_and_how_close_they_are(name):
    config = read_config(CHECKPOINTS / name)
    card = (CHECKPOINTS / name / "README.md").read_text()
    assert config["family"] == "onnx" and "python -m examples." in config["training"]["origin"]
    assert "Brought into genviz, not trained by it" in card and "python -m examples." in card
    for check in ("check_decoder_max_abs_diff", "check_encoder_max_abs_diff"):
        assert 0 <= config["training"][check] <= 1e-3


@pytest.mark.parametrize("name", SHIPPED)
def test_metrics_were_measured_by_the_evaluation_suite(name):
    metrics = read_metrics(CHECKPOINTS / name)
    evaluation = metrics["evaluation"]
    assert evaluation["command"].startswith("genviz evaluate")
    assert {"date", "device", "seconds"} <= evaluation.keys() and evaluation["test_images"] == 10_000
    assert "genviz evaluate" in (CHECKPOINTS / name / "README.md").read_text()
    assert missing(CHECKPOINTS / name) == [], f"{name} lacks figures: genviz evaluate --missing"
    config = read_config(CHECKPOINTS / name)
    model = model_class(config["family"], config["model"])
    if model.explorable and model.has_exact_encoder:
        assert 0 < metrics["test_ssim"] <= 1
        assert metrics["rate_distortion"]["bits_at_20db"].keys() == {"model", "model_entropy", "jpeg", "webp"}


# Bits per dimension of the 8-bit image of each shipped model whose likelihood is a density of the pixels: the
# importance-weighted NLL (k = 1000, first 500 test images) and the negative ELBO (whole test set).
BITS_PER_DIM = {"cifar10-vae": (6.537, 6.636)}


@pytest.mark.parametrize("name", SHIPPED)
def test_likelihoods_say_what_they_are_and_densities_are_in_bits_per_dimension(name):
    config, metrics = read_config(CHECKPOINTS / name), read_metrics(CHECKPOINTS / name)
    if not metrics.keys() & set(LIKELIHOOD_FIGURES):
        assert LIKELIHOOD_NOTE not in metrics
        return
    note = metrics[LIKELIHOOD_NOTE]
    assert f"**Likelihoods.** {note}" in (CHECKPOINTS / name / "README.md").read_text()
    bits = {key: value for key, value in metrics.items() if key.endswith("_bits_per_dim")}
    if name not in BITS_PER_DIM:  # a Bernoulli likelihood of MNIST's grey pixels: nats, and why
        assert config["model"]["likelihood"] == "bernoulli" and not bits and note.startswith("Nats per image")
        return
    dims = math.prod(config["model"]["image_shape"])
    assert bits == {key.removesuffix("_nats") + "_bits_per_dim": bits_per_dimension(metrics[key], dims)
                    for key in LIKELIHOOD_FIGURES if key in metrics}  # fmt: skip
    iwae, elbo = BITS_PER_DIM[name]
    assert metrics["test_nll_iwae_bits_per_dim"] == pytest.approx(iwae, abs=1e-3)
    assert metrics["test_negative_elbo_bits_per_dim"] == pytest.approx(elbo, abs=1e-3)
    assert "256-bin correction" in note and f"D = 3x32x32 = {dims}" in note


def test_recorded_figures_meet_every_quality_bar_but_the_known_misses():
    bars = quality_bars(CHECKPOINTS)
    assert len(bars) == 18
    assert {bar for bar, _, met in bars if not met} == KNOWN_MISSES, bars


@pytest.fixture(scope="module")
def mnist_test():
    return load_dataset("mnist", "test")


@pytest.mark.slow
def test_classifier_accuracy_and_dae_gain_re_measured(mnist_test):
    assert measure_test_set(shipped("mnist-classifier"), mnist_test, 1000)["test_accuracy"] >= 0.99
    gain = measure_test_set(shipped("mnist-dae"), mnist_test, 1000)["denoising_psnr_db"]["gaussian 0.5"]["gain"]
    assert gain >= 8


@pytest.mark.slow
def test_vae_elbo_re_measured(mnist_test):
    assert measure_test_set(shipped("mnist-vae"), mnist_test, 1000)["test_negative_elbo_nats"] <= 95


@pytest.mark.slow
def test_cvae_elbo_re_measured_at_most_the_vaes(mnist_test):
    cvae = measure_test_set(shipped("mnist-cvae"), mnist_test, 1000)
    assert (
        cvae["test_negative_elbo_nats"]
        <= measure_test_set(shipped("mnist-vae"), mnist_test, 1000)["test_negative_elbo_nats"]
    )
    assert cvae["test_class_accuracy"] >= 0.98  # the encoder names the class of the app's unlabelled images


@pytest.mark.slow
def test_cvae_samples_are_of_the_class_drawn_re_measured():
    model, classifier = shipped("mnist-cvae"), shipped("mnist-classifier")
    labels = torch.arange(10_000) % 10
    samples = torch.cat([model.sample(1000, torch.Generator().manual_seed(k), labels=labels[k * 1000 : (k + 1) * 1000])
                         for k in range(10)])  # fmt: skip
    classes = features(classifier, samples, 1000)[1]
    assert (classes == labels).float().mean() >= 0.95


@pytest.mark.slow
def test_the_class_direction_turns_cvae_threes_into_eights(mnist_test):
    """The sliders' class direction from 3 to 8 (mean latent of the eights minus the threes', of a stratified
    sample as the page takes it) at 1: the class entries go from 3 to 8, and the decodes are eights."""
    model, classifier = shipped("mnist-cvae"), shipped("mnist-classifier")
    sample = mnist_test.sample(2000)
    direction = lt.class_direction(model.encode(sample.float_images(slice(None))), sample.labels, 3, 8)
    threes = mnist_test.float_images(slice(None))[mnist_test.labels == 3][:500]
    edited = model.encode(threes) + direction
    moved = edited[:, model.config.latent_dim :].mean(0)
    assert moved[8] > 0.9 and moved[3] < 0.1
    assert (features(classifier, model.decode(edited), 500)[1] == 8).float().mean() >= 0.9


@pytest.fixture(scope="module")
def sample_features(mnist_test):
    """Classifier features of the test set and of 10,000 GAN, WGAN-GP and VAE samples, and the GANs' classes."""
    classifier = shipped("mnist-classifier")
    real = features(classifier, mnist_test.float_images(slice(None)), 1000)[0]
    gan, classes = features(classifier, draw_samples(shipped("mnist-gan"), 10_000, 1000, 10)[0], 1000)
    wgan, wgan_classes = features(classifier, draw_samples(shipped("mnist-wgan-gp"), 10_000, 1000, 10)[0], 1000)
    vae = features(classifier, draw_samples(shipped("mnist-vae"), 10_000, 1000, 10)[0], 1000)[0]
    return real, gan, vae, classes, wgan, wgan_classes


@pytest.mark.slow
def test_progan_is_within_a_fifth_of_the_wgan_gp_and_covers_every_digit_re_measured(sample_features):
    real, *_, wgan, _ = sample_features
    classifier = shipped("mnist-classifier")
    progan, classes = features(classifier, draw_samples(shipped("mnist-progan"), 10_000, 1000, 10)[0], 1000)
    assert frechet_distance(real, progan) <= 1.2 * frechet_distance(real, wgan)
    assert torch.bincount(classes, minlength=10).min() >= 500  # no digit under 5% of samples


@pytest.mark.slow
def test_wgan_gp_beats_the_dcgan_and_a_third_of_the_vae_and_covers_every_digit_re_measured(sample_features):
    real, gan, vae, _, wgan, classes = sample_features
    fid = frechet_distance(real, wgan)
    assert fid < frechet_distance(real, gan) and fid <= frechet_distance(real, vae) / 3
    assert torch.bincount(classes, minlength=10).min() >= 500


@pytest.mark.slow
def test_gan_samples_cover_every_digit_re_measured(sample_features):
    classes = sample_features[3]
    assert torch.bincount(classes, minlength=10).min() >= 500  # no digit under 5% of samples


@pytest.mark.slow
def test_gan_beats_the_vae_re_measured(sample_features):
    real, gan, vae, *_ = sample_features
    assert frechet_distance(real, gan) < frechet_distance(real, vae)


@pytest.mark.xfail(strict=True, reason=GAN_FID_MISS)
@pytest.mark.slow
def test_gan_fid_is_at_most_a_third_of_the_vaes_re_measured(sample_features):
    real, gan, vae, *_ = sample_features
    assert frechet_distance(real, gan) <= frechet_distance(real, vae) / 3


@pytest.mark.slow
def test_cifar10_progan_beats_the_cifar10_vaes_fid_re_measured():
    """In cifar10-jpg-classifier's features, 5,000 samples each (the evaluator's 10,000 gave 57.2 against 182.8)."""
    classifier, test = shipped("cifar10-jpg-classifier"), load_dataset("cifar10-jpg", "test")
    real = features(classifier, test.float_images(slice(None)), 500)[0]
    fid = {
        name: frechet_distance(real, features(classifier, draw_samples(shipped(name), 5000, 500, 10)[0], 500)[0])
        for name in ("cifar10-progan", "cifar10-vae")
    }
    assert fid["cifar10-progan"] < fid["cifar10-vae"], fid
