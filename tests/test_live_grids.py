"""The Sample and Interpolate pages' live grids in a real browser: the temperature or truncation control and the
interpolation's path and step count recompute the latents in the page and redraw the grid while they move, the
pixels are torch's (within one 8-bit level), and Python gets the values on release (the URL shows them).

Skipped when Chromium or Playwright is missing, unless GENVIZ_REQUIRE_BROWSER=1.
"""

import re
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
import torch

from genviz import latent as lt
from genviz.checkpoint import load_model
from genviz.data import load_dataset
from genviz.pictures import grid
from genviz.ui.widgets import strip_row
from support.browser import CHROMIUM, FLAGS, frames, missing_browser, serve, wait_for_frame

MISSING = missing_browser()
pytestmark = [pytest.mark.skipif(bool(MISSING), reason=MISSING or ""), pytest.mark.browser, pytest.mark.slow]
if not MISSING:
    from playwright.sync_api import expect, sync_playwright

FRAME = "iframe[title*=genviz_decoder_canvas]"
CANVAS = "canvas[data-testid=live-grid]"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("grids")
    with serve("genviz/app.py", {"GENVIZ_CACHE_DIR": str(folder / "cache")}, log=folder / "streamlit.log") as running:
        yield running.url


@pytest.fixture
def page(server):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.set_default_timeout(120_000)
            expect.set_options(timeout=120_000)
            yield page
        finally:
            browser.close()


def drawn(canvas, columns: int, image: int) -> np.ndarray:
    """The canvas's pixels at the centre of each image pixel: (rows * image, columns * image, 3) uint8, as seen on
    the page's white (a wrapped strip's last row leaves its empty places transparent, as the server's are white)."""
    rgba = canvas.evaluate("""c => Array.from(c.getContext("2d").getImageData(0, 0, c.width, c.height).data)""")
    height, width = canvas.evaluate("c => [c.height, c.width]")
    values = np.array(rgba, dtype=np.float64).reshape(height, width, 4)
    alpha = values[..., 3:] / 255
    pixels = np.round(values[..., :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    scale = width // (columns * image)
    return pixels[scale // 2 :: scale, scale // 2 :: scale]


def torch_drawn(model, z: torch.Tensor, columns: int) -> np.ndarray:
    """The same grid decoded by torch, without padding, as 8-bit RGB."""
    return np.asarray(grid(lt.decode(model, z), nrow=columns, padding=0).convert("RGB"))


def url_value(page, name: str) -> str | None:
    return parse_qs(urlparse(page.url).query).get(name, [None])[0]


def drag(page, slider, canvas, to: float) -> set[str]:
    """Drag `slider` with the mouse from its left end to the fraction `to` of its width; the pictures seen while
    the button was down (one per step)."""
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 3, y)
    page.mouse.down()
    seen, count = set(), frames(canvas)
    for i in range(1, 6):
        page.mouse.move(box["x"] + 3 + i * to * (box["width"] - 6) / 5, y, steps=2)
        wait_for_frame(canvas, count)
        count = frames(canvas)
        seen.add(canvas.evaluate("c => c.toDataURL()"))
    return seen


def test_sample_grid_follows_truncation_while_dragging_and_matches_torch(server, page):
    model = load_model("checkpoints/mnist-vae", "cpu")
    page.goto(f"{server}/sample?model=mnist-vae&seed=7&grid=12&control=Truncation")
    frame = page.frame_locator(FRAME)
    canvas = frame.locator(CANVAS)
    expect(canvas).to_be_visible()
    wait_for_frame(canvas, 0)
    expect(page.get_by_text("Truncation threshold (sigmas)")).to_have_count(0)  # the server's slider is gone
    slider = frame.get_by_role("slider", name="Truncation threshold (sigmas)")
    expect(frame.locator("figcaption")).to_contain_text("144 samples")
    # 144 latents, truncated at 1 sigma in the browser: torch's pixels within one 8-bit level.
    z = lt.prior_latents(model, 144, 7, truncation=1.0)
    assert np.abs(drawn(canvas, 12, 28).astype(int) - torch_drawn(model, z, 12)).max() <= 1

    seen = drag(page, slider, canvas, 0.4)
    assert len(seen) >= 3, "the grid did not redraw during the drag"
    assert url_value(page, "truncation") == "1.0"  # Python has not heard yet
    page.mouse.up()
    expect(page).to_have_url(re.compile(r"truncation=(?!1\.0\b)"))
    value = float(url_value(page, "truncation"))
    assert value == pytest.approx(float(slider.input_value()))
    expect(frame.locator("figcaption")).to_contain_text(f"truncated at {slider.input_value()} sigma")
    z = lt.prior_latents(model, 144, 7, truncation=value)
    assert np.abs(drawn(canvas, 12, 28).astype(int) - torch_drawn(model, z, 12)).max() <= 1

    # Temperature, by keyboard: each key press redraws and reaches Python.
    page.get_by_text("Temperature", exact=True).click()
    slider = frame.get_by_role("slider", name="Temperature (latent scale)")
    expect(slider).to_be_visible()
    count = frames(canvas)
    slider.focus()
    page.keyboard.press("ArrowLeft")
    wait_for_frame(canvas, count)
    expect(page).to_have_url(re.compile(r"temperature=0\.9"))
    z = lt.prior_latents(model, 144, 7, temperature=0.9)
    assert np.abs(drawn(canvas, 12, 28).astype(int) - torch_drawn(model, z, 12)).max() <= 1
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_a_conditional_vae_grid_is_of_the_class_chosen_in_the_browser_too(server, page):
    """The browser draws the chosen class's latents from the model's latent_scale(class), as torch's prior does."""
    model = load_model("checkpoints/mnist-cvae", "cpu")
    page.goto(f"{server}/sample?model=mnist-cvae&seed=3&grid=6&control=Truncation&truncation=0.8&class=4")
    canvas = page.frame_locator(FRAME).locator(CANVAS)
    expect(canvas).to_be_visible()
    wait_for_frame(canvas, 0)
    expect(page.frame_locator(FRAME).locator("figcaption")).to_contain_text("36 samples of class 4 of CVAE")
    z = lt.prior_latents(model, 36, 3, truncation=0.8, label=4)
    assert np.abs(drawn(canvas, 6, 28).astype(int) - torch_drawn(model, z, 6)).max() <= 1
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_a_progans_grid_decodes_in_the_browser_as_torch_does_and_offers_no_temperature(server, page):
    """The grown generator's ONNX (its last stage, traced) in onnxruntime-web; its generator ignores z's length, so
    the page offers truncation only."""
    model = load_model("checkpoints/mnist-progan", "cpu")
    page.goto(f"{server}/sample?model=mnist-progan&seed=3&grid=6&truncation=0.8")
    canvas = page.frame_locator(FRAME).locator(CANVAS)
    expect(canvas).to_be_visible()
    wait_for_frame(canvas, 0)
    expect(page.frame_locator(FRAME).locator("figcaption")).to_contain_text("36 samples of PROGAN")
    z = lt.prior_latents(model, 36, 3, truncation=0.8)
    assert np.abs(drawn(canvas, 6, 28).astype(int) - torch_drawn(model, z, 6)).max() <= 1
    expect(page.get_by_text("Temperature", exact=True)).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_interpolation_path_and_steps_redraw_while_moving_and_match_torch(server, page):
    model = load_model("checkpoints/mnist-vae", "cpu")
    centre, _ = model.latent_scale()
    # The page's default ends: the first test image of class 0 and of class 1, encoded.
    mnist = load_dataset("mnist", "test")
    a, b = lt.encode_images(model, mnist.images[[int((mnist.labels == c).nonzero()[0]) for c in (0, 1)]])
    page.goto(f"{server}/interpolate?model=mnist-vae&steps=6")
    page.get_by_label("Class").first.wait_for()
    frame = page.frame_locator(FRAME)
    canvas = frame.locator(CANVAS)
    expect(canvas).to_be_visible()
    wait_for_frame(canvas, 0)
    expect(frame.locator("figcaption")).to_have_text("slerp strip of 6")
    expect(page.get_by_test_id("stSlider")).to_have_count(0)

    linear = frame.get_by_role("radio", name="Linear")
    count = frames(canvas)
    linear.check()
    wait_for_frame(canvas, count)
    expect(page).to_have_url(re.compile(r"path=linear"))
    expect(frame.locator("figcaption")).to_have_text("linear strip of 6")

    slider = frame.get_by_role("slider", name="Steps")
    seen = drag(page, slider, canvas, 0.5)
    assert len(seen) >= 3, "the strip did not redraw during the drag"
    page.mouse.up()
    expect(page).to_have_url(re.compile(r"steps=(?!6\b)"))
    steps = int(url_value(page, "steps"))
    assert steps == int(slider.input_value())
    expect(frame.locator("figcaption")).to_have_text(f"linear strip of {steps}")
    z = lt.interpolate(a, b, steps, "linear", centre)
    row = strip_row(steps)  # a strip longer than 8 wraps into rows, as the server's does
    assert np.abs(drawn(canvas, row, 28).astype(int) - torch_drawn(model, z, row)).max() <= 1

    # Slerp, by keyboard, and one step fewer.
    frame.get_by_role("radio", name="Spherical (slerp)").check()
    count = frames(canvas)
    slider.focus()
    page.keyboard.press("ArrowLeft")
    wait_for_frame(canvas, count)
    expect(page).to_have_url(re.compile(rf"steps={steps - 1}\b"))
    expect(page).to_have_url(re.compile(r"path=slerp"))
    z = lt.interpolate(a, b, steps - 1, "slerp", centre)
    row = strip_row(steps - 1)
    assert np.abs(drawn(canvas, row, 28).astype(int) - torch_drawn(model, z, row)).max() <= 1
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_without_webassembly_the_sample_and_interpolate_pages_decode_on_the_server(server, page):
    page.add_init_script("delete globalThis.WebAssembly")
    page.goto(f"{server}/sample?model=mnist-vae&grid=4")
    expect(page.get_by_text("The samples decode on the server")).to_contain_text("WebAssembly")
    # A rerun (the page writes its choices into the address) can show the last run's picture beside the new one for a
    # moment: wait until one is left.
    grid = page.get_by_test_id("stImage").filter(has_text="16 samples")
    expect(grid).to_have_count(1)
    expect(grid).to_be_visible()
    expect(page.get_by_test_id("stSlider").filter(has_text="Temperature")).to_be_visible()
    page.goto(f"{server}/interpolate?model=mnist-vae&steps=5")
    expect(page.get_by_text("The path decodes on the server")).to_contain_text("WebAssembly")
    strip = page.get_by_test_id("stImage").filter(has_text="slerp strip of 5")
    expect(strip).to_have_count(1)
    expect(strip).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)
