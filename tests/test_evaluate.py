import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy.special import ndtr

from genviz.checkpoint import LIKELIHOOD_NOTE, dataset_info, read_config, read_metrics, save_checkpoint
from genviz.data import load_dataset
from genviz.evaluation import METRICS, SEED, evaluate, likelihood_figures, missing
from genviz.metrics import bits_per_dimension
from genviz.models import build_model
from genviz.models.ae import DENOISING
from genviz.models.vae import VAEConfig
from genviz.training.evaluate import main, quality_bars

RECONSTRUCTION = {"test_mse", "test_psnr_db", "test_ssim"}
SAMPLES = {
    "sample_fid_classifier",
    "sample_precision",
    "sample_recall",
    "sample_min_class_share",
    "sample_class_entropy_bits",
}
EXPECTED = {
    "ae": RECONSTRUCTION | SAMPLES,
    "dae": RECONSTRUCTION | SAMPLES,
    # The importance-weighted NLL covers the first 50 images here, so the ELBO on those comes too.
    "vae": RECONSTRUCTION
    | SAMPLES
    | {"test_negative_elbo_nats", "test_nll_iwae_nats", "iwae_images_negative_elbo_nats"},
    "gan": SAMPLES,
    "classifier": {"test_accuracy"},
}
CODES = {"linear_probe", "rate_distortion"}  # of models that encode exactly
NESTED = {"ae": CODES, "dae": CODES, "vae": CODES | {"latent_usage"}, "gan": set(), "classifier": set()}
SMALL = {"limit": 500, "samples": 500, "iwae_samples": 20, "iwae_limit": 50, "probe_images": 2000}
SMALL |= {"compression_images": 100}


def figures(metrics: dict) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if isinstance(v, float)}


@pytest.mark.parametrize("family", EXPECTED)
@pytest.mark.slow
def test_evaluation_gives_finite_figures_and_updates_the_card(trained, family):
    out = trained[family].out  # beside mnist-classifier, which measures the samples
    metrics = evaluate(out, **SMALL)
    assert figures(metrics).keys() == EXPECTED[family]
    assert {k for k in metrics if k in {"latent_usage", "linear_probe", "rate_distortion"}} == NESTED[family]
    assert all(math.isfinite(v) for v in figures(metrics).values())
    assert missing(out) == []
    assert set(metrics["evaluation"]["metrics"]) <= set(METRICS)
    assert metrics["evaluation"]["test_images"] == 500 and metrics["evaluation"]["device"] == "cpu"
    if family != "classifier":
        shares = metrics["sample_class_shares"]
        assert list(shares) == [str(d) for d in range(10)] and sum(shares.values()) == pytest.approx(1, abs=1e-3)
        assert 0 <= metrics["sample_precision"] <= 1 and metrics["sample_fid_classifier"] >= 0
    assert read_metrics(out) == json.loads(json.dumps(metrics))
    card = (out / "README.md").read_text()
    assert "genviz evaluate" in card and "Reproduce with" in card


@pytest.mark.slow
def test_figures_are_plausible(trained):
    vae = evaluate(trained["vae"].out, **SMALL | {"iwae_samples": 50, "iwae_limit": 100})
    assert 0 < vae["test_mse"] < 0.1 and 10 < vae["test_psnr_db"] < 40
    assert 60 < vae["test_negative_elbo_nats"] < 400  # nats per MNIST image
    assert vae["test_nll_iwae_nats"] < vae["iwae_images_negative_elbo_nats"]  # a tighter bound, same images
    dae = evaluate(trained["dae"].out, **SMALL)
    table = dae["denoising_psnr_db"]
    assert list(table) == [f"{noise} {level:g}" for noise, level in DENOISING]
    assert table["gaussian 0.5"]["gain"] > 0  # even a tiny DAE improves on its noisy input
    assert table["gaussian 0.3"]["noisy_input"] > table["gaussian 0.7"]["noisy_input"]
    usage = vae["latent_usage"]
    dims = usage["dimensions"]
    assert dims == 8 == len(usage["kl_per_dimension_nats"]) == len(usage["active"])  # the tiny VAE's latent
    assert usage["active_units"] == sum(usage["active"]) == sum(v > 0.01 for v in usage["posterior_mean_variance"])
    # The KL of the dimensions adds up to the ELBO's KL term; here, it is below the whole negative ELBO.
    assert 0 < sum(usage["kl_per_dimension_nats"]) < vae["test_negative_elbo_nats"]
    probe = vae["linear_probe"]
    assert 0.3 < probe["latent_accuracy"] <= 1 and probe["pixel_accuracy"] > 0.8  # pixels: 2000 MNIST digits
    assert probe["train_images"] == 2000 and probe["test_images"] == 500
    curves = vae["rate_distortion"]
    psnrs = [row["psnr_db"] for row in curves["model"]]
    assert [row["bits_per_dimension"] for row in curves["model"]] == list(range(2, 9))
    assert psnrs[-1] > psnrs[0] and curves["model"][-1]["bits_per_image"] == 8 * dims
    assert psnrs[-1] == pytest.approx(vae["test_psnr_db"], abs=1.0)  # 8 bits: nearly the unquantised code
    assert all(row["entropy_bits_per_image"] <= row["bits_per_image"] + 1e-6 for row in curves["model"])
    assert curves["jpeg"][-1]["psnr_db"] > 30 and curves["webp"][0]["bits_per_image"] > 0
    assert curves["bits_at_20db"]["jpeg"] > curves["bits_at_20db"]["webp"] > 0  # WebP's headers are smaller
    classifier = evaluate(trained["classifier"].out, limit=500)
    per_class = classifier["test_accuracy_per_class"]
    assert list(per_class) == [str(d) for d in range(10)] and classifier["test_accuracy"] > 0.8


@pytest.mark.slow
def test_evaluate_command_reports_a_broken_folder_and_goes_on(trained, tmp_path, capsys):
    good = trained["classifier"].out
    assert main([str(tmp_path / "nothing"), str(good), "--limit", "200"]) == 2
    out = capsys.readouterr()
    assert "not a checkpoint folder" in out.err and "test_accuracy" in out.out


def test_quality_bars_read_the_metrics(tmp_path):
    for name, metrics in {
        "mnist-vae": {"test_negative_elbo_nats": 94.0, "sample_fid_classifier": 30.0},
        "mnist-gan": {"sample_fid_classifier": 12.0, "sample_min_class_share": 0.04},
        "mnist-classifier": {"test_accuracy": 0.991},
    }.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps(metrics))
    bars = {bar: met for bar, _, met in quality_bars(tmp_path)}
    assert bars == {
        "mnist-vae negative ELBO <= 95 nats": True,
        "mnist-gan FID <= mnist-vae FID / 3": False,
        "mnist-gan samples: every digit >= 5%": False,
        "mnist-classifier accuracy >= 99.0%": True,
    }


@pytest.mark.slow
def test_one_metric_is_measured_again_and_the_rest_kept(trained):
    out = trained["ae"].out
    evaluate(out, **SMALL)
    before = read_metrics(out)
    after = evaluate(out, **SMALL | {"probe_images": 1000}, metrics=["linear-probe"])
    assert after["linear_probe"]["train_images"] == 1000  # measured again, as asked
    assert {k: v for k, v in after.items() if k not in ("linear_probe", "evaluation")} == {
        k: v for k, v in before.items() if k not in ("linear_probe", "evaluation")
    }
    assert after["evaluation"]["metrics"]["linear-probe"]["date"] >= before["evaluation"]["metrics"]["test"]["date"]
    metrics = read_metrics(out)
    del metrics["rate_distortion"]
    (out / "metrics.json").write_text(json.dumps(metrics))
    assert missing(out) == ["compression"]
    assert missing(trained["gan"].out) in ([], ["samples"])  # a GAN encodes by a search: no probe, no codes
    with pytest.raises(ValueError, match="linear probe"):
        evaluate(trained["gan"].out, metrics=["linear-probe"])


def test_evaluate_command_refuses_an_unknown_metric(capsys):
    with pytest.raises(SystemExit):
        main(["checkpoints/mnist-vae", "--metrics", "linear-probe,happiness"])
    assert "unknown metric happiness" in capsys.readouterr().err


# Likelihoods in bits per dimension ----------------------------------------------------------------------------

TINY = {"limit": 6, "batch_size": 6, "iwae_samples": 4, "iwae_limit": 3}  # one batch: the ELBO's noise is one draw


def tiny_vae(folder, dataset: str, shape: tuple[int, int, int], likelihood: str):
    """An untrained VAE (seeded weights) saved as a checkpoint folder of `dataset`: its likelihood is what it is,
    and the figures must say so."""
    torch.manual_seed(0)
    model = build_model("vae", VAEConfig(image_shape=shape, latent_dim=4, width=8, likelihood=likelihood)).eval()
    save_checkpoint(model, folder, dataset_info(dataset, load_dataset(dataset, "test").class_names))
    return model


def test_gaussian_bits_per_dimension_match_the_8_bit_probability_computed_by_hand(tmp_path):
    """A tiny Gaussian VAE on six real CIFAR-10 images: the negative ELBO in bits per dimension that the evaluator
    writes is the one the model's Gaussian gives each pixel's 8-bit value k, computed here in numpy on the 0-255
    scale (where sigma 0.1 is 25.5 levels and a value's bin is 1 wide) plus the KL in bits: exactly from the
    density at k, and closely from the mass of the bin k - 1/2 to k + 1/2."""
    model = tiny_vae(tmp_path / "cifar10-tiny", "cifar10-jpg", (3, 32, 32), "gaussian")
    metrics = evaluate(tmp_path / "cifar10-tiny", metrics=["test", "likelihood"], **TINY)
    k = load_dataset("cifar10-jpg", "test").images[:6]  # (6, 3, 32, 32) uint8
    with torch.no_grad():  # the networks' outputs, with the evaluator's one posterior draw
        mu, logvar = model.encode_dist(k.float() / 255)
        eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(SEED))
        mean = model.decode(mu + eps * (0.5 * logvar).exp())
    mu, logvar, mean = mu.double().numpy(), logvar.double().numpy(), 255 * mean.double().numpy()
    level, sigma = k.double().numpy(), 255 * 0.1
    density = np.exp(-0.5 * ((level - mean) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))  # (6, 3, 32, 32)
    mass = ndtr((level + 0.5 - mean) / sigma) - ndtr((level - 0.5 - mean) / sigma)
    kl_bits = 0.5 * (mu**2 + np.exp(logvar) - 1 - logvar).sum(1) / np.log(2)  # Kingma & Welling 2014, appendix B
    by_hand = {name: ((-np.log2(p).reshape(6, -1).sum(1) + kl_bits) / 3072).mean() for name, p in
               (("density", density), ("mass", mass))}  # fmt: skip
    assert metrics["test_negative_elbo_bits_per_dim"] == pytest.approx(by_hand["density"], rel=1e-6)
    # A bin's mass differs from the density at its centre by about (1/25.5)^2 / 24 (t^2 - 1) for a value t sigmas
    # off: under 1e-3 bits here, where this untrained model's pixels are some 3 sigmas off, and far under the
    # log2(256/255) = 0.0056 bits that a correction of ln 256 (for pixels k/256) would add.
    assert metrics["test_negative_elbo_bits_per_dim"] == pytest.approx(by_hand["mass"], abs=1e-3)
    assert 1 < by_hand["mass"] < 16  # an untrained model: worse than PNG, but a probability of 8-bit images
    assert metrics["test_negative_elbo_bits_per_dim"] == pytest.approx(
        (metrics["test_negative_elbo_nats"] + 3072 * math.log(255)) / (3072 * math.log(2))
    )
    for key in ("test_nll_iwae", "iwae_images_negative_elbo"):
        assert metrics[f"{key}_bits_per_dim"] == bits_per_dimension(metrics[f"{key}_nats"], 3072)
    note = metrics[LIKELIHOOD_NOTE]
    assert "256-bin correction" in note and "D = 3x32x32 = 3072" in note and "sigma 0.1" in note
    assert read_metrics(tmp_path / "cifar10-tiny") == json.loads(json.dumps(metrics))
    card = (tmp_path / "cifar10-tiny" / "README.md").read_text()
    assert "| test_negative_elbo_bits_per_dim |" in card and f"**Likelihoods.** {note}" in card
    assert f"| {LIKELIHOOD_NOTE} |" not in card  # a sentence under the table, not a cell in it


def test_a_bernoulli_likelihood_keeps_its_nats_and_says_why(tmp_path):
    tiny_vae(tmp_path / "mnist-tiny", "mnist", (1, 28, 28), "bernoulli")
    metrics = evaluate(tmp_path / "mnist-tiny", metrics=["test"], **TINY)
    assert metrics["test_negative_elbo_nats"] > 0 and not [k for k in metrics if k.endswith("_bits_per_dim")]
    assert metrics[LIKELIHOOD_NOTE].startswith("Nats per image, not bits per dimension")


def test_bits_per_dimension_sit_beside_their_nats_and_follow_them():
    config = {"model": {"image_shape": [3, 32, 32], "likelihood": "gaussian", "gaussian_sigma": 0.1}}
    stale = {"test_mse": 0.01, "test_negative_elbo_nats": -2893.2718, "test_negative_elbo_bits_per_dim": 1.0,
             LIKELIHOOD_NOTE: "old", "test_nll_iwae_nats": "hand-edited", "evaluation": {}}  # fmt: skip
    figures = likelihood_figures(config, stale)
    assert list(figures) == ["test_mse", "test_negative_elbo_nats", "test_negative_elbo_bits_per_dim",
                             "test_nll_iwae_nats", LIKELIHOOD_NOTE, "evaluation"]  # fmt: skip
    # cifar10-vae's negative ELBO: (-2893.2718 + 3072 ln 255) / (3072 ln 2)
    assert figures["test_negative_elbo_bits_per_dim"] == pytest.approx(6.635594, abs=1e-6)
    assert figures[LIKELIHOOD_NOTE] != "old"
    assert likelihood_figures(config, {"test_mse": 0.01}) == {"test_mse": 0.01}  # no likelihood measured
    ae = {"model": {"image_shape": [1, 28, 28]}}
    assert likelihood_figures(ae, {"test_mse": 0.01}) == {"test_mse": 0.01}


def test_the_command_line_writes_bits_per_dimension(tmp_path, capsys):
    tiny_vae(tmp_path / "cifar10-tiny", "cifar10-jpg", (3, 32, 32), "gaussian")
    argv = [str(tmp_path / "cifar10-tiny"), "--metrics", "test,likelihood", "--limit", "6", "--batch-size", "6"]
    assert main(argv + ["--iwae-samples", "4", "--iwae-limit", "3"]) == 0
    out = capsys.readouterr().out
    assert "test_nll_iwae_bits_per_dim" in out and "likelihood_note" in out
    evaluation = read_metrics(tmp_path / "cifar10-tiny")["evaluation"]
    assert evaluation["command"].startswith("genviz evaluate ") and evaluation["iwae_test_images"] == 3
    assert read_config(tmp_path / "cifar10-tiny")["model"]["likelihood"] == "gaussian"


@pytest.mark.slow
def test_python_m_training_evaluate_still_runs():
    done = subprocess.run([sys.executable, "-m", "genviz.training.evaluate", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "usage: genviz evaluate" in done.stdout
    for option in ("--metrics", "--missing", "--limit", "--iwae-samples", "--iwae-limit", "--cas-epochs"):
        assert option in done.stdout
