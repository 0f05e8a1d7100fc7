"""A latent map's data as the browser takes it: one safetensors file of points, classes, latents and thumbnails.
The Streamlit component (`component.latent_map`) sends it, and a static site (`genviz.site`) writes it to a file."""

import json
from collections.abc import Sequence

import numpy as np
from safetensors.numpy import save as save_safetensors


def map_blob(
    coords: np.ndarray,
    labels: np.ndarray,
    latents: np.ndarray | None,
    tiles: Sequence[bytes] = (),
    layout: dict | None = None,
    numbers: np.ndarray | None = None,
    numbering: Sequence[tuple[int, str]] = (),
) -> bytes:
    """A map's data for `component.latent_map` (and a static site's map.safetensors), as one safetensors file.

    Args:
        coords: (N, 2) positions on the map, stored float32.
        labels: (N,) class of each point, -1 where unknown; stored int16.
        latents: (N, D) the mapped latents, stored float32; None for a map whose empty space cannot be decoded.
        tiles: PNG thumbnail tiles in order, stored as 1-D uint8 tensors "tile_000", "tile_001", ...; tile t holds
            points t * per_tile to (t + 1) * per_tile - 1, row by row. Points past the last tile have no thumbnail.
        layout: the tiles' layout as `genviz.explore` gives it (`thumbnail_tiles`, `Bundle.tile_layout`):
            "per_tile" images per tile, "columns" images per row of a tile, "image_shape" [C, H, W] of one image
            (other keys are ignored); required with tiles. Kept as JSON in the file's __metadata__ ("layout",
            the shape as "shape").
        numbers: (N,) each point's number where it comes from (a sampled test image's in the test set), stored
            int32; None: numbered from 0 in each part.
        numbering: the map's parts as (first point, what its points are), e.g. [(0, "test image"), (10000,
            "training image")], so that the browser names point i as the page does ("test image 1,046"); kept as
            JSON in __metadata__ ("numbering"). Empty: "point".

    Returns:
        The file's bytes.
    """
    xy = np.ascontiguousarray(coords, dtype="<f4")
    n = len(xy)
    if xy.shape != (n, 2):
        raise ValueError(f"coords must be (N, 2), got shape {xy.shape}")
    classes = np.asarray(labels)
    if classes.shape != (n,) or classes.min(initial=0) < -1 or classes.max(initial=0) > np.iinfo(np.int16).max:
        raise ValueError(f"labels must be (N,) = ({n},) integers from -1 to 32767, got shape {classes.shape}")
    tensors = {"coords": xy, "labels": np.ascontiguousarray(classes, dtype="<i2")}
    if latents is not None:
        z = np.ascontiguousarray(latents, dtype="<f4")
        if z.ndim != 2 or len(z) != n:
            raise ValueError(f"latents must be (N, D) with N = {n}, got shape {z.shape}")
        tensors["latents"] = z
    metadata = {}
    if numbers is not None:
        order = np.asarray(numbers)
        if order.shape != (n,) or order.min(initial=0) < 0 or order.max(initial=0) > np.iinfo(np.int32).max:
            raise ValueError(f"numbers must be (N,) = ({n},) whole numbers from 0, got shape {order.shape}")
        tensors["numbers"] = np.ascontiguousarray(order, dtype="<i4")
    if numbering:
        metadata["numbering"] = json.dumps([[int(start), str(what)] for start, what in numbering])
    if tiles:
        if not layout or {"per_tile", "columns", "image_shape"} - set(layout):
            raise ValueError("tiles need a layout with per_tile, columns and image_shape")
        shown = {"per_tile": int(layout["per_tile"]), "columns": int(layout["columns"]),
                 "shape": [int(v) for v in layout["image_shape"]]}  # fmt: skip
        metadata["layout"] = json.dumps(shown)
        for t, tile in enumerate(tiles):
            tensors[f"tile_{t:03d}"] = np.frombuffer(bytes(tile), dtype=np.uint8)
    return save_safetensors(tensors, metadata=metadata or None)
