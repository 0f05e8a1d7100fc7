import json
import math

import pytest

from genviz.checkpoint import read_metrics
from training.evaluate import evaluate, main

EXPECTED = {
    "ae": {"test_mse", "test_psnr_db"},
    "dae": {"test_mse", "test_psnr_db", "noisy_input_psnr_db", "denoised_psnr_db", "denoising_gain_db"},
    "vae": {"test_mse", "test_psnr_db", "test_negative_elbo_nats"},
    "gan": set(),
}


@pytest.mark.parametrize("family", EXPECTED)
def test_evaluation_gives_finite_figures_and_updates_the_card(trained, family):
    out = trained[family].args.out
    metrics = evaluate(out, limit=500)
    figures = {k for k, v in metrics.items() if isinstance(v, float)}
    assert figures == EXPECTED[family]
    assert all(math.isfinite(metrics[k]) for k in figures)
    assert metrics["evaluation"]["test_images"] == 500 and metrics["evaluation"]["device"] == "cpu"
    assert read_metrics(out) == json.loads(json.dumps(metrics))
    card = (out / "README.md").read_text()
    assert "training.evaluate" in card and "Reproduce with" in card
    if figures:
        assert "| test_mse |" in card


def test_figures_are_plausible(trained):
    metrics = read_metrics(trained["vae"].args.out) or evaluate(trained["vae"].args.out, limit=500)
    assert 0 < metrics["test_mse"] < 0.1 and 10 < metrics["test_psnr_db"] < 40
    assert 60 < metrics["test_negative_elbo_nats"] < 400  # nats per MNIST image
    dae = evaluate(trained["dae"].args.out, limit=500)
    assert dae["denoising_gain_db"] > 0  # even a tiny DAE improves on its noisy input


def test_evaluate_command_reports_a_broken_folder(tmp_path, capsys):
    assert main([str(tmp_path / "nothing")]) == 2
    assert "not a checkpoint folder" in capsys.readouterr().err
