"""The app with no dataset at all (an empty data root): every page of the shipped checkpoints opens from their explore
bundles and shows something on arrival; a damaged bundle is named, and the pages fall back to the dataset where
there is one."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from genviz import latent as lt
from genviz import ui
from genviz.checkpoint import load_model
from genviz.data import load_dataset
from genviz.explore import load_bundle
from support.apptest import images, open_page

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "checkpoints"
PAGES = ["views/map.py", "views/sliders.py", "views/interpolate.py", "views/reconstruct.py", "views/anomaly.py"]


def forget_datasets() -> None:
    """The test set as loaded by earlier tests in this process is cached for every session: forget it."""
    ui.resources._cached_test_set.clear()
    ui.resources.UNREADABLE.clear()
    ui.resources._test_subset.clear()
    ui.cached_test_and_train.clear()


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """The app over the shipped checkpoints, an empty data root and an empty cache."""
    (tmp_path / "data").mkdir()
    monkeypatch.setattr(ui, "CHECKPOINTS", [SHIPPED])
    monkeypatch.setenv("GENVIZ_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(tmp_path / "cache"))
    forget_datasets()
    yield AppTest.from_file("../genviz/app.py", default_timeout=300)
    forget_datasets()


def sidebar_text(app) -> str:
    return " ".join(c.value for c in app.sidebar.caption)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["mnist-vae", "cifar10-vae", "mnist-cvae"])
def test_every_page_opens_offline_from_the_bundle(offline, model, monkeypatch):
    found = load_bundle(SHIPPED / model)
    monkeypatch.setattr(lt, "project", lambda *a, **k: pytest.fail("computed a map the bundle holds"))
    open_page(offline, "views/map.py", model)
    assert f"{len(found.labels):,} test images of" in offline.caption[0].value
    assert offline.selectbox(key="map_size").value == len(found.labels)
    for page in PAGES[1:]:
        offline.switch_page(page).run()
        assert not offline.exception and not offline.error, (page, offline.exception, offline.error)
        assert images(offline.main), f"{page} shows no picture on arrival"
        assert "Offline: the test set of" in sidebar_text(offline), page
        assert f"Pages use the {len(found.labels):,} test images" in sidebar_text(offline)
    # A map the bundle does not hold needs the dataset: said, not drawn from the bundle's sample.
    offline.switch_page("views/map.py").run()
    offline.selectbox(key="map_size").set_value(found.test_size).run()
    assert not offline.exception and not offline.error
    assert any("needs the dataset" in i.value for i in offline.info)
    # Reconstruct opened on the bundle's first test images, named by their numbers in the test set.
    offline.switch_page("views/reconstruct.py").run()
    shown = [s.captions[0] for s in images(offline.main)]
    first = int(found.positions[0])
    assert any(c.startswith(ui.plain(f"test-{first} (")) for c in shown)


@pytest.mark.slow
def test_offline_pages_use_what_the_bundle_stored(offline):
    """The anomaly page's reference scores are the bundle's; the sliders start from the bundle's latent of its
    first image, which is the model's encoding of that image."""
    found = load_bundle(SHIPPED / "mnist-vae")
    open_page(offline, "views/anomaly.py", "mnist-vae")
    model = load_model(SHIPPED / "mnist-vae", "cpu")
    assert f"Compared with {len(found.labels):,} test images" in " ".join(c.value for c in offline.caption)
    reference = ui.test_scores(model, str(SHIPPED / "mnist-vae"), model.score_kinds[0], None)
    assert torch.equal(reference, torch.from_numpy(found.scores[model.score_kinds[0]]))
    assert offline.get("plotly_chart"), "no score histogram"
    offline.switch_page("views/sliders.py").run()
    offline.radio(key="slider_start").set_value("Test image").run()
    assert not offline.exception
    z = lt.parse_latent(offline.code[0].value, model.latent_dim)
    assert torch.allclose(z, torch.from_numpy(found.latents[0]), atol=1e-4)
    encoded = lt.encode_images(model, torch.from_numpy(found.images()[:1].numpy()))[0]
    assert torch.allclose(z, encoded, atol=1e-4)


@pytest.mark.slow
def test_a_gan_offline_maps_its_samples_and_borrows_test_images_from_a_bundle_beside_it(offline, monkeypatch):
    """A GAN's bundle holds samples; its pages take their test images from the bundle of a checkpoint of the same
    dataset beside it."""
    monkeypatch.setattr(lt, "project", lambda *a, **k: pytest.fail("computed a map the bundle holds"))
    open_page(offline, "views/map.py", "mnist-gan")
    assert offline.caption[0].value.startswith("5,000 prior samples of `mnist`, UMAP")
    offline.switch_page("views/reconstruct.py").run()
    assert not offline.exception and not offline.error
    assert "explore bundle of `mnist-ae`" in sidebar_text(offline)  # the first beside it with test images
    vae = load_bundle(SHIPPED / "mnist-vae")
    shown = [s.captions[0] for s in images(offline.main)]
    assert any(c.startswith(ui.plain(f"test-{int(vae.positions[0])} (")) for c in shown)


def damaged_copy(tmp_path: Path, name: str) -> Path:
    """A copy of a shipped checkpoint and the thumbnails beside it, with its bundle's latents file cut short."""
    root = tmp_path / "checkpoints"
    shutil.copytree(SHIPPED / name, root / name)
    shutil.copytree(SHIPPED / "thumbnails", root / "thumbnails")
    victim = max((root / name / "explore").glob("*.safetensors"), key=lambda f: f.stat().st_size)
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    return root


@pytest.mark.slow
def test_a_damaged_bundle_is_named_and_the_map_is_computed_from_the_dataset(tmp_path, monkeypatch):
    root = damaged_copy(tmp_path, "mnist-ae")
    monkeypatch.setattr(ui, "CHECKPOINTS", [root])
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(tmp_path / "cache"))
    forget_datasets()
    app = AppTest.from_file("../genviz/app.py", default_timeout=300)
    app.query_params.update({"projection": "pca"})
    app.run()
    app.sidebar.selectbox[0].set_value(str(root / "mnist-ae")).run()
    app.switch_page("views/map.py").run()
    assert not app.exception and not app.error
    (warning,) = [w.value for w in app.warning if "explore bundle" in w.value]
    assert "mnist-ae" in warning and ".safetensors" in warning
    assert ui.plain("genviz explore") in warning  # what to do
    assert (tmp_path / "cache" / "maps").is_dir()  # computed from the dataset instead
    data = load_dataset("mnist", "test").sample(5000)
    model = load_model(root / "mnist-ae", "cpu")
    projection = lt.Projection.load(next((tmp_path / "cache" / "maps").glob("*-5000-pca.npz")))
    want = lt.encode_images(model, data.images[:5]).numpy()
    assert np.allclose(projection.latents[:5], want, atol=1e-4)


@pytest.mark.slow
def test_a_damaged_bundle_offline_says_what_is_missing(tmp_path, monkeypatch):
    root = damaged_copy(tmp_path, "mnist-ae")
    (tmp_path / "data").mkdir()
    monkeypatch.setattr(ui, "CHECKPOINTS", [root])
    monkeypatch.setenv("GENVIZ_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(tmp_path / "cache"))
    forget_datasets()
    app = AppTest.from_file("../genviz/app.py", default_timeout=300)
    app.run()
    app.sidebar.selectbox[0].set_value(str(root / "mnist-ae")).run()
    app.switch_page("views/reconstruct.py").run()
    assert not app.exception
    assert any("explore bundle" in w.value for w in app.warning)
    assert any("needs the test set of `mnist`" in e.value for e in app.error)
    forget_datasets()
