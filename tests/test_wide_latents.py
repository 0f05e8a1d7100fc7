"""The Latent sliders page on latents of any width: a slider per dimension up to ui.sliders.MAX_SLIDERS (64), and
past it (a brought model's (4, 8, 8) latent is 256) the principal and class directions only, a line saying why,
and a traversal row along a principal direction, drawn by the server (AppTest) and by the browser (Playwright).

The checkpoints are real runs of one epoch on 2,048 MNIST images (under a second each): a decoder that has
learnt something, so that its pictures move along a direction (a freshly initialised one's barely do).
"""

import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from genviz import latent as lt
from genviz import ui
from genviz.checkpoint import load_model
from genviz.data import to_float
from genviz.training import train_run
from genviz.ui import sliders as sl
from support.apptest import images, open_page
from support.browser import CHROMIUM, FLAGS, drag_slider, missing_browser, serve, wait_for_frame
from support.runs import tiny_config

WIDE = 80  # past MAX_SLIDERS
STEPS = 7  # pictures in the traversal row


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """mnist-ae80 (too wide for dimension sliders), mnist-ae20 and mnist-vae48 (a VAE ranks its dimensions)."""
    root = tmp_path_factory.mktemp("wide")
    for family, dim in (("ae", WIDE), ("ae", 20), ("vae", 48)):
        name = f"mnist-{family}{dim}"
        train_run(tiny_config(root / "checkpoints" / name, root / f"run-{name}", family, 1, latent_dim=dim))
    return root / "checkpoints"


@pytest.fixture
def wide_app(checkpoints, tmp_path, monkeypatch):
    monkeypatch.setattr(ui, "CHECKPOINTS", [checkpoints])
    monkeypatch.setenv("GENVIZ_CACHE_DIR", str(tmp_path / "cache"))
    return AppTest.from_file("../genviz/app.py", default_timeout=120)


def decoded(app) -> np.ndarray:
    """The page's decode (an inline PNG, 10 screen pixels a pixel) as its (28, 28) uint8 pixels."""
    (url,) = images(app.main)[0].value
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))), dtype=np.int16)[::10, ::10]


def row(app, media) -> np.ndarray:
    """The traversal row's pictures (7, 28, 28): genviz.pictures.grid's layout (2 px of padding) scaled up whole."""
    picture = np.asarray(Image.open(io.BytesIO(media(images(app.main)[-1].value[0]))), dtype=np.int16)
    scale = picture.shape[1] // (STEPS * 30 + 2)
    assert picture.shape[1] == (STEPS * 30 + 2) * scale
    return np.stack([picture[2 * scale :: scale, (2 + 30 * j) * scale :: scale][:28, :28] for j in range(STEPS)])


def row_caption(app) -> str:
    return images(app.main)[-1].captions[0]


def picture(canvas) -> str:
    return canvas.evaluate("c => c.toDataURL()")


# A live canvas's pictures of 28 x 28 pixels, side by side, each pixel a block of scale x scale: the centre of each.
TILES = """c => {
  const s = c.height / 28, n = Math.round(c.width / (28 * s)), out = [];
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  for (let j = 0; j < n; j++)
    for (let y = 0; y < 28; y++)
      for (let x = 0; x < 28; x++)
        out.push(d[4 * (Math.floor((y + 0.5) * s) * c.width + Math.floor((28 * j + x + 0.5) * s))]);
  return out;
}"""


def tiles(canvas) -> np.ndarray:
    """The canvas's pictures (n, 28, 28), grey levels."""
    return np.array(canvas.evaluate(TILES), dtype=np.int16).reshape(-1, 28, 28)


def traverses(row: np.ndarray, shown: np.ndarray) -> bool:
    """A traversal row (7, 28, 28) of the latent shown (28, 28): the picture shown in its middle, others at its ends."""
    return close(row[3], shown) and np.abs(row[0] - row[-1]).max() > 10


def close(a: np.ndarray, b: np.ndarray) -> bool:
    """Pictures equal up to one grey level: the same latent reached by float32 sums in another order."""
    return np.abs(a - b).max() <= 1


def test_dimension_sliders_end_at_64_dimensions():
    order = torch.arange(64).flip(0)
    assert sl.slider_dims(order) == order.tolist()
    assert sl.slider_dims(torch.arange(65)) == []
    assert "256 dimensions: too many to move one by one" in sl.why_no_dims(256)


@pytest.mark.slow
def test_a_wide_latent_moves_along_directions_and_its_row_traverses_one(wide_app, media):
    app = open_page(wide_app, "views/sliders.py", f"mnist-ae{WIDE}")
    assert any(f"latent has {WIDE} dimensions: too many to move one by one" in c.value for c in app.caption)
    assert [t.label for t in app.tabs] == ["Directions", "Traversal"]
    assert [s.label for s in app.slider] == [f"Principal direction {k}" for k in range(1, 7)] + [
        "Along the class direction"
    ]
    choice = app.selectbox(key=f"trav-{app.session_state['slider_gen']}")
    assert choice.label == "Traversal of principal direction" and choice.options[:2] == [
        "Principal direction 1",
        "Principal direction 2",
    ]
    assert row_caption(app).startswith("Principal direction 1: this latent moved -3 to +3 of its spread")
    start, first = decoded(app), row(app, media)
    assert traverses(first, start)

    # One spread along direction 1 moves the latent by one step of its row: the row shifts by one picture.
    next(s for s in app.slider if s.label == "Principal direction 1").set_value(1.0).run()
    assert not app.exception
    moved, shifted = decoded(app), row(app, media)
    assert not close(moved, start) and close(moved, first[4])
    assert all(close(shifted[j], first[j + 1]) for j in range(STEPS - 1))

    choice.set_value(1).run()  # principal direction 2
    assert not app.exception
    assert row_caption(app).startswith("Principal direction 2: ")
    other = row(app, media)
    assert close(other[3], moved) and np.abs(other[0] - shifted[0]).max() > 10


@pytest.mark.slow
@pytest.mark.parametrize(("name", "dim"), [("mnist-ae20", 20), ("mnist-vae48", 48)])
def test_every_dimension_up_to_64_gets_a_slider_in_the_models_order(wide_app, checkpoints, mnist_test, name, dim):
    app = open_page(wide_app, "views/sliders.py", name)
    model = load_model(checkpoints / name, "cpu")
    order = model.dimension_order(lambda: to_float(mnist_test.sample(ui.SAMPLE).images)).tolist()
    assert sorted(order) == list(range(dim))
    # Four columns, filled row by row with the dimensions in the model's order: column c holds order[c::4].
    assert [s.label for s in app.slider if s.label.startswith("z[")] == [
        f"z[{d}]" for c in range(4) for d in order[c::4]
    ]
    assert [t.label for t in app.tabs] == ["Dimensions", "Directions", "Traversal"]
    assert not any("too many to move one by one" in c.value for c in app.caption)
    assert app.selectbox(key=f"trav-{app.session_state['slider_gen']}").label == "Traversal of dimension"
    assert row_caption(app).startswith(f"z[{order[0]}] from ") and "(-3 to +3 sigma)" in row_caption(app)
    slider = next(s for s in app.slider if s.label == f"z[{order[-1]}]")  # the last one
    slider.set_value(slider.max).run()
    assert lt.parse_latent(app.code[0].value, dim)[order[-1]].item() == pytest.approx(slider.max, abs=1e-4)


MISSING = missing_browser()


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(bool(MISSING), reason=MISSING or "")
def test_a_direction_slider_of_a_wide_latent_redraws_while_dragging(checkpoints, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    env = {"GENVIZ_CHECKPOINTS": str(checkpoints), "GENVIZ_CACHE_DIR": str(tmp_path / "cache")}
    with serve("genviz/app.py", env, log=tmp_path / "streamlit.log") as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.set_default_timeout(120_000)
        expect.set_options(timeout=120_000)
        page.goto(f"{server.url}/sliders?model=mnist-ae{WIDE}")
        frame = page.frame_locator("iframe[title*=genviz_decoder_canvas]")
        canvas = frame.locator("canvas[data-testid=live-canvas]")
        expect(canvas).to_be_visible()
        wait_for_frame(canvas, 0)
        expect(page.get_by_text(f"latent has {WIDE} dimensions: too many")).to_be_visible()
        names = [s.evaluate("e => e.labels[0].textContent") for s in frame.get_by_role("slider").all()]
        assert names == [f"Principal direction {k}" for k in range(1, 7)] + ["Along the class direction"]
        traversal = frame.locator("canvas[data-testid=live-traversal]")
        expect(traversal).to_be_visible()
        assert traversal.evaluate("c => c.width") == STEPS * 28 * 3
        expect(frame.locator("figcaption")).to_contain_text("Principal direction 1: this latent moved")
        code = page.get_by_test_id("stCode").filter(has_text="[").last
        start = code.inner_text()
        assert frame.locator(".latent").inner_text() == start
        assert traverses(tiles(traversal), tiles(canvas)[0])

        row = picture(traversal)
        seen = drag_slider(page, frame.get_by_role("slider", name="Principal direction 1", exact=True), canvas)
        assert len(seen) >= 3, "the canvas did not redraw during the drag"
        assert picture(traversal) != row and traverses(tiles(traversal), tiles(canvas)[0])  # in the same decode
        assert code.inner_text() == start  # Python hears nothing before the release
        page.mouse.up()
        expect(code).not_to_have_text(start)
        assert frame.locator(".latent").inner_text() == code.inner_text()
        expect(page.get_by_test_id("stException")).to_have_count(0)
        browser.close()
