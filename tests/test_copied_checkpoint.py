"""A checkpoint folder copied on its own (`cp -r checkpoints/mnist-vae /elsewhere/`) and opened with no dataset
explores as it did in place: its bundle's thumbnails come from genviz's cache once the app has read them beside the
shipped checkpoint, or from the bundle itself after `genviz explore --embed`."""

import shutil
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from genviz import explore, ui
from genviz import latent as lt
from genviz.explore import load_bundle
from support.apptest import images, open_page
from tests.test_offline import forget_datasets, sidebar_text

SHIPPED = Path(__file__).resolve().parent.parent / "checkpoints"
NAME = "mnist-vae"


def app_over(root: Path, monkeypatch) -> AppTest:
    """The app over the checkpoints under root, as a new process opens it: no test set or bundle read yet."""
    monkeypatch.setattr(ui, "CHECKPOINTS", [root])
    forget_datasets()
    ui.resources._bundle.clear()
    return AppTest.from_file("../genviz/app.py", default_timeout=300)


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No dataset anywhere, and an empty cache of this test's own."""
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("GENVIZ_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(tmp_path / "cache"))
    yield
    forget_datasets()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["opened once in place", "embedded"])
def test_a_shipped_checkpoint_copied_alone_explores_offline(offline, how, tmp_path, monkeypatch):
    if how == "embedded":  # where it came from: the checkpoints folder, its thumbnails beside it
        source = shutil.copytree(SHIPPED / NAME, tmp_path / "source" / NAME)
        shutil.copytree(SHIPPED / "thumbnails", tmp_path / "source" / "thumbnails")
        assert explore.main(["--embed", str(source)]) == 0
        shutil.rmtree(tmp_path / "cache" / "thumbnails")  # what the check cached: the copy goes to another machine
    else:  # the app opened it where it ships, which cached its thumbnails by digest
        source = SHIPPED / NAME
        open_page(app_over(SHIPPED, monkeypatch), "views/map.py", NAME)
        assert len(list((tmp_path / "cache" / "thumbnails").glob("*.png"))) == 5
    copy = shutil.copytree(source, tmp_path / "elsewhere" / NAME)
    assert sorted(p.name for p in copy.parent.iterdir()) == [NAME]  # alone: no thumbnails beside it

    found = load_bundle(copy)
    assert found.thumbnails_place == ("own" if how == "embedded" else "cache")
    assert torch.equal(found.images(), load_bundle(SHIPPED / NAME).images())
    monkeypatch.setattr(lt, "project", lambda *a, **k: pytest.fail("computed a map the bundle holds"))
    app = open_page(app_over(copy.parent, monkeypatch), "views/map.py", NAME)
    assert not [w.value for w in app.warning if "explore bundle" in w.value]
    assert f"{len(found.labels):,} test images of" in app.caption[0].value
    app.switch_page("views/reconstruct.py").run()
    assert not app.exception and not app.error, (app.exception, app.error)
    assert images(app.main), "Reconstruct shows no test image"
    assert f"Pages use the {len(found.labels):,} test images" in sidebar_text(app)


@pytest.mark.slow
def test_a_copy_alone_whose_thumbnails_are_nowhere_is_named_and_the_map_needs_the_dataset(
    offline, tmp_path, monkeypatch
):
    copy = shutil.copytree(SHIPPED / NAME, tmp_path / "elsewhere" / NAME)
    app = app_over(copy.parent, monkeypatch)
    app.run()
    app.switch_page("views/map.py").run()
    assert not app.exception
    (warning,) = [w.value for w in app.warning if "explore bundle" in w.value]
    assert ui.plain("thumbnails (mnist-test-5000-seed0, 5 PNG tiles) are missing") in warning, warning
    assert ui.plain("genviz explore --embed FOLDER") in warning, warning
    assert any(e.value.startswith("The map needs the test set of `mnist`") for e in app.error)
