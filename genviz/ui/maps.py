"""Latent maps: from the checkpoint's explore bundle where it holds the map asked for; else computed with a
progress bar, kept on disk under the cache folder keyed by the model's files and the settings, and read back
once per process. And each map as the browser's component takes it: one blob of points, latents and thumbnails."""

import hashlib
import os

import streamlit as st
import torch

from genviz import latent as lt
from genviz.checkpoint import fingerprint
from genviz.data import ImageDataset, cache_dir, load_dataset
from genviz.explore import MAP_SETTINGS, thumbnail_tiles
from genviz.mapdata import map_blob
from genviz.models import GenerativeModel
from genviz.ui.feedback import progress
from genviz.ui.resources import (
    bundle,
    cached_test_set,
    dataset_name,
    files_stamp,
    labelled_samples,
    latent_sample,
    test_subset,
)
from genviz.ui.text import plain

# In every map file's name: bumped when what a map's points are changes, so that older files are not
# read as new ones. v2: n test images are a stratified sample (v1 took the first n).
MAP_FORMAT = "v2"


@st.cache_data(max_entries=64, show_spinner=False)
def cached_fingerprint(path: str, stamp: tuple) -> str:
    """The folder's fingerprint, hashed again only when its files change (`stamp`), not on every click
    of the map."""
    return fingerprint(path)


def model_fingerprint(path: str) -> str:
    return cached_fingerprint(path, files_stamp(path))


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
    """The images of a map of n points, point k being image k: n test images (`test_subset`); with n None,
    every test image and then every training image, so that a point below len(test_set(model)) is a test
    image's."""
    if n is None:
        return cached_test_and_train(dataset_name(model), model.image_shape[1])
    return test_subset(model, n)


def bundled_map(path: str, n: int | None, method: str, n_neighbors: int, min_dist: float):
    """The explore bundle's map, when it is the one asked for: its n points and UMAP's settings (or PCA)."""
    found = bundle(path)
    umap_settings = {"n_neighbors": n_neighbors, "min_dist": min_dist, "seed": 0}
    if found is None or n != len(found.labels) or (method == "umap" and umap_settings != MAP_SETTINGS["umap"]):
        return None
    return found


def latent_map(path: str, model: GenerativeModel, n: int | None, method: str, n_neighbors: int, min_dist: float):
    """The model's map of n points (`map_data`, or for a model without an exact encoder n prior samples):
    the explore bundle's where it is that map, from the disk cache when this model, subset and setting were
    mapped before, otherwise computed with a progress bar. Raises DatasetError."""
    if (found := bundled_map(path, n, method, n_neighbors, min_dist)) is not None:
        return found.map(method)
    points = "all-test-train" if n is None else f"{n}"
    settings = f"{points}-{method}" + (f"-{n_neighbors}-{min_dist}" if method == "umap" else "")
    file = cache_dir() / "maps" / f"{model_fingerprint(path)}-{MAP_FORMAT}-{settings}.npz"
    if file.is_file():
        try:
            return cached_map_file(str(file), file.stat().st_mtime)
        except ValueError:
            file.unlink(missing_ok=True)  # a damaged cache entry is recomputed, not trusted
    with progress("Preparing the map...") as bar:
        if not model.has_exact_encoder:
            z, labels = labelled_samples(path, model, n)
        else:
            data = map_data(model, n)
            encoding = bar.counting("Encoding images: {done:,} of {total:,}")
            z, labels = lt.encode_images(model, data.images, progress=encoding), data.labels.cpu()
        if method == "umap":
            bar.say("UMAP: finding neighbours (compiling part of UMAP after a start, all of it after an install)...")
        layout = bar.counting("UMAP: optimising the layout, epoch {done} of {total}")
        projection = lt.project(z, labels, method, n_neighbors, min_dist, progress=layout)
    try:
        projection.save(file)
    except OSError as e:
        st.warning(f"This map could not be cached ({plain(e)}); it will be computed again next time.")
        return projection
    return cached_map_file(str(file), file.stat().st_mtime)


def latest_map(path: str) -> lt.Projection | None:
    """The most recently computed map of this model (any settings), if the Latent map page made one; else the
    UMAP map of its explore bundle, if it has one."""
    found = (cache_dir() / "maps").glob(f"{model_fingerprint(path)}-{MAP_FORMAT}-*.npz")
    for file in sorted(found, key=os.path.getmtime, reverse=True):
        try:
            return cached_map_file(str(file), file.stat().st_mtime)
        except ValueError:
            continue
    bundled = bundle(path)
    return bundled.map("umap") if bundled is not None else None


@st.cache_resource(show_spinner="Projecting with PCA...", max_entries=8)
def pca_map(_model: GenerativeModel, path: str) -> lt.Projection:
    """A PCA map of the model's latent sample: instant, for pages that need a map before one was made."""
    z, labels = latent_sample(_model, path)
    return lt.project(z, labels, "pca")


@st.cache_resource(max_entries=4, show_spinner="Packing the map for the browser...")
def _map_payload(path, stamp: tuple, n, method: str, settings: tuple, numbering: tuple, _model, _projection, _numbers):
    found = bundled_map(path, n, method, *settings)
    if found is not None:
        tiles, layout = found.atlas_tiles(), found.tile_layout
    elif _model.has_exact_encoder:
        tiles, layout = thumbnail_tiles(map_data(_model, n).images)
    else:  # prior samples: the browser decodes each one it shows
        tiles, layout = [], None
    points = _projection.coords, _projection.labels, _projection.latents
    blob = map_blob(*points, tiles, layout, _numbers, [tuple(part) for part in numbering])
    return blob, hashlib.sha256(blob).hexdigest()


def map_payload(
    path, model, n, method, n_neighbors, min_dist, projection: lt.Projection, numbers=None, numbering=()
) -> tuple[bytes, str]:
    """The map as genviz's component takes it (`genviz.mapdata.map_blob`: points, classes, latents, the thumbnails
    of the images mapped, and each point's number where it comes from), and its SHA-256, by which the browser keeps
    it: made once per map and process."""
    parts = tuple(tuple(part) for part in numbering)
    return _map_payload(path, files_stamp(path), n, method, (n_neighbors, min_dist), parts, model, projection, numbers)
