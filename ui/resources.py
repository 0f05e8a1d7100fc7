"""What pages load once and keep: models and datasets shared by every session (`st.cache_resource`), and the
stratified test subsets, latents and directions derived from them (`st.cache_data`; an argument prefixed
with _ is not hashed: the model is named by its path instead)."""

from pathlib import Path

import numpy as np
import streamlit as st
import torch

from genviz import CheckpointError, load_model
from genviz import latent as lt
from genviz.checkpoint import CONFIG_FILE, WEIGHTS_FILE, find_classifier
from genviz.data import ImageDataset, load_dataset, to_float
from genviz.export import cached_decoder
from genviz.models import Classifier, GenerativeModel, Model

SAMPLE = 2000  # test images behind the latent sample: directions, class directions, PCA maps, dimension order


@st.cache_resource(show_spinner="Loading model...")
def cached_model(path: str) -> Model:
    """One model per folder per process, shared by every session (never trained or edited)."""
    return load_model(path)


def files_stamp(path: str) -> tuple:
    """The modification times and sizes of a checkpoint folder's config and weights: what changes when
    they are replaced, read without hashing them."""
    files = [Path(path) / name for name in (CONFIG_FILE, WEIGHTS_FILE)]
    return tuple((f.stat().st_mtime_ns, f.stat().st_size) for f in files)


@st.cache_resource(max_entries=8, show_spinner="Exporting the decoder for the browser...")
def _decoder_bytes(path: str, stamp: tuple) -> bytes:
    return cached_decoder(path).read_bytes()


def decoder_bytes(path: str) -> bytes:
    """The folder's ONNX decoder (`genviz.export.cached_decoder`), read once per version of its files and
    shared by every session, not hashed and read again on each release of a live slider. Raises
    ExportError, CheckpointError or OSError as cached_decoder does."""
    return _decoder_bytes(path, files_stamp(path))


@st.cache_resource(show_spinner="Loading the test set...")
def cached_test_set(name: str, image_size: int) -> ImageDataset:
    return load_dataset(name, "test", image_size=image_size)


def dataset_name(model: Model) -> str:
    return model.checkpoint.dataset.name


def class_names(model: Model) -> list[str]:
    return model.checkpoint.dataset.class_names


def test_set(model: GenerativeModel) -> ImageDataset:
    """The test split of the model's training dataset; DatasetError says why it cannot be read."""
    return cached_test_set(dataset_name(model), model.image_shape[1])


@st.cache_resource(show_spinner=False, max_entries=32)
def _test_subset(name: str, image_size: int, n: int) -> ImageDataset:
    return cached_test_set(name, image_size).sample(n)


def test_subset(model: GenerativeModel, n: int | None) -> ImageDataset:
    """n test images: a seeded sample stratified by class, in test-set order (all of them when n is None or
    not fewer). Every subset the app shows comes from here, so that a test set sorted by class (an image
    folder's) still shows every class; `positions()` gives each image's number in the test set."""
    data = test_set(model)
    return data if n is None or n >= len(data) else _test_subset(dataset_name(model), model.image_shape[1], n)


def classifier_for(path: str, model: GenerativeModel) -> Classifier | None:
    """The classifier trained on the model's dataset, beside its checkpoint, if one loads."""
    found = find_classifier(path, dataset_name(model))
    try:
        classifier = cached_model(str(found)) if found else None
    except CheckpointError:
        return None
    ok = isinstance(classifier, Classifier) and classifier.image_shape == model.image_shape
    return classifier if ok else None


def labelled_samples(path: str, model: GenerativeModel, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n prior latents (seed 0) and the class the dataset's classifier sees in each decode (-1 without one):
    the data of a model whose encoder is a search, too slow to encode thousands of test images."""
    z = lt.prior_latents(model, n, seed=0)
    classifier = classifier_for(path, model)
    return z, lt.classify(classifier, lt.decode(model, z)) if classifier else torch.full((n,), -1)


@st.cache_data(show_spinner="Encoding test images...", max_entries=8)
def latent_sample(_model: GenerativeModel, path: str, n: int = SAMPLE) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents (n, D) and class labels (n,) of data: n test images (`test_subset`) encoded, or for a model
    without an exact encoder n prior samples labelled by the dataset's classifier. Raises DatasetError."""
    if not _model.has_exact_encoder:
        return labelled_samples(path, _model, n)
    data = test_subset(_model, n)
    return lt.encode_images(_model, data.images), data.labels.cpu()


@st.cache_data(show_spinner="Finding the latent directions...", max_entries=8)
def directions(_model: GenerativeModel, path: str, k: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's k principal directions (k, D) and their spreads (k,) (`GenerativeModel.directions`)."""
    return _model.directions(k, lambda: latent_sample(_model, path)[0])


@st.cache_data(show_spinner="Ranking the latent dimensions...", max_entries=8)
def dimension_order(_model: GenerativeModel, path: str) -> torch.Tensor:
    """The latent dimensions in the model's display order; ranked on test images where it asks for them."""
    return _model.dimension_order(lambda: to_float(test_subset(_model, SAMPLE).images).to(_model.device))


@st.cache_data(show_spinner="Encoding the image...", max_entries=64)
def encoded_test_image(_model: GenerativeModel, path: str, index: int) -> torch.Tensor:
    """The latent (D,) of test image `index`; without an exact encoder, found by a search."""
    return lt.encode_images(_model, test_set(_model).images[index : index + 1])[0]


@st.cache_data(show_spinner="Encoding the image...", max_entries=64)
def encoded_picture(_model: GenerativeModel, path: str, pixels: np.ndarray) -> torch.Tensor:
    """The latent (D,) of one uint8 image (C, H, W); without an exact encoder, found by a search."""
    return lt.encode_images(_model, torch.from_numpy(pixels)[None])[0]
