"""Streamlit pieces every page shares: the sidebar model picker and cached model loading.

Kept out of `genviz`, which never imports streamlit.
"""

import os
from pathlib import Path

import streamlit as st
import torch

from genviz import CheckpointError, load_model
from genviz.checkpoint import find_checkpoints, model_card, read_config, read_metrics
from genviz.models import GENERATIVE, GenerativeModel

CHECKPOINTS = Path(os.environ.get("GENVIZ_CHECKPOINTS", Path(__file__).parent / "checkpoints"))


@st.cache_resource(show_spinner="Loading model...")
def cached_model(path: str) -> GenerativeModel:
    """One model per folder per process, shared by every session (never trained or edited)."""
    return load_model(path)


@st.cache_data(show_spinner=False)
def cached_samples(_model: GenerativeModel, path: str, n: int, seed: int, temperature: float):
    """Samples as a CPU tensor; `path` stands in for the unhashable model in the cache key."""
    return _model.sample(n, torch.Generator().manual_seed(seed), temperature).cpu()


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
        st.session_state.checkpoint = path


def model_picker() -> tuple[str, GenerativeModel] | None:
    """Sidebar: choose a checkpoint folder (or type a path); shows its card. None if none loads."""
    folders = [str(p) for p in find_checkpoints(CHECKPOINTS) if explorable(p)]
    with st.sidebar:
        st.header("Model")
        custom = st.session_state.get("custom_checkpoint", "").strip()
        options = folders + ([custom] if custom and custom not in folders else [])
        if options and "checkpoint" not in st.session_state:
            st.session_state.checkpoint = options[default_index(options)]
        path = st.selectbox("Checkpoint", options, format_func=lambda p: Path(p).name, key="checkpoint")
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
