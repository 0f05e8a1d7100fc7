"""Streamlit pieces every page shares: the sidebar model picker and cached model loading.

Kept out of `genviz`, which never imports streamlit.
"""

import os
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from genviz import CheckpointError, load_model
from genviz import latent as lt
from genviz.checkpoint import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    find_checkpoints,
    find_classifier,
    fingerprint,
    model_card,
    read_config,
    read_metrics,
)
from genviz.data import ImageDataset, cache_dir, load_dataset
from genviz.models import GAN, GENERATIVE, Classifier, GenerativeModel

CHECKPOINTS = Path(os.environ.get("GENVIZ_CHECKPOINTS", Path(__file__).parent / "checkpoints"))


@st.cache_resource(show_spinner="Loading model...")
def cached_model(path: str) -> GenerativeModel:
    """One model per folder per process, shared by every session (never trained or edited)."""
    return load_model(path)


@st.cache_resource(show_spinner="Loading the test set...")
def cached_test_set(name: str, image_size: int) -> ImageDataset:
    return load_dataset(name, "test", image_size=image_size)


def test_set(model: GenerativeModel) -> ImageDataset:
    """The test split of the model's training dataset; DatasetError says why it cannot be read."""
    return cached_test_set(model.checkpoint["dataset"]["name"], model.image_shape[1])


def classifier_for(path: str, model: GenerativeModel) -> Classifier | None:
    """The classifier trained on the model's dataset, beside its checkpoint, if one loads."""
    found = find_classifier(path, model.checkpoint["dataset"]["name"])
    try:
        classifier = cached_model(str(found)) if found else None
    except CheckpointError:
        return None
    ok = isinstance(classifier, Classifier) and classifier.image_shape == model.image_shape
    return classifier if ok else None


def class_names(model: GenerativeModel) -> list[str]:
    return model.checkpoint["dataset"]["class_names"]


def labelled_samples(path: str, model: GAN, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n prior latents (seed 0) and the class the dataset's classifier sees in each decode (-1 without one)."""
    z = lt.prior_latents(model, n, seed=0)
    classifier = classifier_for(path, model)
    return z, lt.classify(classifier, lt.decode(model, z)) if classifier else torch.full((n,), -1)


@st.cache_data(show_spinner="Encoding test images...", max_entries=8)
def latent_sample(_model: GenerativeModel, path: str, n: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents (n, D) and class labels (n,) of data: the first n test images encoded, or for a GAN
    n prior samples labelled by the dataset's classifier (-1 without one). Raises DatasetError."""
    if isinstance(_model, GAN):
        return labelled_samples(path, _model, n)
    data = test_set(_model).take(n)
    return lt.encode_images(_model, data.images), data.labels.cpu()


@st.cache_data(max_entries=64, show_spinner=False)
def cached_fingerprint(path: str, stamp: tuple) -> str:
    """The folder's fingerprint, hashed again only when its files change (`stamp`: their mtimes
    and sizes), not on every click of the map."""
    return fingerprint(path)


@st.cache_resource(max_entries=8, show_spinner=False)
def cached_map_file(file: str, mtime: float) -> lt.Projection:
    """A map read from disk once per process (per version of the file), so that what its inverse
    builds on the first click is kept for the next ones."""
    return lt.Projection.load(file)


def latent_map(path: str, model: GenerativeModel, n: int, method: str, n_neighbors: int, min_dist: float):
    """The model's map of n points (test images, or GAN samples), from the disk cache when this
    model, subset and setting were mapped before; otherwise computed with a progress bar."""
    settings = f"{n}-{method}" + (f"-{n_neighbors}-{min_dist}" if method == "umap" else "")
    files = [Path(path) / name for name in (CONFIG_FILE, WEIGHTS_FILE)]
    stamp = tuple((f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    file = cache_dir() / "maps" / f"{cached_fingerprint(path, stamp)}-{settings}.npz"
    if file.is_file():
        try:
            return cached_map_file(str(file), file.stat().st_mtime)
        except ValueError:
            file.unlink(missing_ok=True)  # a damaged cache entry is recomputed, not trusted
    bar = st.progress(0.0, text="Preparing the map...")

    def encoding(done: int, total: int) -> None:
        bar.progress(done / total, text=f"Encoding test images: {done:,} of {total:,}")

    def layout(done: int, total: int) -> None:
        bar.progress(done / total, text=f"UMAP: optimising the layout, epoch {done} of {total}")

    if isinstance(model, GAN):
        z, labels = labelled_samples(path, model, n)
    else:
        data = test_set(model).take(n)
        z, labels = lt.encode_images(model, data.images, progress=encoding), data.labels.cpu()
    if method == "umap":
        bar.progress(0.0, text="UMAP: finding neighbours (the first map after a start also compiles UMAP)...")
    projection = lt.project(z, labels, method, n_neighbors, min_dist, progress=layout)
    bar.empty()
    try:
        projection.save(file)
    except OSError as e:
        st.warning(f"This map could not be cached ({e}); it will be computed again next time.")
        return projection
    return cached_map_file(str(file), file.stat().st_mtime)


def family(folder: str | Path) -> str | None:
    """The folder's model family, or None when its config cannot be read."""
    try:
        return read_config(folder)["family"]
    except CheckpointError:
        return None


def explorable(folder: Path) -> bool:
    """An AE, VAE or GAN, or a folder too broken to tell (listed, so that picking it says why)."""
    return family(folder) in (*GENERATIVE, None)


def default_index(options: list[str]) -> int:
    """Open on the MNIST VAE, else any VAE: prior samples of a VAE make the most telling first
    screen, and MNIST's are the easiest to read."""
    vaes = [i for i, path in enumerate(options) if family(path) == "vae"]
    preferred = [i for i in vaes if Path(options[i]).name == "mnist-vae"]
    return (preferred or vaes or [0])[0]


def _select_custom() -> None:
    if path := st.session_state.custom_checkpoint.strip():
        st.session_state.custom_path = st.session_state.model_path = path


def _remember_choice() -> None:
    st.session_state.model_path = st.session_state.checkpoint


def model_picker() -> tuple[str, GenerativeModel] | None:
    """Sidebar: choose a checkpoint folder (or type a path); shows its card. None if none loads.

    Every page draws it. A widget's state ends with its page, so the choice and the typed folder
    are kept in `model_path` and `custom_path` and handed to the next page's widgets."""
    folders = [str(p) for p in find_checkpoints(CHECKPOINTS) if explorable(p)]
    with st.sidebar:
        st.header("Model")
        custom = st.session_state.get("custom_path", "")
        options = folders + ([custom] if custom and custom not in folders else [])
        if options:
            chosen = st.session_state.get("model_path")
            st.session_state.checkpoint = st.session_state.model_path = (
                chosen if chosen in options else options[default_index(options)]
            )
        st.session_state.custom_checkpoint = custom
        path = st.selectbox(
            "Checkpoint", options, format_func=lambda p: Path(p).name, key="checkpoint", on_change=_remember_choice
        )
        st.text_input(
            "Another checkpoint folder",
            key="custom_checkpoint",
            on_change=_select_custom,
            help="Path to a folder written by `python -m training.train`",
        )
        if path is None:
            st.info(
                f"No checkpoints under `{CHECKPOINTS}`. Train one with "
                "`python -m training.train --model vae --dataset mnist --out checkpoints/mnist-vae`."
            )
            return None
        try:
            model = cached_model(path)
        except CheckpointError as e:
            st.error(f"This checkpoint cannot be opened: {e}. Choose another one above.")
            return None
        if not isinstance(model, GenerativeModel):
            st.error(
                f"`{path}` holds a {model.family}, which measures other models and has no latent space to "
                "explore. Choose an autoencoder, VAE or GAN."
            )
            return None
        with st.expander("Model card"):
            try:
                st.markdown(model_card(read_config(path), read_metrics(path)))
            except CheckpointError as e:  # the weights loaded; only the card's metrics are unreadable
                st.warning(f"The model card cannot be shown: {e}")
    return path, model


def map_figure(projection: lt.Projection, names: list[str], grid: np.ndarray, pick: dict | None) -> go.Figure:
    """The latent map: one trace per class (customdata: point index), an invisible grid behind them
    whose clicks decode empty space, and a star where the last pick was."""
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
        name = names[label] if 0 <= label < len(names) else "unlabelled"
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
    fig.update_layout(
        height=600, margin={"l": 0, "r": 0, "t": 30, "b": 0}, hovermode="closest", legend_itemsizing="constant"
    )
    fig.update_xaxes(showticklabels=False, title=None)
    fig.update_yaxes(showticklabels=False, title=None)
    return fig


@st.cache_data(show_spinner="Finding the latent directions...", max_entries=8)
def directions(_model: GenerativeModel, path: str, k: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """Principal directions (k, D) and their spreads (k,): of the encoded test images, or for a GAN
    of its first layer's activations (GANSpace)."""
    if isinstance(_model, GAN):
        return lt.gan_directions(_model, k, torch.Generator().manual_seed(0))
    return lt.principal_directions(latent_sample(_model, path)[0], k)


@st.cache_data(show_spinner="Ranking the latent dimensions...", max_entries=8)
def dimension_order(_model: GenerativeModel, path: str, n: int = 2000) -> torch.Tensor:
    """Latent dimensions, most active first for a VAE (needs its test set), in order otherwise."""
    if _model.family != "vae":
        return torch.arange(_model.latent_dim)
    return lt.most_active(_model, test_set(_model).images[:n])


@st.cache_data(show_spinner="Encoding the image...", max_entries=64)
def encoded_test_image(_model: GenerativeModel, path: str, index: int) -> torch.Tensor:
    """The latent (D,) of one test image; for a GAN, found by inverting the generator."""
    return lt.encode_images(_model, test_set(_model).images[index : index + 1])[0]
