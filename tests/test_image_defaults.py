"""The pages that take test images open on images of different classes, on MNIST and on CIFAR-10, whose test split
is read class by class (its first thousand images are airplanes); and a link restores the test images or the
interpolation's endpoints that were chosen. Through AppTest on the shipped checkpoints; each picture shown is
found in the test set by its pixels, so that its class is the dataset's, not what the page says."""

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from genviz import ui
from genviz.data import load_dataset
from support.apptest import images, open_page

pytestmark = pytest.mark.slow  # runs the app on the shipped checkpoints over the real test sets
ROOT = Path(__file__).resolve().parent.parent
DATASETS = {"mnist-vae": "mnist", "cifar10-vae": "cifar10-jpg"}


@pytest.fixture(scope="module")
def test_sets():
    return {name: load_dataset(name, "test") for name in DATASETS.values()}


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """The app over the shipped checkpoints, with its own empty cache."""
    monkeypatch.setattr(ui, "CHECKPOINTS", [ROOT / "checkpoints"])
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(tmp_path / "cache"))
    return AppTest.from_file("../genviz/app.py", default_timeout=600)


def found_in(data, media, element) -> int:
    """The number in the test set `data` of the picture an st.image element shows (drawn scaled up by a whole
    factor with crisp pixels)."""
    shown = np.asarray(Image.open(io.BytesIO(media(element.value[0]))))
    factor = shown.shape[0] // data.images.shape[-1]
    pixels = torch.from_numpy(np.ascontiguousarray(shown[::factor, ::factor])).reshape(data.images.shape[-2:] + (-1,))
    matches = (data.images == pixels.permute(2, 0, 1)).flatten(1).all(1).nonzero().flatten().tolist()
    assert matches, "the picture is no test image"
    return matches[0]


def shown_classes(app, data, media, captions: list[str]) -> list[int]:
    """The dataset's classes of the pictures whose caption is one of `captions`, in the page's order."""
    chosen = [e for e in images(app.main) if e.captions[0] in captions]
    assert len(chosen) == len(captions), (len(chosen), captions)
    return [int(data.labels[found_in(data, media, e)]) for e in chosen]


@pytest.mark.parametrize("model", DATASETS)
@pytest.mark.parametrize("page", ["views/reconstruct.py", "views/anomaly.py"])
def test_test_images_open_on_at_least_five_classes(shipped, media, test_sets, model, page):
    open_page(shipped, page, model)
    names = list(dict.fromkeys(shipped.dataframe[0].value["image"]))  # "test-<number> (<class>)", each once
    numbers = [int(n.split()[0].removeprefix("test-")) for n in names]
    data = test_sets[DATASETS[model]]
    classes = {int(data.labels[i]) for i in numbers}
    assert len(numbers) == 10 and len(classes) >= 5, (numbers, classes)
    if page.endswith("reconstruct.py"):  # each row's first picture is its test image, found by its pixels
        shown = shown_classes(shipped, data, media, [ui.plain(n) for n in names])
        assert shown == [int(data.labels[i]) for i in numbers]
    assert "images" not in shipped.query_params  # the default needs no link


@pytest.mark.parametrize("model", DATASETS)
def test_interpolation_endpoints_open_on_different_classes(shipped, media, test_sets, model):
    data = test_sets[DATASETS[model]]
    open_page(shipped, "views/interpolate.py", model)
    ends = shown_classes(shipped, data, media, ["input", "input"])
    assert len(set(ends)) == 2, ends
    shipped.toggle(key="interp_four").set_value(True).run()
    assert not shipped.exception and not shipped.error
    corners = shown_classes(shipped, data, media, ["input"] * 4)
    assert len(set(corners)) == 4 and corners[:2] == ends, corners


@pytest.mark.parametrize("page", ["views/reconstruct.py", "views/anomaly.py"])
def test_a_link_restores_the_chosen_test_images(shipped, media, test_sets, page):
    source = "recon" if page.endswith("reconstruct.py") else "anomaly"
    shipped.query_params.update({"images": "5, 7-9"})
    open_page(shipped, page, "mnist-vae")
    assert shipped.text_input(key=f"{source}_index_mnist").value == "5, 7-9"
    assert sorted(set(shipped.dataframe[0].value["image"])) == ["test-5 (1)", "test-7 (9)", "test-8 (5)", "test-9 (9)"]
    shipped.text_input(key=f"{source}_index_mnist").set_value("12").run()
    assert shipped.query_params["images"] == "12"
    assert set(shipped.dataframe[0].value["image"]) == {f"test-12 ({int(test_sets['mnist'].labels[12])})"}
    shipped.radio(key=f"{source}_source").set_value("Upload").run()
    assert "images" not in shipped.query_params  # uploads are not in the address


def test_a_link_to_test_images_that_do_not_exist_says_so_and_opens_on_the_default(shipped):
    shipped.query_params.update({"images": "3, 10000"})
    open_page(shipped, "views/anomaly.py", "cifar10-vae")
    (warning,) = [w.value for w in shipped.warning if "images=3, 10000" in w.value]
    assert "ignored" in warning and "10000" in warning
    assert len(shipped.dataframe[0].value) == 10


def test_a_link_restores_the_interpolation_endpoints(shipped, media, test_sets):
    mnist = test_sets["mnist"]
    threes = (mnist.labels == 3).nonzero().flatten()
    link = {"grid": "1", "source1": "Random latent", "seed1": "5", "class2": "3", "image2": "2", "source3": "Upload"}
    shipped.query_params.update(link)
    open_page(shipped, "views/interpolate.py", "mnist-vae")
    assert shipped.selectbox(key="interp_source_0").value == "Random latent"
    assert shipped.number_input(key="interp_seed_0").value == 5
    assert any(e.captions[0] == ui.plain("prior sample, seed 5") for e in images(shipped.main))
    assert (shipped.selectbox(key="interp_class_1").value, shipped.number_input(key="interp_image_1").value) == ("3", 2)
    second, fourth = [e for e in images(shipped.main) if e.captions[0] == "input"]  # the test-image corners
    assert found_in(mnist, media, second) == int(threes[2])
    assert found_in(mnist, media, fourth) == int(threes[0])  # its default: the first of class 3
    assert shipped.selectbox(key="interp_source_2").value == "Upload"
    assert any("Upload an image" in i.value for i in shipped.info)
    # Only what each endpoint uses is in the address.
    params = dict(shipped.query_params)
    assert {"class1", "image1", "seed2", "class3", "seed4"}.isdisjoint(params)
    assert params["class4"] == "3" and params["image4"] == "0"  # the fourth corner's default: class 3's first
    shipped.number_input(key="interp_seed_0").set_value(6).run()
    assert shipped.query_params["seed1"] == "6"
    shipped.toggle(key="interp_four").set_value(False).run()  # a strip: the corners it does not use leave
    assert not shipped.exception and not shipped.error
    assert not {"source3", "source4", "class4", "image4"} & set(shipped.query_params)


def test_a_link_to_an_endpoint_past_its_class_says_so(shipped):
    shipped.query_params.update({"class1": "5", "image1": "5000"})
    open_page(shipped, "views/interpolate.py", "mnist-vae")
    assert any("image1=5000" in w.value and "outside 0 to 891" in w.value for w in shipped.warning)
    assert shipped.number_input(key="interp_image_0").value == 0
    assert shipped.query_params["image1"] == "0"
