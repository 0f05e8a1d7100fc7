"""Shared fixtures: real MNIST from the data root, and tiny models trained on it once per session."""

import importlib.util
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

import ui
from benchmarks.browser import CHROMIUM, Server, serve
from genviz.data import load_dataset
from training.train import train

FAMILIES = ("ae", "dae", "vae", "gan", "classifier")


def train_args(out, run_dir, model: str, epochs: int = 2, *extra: str) -> list[str]:
    """A tiny real run: a few thousand MNIST images, small nets, seconds on a CPU."""
    settings = f"--model {model} --dataset mnist --epochs {epochs} --limit 2048 --batch-size 64"
    settings += " --latent-dim 8 --width 16 --device cpu"
    return [*settings.split(), "--out", str(out), "--run-dir", str(run_dir), *extra]


@pytest.fixture(scope="session")
def mnist_test():
    return load_dataset("mnist", "test")


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """family -> finished 2-epoch Run, its checkpoint under a session temp folder as mnist-<family>,
    so the classifier is the one the others' sample figures are measured with."""
    root = tmp_path_factory.mktemp("trained")
    # The GAN and the classifier get higher learning rates so that 64 steps visibly move them
    # towards the data; the classifier's 32 features leave room for its dropout.
    extra = {"gan": ("--lr", "1e-3"), "classifier": ("--lr", "3e-3", "--latent-dim", "32")}
    return {f: train(train_args(root / f"mnist-{f}", root / f"run-{f}", f, 2, *extra.get(f, ()))) for f in FAMILIES}


def images(node) -> list:
    """Every st.image element under `node`; an image's URL is a hash of its bytes."""
    found = []
    for child in getattr(node, "children", {}).values():
        found += [child] if child.type == "image" else images(child)
    return found


@pytest.fixture
def app(trained, tmp_path, monkeypatch):
    """The app over copies of the trained checkpoints, with its own empty cache of maps."""
    for family in ("vae", "gan", "ae", "classifier"):  # the classifier is not listed: nothing to explore
        shutil.copytree(trained[family].args.out, tmp_path / f"mnist-{family}")
    monkeypatch.setattr(ui, "CHECKPOINTS", tmp_path)
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(tmp_path / "cache"))
    return AppTest.from_file("../app.py", default_timeout=120)


@pytest.fixture
def media(monkeypatch):
    """Bytes of every file the app hands to the browser (images, downloads), read by URL or, for a
    download made on click, by its deferred file id: AppTest keeps only those, and its media store
    ends with each run."""
    files, deferred = {}, {}
    original_load, original_defer = MemoryMediaFileStorage.load_and_get_id, MediaFileManager.add_deferred

    def record(self, path_or_data, mimetype, kind, filename=None):
        file_id = original_load(self, path_or_data, mimetype, kind, filename)
        files[file_id] = self._files_by_id[file_id].content
        return file_id

    def record_deferred(self, data_callable, *args, **kwargs):
        file_id = original_defer(self, data_callable, *args, **kwargs)
        deferred[file_id] = data_callable  # made when the browser asks: a download button's callable
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    monkeypatch.setattr(MediaFileManager, "add_deferred", record_deferred)
    return lambda url: deferred[url]() if url in deferred else files[Path(url).stem]


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None. Under GENVIZ_REQUIRE_BROWSER=1 (set by .ci/run)
    a missing browser raises instead: there the browser tests may not be skipped."""
    missing = None if importlib.util.find_spec("playwright") else "Playwright is not installed"
    missing = missing or (None if Path(CHROMIUM).is_file() else f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    if missing and os.environ.get("GENVIZ_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"browser tests required, but {missing}")
    return missing


@contextmanager
def served_app(trained: dict, root: Path) -> Iterator[Server]:
    """`streamlit run app.py` over copies of the session's trained VAE, GAN and classifier under `root`,
    its output in root/streamlit.log."""
    for family in ("vae", "gan", "classifier"):
        shutil.copytree(trained[family].args.out, root / "checkpoints" / f"mnist-{family}")
    env = {"GENVIZ_CHECKPOINTS": str(root / "checkpoints"), "GENVIZ_CACHE_DIR": str(root / "cache")}
    with serve("app.py", env, log=root / "streamlit.log") as running:
        yield running
