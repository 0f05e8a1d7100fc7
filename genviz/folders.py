"""Checkpoint folders on disk, and where the app looks for them. Imports nothing heavy, so that `genviz serve`
checks its folders and the server answers before torch is loaded."""

import os
from collections.abc import Iterable
from pathlib import Path

CHECKPOINTS_ENV = "GENVIZ_CHECKPOINTS"
CONFIG_FILE = "config.json"  # what makes a folder a checkpoint folder


def checkpoint_roots() -> list[Path]:
    """The folders the app lists checkpoints from: $GENVIZ_CHECKPOINTS (folders joined by os.pathsep, each a
    checkpoint folder or a folder of them; `genviz serve` sets it), else ./checkpoints."""
    return [Path(p) for p in os.environ.get(CHECKPOINTS_ENV, "checkpoints").split(os.pathsep) if p]


def find_checkpoints(root: str | os.PathLike) -> list[Path]:
    """Checkpoint folders directly under `root` (those holding a config.json), sorted by name."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / CONFIG_FILE).is_file())


def checkpoint_folders(root_or_folders: Iterable) -> list[Path]:
    """Each path as a checkpoint folder (one with config.json), or every checkpoint directly under it; a folder
    reached twice is listed once."""
    out = []
    for path in map(Path, root_or_folders):
        out += [path] if (path / CONFIG_FILE).is_file() else find_checkpoints(path)
    return list(dict.fromkeys(out))
