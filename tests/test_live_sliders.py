"""The Latent sliders page's live sliders in a real browser: the shipped mnist-vae's decoder runs in the page
(onnxruntime-web), the canvas redraws while the hand is still dragging a range input, and the value reaches
Python when it lets go. Without WebAssembly the page says so and falls back to the server's sliders.

Skipped when Chromium or Playwright is missing, unless GENVIZ_REQUIRE_BROWSER=1.
"""

import pytest

from genviz import latent as lt
from genviz.checkpoint import load_model
from genviz.export import decoder_onnx
from support.browser import CHROMIUM, FLAGS, frames, missing_browser, serve, wait_for_frame

MISSING = missing_browser()
pytestmark = [pytest.mark.skipif(bool(MISSING), reason=MISSING or ""), pytest.mark.browser, pytest.mark.slow]
if not MISSING:
    from playwright.sync_api import expect, sync_playwright

FRAME = "iframe[title*=genviz_decoder_canvas]"
CANVAS = "canvas[data-testid=live-canvas]"
LATENT_DIM = 16  # checkpoints/mnist-vae


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("live")
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


def python_latent(page) -> str:
    """The latent as the page's Python side shows it (st.code under the component)."""
    return latent_code(page).inner_text()


def latent_code(page):
    return page.get_by_test_id("stCode").filter(has_text="[").last


def pixels(canvas) -> str:
    return canvas.evaluate("c => c.toDataURL()")


def test_the_live_slider_redraws_while_dragging_and_python_gets_the_value_on_release(server, page):
    page.goto(f"{server}/sliders?model=mnist-vae")
    frame = page.frame_locator(FRAME)
    canvas = frame.locator(CANVAS)
    expect(canvas).to_be_visible()
    wait_for_frame(canvas, 0)
    # Only the component's controls: Streamlit's own sliders are gone.
    expect(page.get_by_test_id("stSlider")).to_have_count(0)
    start_text = python_latent(page)
    start_z = lt.parse_latent(start_text, LATENT_DIM)
    assert frame.locator(".latent").inner_text() == start_text  # the browser's z is Python's
    traversal = frame.locator("canvas[data-testid=live-traversal]")
    expect(traversal).to_be_visible()
    assert traversal.evaluate("c => c.width") == 7 * 28 * 3  # seven decodes of 28 px, 3 px a pixel

    slider = frame.get_by_role("slider").first  # a dimension: role and name from its <label for>
    name = slider.evaluate("e => e.labels[0].textContent")
    d = int(name.removeprefix("z[").removesuffix("]"))
    expect(frame.get_by_role("slider", name=name, exact=True)).to_have_count(1)

    # Drag with the mouse: pixels change while the button is still down, and Python hears nothing yet.
    before, count = pixels(canvas), frames(canvas)
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 4, y)
    page.mouse.down()
    seen = {before}
    for i in range(1, 6):
        page.mouse.move(box["x"] + 4 + i * (box["width"] - 8) / 5, y, steps=3)
        wait_for_frame(canvas, count)
        count = frames(canvas)
        seen.add(pixels(canvas))
    during = len(seen)
    assert during >= 3, "the canvas did not redraw during the drag"
    assert python_latent(page) == start_text  # not sent before release
    page.mouse.up()
    expect(latent_code(page)).not_to_have_text(start_text)
    moved = lt.parse_latent(python_latent(page), LATENT_DIM)
    assert moved[d].item() == pytest.approx(float(slider.input_value()), abs=1e-3)
    assert moved[d].item() != pytest.approx(start_z[d].item(), abs=1e-3)
    others = [i for i in range(LATENT_DIM) if i != d]
    assert moved[others].tolist() == pytest.approx(start_z[others].tolist(), abs=1e-4)
    assert frame.locator(".latent").inner_text() == python_latent(page)

    # The keyboard: each arrow key redraws and (on its change event) reaches Python.
    after_drag, count = python_latent(page), frames(canvas)
    shown = pixels(canvas)
    slider.focus()
    for _ in range(5):
        page.keyboard.press("ArrowLeft")
    wait_for_frame(canvas, count)
    expect(latent_code(page)).not_to_have_text(after_drag)
    assert pixels(canvas) != shown

    # Another dimension moves the traversal row (of the first dimension) too, in the same decode.
    row, count = pixels(traversal), frames(canvas)
    frame.get_by_role("slider").nth(1).focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    wait_for_frame(canvas, count)
    assert pixels(traversal) != row
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_without_webassembly_the_page_says_so_and_keeps_the_server_sliders(server, page):
    page.add_init_script("delete globalThis.WebAssembly")
    page.goto(f"{server}/sliders?model=mnist-vae")
    expect(page.get_by_text("The sliders decode on the server")).to_contain_text("WebAssembly")
    slider = page.locator("[data-testid=stSlider] input[type=range]").first
    expect(slider).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_the_browser_keeps_the_decoder_and_the_runtime_and_gets_neither_again(server, page):
    """The decoder crosses the websocket once per browser, and the runtime's WASM is fetched once: a reload
    finds both in the browser's store (IndexedDB)."""
    size = len(decoder_onnx(load_model("checkpoints/mnist-vae", "cpu")))
    fetched, received = [], []
    page.on("request", lambda r: fetched.append(r.url))
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: received.append(len(f))))
    for visit in ("first", "again"):
        fetched.clear()
        received.clear()
        page.goto(f"{server}/sliders?model=mnist-vae")
        canvas = page.frame_locator(FRAME).locator(CANVAS)
        expect(canvas).to_be_visible()
        wait_for_frame(canvas, 0)
        wasm = [url for url in fetched if url.endswith(".wasm")]
        if visit == "first":
            assert len(wasm) == 1 and sum(received) > size  # the decoder came over the websocket
        else:
            assert wasm == [] and sum(received) < size / 4  # neither came again
    assert frame_text(page) == python_latent(page)


def frame_text(page) -> str:
    return page.frame_locator(FRAME).locator(".latent").inner_text()
