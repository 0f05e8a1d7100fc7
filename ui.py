"""Streamlit pieces every page shares: the sidebar model picker and cached model loading.

Kept out of `genviz`, which never imports streamlit.
"""

import csv
import html
import io
import os
import re
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch
from PIL import Image

from genviz import CheckpointError, load_model
from genviz import latent as lt
from genviz.checkpoint import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    code_span,
    find_checkpoints,
    find_classifier,
    fingerprint,
    model_card,
    read_config,
    read_metrics,
)
from genviz.data import DatasetError, ImageDataset, as_shape, cache_dir, load_dataset
from genviz.images import FITS, MAX_FILES, ModelInput, UploadError, enlarge, to_pil, upload_to_input
from genviz.metrics import anomaly_scores, denoising_curve, is_approximate
from genviz.models import GAN, GENERATIVE, Classifier, GenerativeModel

# What the uploaders offer; genviz.images reads the file's contents, whatever its name says.
UPLOAD_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff"]
CHECKPOINTS = Path(os.environ.get("GENVIZ_CHECKPOINTS", Path(__file__).parent / "checkpoints"))
# A name or path as an inline code span (views write ui.code), literal whatever it holds.
code = code_span
# Every ASCII punctuation mark: CommonMark lets a backslash make any of them literal.
_MARKDOWN = re.compile(r"([!-/:-@[-`{-~])")
# GFM turns bare web and mail addresses into links in the parsed text, escaped or not; an invisible word
# joiner after "://", "www" or "@" keeps them text.
_AUTOLINK = re.compile(r"(://|@|\bwww(?=\.))", re.IGNORECASE)


def plain(text: object) -> str:
    """`text` (a file name, a typed path, a checkpoint's class name, an error naming them) made literal in
    Streamlit's Markdown: no links, images, emphasis, colours, icons or LaTeX from what a user supplied."""
    return _MARKDOWN.sub(r"\\\1", _AUTOLINK.sub("\\1\u2060", " ".join(str(text).split())))


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


def model_fingerprint(path: str) -> str:
    files = [Path(path) / name for name in (CONFIG_FILE, WEIGHTS_FILE)]
    return cached_fingerprint(path, tuple((f.stat().st_mtime_ns, f.stat().st_size) for f in files))


@st.cache_resource(max_entries=8, show_spinner=False)
def cached_map_file(file: str, mtime: float) -> lt.Projection:
    """A map read from disk once per process (per version of the file), so that what its inverse
    builds on the first click is kept for the next ones."""
    return lt.Projection.load(file)


@st.cache_resource(show_spinner="Loading the test and training sets...")
def cached_test_and_train(name: str, image_size: int) -> ImageDataset:
    """The test split followed by the training split, one dataset: what a map of every image shows."""
    test, train = cached_test_set(name, image_size), load_dataset(name, "train", image_size=image_size)
    images, labels = torch.cat([test.images, train.images]), torch.cat([test.labels, train.labels])
    return ImageDataset(name, "test+train", images, labels, test.class_names)


def map_data(model: GenerativeModel, n: int | None) -> ImageDataset:
    """The images of a map of n points: the first n test images; with n None, every test image and
    then every training image, so that a point's index below len(test_set(model)) is a test image's."""
    if n is None:
        return cached_test_and_train(model.checkpoint["dataset"]["name"], model.image_shape[1])
    return test_set(model).take(n)


def latent_map(path: str, model: GenerativeModel, n: int | None, method: str, n_neighbors: int, min_dist: float):
    """The model's map of n points (test images, or GAN samples; n None: every test and training
    image, see `map_data`), from the disk cache when this model, subset and setting were mapped
    before; otherwise computed with a progress bar. Raises DatasetError."""
    points = "all-test-train" if n is None else f"{n}"
    settings = f"{points}-{method}" + (f"-{n_neighbors}-{min_dist}" if method == "umap" else "")
    file = cache_dir() / "maps" / f"{model_fingerprint(path)}-{settings}.npz"
    if file.is_file():
        try:
            return cached_map_file(str(file), file.stat().st_mtime)
        except ValueError:
            file.unlink(missing_ok=True)  # a damaged cache entry is recomputed, not trusted
    bar = st.progress(0.0, text="Preparing the map...")

    def encoding(done: int, total: int) -> None:
        bar.progress(done / total, text=f"Encoding images: {done:,} of {total:,}")

    def layout(done: int, total: int) -> None:
        bar.progress(done / total, text=f"UMAP: optimising the layout, epoch {done} of {total}")

    if isinstance(model, GAN):
        z, labels = labelled_samples(path, model, n)
    else:
        data = map_data(model, n)
        z, labels = lt.encode_images(model, data.images, progress=encoding), data.labels.cpu()
    if method == "umap":
        bar.progress(
            0.0,
            text="UMAP: finding neighbours (compiling part of UMAP after a start, all of it after an install)...",
        )
    projection = lt.project(z, labels, method, n_neighbors, min_dist, progress=layout)
    bar.empty()
    try:
        projection.save(file)
    except OSError as e:
        st.warning(f"This map could not be cached ({plain(e)}); it will be computed again next time.")
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
                f"No checkpoints under {code(CHECKPOINTS)}. Train one with "
                "`python -m training.train --model vae --dataset mnist --out checkpoints/mnist-vae`."
            )
            return None
        try:
            model = cached_model(path)
        except CheckpointError as e:
            st.error(f"This checkpoint cannot be opened: {plain(e)}. Choose another one above.")
            return None
        if not isinstance(model, GenerativeModel):
            st.error(
                f"{code(path)} holds a {model.family}, which measures other models and has no latent space to "
                "explore. Choose an autoencoder, VAE or GAN."
            )
            return None
        with st.expander("Model card"):
            try:
                st.markdown(model_card(read_config(path), read_metrics(path), literal=plain))
            except CheckpointError as e:  # the weights loaded; only the card's metrics are unreadable
                st.warning(f"The model card cannot be shown: {plain(e)}")
    return path, model


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


@st.cache_data(show_spinner="Finding the latent directions...", max_entries=8)
def directions(_model: GenerativeModel, path: str, k: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """Principal directions (k, D) and their spreads (k,): of the encoded test images, or for a GAN
    of its first layer's activations (GANSpace)."""
    if isinstance(_model, GAN):
        return lt.gan_directions(_model, k)
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


def compatible_models(model: GenerativeModel) -> dict[str, dict]:
    """Folder -> config of the autoencoders, VAEs and GANs that take the same images as `model`:
    those that can be compared with it side by side. Each config is read once."""
    custom = st.session_state.get("custom_path", "")
    folders = [str(p) for p in find_checkpoints(CHECKPOINTS)] + ([custom] if custom else [])
    found = {}
    for folder in dict.fromkeys(folders):
        try:
            config = read_config(folder)
        except CheckpointError:
            continue
        if config["family"] in GENERATIVE and tuple(config["model"]["image_shape"]) == model.image_shape:
            found[folder] = config
    return found


def loaded_models(paths: list[str]) -> dict[str, GenerativeModel]:
    """Folder name -> model for each path that loads; says in the page why any other does not."""
    models = {}
    for p in paths:
        try:
            models[Path(p).name] = cached_model(p)
        except CheckpointError as e:
            st.error(f"{code(Path(p).name)} is left out: {plain(e)}")
    return models


# An image ready for a model, from an upload or the test set, with what was done to it on the way.
Picture = ModelInput


def fit_controls(model: GenerativeModel, key: str) -> tuple[str, bool | None]:
    """How uploads become the model's input: fit, and (for one-channel models) inversion."""
    c, h, w = model.image_shape
    left, right = st.columns(2)
    fit = left.radio(
        "Fit to the model's size",
        FITS,
        horizontal=True,
        key=f"{key}_fit",
        help=f"Uploads become {w}x{h}: pad keeps the whole image, crop fills the square, stretch ignores the aspect",
    )
    invert = None
    if c == 1:
        choice = right.radio(
            "Invert",
            ["Auto", "Yes", "No"],
            horizontal=True,
            key=f"{key}_invert",
            help="The model was trained on light strokes on a dark background; auto inverts dark-on-light uploads",
        )
        invert = {"Auto": None, "Yes": True, "No": False}[choice]
    return fit, invert


def read_pictures(files: list, model: GenerativeModel, fit: str, invert: bool | None) -> list[Picture]:
    """The first MAX_FILES uploads as the model's input; a bad file gets an error in the page and is
    skipped, the others are still read."""
    if len(files) > MAX_FILES:
        st.warning(f"{len(files)} files were uploaded; the first {MAX_FILES} are used.")
    pictures = []
    for f in files[:MAX_FILES]:
        try:
            pictures.append(upload_to_input(f.getvalue(), f.name, model.image_shape, fit, invert))
        except UploadError as e:
            st.error(plain(e), icon=":material/broken_image:")
    return pictures


def parse_indices(text: str, count: int) -> list[int]:
    """Test image numbers typed as '0, 5, 10-15'; ValueError naming the bad part."""
    index = []
    for part in (p.strip() for p in text.replace(";", ",").split(",")):
        if not part:
            continue
        low, _, high = part.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise ValueError(f"{part!r} is not a number or a range such as 10-15") from None
        if not 0 <= first <= last < count:
            raise ValueError(f"{part!r} is outside 0 to {count - 1}")
        index += range(first, last + 1)
    if not index:
        raise ValueError("no image numbers given")
    return index


def picture_source(model: GenerativeModel, key: str, default: str = "0-7") -> list[Picture]:
    """The page's images: uploads (converted as the controls say, notes shown) or test images by number."""
    source = st.radio("Images", ["Upload", "Test images"], horizontal=True, key=f"{key}_source")
    if source == "Test images":
        try:
            data = test_set(model)
        except DatasetError as e:
            st.error(f"Test images need the test set of {code(model.checkpoint['dataset']['name'])}: {plain(e)}")
            return []
        text = st.text_input(
            "Test image numbers", default, key=f"{key}_index", help=f"Numbers or ranges from 0 to {len(data) - 1}"
        )
        try:
            index = parse_indices(text, len(data))
        except ValueError as e:
            st.error(f"These test images cannot be shown: {plain(e)}.")
            return []
        if len(index) > MAX_FILES:
            st.warning(f"{len(index)} test images were asked for; the first {MAX_FILES} are used.")
            index = index[:MAX_FILES]
        names = class_names(model)
        return [Picture(f"test-{i} ({names[data.labels[i]]})", data.images[i].float().div(255), []) for i in index]
    files = st.file_uploader(
        "Upload images",
        type=UPLOAD_TYPES,
        accept_multiple_files=True,
        key=f"{key}_files",
        help=f"PNG, JPEG, BMP, GIF (first frame), WebP or TIFF; up to {MAX_FILES} files of 20 MiB each",
    )
    fit, invert = fit_controls(model, key)
    return read_pictures(files or [], model, fit, invert)


def show_notes(pictures: list[Picture]) -> None:
    """What conversion did to each upload, so that nothing is changed silently."""
    notes = [f"**{plain(p.name)}**: {plain('; '.join(p.notes))}" for p in pictures if p.notes]
    if notes:
        title = f"How {len(notes)} upload{'s were' if len(notes) > 1 else ' was'} converted"
        with st.expander(title, expanded=len(notes) <= 3):  # open unless a long batch would push the results down
            st.markdown("\n".join(f"- {n}" for n in notes))


def show(where, image: torch.Tensor | Image.Image, caption: str, size: int = 112) -> None:
    """A (C, H, W) image in [0, 1] (or a picture) at `size` pixels with crisp pixels, in `where` (st or a
    column). A fixed width keeps a row of pictures even, whatever their captions; a caption is shown as
    plain text, as it names uploads and classes."""
    picture = to_pil(image) if isinstance(image, torch.Tensor) else image
    where.image(enlarge(picture, size), caption=plain(caption), width=size, output_format="PNG")


@st.cache_data(show_spinner=False, max_entries=16)
def test_scores(_model: GenerativeModel, path: str, score: str, n: int) -> torch.Tensor:
    """Anomaly scores of the first n test images, with a progress bar the first time."""
    images = test_set(_model).images[:n]
    bar = st.progress(0.0, text="Scoring the test set...")

    def step(done: int, total: int) -> None:
        bar.progress(done / total, text=f"Scoring the test set: {done:,} of {total:,}")

    # A GAN inverts each image by a search: smaller batches show progress more often.
    scores = anomaly_scores(_model, images, score, batch_size=100 if is_approximate(_model) else 500, progress=step)
    bar.empty()
    return scores


def latest_map(path: str) -> lt.Projection | None:
    """The most recently computed map of this model (any settings), if the Latent map page made one."""
    found = sorted((cache_dir() / "maps").glob(f"{model_fingerprint(path)}-*.npz"), key=os.path.getmtime)
    for file in reversed(found):
        try:
            return cached_map_file(str(file), file.stat().st_mtime)
        except ValueError:
            continue
    return None


@st.cache_data(show_spinner="Encoding the image...", max_entries=64)
def encoded_picture(_model: GenerativeModel, path: str, pixels: np.ndarray) -> torch.Tensor:
    """The latent (D,) of one uint8 image (C, H, W); for a GAN, found by inverting the generator."""
    return lt.encode_images(_model, torch.from_numpy(pixels)[None])[0]


@st.cache_resource(show_spinner="Projecting with PCA...", max_entries=8)
def pca_map(_model: GenerativeModel, path: str) -> lt.Projection:
    """A PCA map of the model's latent sample: instant, for pages that need a map before one was made."""
    z, labels = latent_sample(_model, path)
    return lt.project(z, labels, "pca")


@st.cache_data(show_spinner="Reconstructing...", max_entries=64)
def _reconstructed(_model: GenerativeModel, path: str, images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(images).to(_model.device)
    return _model.reconstruct(x).cpu()


def reconstructed(model: GenerativeModel, images: torch.Tensor) -> torch.Tensor:
    """The model's reconstructions (B, C, H, W) of images in [0, 1], kept per model and images: a
    GAN's inversion takes a while, and a rerun should not pay for it again."""
    return _reconstructed(model, model.checkpoint["path"], images.numpy())


@st.cache_data(show_spinner="Measuring each model at every noise level...", max_entries=16)
def _denoising_curves(_models: dict, paths: tuple[str, ...], kind: str, n: int):
    clean = test_set(next(iter(_models.values()))).images[:n].float().div(255)
    levels = [round(float(v), 3) for v in torch.linspace(0.1, 1.0, 10)]
    return denoising_curve(_models, clean, kind, levels), levels, len(clean)


def denoising_curves(models: dict[str, GenerativeModel], kind: str, n: int = 128):
    """Mean PSNR of the noisy input and of each model's output at ten noise levels, over n test images:
    (curves, levels, images used). Raises DatasetError."""
    return _denoising_curves(models, tuple(m.checkpoint["path"] for m in models.values()), kind, n)


def csv_bytes(rows: list[dict]) -> bytes:
    """Rows of a table as CSV, for the downloads."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


@st.cache_data(show_spinner="Scoring...", max_entries=64)
def _picture_scores(_model: GenerativeModel, path: str, images: np.ndarray, score: str) -> torch.Tensor:
    return anomaly_scores(_model, torch.from_numpy(images), score)


def picture_scores(model: GenerativeModel, images: torch.Tensor, score: str) -> torch.Tensor:
    """Anomaly scores (B,) of images (B, C, H, W) in [0, 1], kept per model and images."""
    return _picture_scores(model, model.checkpoint["path"], images.numpy(), score)


@st.cache_data(show_spinner=False, max_entries=16)
def foreign_scores(_model: GenerativeModel, path: str, name: str, score: str, n: int) -> torch.Tensor:
    """Anomaly scores of the first n test images of another dataset, made the model's shape.
    Never downloads; raises DatasetError."""
    with st.spinner(f"Reading the test set of {name}..."):
        images = as_shape(load_dataset(name, "test", download=False).images[:n], _model.image_shape)
    bar = st.progress(0.0, text=f"Scoring {name}...")

    def step(done: int, total: int) -> None:
        bar.progress(done / total, text=f"Scoring {name}: {done:,} of {total:,}")

    scores = anomaly_scores(_model, images, score, batch_size=100 if is_approximate(_model) else 500, progress=step)
    bar.empty()
    return scores
