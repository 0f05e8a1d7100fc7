"""Shared fixtures: real MNIST from the data root, and tiny models trained on it once per session."""

import shutil
from pathlib import Path

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from genviz import ui
from genviz.data import load_dataset
from genviz.training import train_run
from support.runs import FAMILIES, tiny_config


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
    extra = {"gan": {"lr": 1e-3}, "classifier": {"lr": 3e-3, "latent_dim": 32}}
    return {
        f: train_run(tiny_config(root / f"mnist-{f}", root / f"run-{f}", f, 2, **extra.get(f, {}))) for f in FAMILIES
    }


@pytest.fixture
def app(trained, tmp_path, monkeypatch):
    """The app over copies of the trained checkpoints, with its own empty cache of maps."""
    for family in ("vae", "gan", "ae", "classifier"):  # the classifier is not listed: nothing to explore
        shutil.copytree(trained[family].out, tmp_path / f"mnist-{family}")
    monkeypatch.setattr(ui, "CHECKPOINTS", [tmp_path])
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(tmp_path / "cache"))
    return AppTest.from_file("../genviz/app.py", default_timeout=120)


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
