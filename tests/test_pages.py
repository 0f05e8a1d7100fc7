"""The latent map, sample and latent-slider pages through AppTest, on the session's trained checkpoints."""

import base64
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from genviz import latent as lt
from genviz import ui
from genviz.checkpoint import load_model
from genviz.data import to_float
from genviz.pictures import enlarge, to_pil
from support.apptest import folder_of, images, open_page

pytestmark = pytest.mark.slow  # every test runs the app on the session's trained models


ROOT = Path(__file__).resolve().parent.parent


def values(at) -> list[str]:
    return [img.value for img in images(at.main)]


def pixels(media, element) -> np.ndarray:
    """The picture an st.image element shows, as a uint8 array."""
    return np.asarray(Image.open(io.BytesIO(media(element.value[0]))))


def test_the_model_choice_holds_across_pages(app, tmp_path):
    open_page(app, "views/sample.py", "mnist-gan")
    for page in ("views/sliders.py", "views/home.py"):
        app.switch_page(page).run()
        assert app.sidebar.selectbox[0].value == str(tmp_path / "mnist-gan")


@pytest.mark.parametrize("model", ["mnist-vae", "mnist-gan", "mnist-ae"])
def test_sample_grid_follows_seed_size_and_latent_control(app, model):
    open_page(app, "views/sample.py", model)
    first = values(app)
    app.number_input(key="sample_seed").set_value(5).run()
    assert values(app) != first
    app.number_input(key="sample_seed").set_value(0).run()
    assert values(app) == first
    app.button[0].click().run()  # New seed
    assert app.number_input(key="sample_seed").value != 0 and values(app) != first
    app.number_input(key="sample_seed").set_value(0).run()
    app.select_slider[0].set_value(4).run()
    assert "16 samples" in images(app.main)[0].captions[0]
    app.radio[0].set_value("Truncation").run()
    assert "truncated at 1.0 sigma" in images(app.main)[0].captions[0]
    assert not app.exception
    (download,) = app.get("download_button")
    assert download.proto.label == "Download PNG"


def test_sliders_redraw_the_decode_and_reset_restores_it(app):
    open_page(app, "views/sliders.py", "mnist-vae")
    start = values(app)[0]
    code = app.code[0].value
    slider = app.slider[0]
    slider.set_value(slider.max).run()
    assert values(app)[0] != start and app.code[0].value != code
    next(b for b in app.button if b.label == "Reset").click().run()
    assert values(app)[0] == start and app.code[0].value == code


def test_directions_and_traversal_change_the_decode(app):
    open_page(app, "views/sliders.py", "mnist-vae")
    start = values(app)[0]
    pc = next(s for s in app.slider if s.label == "Principal direction 1")
    pc.set_value(3.0).run()
    assert values(app)[0] != start
    pc.set_value(0.0).run()
    assert values(app)[0] == start
    along = next(s for s in app.slider if s.label == "Along the class direction")
    along.set_value(1.0).run()
    assert values(app)[0] != start
    traversal = images(app.main)[-1]
    assert "-3 to +3 sigma" in traversal.captions[0]


def test_a_test_image_and_a_pasted_latent_can_start_the_sliders(app, mnist_test, trained):
    open_page(app, "views/sliders.py", "mnist-vae")
    app.radio(key="slider_start").set_value("Test image").run()
    vae = load_model(trained["vae"].out, "cpu")
    expected = lt.encode_images(vae, mnist_test.images[:1])[0]
    assert torch.allclose(lt.parse_latent(app.code[0].value, vae.latent_dim), expected, atol=1e-4)
    pasted = lt.format_latent(torch.arange(vae.latent_dim) / 10)
    app.text_area[0].input("1, 2, three").run()
    next(b for b in app.button if b.label == "Use this latent").click().run()
    assert "not a number" in app.error[0].value or "numbers" in app.error[0].value
    app.text_area[0].input(pasted).run()
    next(b for b in app.button if b.label == "Use this latent").click().run()
    assert not app.exception and not app.error
    assert app.radio(key="slider_start").value == "Pasted latent"
    assert app.code[0].value == pasted
    # The pasted latent travels in the address: a new session opened on it starts there.
    address = dict(app.query_params)
    assert address["start"] == "Pasted latent" and "z" in address
    again = AppTest.from_file("../genviz/app.py", default_timeout=120)
    again.query_params.update({"model": "mnist-vae", **address})
    again.switch_page("views/sliders.py").run()
    assert not again.exception and not again.error
    assert again.radio(key="slider_start").value == "Pasted latent" and again.code[0].value == pasted


def test_gan_sliders_offer_ganspace_and_classifier_directions(app):
    open_page(app, "views/sliders.py", "mnist-gan")
    assert any("GANSpace" in c.value for c in app.caption)
    assert any(s.label == "Along the class direction" for s in app.slider)


def test_map_caches_its_projection_and_shows_a_picked_point(app, tmp_path, monkeypatch):
    open_page(app, "views/map.py", "mnist-vae")
    app.selectbox[0].set_value(1000).run()
    app.radio[0].set_value("pca").run()
    assert not app.exception
    assert "1,000 test images of `mnist`, PCA" in app.caption[0].value
    assert len(list((tmp_path / "cache" / "maps").glob("*-1000-pca.npz"))) == 1
    monkeypatch.setattr(lt, "project", lambda *a, **k: pytest.fail("recomputed a cached map"))
    key = (str(tmp_path / "mnist-vae"), 1000, "pca", 15, 0.1)
    app.session_state["map_pick"] = {"key": key, "kind": "point", "index": 3, "x": 0.0, "y": 0.0}
    app.run()
    assert not app.exception
    shown = images(app.main)
    assert [s.captions[0] for s in shown] == ["test image", "reconstruction"]
    latent = lt.parse_latent(app.code[0].value, 8)
    app.session_state["map_pick"] = {"key": key, "kind": "space", "x": 0.5, "y": -0.5}
    app.run()
    assert "inverse of the clicked spot" in images(app.main)[0].captions[0]
    assert not torch.allclose(lt.parse_latent(app.code[0].value, 8), latent)
    app.session_state["map_pick"] = {"key": key, "kind": "region", "index": list(range(20))}
    app.run()
    assert [s.captions[0] for s in images(app.main)] == ["the selected images", "their mean latent, decoded"]
    assert any(h.value == "20 points selected" for h in app.subheader)


def test_a_links_pick_opens_the_map_on_that_point(app, tmp_path):
    app.query_params.update({"model": "mnist-vae", "points": "1000", "projection": "pca", "pick": "p7"})
    app.switch_page("views/map.py").run()
    assert not app.exception and not app.error
    heading = next(h.value for h in app.subheader)
    assert heading.startswith("Test image ") and any(c.value.startswith("Point 7 of the map") for c in app.caption)
    assert app.query_params["pick"] == "p7"


def test_map_point_opens_in_the_sliders(app, tmp_path):
    open_page(app, "views/map.py", "mnist-vae")
    app.selectbox[0].set_value(1000).run()
    app.radio[0].set_value("pca").run()
    key = (str(tmp_path / "mnist-vae"), 1000, "pca", 15, 0.1)
    app.session_state["map_pick"] = {"key": key, "kind": "point", "index": 7, "x": 0.0, "y": 0.0}
    app.run()
    latent = app.code[0].value
    next(b for b in app.button if b.label == "Edit in latent sliders").click().run()
    assert not app.exception
    assert app.radio(key="slider_start").value == "Map point"
    assert np.allclose(lt.parse_latent(app.code[0].value, 8), lt.parse_latent(latent, 8), atol=1e-4)


def test_gan_map_shows_samples_coloured_by_the_classifier(app):
    open_page(app, "views/map.py", "mnist-gan")
    app.selectbox[0].set_value(1000).run()
    assert not app.exception
    caption = app.caption[0].value
    assert caption.startswith("1,000 prior samples of `mnist`, UMAP") and "no classifier" not in caption


def test_a_map_of_every_image_shows_test_then_training_images(app, tmp_path, monkeypatch):
    train = ui.maps.load_dataset("mnist", "train").take(1500)  # a short training set keeps the test quick
    real_load = ui.maps.load_dataset
    monkeypatch.setattr(
        ui.maps, "load_dataset", lambda name, split, **kw: train if split == "train" else real_load(name, split, **kw)
    )
    ui.cached_test_and_train.clear()
    open_page(app, "views/map.py", "mnist-vae")
    app.radio[0].set_value("pca").run()
    app.selectbox[0].set_value("all").run()
    assert not app.exception
    assert "11,500 images: 10,000 test (points 0 to 9,999), then 1,500 training of `mnist`, PCA" in app.caption[0].value
    (file,) = (tmp_path / "cache" / "maps").glob("*-all-test-train-pca.npz")
    projection = lt.Projection.load(file)
    assert np.array_equal(projection.labels[10_000:], train.labels.numpy())
    vae = load_model(tmp_path / "mnist-vae", "cpu")
    assert np.allclose(projection.latents[10_005], lt.encode_images(vae, train.images[5:6])[0].numpy(), atol=1e-5)
    key = (str(tmp_path / "mnist-vae"), None, "pca", 15, 0.1)
    app.session_state["map_pick"] = {"key": key, "kind": "point", "index": 10_005, "x": 0.0, "y": 0.0}
    app.run()
    assert not app.exception
    assert [s.captions[0] for s in images(app.main)] == ["training image", "reconstruction"]
    names = ui.class_names(vae)
    assert any(h.value == f"Training image 5: {names[int(train.labels[5])]}" for h in app.subheader)
    app.switch_page("views/home.py").run()
    app.switch_page("views/map.py").run()
    assert app.selectbox[0].value == "all"  # the page remembers the point count
    ui.cached_test_and_train.clear()


@pytest.mark.parametrize("fragment", ["1", "0"])
def test_the_slider_decode_is_of_the_latent_the_controls_set(app, trained, monkeypatch, fragment):
    """The decode is drawn before the sliders, from the values the browser sent, as an inline PNG: it
    must be the decode of the latent the controls set, in the fragment and in the full-rerun baseline
    (GENVIZ_SLIDER_FRAGMENT=0) that benchmarks/slider_latency.py measures against."""
    monkeypatch.setenv("GENVIZ_SLIDER_FRAGMENT", fragment)
    vae = load_model(trained["vae"].out, "cpu")
    open_page(app, "views/sliders.py", "mnist-vae")
    slider = app.slider[0]
    d = int(slider.label.removeprefix("z[").removesuffix("]"))
    slider.set_value(slider.max).run()
    assert lt.parse_latent(app.code[0].value, vae.latent_dim)[d].item() == pytest.approx(slider.max, abs=1e-4)
    next(s for s in app.slider if s.label == "Principal direction 1").set_value(2.0).run()
    assert not app.exception
    z = lt.parse_latent(app.code[0].value, vae.latent_dim)
    (url,) = values(app)[0]
    assert url.startswith("data:image/png;base64,")
    shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))), dtype=np.int16)
    expected = np.asarray(enlarge(to_pil(lt.decode(vae, z[None])[0]), 280), dtype=np.int16)
    assert shown.shape == expected.shape == (280, 280)
    assert np.abs(shown - expected).max() <= 1  # the code shows z to 4 decimals


@pytest.mark.parametrize("model", ["mnist-vae", "mnist-gan", "mnist-ae"])
def test_no_page_changes_the_model_that_sessions_share(app, model):
    """Every page, from test images (a GAN's are found by a gradient search through its generator), leaves
    the one cached model every session uses as loaded: same weights and buffers, eval mode, no grad."""
    path = folder_of(model)
    open_page(app, "views/sliders.py", model)
    app.radio(key="slider_start").set_value("Test image").run()
    app.slider[0].set_value(app.slider[0].max).run()
    for page, source in [("views/reconstruct.py", "recon"), ("views/anomaly.py", "anomaly"), ("views/map.py", None)]:
        app.switch_page(page).run()
        if source:
            app.radio(key=f"{source}_source").set_value("Test images").run()
        assert not app.exception and not app.error, (page, app.exception, app.error)
    app.switch_page("views/interpolate.py").run()
    assert not app.exception
    shared, fresh = ui.cached_model(path), load_model(path, "cpu")
    assert not shared.training and not any(p.requires_grad for p in shared.parameters())
    assert shared.state_dict().keys() == fresh.state_dict().keys()
    assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in shared.state_dict().items())


def test_a_map_link_opens_its_settings_and_a_point_of_the_sample_shows_its_own_test_image(
    app, media, mnist_test, tmp_path
):
    """A map of 1,000 points is a stratified sample of the test set: point 500 is the sample's 501st image,
    whose number in the test set the page says, and whose picture it shows."""
    app.query_params.update({"points": "1000", "projection": "pca"})
    open_page(app, "views/map.py", "mnist-vae")
    caption = app.caption[0].value
    assert "1,000 test images of `mnist`, PCA" in caption and "stratified by class" in caption
    assert app.query_params["points"] == "1000" and app.query_params["projection"] == "pca"
    key = (str(tmp_path / "mnist-vae"), 1000, "pca", 15, 0.1)
    app.session_state["map_pick"] = {"key": key, "kind": "point", "index": 500, "x": 0.0, "y": 0.0}
    app.run()
    assert not app.exception
    number = int(mnist_test.sample(1000).index[500])
    name = ui.class_names(load_model(tmp_path / "mnist-vae", "cpu"))[int(mnist_test.labels[number])]
    assert any(h.value == f"Test image {number:,}: {name}" for h in app.subheader)  # the number the browser shows too
    assert any(c.value == "Point 500 of the map, of `mnist`" for c in app.caption)
    shown = pixels(media, images(app.main)[0])
    assert np.array_equal(shown, np.asarray(enlarge(to_pil(to_float(mnist_test.images[number])), 140)))
    app.session_state["map_pick"] = {"key": key, "kind": "region", "index": list(range(20))}
    app.run()
    thumbnails = pixels(media, images(app.main)[0])
    assert thumbnails.shape[1] >= 8 * 64  # 8 a row, each at least 64 pixels wide


def test_the_traversal_strip_is_drawn_large_enough_to_read(app, media):
    open_page(app, "views/sliders.py", "mnist-vae")
    traversal = images(app.main)[-1]
    assert "-3 to +3 sigma" in traversal.captions[0]
    assert pixels(media, traversal).shape[1] >= 7 * 64  # seven decodes, each at least 64 pixels wide


def test_a_sliders_link_starts_from_its_test_image(app, mnist_test, trained):
    app.query_params.update({"start": "Test image", "image": "3"})
    open_page(app, "views/sliders.py", "mnist-vae")
    assert app.radio(key="slider_start").value == "Test image" and app.number_input(key="slider_image").value == 3
    vae = load_model(trained["vae"].out, "cpu")
    expected = lt.encode_images(vae, mnist_test.images[3:4])[0]
    assert torch.allclose(lt.parse_latent(app.code[0].value, vae.latent_dim), expected, atol=1e-4)
    app.number_input(key="slider_image").set_value(4).run()
    assert app.query_params["image"] == "4" and app.query_params["start"] == "Test image"


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """The app over the shipped checkpoints, with its own empty cache."""
    monkeypatch.setattr(ui, "CHECKPOINTS", [ROOT / "checkpoints"])
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(tmp_path / "cache"))
    return AppTest.from_file("../genviz/app.py", default_timeout=300)


def test_a_class_sorted_test_set_shows_every_class_on_the_map_and_in_the_class_direction(shipped, tmp_path):
    """CIFAR-10's image folder lists its test images class by class: the first 1,000 are all airplanes.
    The map's 1,000 points and the sliders' class direction cover all ten classes."""
    shipped.query_params.update({"points": "1000", "projection": "pca"})
    open_page(shipped, "views/map.py", "cifar10-vae")
    assert "1,000 test images of `cifar10-jpg`" in shipped.caption[0].value
    (file,) = (tmp_path / "cache" / "maps").glob("*-1000-pca.npz")
    assert sorted(set(lt.Projection.load(file).labels.tolist())) == list(range(10))
    shipped.switch_page("views/sliders.py").run()
    assert not shipped.exception and not shipped.error
    origin = next(s for s in shipped.selectbox if s.label == "From class")
    assert len(origin.options) == 10
