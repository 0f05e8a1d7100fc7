"""The one-class protocol end to end on one digit, with a small AE."""

import json

import pytest

from genviz.training.anomaly import METHODS, main

pytestmark = pytest.mark.slow  # trains an AE


def test_one_class_run_scores_every_method_and_resumes(tmp_path, capsys):
    argv = "--digits 1 --epochs 3 --limit 2000 --test-limit 2000 --width 16".split() + ["--out", str(tmp_path)]
    assert main(argv) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    row = results["auroc_per_digit"]["1"]
    assert set(row) == set(METHODS) and all(0 <= v <= 1 for v in row.values())
    assert row["autoencoder"] > 0.9, row  # an AE of 1s reconstructs other digits badly
    assert results["auroc_mean"] == row and results["settings"]["test_images"] == 2000
    assert "| 1 |" in capsys.readouterr().out
    weights = (tmp_path / "digit-1" / "model.safetensors").read_bytes()
    assert main(argv) == 0  # a second run reuses the finished AE
    assert (tmp_path / "digit-1" / "model.safetensors").read_bytes() == weights
    assert json.loads((tmp_path / "results.json").read_text())["auroc_per_digit"]["1"] == row
