import json
import math

import pytest

from genviz.checkpoint import read_metrics
from genviz.models.ae import DENOISING
from training.evaluate import evaluate, main, quality_bars

RECONSTRUCTION = {"test_mse", "test_psnr_db"}
SAMPLES = {"sample_fid_classifier", "sample_precision", "sample_recall", "sample_min_class_share"}
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


def figures(metrics: dict) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if isinstance(v, float)}


@pytest.mark.parametrize("family", EXPECTED)
@pytest.mark.slow
def test_evaluation_gives_finite_figures_and_updates_the_card(trained, family):
    out = trained[family].out  # beside mnist-classifier, which measures the samples
    metrics = evaluate(out, limit=500, samples=500, iwae_samples=20, iwae_limit=50)
    assert figures(metrics).keys() == EXPECTED[family]
    assert all(math.isfinite(v) for v in figures(metrics).values())
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
    vae = evaluate(trained["vae"].out, limit=500, samples=500, iwae_samples=50, iwae_limit=100)
    assert 0 < vae["test_mse"] < 0.1 and 10 < vae["test_psnr_db"] < 40
    assert 60 < vae["test_negative_elbo_nats"] < 400  # nats per MNIST image
    assert vae["test_nll_iwae_nats"] < vae["iwae_images_negative_elbo_nats"]  # a tighter bound, same images
    dae = evaluate(trained["dae"].out, limit=500, samples=500)
    table = dae["denoising_psnr_db"]
    assert list(table) == [f"{noise} {level:g}" for noise, level in DENOISING]
    assert table["gaussian 0.5"]["gain"] > 0  # even a tiny DAE improves on its noisy input
    assert table["gaussian 0.3"]["noisy_input"] > table["gaussian 0.7"]["noisy_input"]
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
