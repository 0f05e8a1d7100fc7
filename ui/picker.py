"""The sidebar's model picker: every checkpoint folder under the checkpoints folder, a typed folder, the
model card, and the model's folder name in the URL."""

import math
from pathlib import Path
from typing import NamedTuple

import streamlit as st

import ui
from genviz import CheckpointError, models
from genviz.checkpoint import find_checkpoints, model_card, read_config, read_metrics
from genviz.models import GenerativeModel, Model
from ui.params import drop_from_url, to_url
from ui.resources import cached_model
from ui.text import code, plain


def _described(folder: str | Path) -> tuple[type[Model], dict] | None:
    """The class a checkpoint folder loads as, and its config, read without loading the weights; None when
    the config cannot be read. A model's capabilities are class attributes: they can be asked before loading."""
    try:
        config = read_config(folder)
    except CheckpointError:
        return None
    return models.model_class(config["family"], config["model"]), config


def model_class(folder: str | Path) -> type[Model] | None:
    return (_described(folder) or (None,))[0]


def listed(folder: str | Path) -> bool:
    """A model with a latent space to explore, or a folder too broken to tell (listed, so that picking it
    says why); a classifier only measures the others."""
    found = model_class(folder)
    return found is None or found.explorable


def default_index(options: list[str]) -> int:
    """Open on the MNIST VAE, else on any model with a likelihood (a VAE): prior samples of a VAE make the
    most telling first screen, and MNIST's are the easiest to read."""
    likely = [i for i, path in enumerate(options) if getattr(model_class(path), "has_likelihood", False)]
    preferred = [i for i in likely if Path(options[i]).name == "mnist-vae"]
    return (preferred or likely or [0])[0]


def _select_custom() -> None:
    if path := st.session_state.custom_checkpoint.strip():
        st.session_state.custom_path = st.session_state.model_path = path


def _remember_choice() -> None:
    st.session_state.model_path = st.session_state.checkpoint


def _first_choice(options: list[str], folders: list[str]) -> str:
    """The model a session opens on: the one the URL names (a folder's name), else the default."""
    if name := st.query_params.get("model"):
        named = [p for p in folders if Path(p).name == name]
        if named:
            return named[0]
        st.warning(f"The link's model {code(name)} is not among the checkpoints; the default opened instead.")
    return options[default_index(options)]


def model_picker() -> tuple[str, GenerativeModel] | None:
    """Sidebar: choose a checkpoint folder (or type a path); shows its card. None if none loads.

    Every page draws it. A widget's state ends with its page, so the choice and the typed folder
    are kept in `model_path` and `custom_path` and handed to the next page's widgets."""
    folders = [str(p) for p in find_checkpoints(ui.CHECKPOINTS) if listed(p)]
    with st.sidebar:
        st.header("Model")
        custom = st.session_state.get("custom_path", "")
        options = folders + ([custom] if custom and custom not in folders else [])
        if options:
            chosen = st.session_state.get("model_path")
            if chosen is None:
                chosen = _first_choice(options, folders)
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
                f"No checkpoints under {code(ui.CHECKPOINTS)}. Train one with "
                "`python -m training.train --model vae --dataset mnist --out checkpoints/mnist-vae`."
            )
            return None
        # A listed folder goes in the URL by its name; a typed path is not shared (a link names no paths).
        if path in folders:
            to_url("model", Path(path).name)
        else:
            drop_from_url("model")
        try:
            model = cached_model(path)
        except CheckpointError as e:
            st.error(f"This checkpoint cannot be opened: {plain(e)}. Choose another one above.")
            return None
        if not model.explorable:
            st.error(
                f"{code(path)} holds a {model.display_name}, which measures other models and has no latent space "
                "to explore. Choose an autoencoder, VAE or GAN."
            )
            return None
        st.session_state.offline_slot = st.empty()  # says so when a page explores from the bundle (test_set)
        with st.expander("Model card"):
            try:
                config = read_config(path)
                st.markdown(model_card(config, read_metrics(path), literal=plain, name=Path(path).name))
            except CheckpointError as e:  # the weights loaded; only the card's metrics are unreadable
                st.warning(f"The model card cannot be shown: {plain(e)}")
            else:
                training_curves(config["training"])
    return path, model


def training_curves(training: dict) -> None:
    """Each per-epoch record of the training (`loss_by_epoch`, a WGAN-GP's `wasserstein_estimate_by_epoch`) as a
    line over the epochs, where it holds two finite numbers or more."""
    for name, values in training.items():
        numbers = isinstance(values, list) and all(isinstance(v, int | float) for v in values)
        if name.endswith("_by_epoch") and numbers and len(values) >= 2 and all(math.isfinite(v) for v in values):
            st.caption(f"{name.removesuffix('_by_epoch').replace('_', ' ').capitalize()} by epoch")
            st.image(curve_svg([float(v) for v in values]))


def curve_svg(values: list[float], width: int = 300, height: int = 110) -> str:
    """A line of `values` over epochs 1 to N as SVG, its range and epochs marked: drawn without a chart library,
    which would load pandas on every page that shows the card."""
    left, right, top, bottom = 48, 8, 8, 22
    low, high = min(values), max(values)
    span = high - low or 1.0
    step = (width - left - right) / (len(values) - 1)
    points = " ".join(
        f"{left + i * step:.1f},{top + (high - v) / span * (height - top - bottom):.1f}" for i, v in enumerate(values)
    )
    text = 'font-family="sans-serif" font-size="11" fill="#888"'
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
        f'<path d="M{left},{top} V{height - bottom} H{width - right}" fill="none" stroke="#888"/>'
        f'<polyline points="{points}" fill="none" stroke="#1f77b4" stroke-width="2"/>'
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" {text}>{high:.4g}</text>'
        f'<text x="{left - 4}" y="{height - bottom}" text-anchor="end" {text}>{low:.4g}</text>'
        f'<text x="{left}" y="{height - 6}" {text}>epoch 1</text>'
        f'<text x="{width - right}" y="{height - 6}" text-anchor="end" {text}>{len(values)}</text>'
        "</svg>"
    )


class Candidate(NamedTuple):
    """A checkpoint that can stand beside the sidebar's model, as its config describes it."""

    model: type[GenerativeModel]
    dataset: str


def compatible_models(model: GenerativeModel) -> dict[str, Candidate]:
    """Folder -> candidate, for the explorable models that take the same images as `model`: those that can
    be compared with it side by side. Each config is read once."""
    custom = st.session_state.get("custom_path", "")
    folders = [str(p) for p in find_checkpoints(ui.CHECKPOINTS)] + ([custom] if custom else [])
    found = {}
    for folder in dict.fromkeys(folders):
        cls, config = _described(folder) or (None, None)
        if cls and cls.explorable and tuple(config["model"]["image_shape"]) == model.image_shape:
            found[folder] = Candidate(cls, config["dataset"]["name"])
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
