"""The app in a real browser: Debian's Chromium driven by Playwright against a live `streamlit run`.

Skipped when Chromium or Playwright is missing, unless GENVIZ_REQUIRE_BROWSER=1 (set by .ci/run),
which turns a missing browser into a failure. Screenshots go to tests/artifacts/.
"""

import io
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from PIL import Image

from support.browser import CHROMIUM, FLAGS, missing_browser, served_app
from support.probes import PLOTLY_EMPTY_SPOT

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
IMAGE = "[data-testid=stMain] [data-testid=stImage] img"  # not the sidebar card's loss curve

MISSING = missing_browser()
pytestmark = [pytest.mark.skipif(bool(MISSING), reason=MISSING or ""), pytest.mark.browser, pytest.mark.slow]
if not MISSING:
    from playwright.sync_api import expect, sync_playwright


@pytest.fixture(scope="module")
def server(trained, tmp_path_factory):
    """The app's URL, served over copies of the session's trained checkpoints, decoding on the server (these tests
    read Streamlit's pictures; the live component, which replaces them once it has drawn, has its own tests)."""
    with served_app(trained, tmp_path_factory.mktemp("browser"), {"GENVIZ_BROWSER_DECODE": "0"}) as running:
        yield running.url


@pytest.fixture(scope="module")
def browser():
    ARTIFACTS.mkdir(exist_ok=True)
    expect.set_options(timeout=120_000)  # a decode after UMAP's inverse can take seconds on a busy CPU
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.set_default_timeout(120_000)  # the first map compiles UMAP; shared CI machines are slow
    yield page
    page.close()


def settled(page) -> None:
    """Wait until Streamlit has finished its run (its status widget says 'Running' while busy)."""
    page.wait_for_timeout(300)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=120_000)


def image_src(page, caption: str | None = None) -> str:
    images = page.locator(IMAGE)
    if caption:
        images = page.locator("[data-testid=stImage]", has_text=caption).locator("img")
    images.first.wait_for()
    return images.first.get_attribute("src")


PLOTTED = ".js-plotly-plot .scatterlayer .trace .points path"
PAGES = [
    ("", "genviz", IMAGE),
    ("map", "Latent map", PLOTTED),
    ("sample", "Sample", IMAGE),
    ("sliders", "Latent sliders", "[data-testid=stSlider]"),
    ("interpolate", "Interpolate", PLOTTED),
    ("reconstruct", "Reconstruct and denoise", IMAGE),
    ("anomaly", "Anomaly detection", ".js-plotly-plot .barlayer"),
]


def test_every_page_opens_with_its_pictures(server, page):
    for path, heading, shown in PAGES:
        page.goto(f"{server}/{path}")
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        settled(page)
        page.locator(shown).first.wait_for()
        expect(page.get_by_test_id("stException")).to_have_count(0)
        page.screenshot(path=ARTIFACTS / f"{path or 'home'}.png", full_page=True)


def test_a_slider_redraws_the_decoded_image(server, page):
    """The sliders as the server draws them (tests/test_live_sliders.py has the browser's): key presses on the
    first dimension's slider change the latent and redraw its decode."""
    page.goto(f"{server}/sliders")
    settled(page)
    latent = page.get_by_test_id("stCode").filter(has_text="[").last
    before, pixels = latent.inner_text(), image_src(page, "decoded")
    page.locator("[data-testid=stMain] [data-testid=stSlider] input[type=range]").first.focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    settled(page)
    expect(latent).not_to_have_text(before)
    assert image_src(page, "decoded") != pixels
    page.screenshot(path=ARTIFACTS / "sliders-moved.png", full_page=True)


def test_a_new_seed_draws_a_new_sample_grid(server, page):
    page.goto(f"{server}/sample")
    settled(page)
    before = image_src(page)
    page.get_by_role("button", name="New seed").click()
    settled(page)
    expect(page.locator(IMAGE).first).not_to_have_attribute("src", before)


def test_clicking_the_map_decodes_a_point_and_empty_space(server, page):
    page.goto(f"{server}/map")
    settled(page)
    data_points = page.locator(".js-plotly-plot .scatterlayer .trace:nth-child(2) .points path")
    data_points.first.wait_for()
    data_points.nth(3).click(force=True)
    settled(page)
    reconstruction = image_src(page, "reconstruction")
    expect(page.get_by_text("test image", exact=True)).to_be_visible()
    # Empty space: a clickable grid spot far from every point, near the plot's centre.
    spot = page.evaluate(PLOTLY_EMPTY_SPOT)
    assert spot, "the map has no empty space to click"
    page.mouse.click(*spot)
    settled(page)
    expect(page.get_by_text("Decoded at", exact=False)).to_be_visible()
    decoded = image_src(page, "inverse of the clicked spot")
    assert decoded != reconstruction
    page.screenshot(path=ARTIFACTS / "map-clicked.png", full_page=True)


def test_an_uploaded_png_is_reconstructed_beside_a_refused_file(server, page, mnist_test, tmp_path):
    drawn = tmp_path / "drawn-seven.png"  # a test digit as drawn on paper: dark ink on white, 112 px
    Image.fromarray(255 - mnist_test.images[0, 0].numpy()).resize((112, 112)).save(drawn)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    page.goto(f"{server}/reconstruct")
    settled(page)
    page.get_by_text("Upload", exact=True).click()  # the page opens on test images
    settled(page)
    page.locator("[data-testid=stFileUploader] input[type=file]").set_input_files([str(drawn), str(broken)])
    settled(page)
    expect(page.locator("[data-testid=stImage]", has_text="drawn-seven.png").locator("img")).to_be_visible()
    reconstruction = page.locator("[data-testid=stImage]", has_text="mnist-vae").locator("img")
    expect(reconstruction).to_be_visible()
    assert reconstruction.evaluate("img => img.complete && img.naturalWidth") == 112
    expect(page.get_by_test_id("stAlertContentError")).to_contain_text("broken.png")
    expect(page.get_by_test_id("stException")).to_have_count(0)
    page.screenshot(path=ARTIFACTS / "reconstruct-upload.png", full_page=True)


def test_file_names_are_shown_as_text_never_as_markup(server, page, mnist_test):
    """Markdown and HTML in an upload's name stay literal: no link, image, emphasis or script from it."""
    drawn = io.BytesIO()
    Image.fromarray(255 - mnist_test.images[1, 0].numpy()).save(drawn, format="PNG")
    shown = "![t](http://127.0.0.1:9/track.png) **bold** <b>tag</b> :red[red] www.example.com me@example.com.png"
    refused = "[click](javascript:alert(1)) <img src=x onerror=alert(1)>.png"
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{server}/reconstruct")
    settled(page)
    page.get_by_text("Upload", exact=True).click()  # the page opens on test images
    settled(page)
    page.locator("[data-testid=stFileUploader] input[type=file]").set_input_files(
        [
            {"name": shown, "mimeType": "image/png", "buffer": drawn.getvalue()},
            {"name": refused, "mimeType": "image/png", "buffer": b"\x89PNG\r\n\x1a\n" + bytes(100)},
        ]
    )
    settled(page)
    caption = page.locator("[data-testid=stImage]", has_text="**bold**")
    expect(caption).to_have_count(1)
    assert shown in caption.inner_text().replace("\u2060", "")  # word joiners keep addresses from turning into links
    expect(page.get_by_test_id("stAlertContentError")).to_contain_text(refused)
    main = page.get_by_test_id("stMain")
    markup = "a[href^='http'], a[href^='mailto'], a[href^='javascript'], img[src='x'], img[src*='track']"
    assert main.locator(markup).count() == 0
    # The notes name each file in bold; nothing in a name makes an element of its own.
    texts = main.evaluate("m => [...m.querySelectorAll('*')].map(e => e.textContent.trim())")
    assert not {"bold", "tag", "red", "click", "t"} & set(texts)
    assert main.locator("[data-testid=stExpander]").inner_text().count("**bold**") == 1  # the conversion notes
    assert not dialogs
    page.screenshot(path=ARTIFACTS / "hostile-names.png", full_page=True)


def test_a_long_interpolation_strip_fits_the_page(server, page):
    """32 steps: the strip is drawn inside the page's main column, its last frame on screen."""
    page.goto(f"{server}/interpolate?model=mnist-vae&steps=32")
    settled(page)
    strip = page.locator("[data-testid=stImage]", has_text="strip of 32").locator("img")
    expect(strip).to_be_visible()
    box, main = strip.bounding_box(), page.get_by_test_id("stMainBlockContainer").bounding_box()
    assert main["x"] - 1 <= box["x"] and box["x"] + box["width"] <= main["x"] + main["width"] + 1
    assert box["x"] + box["width"] <= page.viewport_size["width"]
    page.screenshot(path=ARTIFACTS / "interpolate-32.png", full_page=True)


def test_a_link_opens_its_view_and_a_reload_keeps_it(server, page):
    page.goto(f"{server}/sample?model=mnist-gan&seed=5&grid=4")
    settled(page)
    expect(page.get_by_text("16 samples of GAN", exact=False)).to_contain_text("seed 5")
    page.get_by_role("button", name="New seed").click()
    settled(page)
    caption = page.locator("[data-testid=stImage]", has_text="16 samples of GAN")
    expect(caption).not_to_contain_text("seed 5,")
    shown = caption.inner_text()
    query = parse_qs(urlparse(page.url).query)
    assert query["model"] == ["mnist-gan"] and query["grid"] == ["4"] and query["seed"] != ["5"]
    page.reload()
    settled(page)
    expect(page.locator("[data-testid=stImage]", has_text="16 samples of GAN")).to_have_text(shown)


def test_a_digit_drawn_on_the_pad_starts_the_sliders(server, page):
    """The drawing pad (genviz's component, pointer events): a stroke drawn with the mouse is prepared as an upload
    is (dark ink on light paper, so inverted for the MNIST models), encoded, and becomes the sliders' start."""
    page.goto(f"{server}/sliders?model=mnist-vae&start=Drawing")
    settled(page)
    expect(page.get_by_text("Draw with the mouse, a pen or a finger")).to_be_visible()
    pad = page.frame_locator("iframe[title*=genviz_decoder_canvas]").locator("[data-testid=draw-pad]")
    box = pad.bounding_box()
    x, top, bottom = box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.2, box["y"] + box["height"] * 0.8
    page.mouse.move(x, top)
    page.mouse.down()
    page.mouse.move(x + 8, bottom, steps=12)  # a "1"
    page.mouse.up()
    settled(page)
    prepared = page.locator("[data-testid=stImage]", has_text="as the model sees it").locator("img")
    expect(prepared).to_be_visible()
    shot = Image.open(io.BytesIO(prepared.screenshot())).convert("L")
    width, height = shot.size
    assert shot.getpixel((width // 2, height // 2)) > 128 > shot.getpixel((3, 3))  # a light stroke on black
    expect(page.get_by_text("inverted", exact=False).first).to_be_visible()
    latent = page.get_by_test_id("stCode").filter(has_text="[").last
    assert len(latent.inner_text().strip("[]").split(",")) == 8  # the session's tiny VAE's latent
    assert parse_qs(urlparse(page.url).query)["start"] == ["Drawing"]
