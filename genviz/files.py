"""Atomic file writes: a reader or a killed writer never sees a partial file, and a full disk raises
OSError and leaves the old file whole. Checkpoints, datasets' caches, maps and images use them."""

import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch


def first_line(error: Exception) -> str:
    """The first line of an error's message, at most 200 characters: torch's and safetensors' run to paragraphs."""
    text = str(error).strip().split("\n")[0] or type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


@contextmanager
def atomic_paths(*paths: str | os.PathLike) -> Iterator[list[Path]]:
    """Yield a hidden temp path (`.<name>.*.tmp`) beside each of `paths`; when the block succeeds,
    each replaces its path in one rename, all of them after every file is written. Readers and
    killed writers never see a partial file, and a write that fails (a full disk) changes none of
    `paths`. A killed writer leaves its temp files, which the next training run removes."""
    paths = [Path(p) for p in paths]
    temps: list[Path] = []
    try:
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.close(fd)
            temps.append(Path(tmp))
        yield temps
        for tmp in temps:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide checkpoints from other users
        for tmp, path in zip(temps, paths, strict=True):
            os.replace(tmp, path)
    finally:
        for tmp in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success it replaces `path` in one rename."""
    with atomic_paths(path) as (tmp,):
        yield tmp


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_torch(path: str | os.PathLike, obj) -> None:
    """torch.save `obj` to `path` atomically. It is serialised in memory first, so that a full disk
    raises OSError: torch.save writing to a file turns it into a RuntimeError without the reason."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())


def write_json(path: str | os.PathLike, data: dict) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def replace_folder(temp: Path, folder: Path) -> None:
    """Put the finished folder `temp` at `folder` by renames: a reader sees the old folder or the new one, and a
    failure leaves the old one. Its entries are made readable by all (mkdtemp's and mkstemp's are the owner's)."""
    for path in temp.iterdir():
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    os.chmod(temp, 0o755)
    old = None
    if folder.exists():
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}-{time.monotonic_ns()}")
        os.replace(folder, old)
    try:
        os.replace(temp, folder)
    except OSError:
        if old is not None and not folder.exists():
            os.replace(old, folder)  # put the old one back
            old = None
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
