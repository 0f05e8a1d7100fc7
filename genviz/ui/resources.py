"""What pages load once and keep: models and datasets shared by every session (`st.cache_resource`), and the
stratified test subsets, latents and directions derived from them (`st.cache_data`; an argument prefixed
with _ is not hashed: the model is named by its path instead).

Offline (the test set cannot be read), a checkpoint's explore bundle (`genviz.explore`) stands in for it: its
stratified sample of the test set, with the latents, directions and anomaly scores computed when it was made.
"""

import threading
import time
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from genviz import CheckpointError, load_model
from genviz import latent as lt
from genviz.checkpoint import find_classifier, model_files
from genviz.data import DatasetError, ImageDataset, data_root, load_dataset, to_float
from genviz.explore import Bundle, BundleError, BundleMissing, load_bundle
from genviz.export import cached_decoder
from genviz.folders import find_checkpoints
from genviz.models import Classifier, GenerativeModel, Model
from genviz.ui.text import code, plain

# Set once a page has run in this process (app.py): what serve.py warms in the background waits for it.
FIRST_PAGE_RAN = threading.Event()
OFFLINE_SPLIT = "test (explore bundle)"  # the split of a bundle's sample standing in for the test set
SAMPLE = 2000  # test images behind the latent sample: directions, class directions, PCA maps, dimension order


@st.cache_resource(show_spinner="Loading model...")
def cached_model(path: str) -> Model:
    """One model per folder per process, shared by every session (never trained or edited)."""
    return load_model(path)


@st.cache_resource(show_spinner=False)
def preload_model(path: str) -> Model:
    """`cached_model(path)` loaded ahead of any page, from a thread that has none (serve.py's start-up thread):
    inside another cached function, Streamlit shows no spinner for it, which would need a page."""
    return cached_model(path)


def files_stamp(path: str) -> tuple:
    """The modification times and sizes of a checkpoint folder's config and weights: what changes when
    they are replaced, read without hashing them."""
    return tuple((f.stat().st_mtime_ns, f.stat().st_size) for f in model_files(path))


@st.cache_resource(max_entries=8, show_spinner="Exporting the decoder for the browser...")
def _decoder_bytes(path: str, stamp: tuple) -> bytes:
    return cached_decoder(path).read_bytes()


def decoder_bytes(path: str) -> bytes:
    """The folder's ONNX decoder (`genviz.export.cached_decoder`), read once per version of its files and
    shared by every session, not hashed and read again on each release of a live slider. Raises
    ExportError, CheckpointError or OSError as cached_decoder does."""
    return _decoder_bytes(path, files_stamp(path))


@st.cache_resource(show_spinner="Loading the test set...")
def _cached_test_set(name: str, image_size: int) -> ImageDataset:
    return load_dataset(name, "test", image_size=image_size)


UNREADABLE: dict[tuple, tuple[float, DatasetError]] = {}  # (name, size, data root) -> (when, why): offline
RETRY_S = 60  # a dataset that could not be read (nor downloaded) is tried again after this long, not on every call


def cached_test_set(name: str, image_size: int) -> ImageDataset:
    """The test split, loaded once per process; DatasetError when it cannot be read (remembered for RETRY_S, so
    that an offline page does not try to download it on every call)."""
    key = (name, image_size, str(data_root()))
    if (failed := UNREADABLE.get(key)) and time.monotonic() - failed[0] < RETRY_S:
        raise failed[1]
    try:
        return _cached_test_set(name, image_size)
    except DatasetError as e:
        UNREADABLE[key] = (time.monotonic(), e)
        raise


def dataset_name(model: Model) -> str:
    return model.checkpoint.dataset.name


def class_names(model: Model) -> list[str]:
    return model.checkpoint.dataset.class_names


@st.cache_resource(max_entries=32, show_spinner="Reading the explore bundle...")
def _bundle(path: str, stamp: tuple) -> Bundle | str:
    """The folder's explore bundle, or why it cannot be used ("" when it has none)."""
    try:
        return load_bundle(path)
    except BundleMissing:
        return ""
    except BundleError as e:
        return str(e)


def bundle(path: str) -> Bundle | None:
    """The checkpoint's explore bundle, read once per version of its files; None when it has none or it cannot
    be used (a damaged bundle, or one made for other weights: `data_source` says so)."""
    found = _bundle(path, files_stamp(path))
    return found if isinstance(found, Bundle) else None


def say_bundle_problem(path: str) -> None:
    """Once per session: why the checkpoint's bundle is not used, if it has one that cannot be."""
    found = _bundle(path, files_stamp(path))
    said = st.session_state.setdefault("bundle_problems", set())
    if isinstance(found, str) and found and path not in said:
        said.add(path)
        st.warning(
            f"The explore bundle of {code(Path(path).name)} is not used: {plain(found)}. Pages compute what they "
            "need from the dataset where it can be read.",
            icon=":material/inventory_2:",
        )


@st.cache_resource(max_entries=8, show_spinner=False)
def _bundle_test_set(path: str, stamp: tuple, name: str, _found: Bundle) -> ImageDataset:
    labels, positions = torch.from_numpy(_found.labels), torch.from_numpy(_found.positions)
    return ImageDataset(name, OFFLINE_SPLIT, _found.images(), labels, _found.class_names, positions)


def test_images_bundle(model: GenerativeModel) -> str | None:
    """The checkpoint whose bundle holds test images of the model's dataset: its own, else (a GAN's bundle holds
    samples) that of a checkpoint beside it trained on the same images."""
    if not model.checkpoint:
        return None
    own = Path(model.checkpoint.path)
    for folder in [own, *(f for f in find_checkpoints(own.parent) if f != own)]:
        found = bundle(str(folder))
        usable = found is not None and found.positions is not None and found.dataset == dataset_name(model)
        if usable and found.image_shape == tuple(model.image_shape):
            return str(folder)
    return None


def offline_test_set(model: GenerativeModel) -> ImageDataset | None:
    """A bundle's stratified sample of the test set (`positions()`: their numbers in the test set), when the
    test set cannot be read and the model's bundle or one beside it has test images (`test_images_bundle`)."""
    if (path := test_images_bundle(model)) is None:
        return None
    return _bundle_test_set(path, files_stamp(path), dataset_name(model), bundle(path))


def test_set(model: GenerativeModel) -> ImageDataset:
    """The test split of the model's training dataset; offline, its sample in the model's explore bundle
    (`offline_test_set`). DatasetError says why neither can be read."""
    try:
        return cached_test_set(dataset_name(model), model.image_shape[1])
    except DatasetError:
        if (sample := offline_test_set(model)) is None:
            raise
        return sample


def is_offline(data: ImageDataset) -> bool:
    """Whether `data` is an explore bundle's sample standing in for a test set that cannot be read."""
    return data.split == OFFLINE_SPLIT


@st.cache_resource(show_spinner=False, max_entries=32)
def _test_subset(name: str, image_size: int, n: int) -> ImageDataset:
    return cached_test_set(name, image_size).sample(n)


def test_subset(model: GenerativeModel, n: int | None) -> ImageDataset:
    """n test images: a seeded sample stratified by class, in test-set order (all of them when n is None or
    not fewer). Every subset the app shows comes from here, so that a test set sorted by class (an image
    folder's) still shows every class; `positions()` gives each image's number in the test set. Offline, a
    stratified sample of the bundle's sample."""
    data = test_set(model)
    if n is None or n >= len(data):
        return data
    return data.sample(n) if is_offline(data) else _test_subset(dataset_name(model), model.image_shape[1], n)


def spread_over_classes(model: GenerativeModel, n: int) -> list[int]:
    """n positions in `test_set(model)`, the images a page shows before any is chosen: the first image of each
    class in class order, then the second of each, and so on. The first n images of a test set read class by
    class (CIFAR-10's, an image folder's) would all be of its first class. Raises DatasetError."""
    labels = test_set(model).labels.cpu()
    _, counts = labels.unique(return_counts=True)
    by_class = torch.argsort(labels, stable=True)  # (N,) positions, class by class, in test-set order within each
    rank = torch.arange(len(labels)) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)  # in class
    return by_class[torch.argsort(rank, stable=True)][:n].tolist()  # rank 0 of every class first, in class order


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


def data_source(model: GenerativeModel) -> str:
    """Where test images come from: "dataset", "bundle" (offline) or "none". Part of the cache keys of what is
    computed from them, so that a process that goes offline does not mix the two. Called outside cached
    functions, it also says in the page why a bundle is not used, or that the page works offline."""
    path = model.checkpoint.path if model.checkpoint else None
    if path:
        say_bundle_problem(path)
    try:
        cached_test_set(dataset_name(model), model.image_shape[1])
        return "dataset"
    except DatasetError as e:
        if (sample := offline_test_set(model)) is None:
            return "none"
        if slot := st.session_state.get("offline_slot"):  # the sidebar's, made by the model picker on each run
            slot.caption(
                f"Offline: the test set of {code(dataset_name(model))} cannot be read ({plain(e)}). Pages use the "
                f"{len(sample):,} test images of the explore bundle of {code(Path(test_images_bundle(model)).name)}; "
                "other maps need the dataset."
            )
        return "bundle"


@st.cache_data(show_spinner="Encoding test images...", max_entries=8)
def _latent_sample(_model: GenerativeModel, path: str, n: int, source: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not _model.has_exact_encoder:
        return labelled_samples(path, _model, n)
    data = test_subset(_model, n)
    return lt.encode_images(_model, data.images), data.labels.cpu()


def latent_sample(model: GenerativeModel, path: str, n: int = SAMPLE) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents (n, D) and class labels (n,) of data: n test images (`test_subset`) encoded, or for a model
    without an exact encoder n prior samples labelled by the dataset's classifier. Raises DatasetError."""
    return _latent_sample(model, path, n, data_source(model) if model.has_exact_encoder else "prior")


def _offline_bundle(path: str, source: str) -> Bundle | None:
    """The bundle, when the test set cannot be read: what it stored stands in for what the test set gives."""
    return bundle(path) if source != "dataset" else None


@st.cache_data(show_spinner="Finding the latent directions...", max_entries=8)
def _directions(_model: GenerativeModel, path: str, k: int, source: str) -> tuple[torch.Tensor, torch.Tensor]:
    found = _offline_bundle(path, source)
    if found is not None and len(found.directions) >= k:
        return torch.from_numpy(found.directions[:k]), torch.from_numpy(found.spreads[:k])
    return _model.directions(k, lambda: latent_sample(_model, path)[0])


def directions(model: GenerativeModel, path: str, k: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's k principal directions (k, D) and their spreads (k,) (`GenerativeModel.directions`)."""
    return _directions(model, path, k, data_source(model))


@st.cache_data(show_spinner="Ranking the latent dimensions...", max_entries=8)
def _dimension_order(_model: GenerativeModel, path: str, source: str) -> torch.Tensor:
    found = _offline_bundle(path, source)
    if found is not None:
        return torch.from_numpy(found.dimension_order)
    return _model.dimension_order(lambda: to_float(test_subset(_model, SAMPLE).images).to(_model.device))


def dimension_order(model: GenerativeModel, path: str) -> torch.Tensor:
    """The latent dimensions in the model's display order; ranked on test images where it asks for them."""
    return _dimension_order(model, path, data_source(model))


@st.cache_data(show_spinner="Encoding the image...", max_entries=64)
def _encoded_test_image(_model: GenerativeModel, path: str, index: int, source: str) -> torch.Tensor:
    found = _offline_bundle(path, source)
    if found is not None and found.positions is not None:
        return torch.from_numpy(found.latents[index])
    return lt.encode_images(_model, test_set(_model).images[index : index + 1])[0]


def encoded_test_image(model: GenerativeModel, path: str, index: int) -> torch.Tensor:
    """The latent (D,) of image `index` of `test_set(model)`; without an exact encoder, found by a search."""
    return _encoded_test_image(model, path, index, data_source(model))


@st.cache_data(show_spinner="Encoding the image...", max_entries=64)
def encoded_picture(_model: GenerativeModel, path: str, pixels: np.ndarray) -> torch.Tensor:
    """The latent (D,) of one uint8 image (C, H, W); without an exact encoder, found by a search."""
    return lt.encode_images(_model, torch.from_numpy(pixels)[None])[0]
