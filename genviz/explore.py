"""Explore bundles: what the app needs to explore a model without its dataset, written beside its weights.

    genviz explore checkpoints [more folders] [--points N] [--force] [--embed]

A bundle is the folder `<checkpoint>/explore/`, made for one version of the model (its `fingerprint`, a hash
of config.json and model.safetensors) and refused for any other:

    meta.json             format, fingerprint, dataset, split "test", n, seed 0, kind ("test": a stratified sample
                          of the test set; "prior": samples of the prior, for a model without an exact encoder),
                          class names, latent size, each file's sha256 and bytes, the maps' settings, and the
                          thumbnails it uses (their folder, each tile's sha256, the tile layout)
    points.safetensors    latents (N, D) float32, labels (N,) int64 (-1 unknown), positions (N,) int64: each
                          point's number in the test set (absent for prior samples)
    derived.safetensors   directions (k, D) float32 and spreads (k,): the model's principal directions (k = 6) as
                          the app computes them, from 2,000 test images (`SAMPLE`); dimension_order (D,) int64;
                          score.<kind> (N,) float32: the anomaly scores of the N test images, one per score kind
                          (none for prior samples)
    map-umap.npz          the UMAP map of the N latents, n_neighbors 15, min_dist 0.1, seed 0 (the app's defaults)
    map-pca.npz           their PCA map; both `genviz.latent.Projection` files without the latents (stored once)

The test images themselves are stored once per dataset and sample, not per checkpoint: lossless PNG tiles in
`<checkpoints>/thumbnails/<dataset>-test-<n>-seed0/` (beside the checkpoint folders; no config.json, so no
checkpoint), with an index.json. Tile t holds images t * per_tile to (t + 1) * per_tile - 1 of the sample (in
test-set order, as `positions` lists them), row-major, `columns` to a row: image i of the sample is in tile
i // per_tile at column j % columns and row j // columns, j = i % per_tile, its top-left pixel at
(column * W, row * H). Grey images are 8-bit grey PNGs, colour ones 8-bit RGB (`Bundle.tile_layout`).

meta.json records each tile's sha256, so the tiles can live elsewhere than beside the checkpoint. load_bundle takes
them from the first of these places that holds them:

    <checkpoint>/explore/thumbnails/    the bundle's own copy, written by `--embed` (and kept when the bundle is
                                        rebuilt): a folder shared on its own carries its test images
    <checkpoints>/thumbnails/<name>/    the copy shared by the checkpoints beside it, as shipped
    <cache>/thumbnails/<sha256>.png     genviz's cache (genviz.data.cache_dir), by digest: every load from the
                                        shared copy puts its tiles there (5 MB for the shipped ones), so that a
                                        folder copied elsewhere on this machine after its bundle was read once (by
                                        the app or `genviz explore`) still explores offline

The bundle's own copy and the shared one are used whole or refused; a damaged tile in the cache is removed.

Nothing here unpickles: arrays are safetensors or .npz read with allow_pickle=False, the rest JSON and PNG.
`load_bundle` checks the format, the fingerprint against the checkpoint's current files, every file's sha256
and size as meta.json records them, every array's shape and dtype, and each tile's pixel size, and raises
BundleError naming the file and saying how to rebuild it. Bundles are written to a temp folder and renamed
into place, so a reader never sees half of one.
"""

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from genviz.checkpoint import CheckpointError, find_classifier, fingerprint, first_line, read_config
from genviz.data import DatasetError, cache_dir, load_dataset, to_float
from genviz.files import atomic_path, replace_folder
from genviz.folders import checkpoint_folders

FORMAT = 1
BUNDLE_DIR = "explore"
THUMBNAILS_DIR = "thumbnails"
META_FILE, POINTS_FILE, DERIVED_FILE, INDEX_FILE = (
    "meta.json",
    "points.safetensors",
    "derived.safetensors",
    "index.json",
)
MAP_FILES = {"umap": "map-umap.npz", "pca": "map-pca.npz"}
MAP_SETTINGS = {"umap": {"n_neighbors": 15, "min_dist": 0.1, "seed": 0}, "pca": {}}  # the app's map defaults
SEED = 0  # of the test sample (stratified) and of the prior samples
K_DIRECTIONS = 6  # principal directions, as the app offers them
SAMPLE = 2000  # test images behind the directions and the dimension order, as in the app (ui/resources.py)
PER_TILE, COLUMNS = 1000, 40  # images per thumbnail tile, and per row of a tile
MAX_META_BYTES = 1 << 20

Progress = Callable[[int, int], None]  # (done, total)


class BundleError(Exception):
    """A bundle that cannot be used; the message names the file, the problem and the command that rebuilds it."""


class BundleMissing(BundleError):
    """The checkpoint has no bundle at all: not an error to show loudly."""


def bundle_points(image_shape) -> int:
    """Points in a bundle by default: 5,000 grey images, 2,000 colour ones (their thumbnails weigh 3x plus what
    PNG cannot compress of photographs)."""
    return 5000 if int(image_shape[0]) == 1 else 2000


def bundle_dir(checkpoint) -> Path:
    return Path(checkpoint) / BUNDLE_DIR


def thumbnails_name(dataset: str, n: int) -> str:
    return f"{dataset}-test-{n}-seed{SEED}"


def rebuild_hint(checkpoint) -> str:
    return f"rebuild it with `genviz explore {Path(checkpoint)}`"


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@dataclass(frozen=True, eq=False)
class Bundle:
    """A checkpoint's explore bundle as `load_bundle` checked it; arrays read, maps and images on first use."""

    folder: Path  # <checkpoint>/explore
    fingerprint: str  # of the checkpoint the bundle was made for (genviz.checkpoint.fingerprint)
    dataset: str
    class_names: list[str]
    latents: np.ndarray  # (N, D) float32
    labels: np.ndarray  # (N,) int64, -1 unknown
    positions: np.ndarray | None  # (N,) int64 test-set numbers of the points; None: prior samples
    directions: np.ndarray  # (k, D) float32 unit rows
    spreads: np.ndarray  # (k,) float32
    dimension_order: np.ndarray  # (D,) int64
    scores: dict[str, np.ndarray]  # anomaly score kind -> (N,) float32 scores of the N test images
    meta: dict = field(repr=False)  # meta.json as read
    tiles: list[Path] = field(default_factory=list, repr=False)  # the thumbnail tiles, checked; [] for prior samples
    thumbnails_place: str | None = None  # where the tiles were found: "own", "shared" or "cache"; None: no tiles
    _maps: dict = field(default_factory=dict, repr=False)

    @property
    def checkpoint(self) -> Path:
        return self.folder.parent

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.meta["image_shape"])

    @property
    def test_size(self) -> int | None:
        """How many images the test split held when the sample was drawn; None for prior samples."""
        size = self.meta.get("test_size")
        return size if isinstance(size, int) and size >= len(self.labels) else None

    def map(self, method: str):
        """The map ("umap" or "pca") of the bundle's points, a genviz.latent.Projection whose latents and labels
        are the bundle's; what the app's latent_map(path, model, N, method, 15, 0.1) computes. Read once."""
        from genviz.latent import Projection

        if method not in MAP_FILES:
            raise ValueError(f"unknown map {method!r}; choose one of {', '.join(MAP_FILES)}")
        if method not in self._maps:
            path = self.folder / MAP_FILES[method]
            try:
                self._maps[method] = Projection.load(path, self.latents, self.labels)
            except ValueError as e:
                raise BundleError(f"{path}: {e}; {rebuild_hint(self.checkpoint)}") from None
        return self._maps[method]

    @property
    def tile_layout(self) -> dict:
        """How the tiles hold the images: {"per_tile", "columns", "image_shape": [C, H, W], "count": N, "tiles":
        [[width, height], ...]}; image i is in tile i // per_tile, at column j % columns and row j // columns of
        it, j = i % per_tile, its top-left pixel at (column * W, row * H). {} for prior samples."""
        return dict(self.meta["thumbnails"]["layout"]) if self.meta.get("thumbnails") else {}

    def atlas_tiles(self) -> list[bytes]:
        """The PNG tiles' bytes as stored (for the browser as they are); [] for prior samples."""
        return [path.read_bytes() for path in self.tiles]

    def images(self) -> torch.Tensor | None:
        """The N test images (N, C, H, W) uint8, cut from the tiles; None for prior samples."""
        if not self.tiles:
            return None
        return _cut_tiles(self.tiles, self.tile_layout)


def _cut_tiles(tiles: list[Path], layout: dict) -> torch.Tensor:
    from PIL import Image

    c, h, w = layout["image_shape"]
    out = []
    for t, path in enumerate(tiles):
        count = min(layout["per_tile"], layout["count"] - t * layout["per_tile"])
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("L" if c == 1 else "RGB"))
        pixels = pixels.reshape(pixels.shape[0], pixels.shape[1], c)  # (rows * H, columns * W, C)
        rows, columns = pixels.shape[0] // h, pixels.shape[1] // w
        grid = pixels.reshape(rows, h, columns, w, c).transpose(0, 2, 4, 1, 3)
        out.append(grid.reshape(rows * columns, c, h, w)[:count])
    return torch.from_numpy(np.ascontiguousarray(np.concatenate(out)))


def _tile_sizes(count: int, image_shape) -> list[list[int]]:
    _, h, w = image_shape
    counts = [min(PER_TILE, count - start) for start in range(0, count, PER_TILE)]
    return [[min(k, COLUMNS) * w, math.ceil(k / COLUMNS) * h] for k in counts]  # [width, height] of each tile


def _layout(count: int, image_shape) -> dict:
    return {
        "per_tile": PER_TILE,
        "columns": COLUMNS,
        "image_shape": [int(s) for s in image_shape],
        "count": count,
        "tiles": _tile_sizes(count, image_shape),
    }


def thumbnail_tiles(images: torch.Tensor | np.ndarray) -> tuple[list[bytes], dict]:
    """Images (N, C, H, W) uint8 as the thumbnails of a bundle hold them: lossless PNG tiles of PER_TILE images,
    COLUMNS to a row, and their layout (`Bundle.tile_layout`). For a map the browser shows that no bundle holds."""
    pixels = np.asarray(images, dtype=np.uint8)
    tiles = [_tile_png(pixels[start : start + PER_TILE]) for start in range(0, len(pixels), PER_TILE)]
    return tiles, _layout(len(pixels), pixels.shape[1:])


def _tile_png(images: np.ndarray) -> bytes:
    """Images (k, C, H, W) uint8 as one lossless PNG, COLUMNS to a row (the last row padded with black)."""
    import io

    from PIL import Image

    k, c, h, w = images.shape
    columns = min(k, COLUMNS)
    rows = math.ceil(k / columns)
    padded = np.zeros((rows * columns, c, h, w), dtype=np.uint8)
    padded[:k] = images
    canvas = padded.reshape(rows, columns, c, h, w).transpose(0, 3, 1, 4, 2).reshape(rows * h, columns * w, c)
    picture = Image.fromarray(canvas[:, :, 0] if c == 1 else canvas, "L" if c == 1 else "RGB")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


# Reading a bundle


def _fail(path: Path, problem: str, checkpoint: Path) -> BundleError:
    return BundleError(f"{path} {problem}: {rebuild_hint(checkpoint)}")


def _read_meta(checkpoint: Path) -> dict:
    folder = bundle_dir(checkpoint)
    path = folder / META_FILE
    if not folder.is_dir():
        raise BundleMissing(f"{checkpoint} has no explore bundle: build one with `genviz explore {checkpoint}`")
    if not path.is_file():
        raise _fail(path, "is missing", checkpoint)
    if path.stat().st_size > MAX_META_BYTES:
        raise _fail(path, f"is larger than {MAX_META_BYTES} bytes, not a bundle's", checkpoint)
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise _fail(path, f"cannot be read ({e.strerror or e})", checkpoint) from None
    except (ValueError, RecursionError) as e:
        raise _fail(path, f"is not valid JSON ({first_line(e)})", checkpoint) from None
    if not isinstance(meta, dict):
        raise _fail(path, "does not hold a JSON object", checkpoint)
    if meta.get("format") != FORMAT:
        raise _fail(path, f"is of bundle format {meta.get('format')!r}; this genviz reads format {FORMAT}", checkpoint)
    try:
        _check_meta(meta)
    except (KeyError, TypeError, ValueError) as e:
        raise _fail(path, f"is not a bundle's meta.json ({first_line(e) or type(e).__name__})", checkpoint) from None
    return meta


def _check_meta(meta: dict) -> None:
    """The keys and types load_bundle relies on; KeyError, TypeError or ValueError otherwise."""
    for key, kind in {"fingerprint": str, "dataset": str, "kind": str, "n": int, "latent_dim": int}.items():
        if not isinstance(meta[key], kind):
            raise TypeError(f"{key!r} must be {kind.__name__}")
    if not (meta["n"] > 0 and meta["latent_dim"] > 0 and 0 < meta["directions"]["k"] <= meta["latent_dim"]):
        raise ValueError("'n', 'latent_dim' and 'directions.k' must be positive, k at most latent_dim")
    if meta["kind"] not in ("test", "prior"):
        raise ValueError(f"unknown kind {meta['kind']!r}")
    if not (isinstance(meta["class_names"], list) and all(isinstance(c, str) for c in meta["class_names"])):
        raise TypeError("'class_names' must be a list of strings")
    shape = meta["image_shape"]
    if not (isinstance(shape, list) and len(shape) == 3 and all(type(s) is int and 0 < s <= 256 for s in shape)):
        raise ValueError("'image_shape' must be [C, H, W]")
    if not (isinstance(meta["score_kinds"], list) and all(isinstance(s, str) for s in meta["score_kinds"])):
        raise TypeError("'score_kinds' must be a list of strings")
    expected = {POINTS_FILE, DERIVED_FILE, *MAP_FILES.values()}
    if set(meta["files"]) != expected:
        raise ValueError(f"'files' must list exactly {', '.join(sorted(expected))}")
    for record in meta["files"].values():
        if not (isinstance(record["sha256"], str) and isinstance(record["bytes"], int)):
            raise TypeError("each file needs its sha256 and bytes")
    thumbnails = meta["thumbnails"]
    if (thumbnails is None) != (meta["kind"] == "prior"):
        raise ValueError("a bundle of test images needs thumbnails, one of prior samples none")
    if thumbnails is not None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", thumbnails["folder"]) or ".." in thumbnails["folder"]:
            raise ValueError(f"thumbnails folder {thumbnails['folder']!r} is not a plain folder name")
        if thumbnails["layout"] != _layout(meta["n"], shape):
            raise ValueError("the thumbnails' layout is not the one of its n images")
        if len(thumbnails["tiles"]) != len(thumbnails["layout"]["tiles"]):
            raise ValueError("the thumbnails' tile list does not match its layout")
        for tile in thumbnails["tiles"]:
            if not re.fullmatch(r"tile-\d{3}\.png", tile["name"]) or not isinstance(tile["sha256"], str):
                raise ValueError("each tile needs a name tile-NNN.png and its sha256")


def _checked_file(folder: Path, name: str, record: dict, checkpoint: Path) -> Path:
    path = folder / name
    if not path.is_file():
        raise _fail(path, "is missing", checkpoint)
    size = path.stat().st_size
    if size != record["bytes"]:
        what = "truncated" if size < record["bytes"] else "longer than recorded"
        raise _fail(path, f"is {what} ({size:,} bytes; meta.json records {record['bytes']:,})", checkpoint)
    if _sha256(path) != record["sha256"]:
        raise _fail(path, "does not match the sha256 meta.json records (changed or damaged)", checkpoint)
    return path


def _read_safetensors(path: Path, shapes: dict[str, tuple[tuple, str]], checkpoint: Path) -> dict[str, np.ndarray]:
    """The arrays of a safetensors file, each of the (shape, dtype) `shapes` gives; no other names."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as f:
            arrays = {key: f.get_tensor(key) for key in f.keys()}
    except Exception as e:  # safetensors raises several types for a damaged file
        raise _fail(path, f"is not a readable safetensors file ({first_line(e)})", checkpoint) from None
    if set(arrays) != set(shapes):
        raise _fail(path, f"holds {', '.join(sorted(arrays))}, expected {', '.join(sorted(shapes))}", checkpoint)
    for key, (shape, dtype) in shapes.items():
        if arrays[key].shape != shape or arrays[key].dtype != np.dtype(dtype):
            raise _fail(
                path,
                f"has {key} of shape {arrays[key].shape} {arrays[key].dtype}, expected {shape} {dtype}",
                checkpoint,
            )
    return arrays


def _tile_cache() -> Path:
    """genviz's cache of thumbnail tiles, each named by its sha256 (`<sha256>.png`)."""
    return cache_dir() / THUMBNAILS_DIR


def _find_tiles(checkpoint: Path, meta: dict) -> tuple[list[Path], str]:
    """Where the bundle's tiles are, and which place holds them ("own", "shared" or "cache"; see the module's
    docstring); BundleError when no place holds them all."""
    thumbnails = meta["thumbnails"]
    own = bundle_dir(checkpoint) / THUMBNAILS_DIR
    shared = checkpoint.parent / THUMBNAILS_DIR / thumbnails["folder"]
    for place, folder in (("own", own), ("shared", shared)):
        if folder.is_dir():
            return [folder / tile["name"] for tile in thumbnails["tiles"]], place
    cached = [_tile_cache() / f"{tile['sha256']}.png" for tile in thumbnails["tiles"]]
    if all(path.is_file() for path in cached):
        return cached, "cache"
    raise BundleError(
        f"{checkpoint}: its explore bundle's thumbnails ({thumbnails['folder']}, {len(cached)} PNG tiles) are "
        f"missing: they are in none of {own}, {shared} and genviz's cache {_tile_cache()}. "
        + _tiles_fix(checkpoint, meta)
    )


def _tiles_fix(checkpoint: Path, meta: dict) -> str:
    """How to give a checkpoint copied without its thumbnails what its bundle needs."""
    return (
        "Where the checkpoint came from, run `genviz explore --embed FOLDER` on it before copying it (its "
        f"bundle then holds its thumbnails), or copy the folder {THUMBNAILS_DIR}/{meta['thumbnails']['folder']} "
        f"beside it; or, where the {meta['dataset']} dataset is, {rebuild_hint(checkpoint)}"
    )


def _check_tiles(checkpoint: Path, meta: dict) -> tuple[list[Path], str]:
    """The bundle's thumbnail tiles (`_find_tiles`), each of the sha256 and pixel size meta.json records; those
    read from the shared copy are put in genviz's cache."""
    from PIL import Image

    thumbnails = meta["thumbnails"]
    paths, place = _find_tiles(checkpoint, meta)
    mode = "L" if meta["image_shape"][0] == 1 else "RGB"
    for path, tile, size in zip(paths, thumbnails["tiles"], thumbnails["layout"]["tiles"], strict=True):
        if not path.is_file():
            raise _fail(path, "is missing", checkpoint)
        if _sha256(path) != tile["sha256"]:
            if place == "cache":  # named by its digest, so only damage makes them differ: of no use to anyone
                path.unlink(missing_ok=True)
                raise BundleError(
                    f"{path}, a thumbnail tile of {checkpoint}'s explore bundle in genviz's cache, was damaged and "
                    f"is removed. {_tiles_fix(checkpoint, meta)}"
                )
            raise _fail(
                path, "does not match the sha256 the bundle's meta.json records (changed or damaged)", checkpoint
            )
        try:
            with Image.open(path) as image:  # the header only
                got, got_mode, kind = list(image.size), image.mode, image.format
        except Exception as e:  # PIL raises several types for a damaged file
            raise _fail(path, f"is not a readable PNG ({first_line(e)})", checkpoint) from None
        if kind != "PNG" or got != size or got_mode != mode:
            raise _fail(
                path,
                f"is a {kind} of {got[0]}x{got[1]} {got_mode}; the layout needs a PNG of {size[0]}x{size[1]} {mode}",
                checkpoint,
            )
    if place == "shared":
        _cache_tiles(paths, [tile["sha256"] for tile in thumbnails["tiles"]])
    return paths, place


def _cache_tiles(paths: list[Path], digests: list[str]) -> None:
    """Copy the checked tiles into genviz's cache by digest, those not there yet; a cache that cannot be written
    is left as it is (it only spares a copied folder its thumbnails)."""
    cache = _tile_cache()
    try:
        for path, digest in zip(paths, digests, strict=True):
            if not (cache / f"{digest}.png").is_file():
                with atomic_path(cache / f"{digest}.png") as temp:
                    shutil.copyfile(path, temp)
    except OSError:
        pass


def embed_thumbnails(checkpoint) -> int | None:
    """Copy the bundle's thumbnails into it (`<checkpoint>/explore/thumbnails/`), so that the checkpoint folder
    explores on its own wherever it is copied. Returns the bytes copied, 0 when the bundle holds them already, None
    when it has none (prior samples). Raises BundleError as load_bundle does, OSError when the copy cannot be
    written."""
    found = load_bundle(checkpoint)
    if found.thumbnails_place is None:
        return None
    if found.thumbnails_place == "own":
        return 0
    _copy_tiles(found.tiles, found.meta["thumbnails"]["tiles"], found.folder)
    return sum(path.stat().st_size for path in found.tiles)


def _copy_tiles(paths: list[Path], tiles: list[dict], bundle: Path) -> None:
    """The tiles `paths` as `<bundle>/thumbnails/<tile name>`, written to a temp folder and renamed into place."""
    temp = Path(tempfile.mkdtemp(dir=bundle, prefix=f".{THUMBNAILS_DIR}.build-"))
    try:
        for path, tile in zip(paths, tiles, strict=True):
            shutil.copyfile(path, temp / tile["name"])
        replace_folder(temp, bundle / THUMBNAILS_DIR)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def load_bundle(checkpoint) -> Bundle:
    """The checkpoint's explore bundle, checked whole (see the module's docstring). Raises BundleMissing when
    there is none, BundleError naming the file and the fix when it cannot be used: damaged, of another format,
    or made for other weights than the checkpoint's current ones."""
    checkpoint = Path(checkpoint)
    meta = _read_meta(checkpoint)
    folder = bundle_dir(checkpoint)
    try:
        current = fingerprint(checkpoint)
    except OSError as e:
        raise BundleError(f"{checkpoint}: its config.json or model.safetensors cannot be read ({e})") from None
    if meta["fingerprint"] != current:
        raise _fail(
            folder / META_FILE,
            f"was made for other weights (fingerprint {meta['fingerprint']}; {checkpoint} is {current})",
            checkpoint,
        )
    paths = {name: _checked_file(folder, name, record, checkpoint) for name, record in meta["files"].items()}
    n, d = meta["n"], meta["latent_dim"]
    test = meta["kind"] == "test"
    points = _read_safetensors(
        paths[POINTS_FILE],
        {"latents": ((n, d), "float32"), "labels": ((n,), "int64")} | ({"positions": ((n,), "int64")} if test else {}),
        checkpoint,
    )
    k = meta["directions"]["k"]
    derived = _read_safetensors(
        paths[DERIVED_FILE],
        {
            "directions": ((k, d), "float32"),
            "spreads": ((k,), "float32"),
            "dimension_order": ((d,), "int64"),
            **{f"score.{kind}": ((n,), "float32") for kind in meta["score_kinds"]},
        },
        checkpoint,
    )
    labels, classes = points["labels"], len(meta["class_names"])
    if not np.isfinite(points["latents"]).all():
        raise _fail(paths[POINTS_FILE], "holds NaN or infinite latents", checkpoint)
    if ((labels < -1) | (labels >= classes)).any():
        raise _fail(paths[POINTS_FILE], f"holds labels outside -1 to {classes - 1}", checkpoint)
    if sorted(derived["dimension_order"].tolist()) != list(range(d)):
        raise _fail(paths[DERIVED_FILE], "holds a dimension_order that is not an order of the dimensions", checkpoint)
    positions = points.get("positions")
    if positions is not None and ((positions < 0).any() or (np.diff(positions) <= 0).any()):
        raise _fail(paths[POINTS_FILE], "holds positions that are not increasing test-set numbers", checkpoint)
    tiles, place = _check_tiles(checkpoint, meta) if test else ([], None)
    return Bundle(
        folder=folder,
        fingerprint=meta["fingerprint"],
        dataset=meta["dataset"],
        class_names=list(meta["class_names"]),
        latents=points["latents"],
        labels=labels,
        positions=positions,
        directions=derived["directions"],
        spreads=derived["spreads"],
        dimension_order=derived["dimension_order"],
        scores={kind: derived[f"score.{kind}"] for kind in meta["score_kinds"]},
        meta=meta,
        tiles=tiles,
        thumbnails_place=place,
    )


# Building a bundle


class _Stages:
    """One progress(done, total) over several stages of known weights, each reporting its own (done, total)."""

    def __init__(self, weights: dict[str, int], progress: Progress | None):
        self.starts, start = {}, 0
        for name, weight in weights.items():
            self.starts[name], start = (start, weight), start + weight
        self.total, self.progress, self.done = start, progress, 0

    def stage(self, name: str) -> Progress:
        start, weight = self.starts[name]

        def report(done: int, total: int) -> None:
            self.done = max(self.done, start + (weight * done) // max(total, 1))
            if self.progress:
                self.progress(self.done, self.total)

        return report


def _thumbnails(parent: Path, dataset: str, images: torch.Tensor, positions: np.ndarray) -> dict:
    """The shared thumbnails of this sample: those in `<parent>/thumbnails/<name>/` when whole and of these
    positions, else written anew (to a temp folder, renamed into place). Returns the bundle's reference."""
    n, shape = len(images), list(images.shape[1:])
    name = thumbnails_name(dataset, n)
    folder = parent / THUMBNAILS_DIR / name
    positions_sha = hashlib.sha256(np.ascontiguousarray(positions, dtype=np.int64).tobytes()).hexdigest()
    layout = _layout(n, shape)
    found = _read_thumbnails(folder, layout, positions_sha)
    if found is None:
        tiles = []
        (parent / THUMBNAILS_DIR).mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(dir=parent / THUMBNAILS_DIR, prefix=f".{name}.build-"))
        try:
            for t, data in enumerate(thumbnail_tiles(images)[0]):
                tile = f"tile-{t:03d}.png"
                (temp / tile).write_bytes(data)
                tiles.append({"name": tile, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)})
            index = {
                "format": FORMAT,
                "dataset": dataset,
                "split": "test",
                "n": n,
                "seed": SEED,
                "positions_sha256": positions_sha,
                "layout": layout,
                "tiles": tiles,
            }
            (temp / INDEX_FILE).write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
            replace_folder(temp, folder)
        finally:
            shutil.rmtree(temp, ignore_errors=True)
        found = tiles
    return {"folder": name, "tiles": found, "layout": layout}


def _read_thumbnails(folder: Path, layout: dict, positions_sha: str) -> list[dict] | None:
    """The tiles of a thumbnails folder when its index.json describes this sample and layout and every tile
    matches its sha256; None otherwise (missing or broken: build them again)."""
    try:
        index = json.loads((folder / INDEX_FILE).read_text(encoding="utf-8"))
        if index["format"] != FORMAT or index["layout"] != layout or index["positions_sha256"] != positions_sha:
            return None
        tiles = index["tiles"]
        if len(tiles) != len(layout["tiles"]):
            return None
        for tile in tiles:
            if not re.fullmatch(r"tile-\d{3}\.png", tile["name"]) or _sha256(folder / tile["name"]) != tile["sha256"]:
                return None
        return [{"name": t["name"], "sha256": t["sha256"], "bytes": t["bytes"]} for t in tiles]
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None


def _save_safetensors(path: Path, arrays: dict[str, np.ndarray]) -> None:
    import safetensors.numpy

    path.write_bytes(safetensors.numpy.save({k: np.ascontiguousarray(v) for k, v in arrays.items()}))


@torch.no_grad()
def build_bundle(checkpoint, n: int | None = None, progress: Progress | None = None, device=None) -> Bundle:
    """Compute and write the checkpoint's explore bundle (replacing any), and return it as load_bundle reads it.

    n points (default `bundle_points`): a seeded stratified sample of the test set, encoded, or for a model
    without an exact encoder n prior samples (seed 0) labelled by the `<dataset>-classifier` beside it (-1
    without one). Needs the test set for a model with an exact encoder (DatasetError otherwise; it never downloads
    one). `progress(done, total)` over the whole build. Raises CheckpointError for a checkpoint that does not load,
    ValueError for a model with no latent space, OSError when it cannot be written."""
    from genviz import latent as lt
    from genviz.checkpoint import load_model
    from genviz.metrics import anomaly_scores
    from genviz.models import Classifier, GenerativeModel

    checkpoint = Path(checkpoint)
    current = fingerprint(checkpoint)
    model = load_model(checkpoint, device)
    if not isinstance(model, GenerativeModel):
        raise ValueError(f"{checkpoint} is a {model.kind}, which has no latent space to explore")
    n = bundle_points(model.image_shape) if n is None else int(n)
    if n < 1:
        raise ValueError(f"a bundle needs at least one point, got {n}")
    dataset, class_names = model.checkpoint.dataset.name, list(model.checkpoint.dataset.class_names)
    test = model.has_exact_encoder
    kinds = list(model.score_kinds) if test else []
    stages = _Stages({"encode": n, **{f"score {k}": n for k in kinds}, "umap": 2 * n, "rest": n // 2}, progress)
    size = model.image_shape[1]
    if test:
        full = load_dataset(dataset, "test", download=False, image_size=size)
        data = full.sample(n, SEED)
        n = len(data)  # all of them when the test set is smaller
        z = lt.encode_images(model, data.images, progress=stages.stage("encode"))
        labels = data.labels.cpu().long()
        positions = data.positions().cpu().long().numpy()
        scores = {
            k: anomaly_scores(model, data.images, k, progress=stages.stage(f"score {k}")).float().numpy() for k in kinds
        }
        direction_data = data if n == SAMPLE else full.sample(SAMPLE, SEED)

        def sample_latents() -> torch.Tensor:
            return z if direction_data is data else lt.encode_images(model, direction_data.images)

        def sample_images() -> torch.Tensor:
            return to_float(direction_data.images).to(model.device)
    else:
        z = lt.prior_latents(model, n, seed=SEED)
        found = find_classifier(checkpoint, dataset)
        try:
            classifier = load_model(found, device) if found else None
        except CheckpointError:
            classifier = None
        if not (isinstance(classifier, Classifier) and classifier.image_shape == model.image_shape):
            classifier = None
        labels = lt.classify(classifier, lt.decode(model, z)) if classifier else torch.full((n,), -1)
        labels = labels.long()
        stages.stage("encode")(n, n)
        positions, scores = None, {}

        def sample_latents() -> torch.Tensor:
            return lt.prior_latents(model, SAMPLE, seed=SEED)  # the app's latent_sample for such a model

        def sample_images() -> torch.Tensor:
            return to_float(
                load_dataset(dataset, "test", download=False, image_size=size).sample(SAMPLE, SEED).images
            ).to(model.device)

    z = z.float().cpu()
    maps = {
        "umap": lt.project(z, labels, "umap", 15, 0.1, seed=SEED, progress=stages.stage("umap")),
        "pca": lt.project(z, labels, "pca"),
    }
    directions, spreads = model.directions(K_DIRECTIONS, sample_latents)
    order = model.dimension_order(sample_images)
    rest = stages.stage("rest")
    thumbnails = _thumbnails(checkpoint.parent, dataset, data.images.cpu(), positions) if test else None
    rest(1, 2)

    folder = bundle_dir(checkpoint)
    embedded = (folder / THUMBNAILS_DIR).is_dir()  # a bundle that held its thumbnails keeps holding them
    temp = Path(tempfile.mkdtemp(dir=checkpoint, prefix=f".{BUNDLE_DIR}.build-"))
    try:
        points = {"latents": z.numpy(), "labels": labels.cpu().numpy().astype(np.int64)}
        _save_safetensors(temp / POINTS_FILE, points | ({"positions": positions} if test else {}))
        derived = {
            "directions": directions.float().cpu().numpy(),
            "spreads": spreads.float().cpu().numpy(),
            "dimension_order": order.long().cpu().numpy(),
            **{f"score.{k}": v.astype(np.float32) for k, v in scores.items()},
        }
        _save_safetensors(temp / DERIVED_FILE, derived)
        for method, projection in maps.items():
            projection.save(temp / MAP_FILES[method], points=False)
        files = {
            name: {"sha256": _sha256(temp / name), "bytes": (temp / name).stat().st_size}
            for name in (POINTS_FILE, DERIVED_FILE, *MAP_FILES.values())
        }
        meta = {
            "format": FORMAT,
            "fingerprint": current,
            "checkpoint": checkpoint.name,
            "dataset": dataset,
            "split": "test",
            "kind": "test" if test else "prior",
            "n": n,
            "test_size": len(full) if test else None,  # the test split the sample was drawn from
            "seed": SEED,
            "class_names": class_names,
            "latent_dim": model.latent_dim,
            "image_shape": list(model.image_shape),
            "directions": {"k": int(directions.shape[0]), "sample": SAMPLE},
            "score_kinds": kinds,
            "maps": {method: {"file": MAP_FILES[method], **MAP_SETTINGS[method]} for method in MAP_FILES},
            "files": files,
            "thumbnails": thumbnails,
        }
        (temp / META_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        for path in temp.iterdir():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
        if embedded and thumbnails:
            shared = checkpoint.parent / THUMBNAILS_DIR / thumbnails["folder"]
            _copy_tiles([shared / tile["name"] for tile in thumbnails["tiles"]], thumbnails["tiles"], temp)
        replace_folder(temp, folder)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    rest(2, 2)
    return load_bundle(checkpoint)


# Checking and building many


def check_bundle(checkpoint, n: int | None = None) -> str | None:
    """Why the checkpoint's bundle must be (re)built, or None when it is whole, of its current weights, and of n
    points (any n when None)."""
    try:
        found = load_bundle(checkpoint)
    except BundleMissing:
        return "no bundle"
    except BundleError as e:
        return str(e)
    if n is not None and found.meta["n"] != n:
        return f"it holds {found.meta['n']} points, not {n}"
    return None


def ensure_bundles(
    root_or_folders,
    n: int | None = None,
    force: bool = False,
    say: Callable[[str], None] = print,
    device=None,
    embed: bool = False,
) -> int:
    """Check the bundle of each checkpoint (a folder, or every checkpoint under a root) and build those missing,
    stale or broken, with a progress bar; models without a latent space are skipped. With `embed`, then copy each
    bundle's thumbnails into it (`embed_thumbnails`). One line per checkpoint through `say`. Returns how many
    failed for real: a dataset that cannot be read is said, not counted (unless `embed` asked for a copy)."""
    from tqdm.auto import tqdm

    from genviz.models import REGISTRY, GenerativeModel

    roots = [root_or_folders] if isinstance(root_or_folders, (str, os.PathLike)) else list(root_or_folders)
    folders = checkpoint_folders(roots)
    if not folders:
        say(f"no checkpoint folders in {', '.join(map(str, roots))}")
        return 1
    failures = 0
    for folder in folders:
        try:
            family = REGISTRY[read_config(folder)["family"]].model
        except CheckpointError as e:
            say(f"{folder}: cannot be read ({e})")
            failures += 1
            continue
        if not issubclass(family, GenerativeModel):
            say(f"{folder}: skipped, a {family.__name__.lower()} has no latent space to explore")
            continue
        why = "--force" if force else check_bundle(folder, n)
        if why is None:
            failures += _said(folder, "bundle ok", embed, say)
            continue
        start = time.perf_counter()
        bar = tqdm(total=1, desc=folder.name, unit="step", leave=False, disable=None)

        def progress(done: int, total: int, bar=bar) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            built = build_bundle(folder, n, progress, device)
        except DatasetError as e:
            say(f"{folder}: bundle not built, its dataset cannot be read ({first_line(e)}); it was: {why}")
            failures += int(embed)  # the copy of its thumbnails asked for is not made
            continue
        except (BundleError, CheckpointError, OSError, ValueError) as e:
            say(f"{folder}: bundle not built: {first_line(e)}")
            failures += 1
            continue
        finally:
            bar.close()
        done = f"bundle built ({len(built.latents):,} points, {time.perf_counter() - start:.1f} s; was: {why})"
        failures += _said(folder, done, embed, say)
    return failures


def _said(folder: Path, done: str, embed: bool, say: Callable[[str], None]) -> int:
    """Say what ensure_bundles did with the checkpoint's bundle, after copying its thumbnails into it when `embed`
    (`embed_thumbnails`). Returns 1 when that copy failed, else 0."""
    if embed:
        try:
            copied = embed_thumbnails(folder)
        except (BundleError, OSError) as e:
            say(f"{folder}: {done}, but its thumbnails cannot be copied into it: {first_line(e)}")
            return 1
        if copied is None:
            done += "; no thumbnails to hold (prior samples)"
        else:
            done += f"; its thumbnails copied into it ({copied / 1e6:.1f} MB)" if copied else "; holds its thumbnails"
    say(f"{folder}: {done}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genviz explore",
        description="Check the explore bundles of checkpoints, and build those missing, stale or broken.",
    )
    parser.add_argument("folders", nargs="+", type=Path, help="checkpoint folders, or folders of checkpoints")
    parser.add_argument(
        "--points", type=int, default=None, help="points per bundle (default: 5000 for grey images, 2000 for colour)"
    )
    parser.add_argument("--force", action="store_true", help="rebuild every bundle, whole or not")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    parser.add_argument(
        "--embed",
        action="store_true",
        help="also copy each bundle's thumbnails into it (<checkpoint>/explore/thumbnails/), so that the folder "
        "explores on its own when copied or shared elsewhere (0.8 MB for MNIST, 4.2 MB for CIFAR-10)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.points is not None and args.points < 1:
        parser.error("--points must be at least 1")
    return 1 if ensure_bundles(args.folders, args.points, args.force, device=args.device, embed=args.embed) else 0


if __name__ == "__main__":
    sys.exit(main())
