"""The interpolate, reconstruct-and-denoise and anomaly pages through AppTest, reading back the pictures and
files they hand to the browser and checking their values against the models."""

import base64
import io
import json
import re
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest
import streamlit as st
import torch
from PIL import Image, ImageFilter
from streamlit.delta_generator import DeltaGenerator
from streamlit.proto.Block_pb2 import Block
from streamlit.testing.v1 import AppTest

from genviz import latent as lt
from genviz import metrics, ui
from genviz.checkpoint import load_model
from genviz.data import data_root
from support.apptest import images, open_page

pytestmark = pytest.mark.slow  # every test runs the app on trained or shipped models
HORIZONTAL = Block.FlexContainer.Direction.HORIZONTAL
ROOT = Path(__file__).resolve().parent.parent


def picture(media, element, k: int = 0) -> np.ndarray:
    """The k-th picture of an st.image element as a uint8 array (H, W) or (H, W, C)."""
    return np.asarray(Image.open(io.BytesIO(media(element.value[k]))))


def download(app, label: str, media) -> bytes:
    (button,) = [b for b in app.get("download_button") if b.proto.label == label]
    return media(button.proto.url or button.proto.deferred_file_id)


def values(data) -> np.ndarray:
    """A plotly trace's array, which plotly writes as a list or as base64 bytes with a dtype."""
    if isinstance(data, dict):
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"])
    return np.asarray(data, dtype=float)


def png(array: np.ndarray, name: str = "digit.png") -> tuple[str, bytes, str]:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return name, buffer.getvalue(), "image/png"


def drawn_digit(mnist_test, index: int) -> np.ndarray:
    """A test digit as a person would draw it: dark ink on white paper, at 4x the size."""
    digit = Image.fromarray(255 - mnist_test.images[index, 0].numpy())
    return np.asarray(digit.resize((112, 112), Image.Resampling.BILINEAR))


def photographed_digit(mnist_test, index: int, name: str = "photo.jpg") -> tuple[str, bytes, str]:
    """A test digit as a phone photo of it: dark ink on grey paper under uneven light, small and off-centre in a
    640x480 picture, blurred, noisy, a JPEG."""
    ink = Image.fromarray(mnist_test.images[index, 0].numpy()).resize((140, 140), Image.Resampling.BICUBIC)
    alpha = np.zeros((480, 640), dtype=np.float32)
    alpha[60:200, 400:540] = np.asarray(ink, dtype=np.float32) / 255
    paper = 160 + np.linspace(-15, 15, 640, dtype=np.float32)[None]
    picture = Image.fromarray((paper * (1 - alpha) + 40 * alpha).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1))
    noisy = np.asarray(picture, dtype=np.float32) + np.random.default_rng(index).normal(0, 4, (480, 640))
    buffer = io.BytesIO()
    Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=70)
    return name, buffer.getvalue(), "image/jpeg"


def side_by_side(app) -> list:
    """The rows of the uploads' expander: each (received picture, the model's input, the notes' markdown)."""
    (expander,) = [e for e in app.expander if e.label.startswith("How ") and "prepared" in e.label]
    rows = [
        block
        for block in expander.children.values()
        if block.type == "flex_container" and block.proto.flex_container.direction == HORIZONTAL
    ]
    return [tuple(row.children.values()) for row in rows]


def tile(strip: np.ndarray, k: int, size: int = 28) -> np.ndarray:
    """The k-th image of a one-row grid of greyscale images (padding 2), drawn scaled up by a whole factor."""
    factor = strip.shape[0] // (size + 4)
    strip = strip[::factor, ::factor]  # nearest-neighbour scaling undone
    x = 2 + k * (size + 2)
    return strip[2 : 2 + size, x : x + size]


def first_of_classes(data, n: int) -> list[int]:
    """The number of the first test image of each of classes 0 to n - 1: the pages' default images."""
    return [int((data.labels == c).nonzero()[0]) for c in range(n)]


def decode_png(model, z: torch.Tensor) -> np.ndarray:
    return (lt.decode(model, z[None])[0, 0] * 255).round().byte().numpy()


def test_slerp_strip_starts_and_ends_on_the_endpoints_decodes_and_exports_every_frame(app, media, mnist_test, tmp_path):
    open_page(app, "views/interpolate.py", "mnist-vae")
    vae = load_model(tmp_path / "mnist-vae", "cpu")
    (strip_element,) = [img for img in images(app.main) if img.captions[0] == "slerp strip of 8"]
    strip = picture(media, strip_element)
    z = lt.encode_images(vae, mnist_test.images[first_of_classes(mnist_test, 2)])  # the default ends: a 0 and a 1
    assert np.abs(tile(strip, 0).astype(int) - decode_png(vae, z[0])).max() <= 1
    assert np.abs(tile(strip, 7).astype(int) - decode_png(vae, z[1])).max() <= 1
    assert not np.array_equal(tile(strip, 3), tile(strip, 0))  # the middle differs from the ends

    app.slider(key="interp_steps_server").set_value(5).run()
    gif = Image.open(io.BytesIO(download(app, "GIF", media)))
    assert gif.n_frames == 5 and gif.info["loop"] == 0
    gif.seek(4)  # frames in order: the last frame is the end's decode, enlarged 4x
    last = np.asarray(gif.convert("L").resize((28, 28), Image.Resampling.NEAREST))
    assert np.abs(last.astype(int) - decode_png(vae, z[1])).max() <= 1
    with av.open(io.BytesIO(download(app, "MP4", media))) as video:
        assert sum(1 for _ in video.decode(video=0)) == 5
    (chart,) = app.get("plotly_chart")
    (path_trace,) = [t for t in json.loads(chart.proto.spec)["data"] if t.get("name") == "interpolation"]
    assert len(values(path_trace["x"])) == 5  # drawn on a PCA map: no map was made on the Latent map page

    app.toggle(key="interp_four").set_value(True).run()
    assert not app.exception and not app.error
    assert any(img.captions[0] == "slerp 5 x 5 grid" for img in images(app.main))
    assert Image.open(io.BytesIO(download(app, "GIF", media))).n_frames == 25


def test_interpolate_between_an_upload_and_a_random_latent(app, media, mnist_test):
    open_page(app, "views/interpolate.py", "mnist-ae")
    app.selectbox(key="interp_source_0").set_value("Upload").run()
    app.selectbox(key="interp_source_1").set_value("Random latent").run()
    assert any("Upload an image" in i.value for i in app.info)
    app.file_uploader(key="interp_file_0").set_value(png(drawn_digit(mnist_test, 0))).run()
    assert not app.exception and not app.error
    notes = " ".join(e.proto.body for e in app.get("markdown"))
    assert "inverted" in notes  # dark ink on white: inverted for a model of white digits on black
    assert any(img.captions[0] == "slerp strip of 8" for img in images(app.main))
    ((received, given, _),) = side_by_side(app)  # in the endpoint's column: as received, then the input
    assert received.captions == ["as received"] and given.captions == [ui.plain("the model's input")]
    app.radio(key="interp_invert").set_value("No").run()
    assert "inverted" not in " ".join(e.proto.body for e in app.get("markdown"))


def test_reconstruct_compares_models_and_keeps_going_past_a_bad_upload(app, media, mnist_test, tmp_path):
    open_page(app, "views/reconstruct.py", "mnist-vae")
    assert app.multiselect(key="recon_models_mnist-vae").value == [
        str(tmp_path / "mnist-vae"),
        str(tmp_path / "mnist-ae"),
    ]
    uploads = [
        png(drawn_digit(mnist_test, 0), "seven.png"),
        ("broken.png", b"\x89PNG\r\n\x1a\n not really", "image/png"),
        png(mnist_test.images[1, 0].numpy(), "two.png"),
    ]
    app.radio(key="recon_source").set_value("Upload").run()  # it opens on test images
    app.file_uploader(key="recon_files").set_value(uploads).run()
    assert not app.exception
    (error,) = app.error
    assert ui.plain("broken.png") in error.value
    (table,) = app.dataframe
    assert list(table.value["image"]) == ["seven.png"] * 2 + ["two.png"] * 2
    assert list(table.value["model"]) == ["mnist-vae", "mnist-ae"] * 2
    # The second upload is a test image as it is: its reconstruction and scores are the model's own.
    vae = load_model(tmp_path / "mnist-vae", "cpu")
    x = mnist_test.float_images(slice(1, 2))
    expected = vae.reconstruct(x)
    row = table.value.iloc[2]
    assert row["PSNR (dB)"] == pytest.approx(float(metrics.psnr(expected, x)), abs=1e-3)
    assert row["SSIM"] == pytest.approx(float(metrics.ssim(expected, x)), abs=1e-3)
    shown = [img for img in images(app.main) if img.captions[0] == ui.plain("mnist-vae")][1]
    small = Image.open(io.BytesIO(media(shown.value[0]))).convert("L").resize((28, 28), Image.Resampling.NEAREST)
    assert np.abs(np.asarray(small).astype(int) - (expected[0, 0] * 255).round().numpy()).max() <= 1
    archive = zipfile.ZipFile(io.BytesIO(download(app, "Download every output (ZIP)", media)))
    names = set(archive.namelist())
    assert {"01-seven.png/input.png", "02-two.png/mnist-ae-error.png", "metrics.csv"} <= names and len(names) == 11

    app.multiselect(key="recon_models_mnist-vae").select(str(tmp_path / "mnist-gan")).run()
    assert "mnist-gan (approximate)" in list(app.dataframe[0].value["model"])
    app.sidebar.selectbox[0].set_value(str(tmp_path / "mnist-ae")).run()  # another model brings its own choice
    assert app.multiselect[0].value == [str(tmp_path / "mnist-ae"), str(tmp_path / "mnist-vae")]
    assert list(app.dataframe[0].value["model"]) == ["mnist-ae", "mnist-vae"] * 2


def test_reconstruct_shows_each_upload_as_received_beside_the_models_input_and_the_preparation_can_be_switched_off(
    app, media, mnist_test
):
    open_page(app, "views/reconstruct.py", "mnist-vae")
    app.radio(key="recon_source").set_value("Upload").run()  # it opens on test images
    assert app.radio(key="recon_fit").value == ui.widgets.AS_TRAINED  # the checkpoint's own preparation first
    app.file_uploader(key="recon_files").set_value([photographed_digit(mnist_test, 0)]).run()
    assert not app.exception and not app.error
    ((received, given, notes),) = side_by_side(app)
    assert (received.type, given.type) == ("image", "image")
    assert received.captions == ["as received"] and given.captions == [ui.plain("the model's input")]
    assert picture(media, received).shape[:2] == (84, 112)  # the whole photo, 640x480, drawn 112 wide
    # The model's input, drawn 4x: the photo's digit, light on black, its box fitting 20x20 and centred by mass.
    small = picture(media, given)[::4, ::4].astype(np.float64)
    rows, cols = np.nonzero(small)
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 == 20 and small[0].max() == 0
    centre = (small.sum(1) @ np.arange(28) / small.sum(), small.sum(0) @ np.arange(28) / small.sum())
    assert abs(centre[0] - 14) <= 1 and abs(centre[1] - 14) <= 1
    (shown,) = [img for img in images(app.main) if img.captions[0] == ui.plain("photo.jpg")]  # the model's row
    assert np.array_equal(picture(media, shown)[::4, ::4], small.astype(np.uint8))
    assert ui.plain("photo.jpg") in notes.value and "inverted" in notes.value
    assert "cropped to the subject" in notes.value and "by its centre of mass" in notes.value

    app.radio(key="recon_fit").set_value("pad").run()  # the preparation switched off: the whole picture, padded
    ((_, given, notes),) = side_by_side(app)
    assert "cropped to the subject" not in notes.value and "keeping the aspect ratio and padding" in notes.value
    assert picture(media, given)[::4, ::4][:3].max() > 0  # the paper's border, not a clean background


def test_denoising_lab_measures_each_model_and_draws_the_curve(app, mnist_test, tmp_path):
    open_page(app, "views/reconstruct.py", "mnist-vae")
    app.radio(key="recon_mode").set_value("Denoising lab").run()
    app.radio(key="recon_source").set_value("Test images").run()
    app.slider(key="noise_level_gaussian").set_value(0.4).run()
    assert not app.exception and not app.error
    (table,) = app.dataframe
    assert list(table.value["image"]) == ["noisy", "denoised by mnist-vae", "denoised by mnist-ae"]
    clean = mnist_test.float_images(first_of_classes(mnist_test, 1))  # the first default image: the first 0
    noisy = torch.from_numpy(
        (clean + 0.4 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1).numpy()
    )
    assert table.value.iloc[0]["PSNR (dB)"] == pytest.approx(float(metrics.psnr(noisy, clean)), abs=1e-3)
    (chart,) = app.get("plotly_chart")
    traces = json.loads(chart.proto.spec)["data"]
    assert [t["name"] for t in traces] == ["noisy input", "mnist-vae", "mnist-ae"]
    assert all(len(values(t["y"])) == 10 for t in traces)
    assert values(traces[0]["y"])[0] > values(traces[0]["y"])[-1]  # the noisy input worsens as the noise grows


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """The app over the shipped checkpoints, with its own empty cache."""
    monkeypatch.setattr(ui, "CHECKPOINTS", [ROOT / "checkpoints"])
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(tmp_path / "cache"))
    return AppTest.from_file("../genviz/app.py", default_timeout=300)


def cifar_jpeg() -> tuple[str, bytes, str]:
    first = sorted((data_root() / "cifar10-jpg" / "test" / "airplane").iterdir())[0]
    return first.name, first.read_bytes(), "image/jpeg"


def test_anomaly_scores_a_clean_digit_below_the_95th_percentile_and_a_cifar_image_above(shipped, mnist_test):
    open_page(shipped, "views/anomaly.py", "mnist-ae")
    uploads = [png(mnist_test.images[0, 0].numpy(), "test-0.png"), cifar_jpeg()]
    shipped.radio(key="anomaly_source").set_value("Upload").run()  # it opens on test images
    shipped.file_uploader(key="anomaly_files").set_value(uploads).run()
    assert not shipped.exception and not shipped.error
    assert [tuple(e.captions[0] for e in row[:2]) for row in side_by_side(shipped)] == [
        ("as received", ui.plain("the model's input"))
    ] * 2
    rows = {r["image"]: r for r in shipped.dataframe[0].value.to_dict("records")}
    assert rows["test-0.png"]["percentile"] < 95 and not rows["test-0.png"]["flagged"]
    assert rows[cifar_jpeg()[0]]["percentile"] > 95 and rows[cifar_jpeg()[0]]["flagged"]
    assert list(shipped.dataframe[0].value["image"])[0] == cifar_jpeg()[0]  # most anomalous first
    assert any("**5.0%**" in m.value for m in shipped.markdown)  # the default threshold: the 95th percentile

    shipped.radio(key="anomaly_view").set_value("Evaluate (ROC)").run()
    shipped.radio(key="anomaly_against").set_value("Another dataset").run()
    assert not shipped.exception and not shipped.error
    assert float(shipped.metric[0].value) > 0.95  # CIFAR-10 against MNIST: far apart
    shipped.sidebar.selectbox[0].set_value(str(ROOT / "checkpoints" / "mnist-vae")).run()
    shipped.radio(key="anomaly_score").set_value("elbo").run()  # scores in the thousands of nats
    assert not shipped.exception and not shipped.error
    assert float(shipped.metric[0].value) > 0.95


def test_anomaly_page_ranks_a_held_out_class_and_the_vae_offers_the_elbo(app):
    open_page(app, "views/anomaly.py", "mnist-vae")
    assert app.radio(key="anomaly_score").options == ["reconstruction error (MSE)", "negative ELBO (nats)"]
    app.radio(key="anomaly_score").set_value("elbo").run()
    app.radio(key="anomaly_source").set_value("Test images").run()
    rows = app.dataframe[0].value
    assert len(rows) == 10 and list(rows["score"]) == sorted(rows["score"], reverse=True)
    app.radio(key="anomaly_view").set_value("Evaluate (ROC)").run()
    assert not app.exception and not app.error
    assert 0 < float(app.metric[0].value) < 1


def test_interpolation_links_open_their_path_and_a_long_strip_or_grid_fits_the_page(app, media, monkeypatch):
    """At 16 steps and more a strip or grid is drawn at its own width but never wider than its column (no
    fixed width), and is never wider than the page's column itself; below, its frames are scaled up."""
    widths = {}  # caption -> the width each picture was drawn at
    draw = DeltaGenerator.image

    def image(self, picture, caption=None, width="content", **options):
        widths[caption] = width
        return draw(self, picture, caption=caption, width=width, **options)

    monkeypatch.setattr(DeltaGenerator, "image", image)  # columns' pictures
    monkeypatch.setattr(st, "image", lambda *args, **kwargs: image(st._main, *args, **kwargs))  # the page's
    app.query_params.update({"steps": "32", "path": "linear"})
    open_page(app, "views/interpolate.py", "mnist-vae")
    assert app.slider(key="interp_steps_server").value == 32 and app.radio(key="interp_method_server").value == "linear"
    (strip,) = [img for img in images(app.main) if img.captions[0] == "linear strip of 32"]
    assert picture(media, strip).shape[1] <= ui.widgets.WIDEST and widths["linear strip of 32"] == "content"
    app.toggle(key="interp_four").set_value(True).run()
    assert app.query_params["grid"] == "1" and app.query_params["steps"] == "32"
    (grid,) = [img for img in images(app.main) if img.captions[0] == "linear 32 x 32 grid"]
    assert picture(media, grid).shape[1] <= ui.widgets.WIDEST and widths["linear 32 x 32 grid"] == "content"
    app.toggle(key="interp_four").set_value(False).run()
    app.slider(key="interp_steps_server").set_value(4).run()
    (strip,) = [img for img in images(app.main) if img.captions[0] == "linear strip of 4"]
    assert picture(media, strip).shape[0] >= 96  # four frames, each scaled up to at least 96 pixels


def test_an_endpoint_can_be_a_test_image_of_a_chosen_class(app, media, mnist_test):
    open_page(app, "views/interpolate.py", "mnist-vae")
    app.selectbox(key="interp_class_0").set_value("3").run()
    app.number_input(key="interp_image_0").set_value(2).run()
    assert not app.exception and not app.error
    threes = (mnist_test.labels == 3).nonzero().flatten()
    assert app.number_input(key="interp_image_0").label == f"Image (of {len(threes):,})"
    shown = next(img for img in images(app.main) if img.captions[0] == "input")
    small = Image.open(io.BytesIO(media(shown.value[0]))).resize((28, 28), Image.Resampling.NEAREST)
    assert np.array_equal(np.asarray(small), mnist_test.images[int(threes[2]), 0].numpy())


def test_an_auroc_below_chance_says_the_anomalies_score_lower(shipped):
    """MNIST's ones are the easiest digits to reconstruct: as anomalies they score below the rest."""
    shipped.query_params.update({"view": "Evaluate (ROC)"})
    open_page(shipped, "views/anomaly.py", "mnist-ae")
    assert shipped.radio(key="anomaly_view").value == "Evaluate (ROC)"
    next(s for s in shipped.selectbox if s.label == "Class treated as anomalous").set_value(1).run()
    auc = float(shipped.metric[0].value)
    assert auc < 0.5
    (note,) = [w.value for w in shipped.warning if "score lower than the normal images" in w.value]
    assert f"{1 - auc:.4f}" in note and "easier to reconstruct" in note
    next(s for s in shipped.selectbox if s.label == "Class treated as anomalous").set_value(0).run()
    assert float(shipped.metric[0].value) > 0.5 and not shipped.warning


def test_anomaly_links_open_their_score_and_view_and_percentiles_have_the_right_ordinals(app):
    app.query_params.update({"score": "elbo", "view": "Score images"})
    open_page(app, "views/anomaly.py", "mnist-vae")
    assert app.radio(key="anomaly_score").value == "elbo"
    app.radio(key="anomaly_source").set_value("Test images").run()
    rows = app.dataframe[0].value
    captions = [c for img in images(app.main) for c in img.captions]
    for rank, name, p in zip(rows["rank"][:8], rows["image"][:8], rows["percentile"][:8], strict=True):
        assert ui.plain(f"{rank}. {name}: {ui.percentile_text(p)}") in captions
    assert not any(re.search(r"(?<!1)[123]th|\.\dth", c) for c in captions)  # no "21th" nor "99.3th"
    app.radio(key="anomaly_view").set_value("Evaluate (ROC)").run()
    assert app.query_params["view"] == "Evaluate (ROC)" and app.query_params["score"] == "elbo"


def encoded(image: Image.Image, fmt: str, name: str, **options) -> tuple[str, bytes, str]:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return name, buffer.getvalue(), f"image/{fmt.lower()}"


def test_a_batch_of_awkward_and_hostile_files_is_converted_or_refused_in_words(app, mnist_test):
    digit = Image.fromarray(mnist_test.images[0, 0].numpy())
    frames = [digit, digit.rotate(90), digit.rotate(180)]
    sixteen = Image.fromarray(mnist_test.images[0, 0].numpy().astype(np.uint16) * 257)  # 16-bit greyscale
    clear = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    clear.paste(Image.new("RGBA", (20, 20), (0, 0, 0, 255)), (10, 10))  # a black square on transparency
    uploads = [
        encoded(frames[0], "GIF", "animated.gif", save_all=True, append_images=frames[1:]),
        encoded(sixteen, "PNG", "sixteen-bit.png"),
        encoded(digit.convert("CMYK"), "JPEG", "cmyk.jpg"),
        encoded(clear, "PNG", "transparent.png"),
        encoded(digit.convert("P"), "PNG", "palette.png"),
        encoded(Image.new("1", (8000, 6000)), "PNG", "bomb.png"),  # 48 megapixels in a few kB
        ("notes.png", b"just some text, named like a picture", "image/png"),
        ("huge.bmp", b"BM" + bytes(21 * 1024 * 1024), "image/bmp"),
    ]
    open_page(app, "views/reconstruct.py", "mnist-ae")
    app.radio(key="recon_source").set_value("Upload").run()  # it opens on test images
    app.file_uploader(key="recon_files").set_value(uploads).run()
    assert not app.exception
    errors = " ".join(e.value for e in app.error)
    for refused in ("bomb.png", "notes.png", "huge.bmp"):
        assert ui.plain(refused) in errors
    assert "megapixels" in errors and "20 MiB" in errors and len(app.error) == 3
    accepted = ["animated.gif", "sixteen-bit.png", "cmyk.jpg", "transparent.png", "palette.png"]
    assert list(app.dataframe[0].value["image"].unique()) == accepted
    notes = " ".join(e.proto.body for e in app.get("markdown"))
    assert "first of its 3 frames" in notes and ui.plain("16-bit") in notes and "CMYK" in notes and "white" in notes
    table = app.dataframe[0].value
    psnr = table[table["model"] == "mnist-ae"].set_index("image")["PSNR (dB)"]
    assert psnr["sixteen-bit.png"] == pytest.approx(psnr["palette.png"], abs=0.5)  # the same digit either way
