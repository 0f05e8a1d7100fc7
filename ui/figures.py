"""Plotly figures: the latent map, the anomaly page's histogram and ROC curve, the denoising curves.
Text in them that a checkpoint or a user supplied is HTML-escaped: plotly reads tags in names and hovers."""

import html

import numpy as np
import plotly.graph_objects as go
import torch

from genviz import latent as lt


def path_rows(coords: np.ndarray, rows: int) -> np.ndarray:
    """A path (P, 2) of `rows` equal rows, with a NaN point between rows: plotly breaks the line there,
    so that each row of a grid is drawn as its own path."""
    if rows <= 1:
        return coords
    parts = coords.reshape(rows, -1, 2)
    return np.concatenate([np.vstack([r, [[np.nan, np.nan]]]) for r in parts])[:-1]


def map_figure(
    projection: lt.Projection, names: list[str], grid: np.ndarray, pick: dict | None, path: np.ndarray | None = None
) -> go.Figure:
    """The latent map: one trace per class (customdata: point index), an invisible grid behind them
    whose clicks decode empty space, a star where the last pick was, and a path (P, 2) through it."""
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
                marker={"size": 5},
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
                mode="lines+markers+text",
                name="interpolation",
                text=["start"] + [""] * (len(path) - 2) + ["end"],
                textposition="top center",
                hovertemplate="step %{pointNumber}<extra></extra>",
                line={"color": "black", "width": 2},
                marker={"size": 7, "color": "black"},
            )
        )
    fig.update_layout(
        height=600, margin={"l": 0, "r": 0, "t": 30, "b": 0}, hovermode="closest", legend_itemsizing="constant"
    )
    fig.update_xaxes(showticklabels=False, title=None)
    fig.update_yaxes(showticklabels=False, title=None)
    return fig


def score_histogram(reference: torch.Tensor, threshold: float, marks: list[tuple[str, float]], score: str) -> go.Figure:
    """The histogram of the test set's scores, the threshold dashed, and a line at each of `marks`
    ((label, score) pairs)."""
    fig = go.Figure(go.Histogram(x=reference.numpy(), nbinsx=80, name="test set", marker_color="#8da0cb"))
    fig.add_vline(
        x=threshold, line_dash="dash", line_color="red", annotation_text="threshold", annotation_position="bottom right"
    )
    for label, value in marks:
        fig.add_vline(x=value, line_color="black", annotation_text=html.escape(label))
    fig.update_layout(xaxis_title=score, yaxis_title="test images", height=360, margin={"t": 30})
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
