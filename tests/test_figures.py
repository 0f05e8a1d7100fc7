"""The plotly figures' class colours, path ends and numbered marks (ui/figures.py), without the app."""

import re
from pathlib import Path

import numpy as np
import torch

from genviz import latent as lt
from genviz.ui import figures

MAP_SOURCE = Path(__file__).resolve().parent.parent / "component" / "frontend" / "src" / "map.ts"


def projection(labels: list[int]) -> lt.Projection:
    coords = np.arange(2 * len(labels), dtype=np.float32).reshape(-1, 2)
    return lt.Projection("pca", {}, np.zeros((len(labels), 3), np.float32), coords, np.array(labels), {})


def test_the_plotly_maps_colour_each_class_as_the_latent_map_does():
    """One palette: the browser's latent map (map.ts) and the plotly maps (Interpolate's, the map page's fallback)."""
    source = MAP_SOURCE.read_text()
    palette = re.findall(r'"(#[0-9a-f]{6})"', re.search(r"const PALETTE = \[(.*?)\];", source).group(1))
    assert palette == figures.CLASS_COLOURS
    assert re.search(r'const UNLABELLED = "(#[0-9a-f]{6})"', source).group(1) == figures.UNLABELLED
    fig = figures.map_figure(projection([2, 0, 11, -1, 2]), [str(k) for k in range(12)], np.zeros((0, 2)), None)
    colours = {trace.name: trace.marker.color for trace in fig.data[1:]}
    # Class 2 is green as on the latent map (plotly's own sequence would give each trace the next colour).
    assert colours == {"unlabelled": "#9a9a9a", "0": "#636efa", "2": "#00cc96", "11": "#ef553b"}


def test_a_paths_ends_are_labelled_in_boxes_that_point_at_them():
    ends = {"Start": np.array([1.0, 2.0]), "End": np.array([5.0, 6.0])}
    path = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    fig = figures.map_figure(projection([0, 1]), ["a", "b"], np.zeros((0, 2)), None, path, ends)
    notes = {a.text: a for a in fig.layout.annotations}
    assert set(notes) == {"<b>Start</b>", "<b>End</b>"}
    assert (notes["<b>Start</b>"].x, notes["<b>Start</b>"].y) == (1.0, 2.0) and notes["<b>End</b>"].showarrow
    assert notes["<b>Start</b>"].bgcolor == "white" and notes["<b>Start</b>"].ax * notes["<b>End</b>"].ax < 0
    hostile = figures.map_figure(projection([0]), ["a"], np.zeros((0, 2)), None, path[:1], {"<img>": path[0]})
    assert hostile.layout.annotations[0].text == "<b>&lt;img&gt;</b>"


def test_the_histograms_marks_are_numbered_and_close_numbers_stacked():
    reference = torch.linspace(0, 1, 1000)
    marks = [0.9, 0.5, 0.505, 0.51, 0.2]  # the middle three within a number's width of each other
    fig = figures.score_histogram(reference, 0.95, marks, "score")
    numbers = {int(a.text): a for a in fig.layout.annotations if a.text.isdigit()}
    assert sorted(numbers) == [1, 2, 3, 4, 5]
    assert [numbers[k].x for k in range(1, 6)] == marks  # number k at the k-th mark
    assert len({numbers[k].yshift for k in (2, 3, 4)}) == 3  # stacked, one above another
    assert numbers[1].yshift == numbers[5].yshift == numbers[2].yshift  # far apart: one layer
    assert fig.layout.margin.t >= 30 + 3 * figures.LAYER  # room above the plot for three layers
