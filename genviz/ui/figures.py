"""Plotly figures: the latent map, the anomaly page's histogram and ROC curve, the denoising curves.
Text in them that a checkpoint or a user supplied is HTML-escaped: plotly reads tags in names and hovers."""

import html

import numpy as np
import plotly.graph_objects as go
import torch

from genviz import latent as lt

# Class colours by class index, as the latent map draws them (component/frontend/src/map.ts PALETTE: plotly's default
# qualitative sequence, repeated past ten classes), and the grey of points without a class: every chart that colours
# classes takes them from `class_colour`, so that a class has one colour throughout the app.
CLASS_COLOURS = [
    "#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880", "#ff97ff", "#fecb52",
]  # fmt: skip
UNLABELLED = "#9a9a9a"
LAYER = 20  # pixels: the height of a layer of the anomaly histogram's numbers


def class_colour(label: int) -> str:
    return UNLABELLED if label < 0 else CLASS_COLOURS[label % len(CLASS_COLOURS)]


def path_rows(coords: np.ndarray, rows: int) -> np.ndarray:
    """A path (P, 2) of `rows` equal rows, with a NaN point between rows: plotly breaks the line there,
    so that each row of a grid is drawn as its own path."""
    if rows <= 1:
        return coords
    parts = coords.reshape(rows, -1, 2)
    return np.concatenate([np.vstack([r, [[np.nan, np.nan]]]) for r in parts])[:-1]


def map_figure(
    projection: lt.Projection,
    names: list[str],
    grid: np.ndarray,
    pick: dict | None,
    path: np.ndarray | None = None,
    ends: dict[str, np.ndarray] | None = None,
) -> go.Figure:
    """The latent map: one trace per class (customdata: point index) in the classes' colours, an invisible grid
    behind them whose clicks decode empty space, a star where the last pick was, a path (P, 2) through it, and
    its `ends` (label -> (x, y): start and end, or the four corners in reading order) labelled in boxes."""
    fig = go.Figure()
    # First, so that it lies under the points; clicks that miss every point land on it.
    fig.add_trace(
        go.Scatter(
            x=grid[:, 0],
            y=grid[:, 1],
            mode="markers",
            name="empty space",
            showlegend=False,
            marker={"size": 10, "opacity": 0},
            selected={"marker": {"opacity": 0}},
            unselected={"marker": {"opacity": 0}},
            hovertemplate="decode here<extra></extra>",
        )
    )
    labels = projection.labels
    for label in np.unique(labels):
        index = np.flatnonzero(labels == label)
        # Plotly reads tags such as <a href> and <img> in names and hover text: a class name is shown literally.
        name = html.escape(names[label]) if 0 <= label < len(names) else "unlabelled"
        fig.add_trace(
            go.Scatter(
                x=projection.coords[index, 0],
                y=projection.coords[index, 1],
                mode="markers",
                name=name,
                customdata=index,
                marker={"size": 5, "color": class_colour(int(label))},
                unselected={"marker": {"opacity": 0.25}},
                hovertemplate=f"{name}, point %{{customdata}}<extra></extra>",
            )
        )
    if pick:
        fig.add_trace(
            go.Scatter(
                x=[pick["x"]],
                y=[pick["y"]],
                mode="markers",
                name="picked",
                hoverinfo="skip",
                marker={"symbol": "star", "size": 16, "color": "black", "line": {"color": "white", "width": 1}},
            )
        )
    if path is not None:
        fig.add_trace(
            go.Scatter(
                x=path[:, 0],
                y=path[:, 1],
                mode="lines+markers",
                name="interpolation",
                hovertemplate="step %{pointNumber}<extra></extra>",
                line={"color": "black", "width": 2},
                marker={"size": 7, "color": "black", "line": {"color": "white", "width": 1}},
            )
        )
    # Each label 60 px to its side of its end, above it for the first two and below for the others: labels of ends
    # that fall together on the map (a grid's corners often do) stay 120 px apart, wider than any two of them.
    for k, (label, (x, y)) in enumerate((ends or {}).items()):
        fig.add_annotation(
            x=float(x), y=float(y), text=f"<b>{html.escape(label)}</b>", showarrow=True, ax=-60 if k % 2 == 0 else 60,
            ay=-36 if k < 2 else 36, arrowcolor="black", arrowwidth=2, bgcolor="white", bordercolor="black",
            borderwidth=1, borderpad=3, font={"size": 13, "color": "black"},
        )  # fmt: skip
    fig.update_layout(
        height=600, margin={"l": 0, "r": 0, "t": 30, "b": 0}, hovermode="closest", legend_itemsizing="constant"
    )
    fig.update_xaxes(showticklabels=False, title=None)
    fig.update_yaxes(showticklabels=False, title=None)
    return fig


def score_histogram(reference: torch.Tensor, threshold: float, marks: list[float], score: str) -> go.Figure:
    """The histogram of the test set's scores, the threshold dashed, and a line at each of `marks` (scores)
    numbered from 1 in their order above the plot: a page's table says which image each number is. Where lines
    are close their numbers are stacked, so that none covers another."""
    fig = go.Figure(go.Histogram(x=reference.numpy(), nbinsx=80, name="test set", marker_color="#8da0cb"))
    fig.add_vline(
        x=threshold, line_dash="dash", line_color="red", annotation_text="threshold", annotation_position="bottom right"
    )
    values = [float(reference.min()), float(reference.max()), threshold, *marks]
    apart = 0.04 * (max(values) - min(values))  # about 20 pixels of a 500-pixel plot: two numbers' width
    ends: list[float] = []  # the right-most mark numbered in each layer so far
    for k, value in sorted(enumerate(marks, 1), key=lambda m: m[1]):
        layer = next((j for j, end in enumerate(ends) if value - end >= apart), len(ends))
        ends[layer : layer + 1] = [value]  # replaces that layer's last mark, or opens a new layer
        fig.add_vline(x=value, line_color="black")
        fig.add_annotation(
            x=value, y=1, xref="x", yref="paper", yanchor="bottom", yshift=2 + LAYER * layer, text=str(k),
            showarrow=False, bgcolor="white", bordercolor="black", borderwidth=1, borderpad=1,
            font={"size": 11, "color": "black"},
        )  # fmt: skip
    height = 360 + LAYER * len(ends)  # the plot keeps its height; the numbers' layers are added above it
    fig.update_layout(xaxis_title=score, yaxis_title="test images", height=height, margin={"t": 30 + LAYER * len(ends)})
    return fig


def roc_figure(fpr: torch.Tensor, tpr: torch.Tensor, auc: float) -> go.Figure:
    fig = go.Figure(go.Scatter(x=fpr.numpy(), y=tpr.numpy(), mode="lines", name=f"AUROC {auc:.4f}"))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line_dash="dot", line_color="grey", name="chance"))
    fig.update_layout(xaxis_title="false-positive rate", yaxis_title="true-positive rate", height=420, margin={"t": 20})
    return fig


def curves_figure(curves: dict[str, list[float]], levels: list[float], label, level_name: str) -> go.Figure:
    """Mean PSNR against noise level, a line per model (named by `label(name)`) and a grey dashed one for
    the noisy input itself: the line a model has to beat."""
    fig = go.Figure()
    for name, ys in curves.items():
        baseline = name == "noisy input"
        line = {"dash": "dash", "color": "grey"} if baseline else {}
        fig.add_trace(
            go.Scatter(x=levels, y=ys, mode="lines+markers", name=name if baseline else label(name), line=line)
        )
    fig.update_layout(xaxis_title=level_name, yaxis_title="mean PSNR (dB)", height=380, margin={"t": 20})
    return fig
