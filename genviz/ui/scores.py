"""Reconstructions, denoising curves and anomaly scores, kept per model and images: a search-based
reconstruction takes a while, and a rerun should not pay for it again."""

import numpy as np
import streamlit as st
import torch

from genviz.data import as_shape, load_dataset, to_float
from genviz.metrics import anomaly_scores, denoising_curve
from genviz.models import GenerativeModel
from genviz.ui.feedback import progress
from genviz.ui.resources import bundle, data_source, test_subset

DENOISING_IMAGES = 128  # test images behind each point of a denoising curve


@st.cache_data(show_spinner="Reconstructing...", max_entries=64)
def _reconstructed(_model: GenerativeModel, path: str, images: np.ndarray) -> torch.Tensor:
    return _model.reconstruct(torch.from_numpy(images).to(_model.device)).cpu()


def reconstructed(model: GenerativeModel, images: torch.Tensor) -> torch.Tensor:
    """The model's reconstructions (B, C, H, W) of images in [0, 1]."""
    return _reconstructed(model, model.checkpoint.path, images.numpy())


@st.cache_data(show_spinner="Measuring each model at every noise level...", max_entries=16)
def _denoising_curves(_models: dict, paths: tuple[str, ...], kind: str, n: int, source: str):
    clean = to_float(test_subset(next(iter(_models.values())), n).images)
    levels = [round(float(v), 3) for v in torch.linspace(0.1, 1.0, 10)]
    return denoising_curve(_models, clean, kind, levels), levels, len(clean)


def denoising_curves(models: dict[str, GenerativeModel], kind: str, n: int = DENOISING_IMAGES):
    """Mean PSNR of the noisy input and of each model's output at ten noise levels, over n test images
    (`test_subset`): (curves, levels, images used). Raises DatasetError."""
    first = next(iter(models.values()))
    return _denoising_curves(models, tuple(m.checkpoint.path for m in models.values()), kind, n, data_source(first))


def _scored(model: GenerativeModel, images: torch.Tensor, score: str, what: str) -> torch.Tensor:
    with progress(f"Scoring {what}...") as bar:
        return anomaly_scores(model, images, score, progress=bar.counting(f"Scoring {what}: {{done:,}} of {{total:,}}"))


@st.cache_data(show_spinner=False, max_entries=16)
def _test_scores(_model: GenerativeModel, path: str, score: str, n: int | None, source: str) -> torch.Tensor:
    data = test_subset(_model, n)
    found = bundle(path) if source == "bundle" else None
    if found is not None and len(data) == len(found.labels) and score in found.scores:
        return torch.from_numpy(found.scores[score])  # what scoring this sample would give, stored
    # Said while it runs: without an encoder, each image's latent is a search (minutes on two cores), made once.
    why = "" if _model.has_exact_encoder else " (no encoder: each image's latent is searched for, once per server)"
    return _scored(_model, data.images, score, f"the test set{why}")


def test_scores(model: GenerativeModel, path: str, score: str, n: int | None) -> torch.Tensor:
    """Anomaly scores of n test images (`test_subset`; all with n None), with a progress bar the first time;
    offline, of the explore bundle's sample, as stored in it."""
    return _test_scores(model, path, score, n, data_source(model))


@st.cache_data(show_spinner="Scoring...", max_entries=64)
def _picture_scores(_model: GenerativeModel, path: str, images: np.ndarray, score: str) -> torch.Tensor:
    return anomaly_scores(_model, torch.from_numpy(images), score)


def picture_scores(model: GenerativeModel, images: torch.Tensor, score: str) -> torch.Tensor:
    """Anomaly scores (B,) of images (B, C, H, W) in [0, 1]."""
    return _picture_scores(model, model.checkpoint.path, images.numpy(), score)


@st.cache_data(show_spinner=False, max_entries=16)
def foreign_scores(_model: GenerativeModel, path: str, name: str, score: str, n: int) -> torch.Tensor:
    """Anomaly scores of n test images of another dataset (a stratified sample), made the model's shape.
    Never downloads; raises DatasetError."""
    with st.spinner(f"Reading the test set of {name}..."):
        images = as_shape(load_dataset(name, "test", download=False).sample(n).images, _model.image_shape)
    return _scored(_model, images, score, name)
