import json
import math

import pytest

from genviz.checkpoint import read_metrics
from genviz.models.ae import DENOISING
from training.evaluate import METRICS, evaluate, main, missing, quality_bars

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
    assert "training.evaluate" in card and "Reproduce with" in card


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
