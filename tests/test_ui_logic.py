"""The logic behind the pages, without Streamlit running: wording, URL values, latent edits, subsets, tables."""

import csv
import io

import numpy as np
import pytest
import torch

from genviz import latent as lt
from genviz import metrics, ui
from genviz.data import class_members, parse_indices
from genviz.pictures import csv_bytes


@pytest.mark.parametrize(
    "n, text",
    [(0, "0th"), (1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"), (13, "13th"),
     (21, "21st"), (22, "22nd"), (23, "23rd"), (99, "99th"), (101, "101st"), (111, "111th"), (112, "112th")],
)  # fmt: skip
def test_ordinals_take_the_right_suffix(n, text):
    assert ui.ordinal(n) == text


@pytest.mark.parametrize(
    "p, text",
    [(95.0, "95th percentile"), (1.0, "1st percentile"), (2.04, "2nd percentile"), (99.3, "percentile 99.3"),
     (99.96, "100th percentile"), (12.5, "percentile 12.5"), (0.0, "0th percentile")],
)  # fmt: skip
def test_percentiles_are_worded_as_english_has_them(p, text):
    assert ui.percentile_text(p) == text


def test_an_auroc_below_chance_is_explained_with_its_flipped_value():
    assert ui.below_chance(0.5) is None and ui.below_chance(0.97) is None
    note = ui.below_chance(0.016)
    assert "score lower than the normal images" in note and "easier to reconstruct" in note
    assert "0.9840" in note  # 1 - AUROC: what ranking by the flipped score would give


def test_url_values_are_parsed_or_refused_with_a_reason():
    assert ui.choice([4, 6, 8])("6") == 6 and ui.choice(["umap", "pca"])("pca") == "pca"
    with pytest.raises(ValueError, match="choose one of 4, 6, 8"):
        ui.choice([4, 6, 8])("7")
    assert ui.integer(2, 32)("16") == 16
    for bad, reason in (
        ("1", "outside 2 to 32"),
        ("33", "outside"),
        ("sixteen", "not a whole number"),
        ("2.5", "whole"),
    ):
        with pytest.raises(ValueError, match=reason):
            ui.integer(2, 32)(bad)
    assert ui.flag("1") is True and ui.flag("0") is False
    with pytest.raises(ValueError):
        ui.flag("yes")


def test_test_image_numbers_are_parsed_with_ranges_and_refused_in_words():
    assert parse_indices("0, 5, 10-12", 20) == [0, 5, 10, 11, 12]
    assert parse_indices("3;1", 5) == [3, 1]
    for text, reason in (("4-2", "outside"), ("20", "outside 0 to 19"), ("a", "not a number"), (" , ", "no image")):
        with pytest.raises(ValueError, match=reason):
            parse_indices(text, 20)


def test_class_members_are_the_positions_of_one_class_or_all():
    labels = torch.tensor([2, 0, 2, 1, 2])
    assert class_members(labels, 2).tolist() == [0, 2, 4]
    assert class_members(labels, None).tolist() == [0, 1, 2, 3, 4]
    assert class_members(labels, 5).tolist() == []


def test_csv_bytes_writes_a_header_and_every_row():
    rows = [{"image": "a, b.png", "MSE": 0.5}, {"image": "c", "MSE": 1.25}]
    assert list(csv.DictReader(io.StringIO(csv_bytes(rows).decode()))) == [
        {"image": "a, b.png", "MSE": "0.5"},
        {"image": "c", "MSE": "1.25"},
    ]


def test_edit_latent_sets_dimensions_then_moves_along_directions_and_the_class_shift():
    base = torch.zeros(4)
    untouched = lt.edit_latent(base, {}, torch.eye(4)[:2], torch.ones(2), [0.0, 0.0])
    assert torch.equal(untouched, base) and untouched is not base
    directions, spreads = torch.eye(4)[:2], torch.tensor([2.0, 3.0])
    shift = torch.tensor([0.0, 0.0, 0.0, 10.0])
    z = lt.edit_latent(base, {0: 1.0, 2: -1.0}, directions, spreads, [0.5, 1.0], shift, along=0.5)
    # z[0] set to 1 then 0.5 * 2 along the first direction; 1.0 * 3 along the second; half the shift.
    assert z.tolist() == [2.0, 3.0, -1.0, 5.0]
    assert base.tolist() == [0.0] * 4  # the start latent is left as it was


def test_anomaly_label_sets_mark_one_class_or_the_other_dataset():
    scores, is_anomaly = metrics.class_as_anomalies(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1, 0, 1]), 1)
    assert is_anomaly.tolist() == [True, False, True] and scores.tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError):
        metrics.class_as_anomalies(torch.ones(3), torch.ones(2, dtype=torch.long), 1)
    scores, is_anomaly = metrics.dataset_as_anomalies(torch.tensor([1.0, 2.0]), torch.tensor([5.0]))
    assert scores.tolist() == [1.0, 2.0, 5.0] and is_anomaly.tolist() == [False, False, True]


def test_tiled_frames_are_enlarged_crisply_but_never_wider_than_the_page():
    frames = torch.rand(7, 1, 28, 28)
    picture = ui.tiled(frames, 7)
    assert picture.width >= 7 * 96 and picture.width <= ui.widgets.WIDEST
    factor = picture.width // (7 * 30 + 2)
    assert np.array_equal(np.asarray(picture)[::factor, ::factor], np.asarray(ui.widgets.grid(frames, nrow=7)))
    wide = ui.tiled(torch.rand(32 * 32, 1, 28, 28), 32)
    assert wide.width <= ui.widgets.WIDEST and wide.width == 32 * 30 + 2  # already near the page's width


def test_path_rows_break_a_grid_path_between_rows():
    coords = np.arange(12, dtype=float).reshape(6, 2)
    assert np.array_equal(ui.path_rows(coords, 1), coords)
    broken = ui.path_rows(coords, 2)
    assert broken.shape == (7, 2) and np.isnan(broken[3]).all()
    assert np.array_equal(broken[[0, 1, 2, 4, 5, 6]], coords)
