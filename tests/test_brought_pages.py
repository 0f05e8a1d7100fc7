"""Every page on models genviz did not train (genviz.bring): pytorch/examples' MLP VAE (latent (20,), a Bernoulli
likelihood) and a diffusers AutoencoderKL (latent (4, 8, 8) = 256, pixels [-1, 1], a fitted prior), each with its
explore bundle and the `<dataset>-classifier` beside it (support/brought.py). Through AppTest, each page opens
without an error and shows the model's own output; in Chromium, the latent map draws from the bundle and decodes
under the mouse, the sliders redraw while dragged, and the browser decodes as the server does.

Browser tests are skipped when Chromium or Playwright is missing, unless GENVIZ_REQUIRE_BROWSER=1.
"""

import base64
import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.spatial import Delaunay, cKDTree
from streamlit.testing.v1 import AppTest

from genviz import latent as lt
from genviz import ui
from genviz.checkpoint import load_model
from genviz.data import load_dataset, to_float
from genviz.explore import load_bundle
from genviz.export import decoder_onnx
from genviz.metrics import psnr
from genviz.pictures import enlarge, grid, to_pil
from genviz.ui import sliders as sl
from support.apptest import images, open_page
from support.brought import DATASETS, DIFFUSERS_VAE, MLP_VAE, brought_checkpoints
from support.browser import CHROMIUM, FLAGS, drag_slider, missing_browser, serve, wait_for_frame

pytestmark = pytest.mark.slow  # brings two models and builds their bundles (minutes), then runs the app on them
ROOT = Path(__file__).resolve().parent.parent
NAMES = [MLP_VAE, DIFFUSERS_VAE]
MISSING = missing_browser()
needs_browser = pytest.mark.skipif(bool(MISSING), reason=MISSING or "")
if not MISSING:
    from playwright.sync_api import expect, sync_playwright


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A checkpoints folder: both brought models with their explore bundles, and the two classifiers."""
    return brought_checkpoints(tmp_path_factory.mktemp("brought"))


@pytest.fixture(scope="module")
def models(checkpoints):
    return {name: load_model(checkpoints / name, "cpu") for name in NAMES}


@pytest.fixture(scope="module")
def datasets():
    """Each model's test set, as the pages read it."""
    return {name: load_dataset(DATASETS[name], "test") for name in NAMES}


@pytest.fixture
def app(checkpoints, tmp_path, monkeypatch):
    """The app over the brought checkpoints, with its own empty cache. Scoring the 10,000 CIFAR-10 test images with
    the AutoencoderKL takes minutes on two cores: hence the long timeout per run."""
    monkeypatch.setattr(ui, "CHECKPOINTS", [checkpoints])
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(tmp_path / "cache"))
    return AppTest.from_file("../genviz/app.py", default_timeout=900)


def pixels(media, element, k: int = 0) -> np.ndarray:
    """The k-th picture of an st.image element (a media file), as int16 (H, W) or (H, W, 3)."""
    return np.asarray(Image.open(io.BytesIO(media(element.value[k]))), dtype=np.int16)


def inline(element) -> np.ndarray:
    """An st.image given as a PNG data URL (the sliders' decode), as int16 pixels."""
    (url,) = element.value
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))), dtype=np.int16)


def close(a, b) -> bool:
    """Pictures equal up to one 8-bit level: the same decode, run by another onnxruntime session."""
    a, b = np.asarray(a, dtype=np.int16), np.asarray(b, dtype=np.int16)
    return a.shape == b.shape and np.abs(a - b).max() <= 1


def decoded(model, z: torch.Tensor, size: int) -> Image.Image:
    """The decode of one latent (D,) as the pages draw it: crisp pixels, about `size` wide."""
    return enlarge(to_pil(lt.decode(model, z[None])[0]), size)


# Every page through AppTest ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_home_shows_the_models_samples_and_its_card_in_the_sidebar(app, models, media, name):
    model = models[name]
    open_page(app, "views/home.py", name)
    (shown,) = images(app.main)
    assert shown.captions[0] == f"64 samples of ONNX-VAE from {model.prior_name}, seed 0"
    assert close(pixels(media, shown), grid(lt.decode(model, lt.prior_latents(model, 64, 0))))
    card = app.sidebar.expander[0].markdown[0].value
    assert card.startswith(f"# {ui.plain(name)}\n") and "**Brought into genviz, not trained by it:**" in card


@pytest.mark.parametrize("name", NAMES)
def test_map_draws_the_bundles_map_and_a_point_shows_its_image_and_reconstruction(
    app, checkpoints, models, datasets, media, monkeypatch, name
):
    monkeypatch.setattr(lt, "project", lambda *a, **k: pytest.fail("computed a map the bundle holds"))
    bundle = load_bundle(checkpoints / name)
    n = len(bundle.labels)
    open_page(app, "views/map.py", name)
    assert app.caption[0].value.startswith(
        f"{n:,} test images of `{DATASETS[name]}`, UMAP, 15 neighbours, minimum distance 0.1, seed 0."
    )
    key = (str(checkpoints / name), n, "umap", 15, 0.1)
    app.session_state["map_pick"] = {"key": key, "kind": "point", "index": 3, "x": 0.0, "y": 0.0}
    app.run()
    assert not app.exception and not app.error
    image, reconstruction = images(app.main)
    assert [image.captions[0], reconstruction.captions[0]] == ["test image", "reconstruction"]
    test_image = to_pil(to_float(datasets[name].images[int(bundle.positions[3])]))
    assert close(pixels(media, image), enlarge(test_image, 140))
    assert close(pixels(media, reconstruction), decoded(models[name], torch.from_numpy(bundle.latents[3]), 140))


@pytest.mark.parametrize("name", NAMES)
def test_sample_draws_the_models_prior_samples(app, models, media, name):
    model = models[name]
    open_page(app, "views/sample.py", name)
    (shown,) = images(app.main)
    assert shown.captions[0] == f"64 samples of ONNX-VAE from {model.prior_name}, seed 0, temperature 1.0"
    assert close(pixels(media, shown), grid(lt.decode(model, lt.prior_latents(model, 64, 0)), nrow=8))


def test_sliders_move_each_of_the_mlp_vaes_20_dimensions(app, models):
    model = models[MLP_VAE]
    open_page(app, "views/sliders.py", MLP_VAE)
    base = lt.prior_latents(model, 1, 0)[0]
    assert close(inline(images(app.main)[0]), decoded(model, base, 280))
    assert f"All 20 dimensions, {model.dimension_order_name}." in [c.value for c in app.caption]
    dims = [s for s in app.slider if s.label.startswith("z[")]
    assert sorted(int(s.label[2:-1]) for s in dims) == list(range(20))
    slider = dims[0]
    slider.set_value(slider.max).run()
    assert not app.exception
    moved = base.clone()
    moved[int(slider.label[2:-1])] = slider.max
    assert lt.parse_latent(app.code[0].value, 20).tolist() == pytest.approx(moved.tolist(), abs=1e-4)
    shown = inline(images(app.main)[0])
    assert close(shown, decoded(model, moved, 280)) and not close(shown, decoded(model, base, 280))


def test_sliders_move_the_256_dim_latent_along_directions_only_and_say_why(app, models):
    model = models[DIFFUSERS_VAE]
    open_page(app, "views/sliders.py", DIFFUSERS_VAE)
    assert sl.why_no_dims(256) in [c.value for c in app.caption]
    assert [t.label for t in app.tabs] == ["Directions", "Traversal"]
    assert [s.label for s in app.slider] == [f"Principal direction {k}" for k in range(1, 7)] + [
        "Along the class direction"
    ]
    base = lt.prior_latents(model, 1, 0)[0]
    assert close(inline(images(app.main)[0]), decoded(model, base, 280))
    next(s for s in app.slider if s.label == "Principal direction 1").set_value(3.0).run()
    assert not app.exception
    z = lt.parse_latent(app.code[0].value, 256)
    assert (z - base).abs().max() > 0.01
    shown = inline(images(app.main)[0])
    assert close(shown, decoded(model, z, 280)) and not close(shown, decoded(model, base, 280))


def first_of_classes(data, n: int) -> list[int]:
    """The number of the first test image of each of classes 0 to n - 1: the pages' default images."""
    return [int((data.labels == c).nonzero()[0]) for c in range(n)]


@pytest.mark.parametrize("name", NAMES)
def test_interpolate_draws_the_path_between_two_encoded_test_images(app, models, datasets, media, name):
    model = models[name]
    open_page(app, "views/interpolate.py", name)
    *_, strip = images(app.main)
    assert strip.captions[0] == "slerp strip of 8"
    ends = lt.encode_images(model, datasets[name].images[first_of_classes(datasets[name], 2)])  # the default ends
    zs = lt.interpolate(ends[0], ends[1], 8, "slerp", model.latent_scale()[0])
    assert close(pixels(media, strip), ui.tiled(lt.decode(model, zs), 8))


@pytest.mark.parametrize("name", NAMES)
def test_reconstruct_measures_the_models_reconstructions(app, models, datasets, name):
    model = models[name]
    open_page(app, "views/reconstruct.py", name)
    rows = app.dataframe[0].value
    assert list(rows["model"]) == [name] * 10  # a test image of each class; the other brought model takes others
    x = to_float(datasets[name].images[first_of_classes(datasets[name], 10)])
    assert list(rows["PSNR (dB)"]) == pytest.approx(psnr(model.reconstruct(x), x).tolist(), abs=1e-3)


@pytest.mark.parametrize(
    ("name", "scores"), [(MLP_VAE, ["reconstruction", "elbo"]), (DIFFUSERS_VAE, ["reconstruction"])]
)
def test_anomaly_offers_the_elbo_only_where_the_model_has_a_likelihood(app, models, datasets, name, scores):
    model = models[name]
    open_page(app, "views/anomaly.py", name)
    assert app.radio(key="anomaly_score").options == [
        {"reconstruction": "reconstruction error (MSE)", "elbo": "negative ELBO (nats)"}[s] for s in scores
    ]
    assert app.caption[0].value.startswith(
        f"Higher is more anomalous. Compared with 10,000 test images of `{DATASETS[name]}`"
    )
    table = app.dataframe[0].value  # most anomalous first, each image named "test-<number> (<class>)"
    by_image = dict(zip(table["image"].str.split().str[0], table["score"], strict=True))
    default = first_of_classes(datasets[name], 10)  # the page's default: the first test image of each class
    x = to_float(datasets[name].images[default])
    want = model.anomaly_score(x, "reconstruction", torch.Generator().manual_seed(0))
    assert [by_image[f"test-{i}"] for i in default] == pytest.approx(want.tolist(), rel=1e-4)
    if "elbo" in scores:
        app.radio(key="anomaly_score").set_value("elbo").run()
        assert not app.exception and not app.error
        # Nats of 784 Bernoulli pixels: far above any MSE of pixels in [0, 1].
        assert app.dataframe[0].value["score"].min() > 10


@pytest.mark.parametrize("name", NAMES)
def test_compare_lists_the_brought_models_row(app, name):
    open_page(app, "views/compare.py")
    app.selectbox(key="compare_dataset").set_value(DATASETS[name]).run()
    assert not app.exception and not app.error
    table = app.dataframe[0].value.set_index("model")
    assert list(table.index) == [name]  # the classifier beside it judges; it is no row
    assert table.loc[name, "kind"] == "onnx-vae"
    assert table.loc[name, "latent dims"] == {MLP_VAE: 20, DIFFUSERS_VAE: 256}[name]


# In Chromium ---------------------------------------------------------------------------------------------------

FRAME = "iframe[title*=genviz_decoder_canvas]"

# A canvas's picture of (h, w) image pixels drawn as square blocks: the centre of each block, (h, w, RGB).
BLOCKS = """(c, [h, w]) => {
  const s = c.height / h, d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data, out = [];
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let k = 0; k < 3; k++)
        out.push(d[4 * (Math.floor((y + 0.5) * s) * c.width + Math.floor((x + 0.5) * s)) + k]);
  return out;
}"""


def blocks(canvas, image_shape) -> np.ndarray:
    """The canvas's picture as int16 (H, W) for grey images, (H, W, 3) for colour ones."""
    c, h, w = image_shape
    got = np.array(canvas.evaluate(BLOCKS, [h, w]), dtype=np.int16).reshape(h, w, 3)
    return got[..., 0] if c == 1 else got


def eight_bit(model, z: torch.Tensor) -> np.ndarray:
    """The server's decode of one latent (D,) as the canvas holds it: 8 bits, (H, W) or (H, W, 3)."""
    return np.asarray(to_pil(lt.decode(model, z[None].float())[0]), dtype=np.int16)


@pytest.fixture(scope="module")
def server(checkpoints, tmp_path_factory):
    folder = tmp_path_factory.mktemp("served")
    env = {"GENVIZ_CHECKPOINTS": str(checkpoints), "GENVIZ_CACHE_DIR": str(folder / "cache")}
    with serve("genviz/app.py", env, log=folder / "streamlit.log") as running:
        yield running.url


@pytest.fixture
def page():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = chromium.new_page(viewport={"width": 1500, "height": 1100})
            page.set_default_timeout(180_000)
            expect.set_options(timeout=180_000)
            yield page
        finally:
            chromium.close()


def empty_spots(at: np.ndarray, box: dict, k: int = 2) -> list[np.ndarray]:
    """k page positions inside the map's hull and away from its toolbar and edges, each the centroid of a Delaunay
    triangle of the points' positions (N, 2), the k farthest from any point."""
    tri = Delaunay(at)
    centroids = at[tri.simplices].mean(axis=1)
    x, y = centroids[:, 0] - box["x"], centroids[:, 1] - box["y"]
    inside = (x > 20) & (x < box["width"] - 160) & (y > 60) & (y < box["height"] - 160)
    distance, _ = cKDTree(at).query(centroids)
    order = [i for i in np.argsort(-distance) if inside[i]][:k]
    assert len(order) == k and distance[order[-1]] > 4, "no empty space on the map"
    return [centroids[i] for i in order]


def preview_frames(preview) -> int:
    return int(preview.get_attribute("data-frames"))


@pytest.mark.browser
@needs_browser
@pytest.mark.parametrize("name", NAMES)
def test_the_map_draws_from_the_bundle_and_hovering_decodes_as_the_server_does(server, page, checkpoints, models, name):
    model, n = models[name], len(load_bundle(checkpoints / name).labels)
    page.goto(f"{server}/map?model={name}")
    frame = page.frame_locator(FRAME)
    canvas = frame.locator("[data-testid=map-canvas]")
    expect(canvas).to_have_attribute("data-points", str(n))
    assert int(canvas.get_attribute("data-draws")) > 0
    shot = np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("RGB")).astype(int)
    assert shot.std() > 5 and len(np.unique(shot.reshape(-1, 3), axis=0)) > 10, "the map is blank"
    box = canvas.bounding_box()
    at = np.array(frame.locator("body").evaluate(f"() => Array.from({{length: {n}}}, (_, i) => genvizMap.screenOf(i))"))
    at = at + [box["x"], box["y"]]
    preview = frame.locator("[data-testid=map-preview]")
    shown = []
    for spot in empty_spots(at, box):
        before = preview_frames(preview)
        page.mouse.move(float(spot[0]), float(spot[1]), steps=4)
        expect(preview).to_have_attribute("data-kind", "space")
        deadline = time.monotonic() + 120
        while preview_frames(preview) <= before:
            assert time.monotonic() < deadline, "the hover preview was not painted"
            time.sleep(0.05)
        z = torch.tensor([float(v) for v in preview.get_attribute("data-z").split(",")])
        picture = blocks(preview.locator("canvas"), model.image_shape)
        # The canvas holds 8-bit pixels: the browser's decode (onnxruntime-web) within one level of the server's.
        assert close(picture, eight_bit(model, z))
        shown.append(picture)
    assert not np.array_equal(shown[0], shown[1]), "two places on the map decoded to the same picture"
    expect(page.get_by_test_id("stException")).to_have_count(0)


@pytest.mark.browser
@needs_browser
@pytest.mark.parametrize("name", NAMES)  # the MLP VAE's first slider moves a dimension, the 256-dim one's a direction
def test_the_first_slider_redraws_while_dragged(server, page, models, name):
    model = models[name]
    page.goto(f"{server}/sliders?model={name}")
    frame = page.frame_locator(FRAME)
    canvas = frame.locator("canvas[data-testid=live-canvas]")
    expect(canvas).to_be_visible()
    wait_for_frame(canvas, 0)
    expect(page.get_by_test_id("stSlider")).to_have_count(0)  # the component's sliders, not Streamlit's
    code = page.get_by_test_id("stCode").filter(has_text="[").last
    start = code.inner_text()
    assert close(blocks(canvas, model.image_shape), eight_bit(model, lt.parse_latent(start, model.latent_dim)))

    seen = drag_slider(page, frame.get_by_role("slider").first, canvas)
    assert len(seen) >= 3, "the canvas did not redraw during the drag"
    assert code.inner_text() == start  # Python hears of it on release
    page.mouse.up()
    expect(code).not_to_have_text(start)
    moved = lt.parse_latent(code.inner_text(), model.latent_dim)
    assert close(blocks(canvas, model.image_shape), eight_bit(model, moved))
    expect(page.get_by_test_id("stException")).to_have_count(0)


# A page with nothing but the component decoding one model's latents, as tests/test_component.py checks the shipped
# models; it writes what the browser reported (the decoded floats among it) beside that model's files.
PARITY = """import json, sys
from pathlib import Path
import numpy as np
import streamlit as st
sys.path.insert(0, {root!r})
from genviz.component import decoder_canvas

folder = Path({folder!r}) / st.query_params["model"]
shape = json.loads((folder / "shape.json").read_text())
result = decoder_canvas((folder / "decoder.onnx").read_bytes(), np.load(folder / "z.npy"), shape, scale=1,
                        report_pixels=True, key="canvas")
if result is not None:
    if "pixels" in result:
        np.save(folder / "pixels.npy", result.pop("pixels"))
    (folder / "report.json").write_text(json.dumps(result))
    st.write("reported")
"""


@pytest.fixture(scope="module")
def parity(models, tmp_path_factory):
    """(server URL, folder, the server's decode of 64 prior latents per model)."""
    folder = tmp_path_factory.mktemp("parity")
    want = {}
    for name, model in models.items():
        (folder / name).mkdir()
        z = lt.prior_latents(model, 64, seed=0).float()
        want[name] = model.decode(z).numpy()
        (folder / name / "decoder.onnx").write_bytes(decoder_onnx(model))  # the brought graph, as the app sends it
        (folder / name / "shape.json").write_text(json.dumps(list(model.image_shape)))
        np.save(folder / name / "z.npy", z.numpy())
    (folder / "app.py").write_text(PARITY.format(root=str(ROOT), folder=str(folder)))
    with serve(folder / "app.py", log=folder / "streamlit.log") as running:
        yield running.url, folder, want


@pytest.mark.browser
@needs_browser
@pytest.mark.parametrize("name", NAMES)
def test_the_browser_decodes_as_the_server_within_1e_3(parity, page, models, name):
    url, folder, want = parity
    page.goto(f"{url}/?model={name}")
    page.get_by_text("reported").wait_for()
    report = json.loads((folder / name / "report.json").read_text())
    assert report["ok"] is True and report["n"] == 64, report
    got = np.load(folder / name / "pixels.npy")  # the decoder's float32 output, before any canvas
    assert got.shape == want[name].shape == (64, *models[name].image_shape)
    assert np.abs(got - want[name]).max() <= 1e-3
