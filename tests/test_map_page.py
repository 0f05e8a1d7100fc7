"""The Latent map page in a real browser, as it ships: the shipped mnist-vae's map opens from its explore bundle in
genviz's component; a point, empty space and a box picked there come back to the page's details, which match the
bundle's points and UMAP's inverse; and a browser with no dataset anywhere (an empty data root) gets a picture on
every page.

Skipped when Chromium or Playwright is missing, unless GENVIZ_REQUIRE_BROWSER=1.
"""

import re
from pathlib import Path

import numpy as np
import pytest

from genviz import latent as lt
from genviz.explore import load_bundle
from support.browser import CHROMIUM, FLAGS, missing_browser, serve
from tests.test_map_component import drag, empty_spots, lonely_points

ROOT = Path(__file__).resolve().parent.parent
MISSING = missing_browser()
pytestmark = [pytest.mark.skipif(bool(MISSING), reason=MISSING or ""), pytest.mark.browser, pytest.mark.slow]
if not MISSING:
    from playwright.sync_api import expect, sync_playwright

FRAME = "iframe[title*=genviz_decoder_canvas]"
MAIN = "[data-testid=stMain]"


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


def new_page(browser):
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.set_default_timeout(120_000)
    expect.set_options(timeout=120_000)
    return page


@pytest.fixture(scope="module")
def online(tmp_path_factory):
    with serve("genviz/app.py", log=tmp_path_factory.mktemp("map-page") / "streamlit.log") as running:
        yield running.url


def latent_shown(page) -> np.ndarray:
    return lt.parse_latent(page.locator(f"{MAIN} [data-testid=stCode]").last.inner_text(), 16).numpy()


def clear_box(at: np.ndarray, size: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Corners of a box of `size` holding at least 6 points with none within 2 CSS pixels of its edges (a seeded
    search), so that which points it holds does not depend on rounding."""
    rng = np.random.default_rng(0)
    low, high = at.min(0), at.max(0) - size
    for _ in range(20_000):
        a = rng.uniform(low, high)
        b = a + size
        band = ((at > a - 2) & (at < b + 2)).all(1) & ~((at > a + 2) & (at < b - 2)).all(1)
        if not band.any() and ((at > a) & (at < b)).all(1).sum() >= 6:
            return a, b
    raise AssertionError("no box on the map has clear edges")


def test_the_map_opens_from_the_bundle_and_its_picks_reach_the_page(online, browser):
    found = load_bundle(ROOT / "checkpoints" / "mnist-vae")
    umap = found.map("umap")
    page = new_page(browser)
    page.goto(f"{online}/map?model=mnist-vae")
    frame = page.frame_locator(FRAME)
    canvas = frame.locator("[data-testid=map-canvas]")
    expect(canvas).to_have_attribute("data-points", str(len(found.labels)))
    expect(page.locator(MAIN).get_by_text("Hover the map to see its images")).to_be_visible()  # the page's browser mode
    box = canvas.bounding_box()
    n = len(found.labels)
    at = np.array(frame.locator("body").evaluate(f"() => Array.from({{length: {n}}}, (_, i) => genvizMap.screenOf(i))"))
    at += [box["x"], box["y"]]
    # The points are the bundle's: each is drawn where its UMAP coordinates put it.
    back = np.array(frame.locator("body").evaluate("(_, xy) => xy.map(([x, y]) => genvizMap.toScreen(x, y))",
                                                  umap.coords[:50].tolist()))  # fmt: skip
    assert back + [box["x"], box["y"]] == pytest.approx(at[:50], abs=0.5)

    # A point: hovered, its thumbnail; clicked, its test image's number and its latent in the page.
    i = lonely_points(at, box, 1, least=8)[0]
    page.mouse.move(*at[i], steps=4)
    preview = frame.locator("[data-testid=map-preview]")
    expect(preview).to_have_attribute("data-index", str(i))
    page.mouse.click(*at[i])
    name = found.class_names[found.labels[i]]
    number = f"test image {int(found.positions[i]):,}"  # one numbering: the hover caption's, the panel's, the pick's
    expect(page.get_by_role("heading", name=f"{number[0].upper()}{number[1:]}: {name}")).to_be_visible()
    expect(page.locator(MAIN).get_by_text(f"Point {i:,} of the map, of")).to_be_visible()
    expect(preview.locator(".caption")).to_have_text(f"{name} · {number}")
    expect(frame.locator("[data-testid=map-pick] .title")).to_have_text(f"{number[0].upper()}{number[1:]} · {name}")
    assert "pick=p" + str(i) in page.url
    assert latent_shown(page) == pytest.approx(found.latents[i], abs=1e-4)

    # Empty space: the page's latent is UMAP's inverse there, and the component shows its decode.
    spot = empty_spots(at, 1)[0]
    page.mouse.move(*spot, steps=4)
    expect(preview).to_have_attribute("data-kind", "space")
    xy = [float(preview.get_attribute("data-x")), float(preview.get_attribute("data-y"))]
    page.mouse.click(*spot)
    expect(page.get_by_role("heading", name=re.compile(r"^Decoded at"))).to_be_visible()
    # The server's inverse reaches the browser's panel once it is computed (a spinner meanwhile), then the page's.
    expect(frame.locator("[data-testid=map-pick]")).to_contain_text("UMAP inverse, on the server")
    assert latent_shown(page) == pytest.approx(umap.inverse(np.array([xy]))[0], abs=2e-4)

    # A box: the page counts exactly the points inside it.
    frame.get_by_role("button", name="Box").click()
    corner_a, corner_b = clear_box(at, [60, 45])
    inside = ((at >= corner_a) & (at <= corner_b)).all(1)
    assert inside.sum() > 5
    drag(page, [tuple(corner_a), tuple(corner_b)])
    expect(page.get_by_role("heading", name=f"{int(inside.sum()):,} points selected")).to_be_visible()
    assert latent_shown(page) == pytest.approx(found.latents[inside].mean(0), abs=1e-4)
    assert page.locator("[data-testid=stException]").count() == 0
    page.close()


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    root = tmp_path_factory.mktemp("offline")
    (root / "data").mkdir()
    with serve("genviz/app.py", {"GENVIZ_DATA_DIR": str(root / "data")}, log=root / "streamlit.log") as running:
        yield running.url


# A picture on the page: one of Streamlit's images in the main area, a plotly chart, or a canvas genviz's component
# has drawn (a decode, or the map's points).
PICTURED = """() => {
  if (document.querySelector('[data-testid=stMain] [data-testid=stImage] img')) return true;
  if (document.querySelector('[data-testid=stMain] .js-plotly-plot')) return true;
  for (const frame of document.querySelectorAll('iframe')) {
    const doc = frame.contentDocument;
    if (!doc) continue;
    if ([...doc.querySelectorAll('canvas')].some((c) => Number(c.dataset.frames) > 0 || Number(c.dataset.points) > 0))
      return true;
  }
  return false;
}"""


@pytest.mark.parametrize("model", ["mnist-vae", "mnist-gan"])
def test_every_page_shows_a_picture_with_no_dataset(offline, browser, model):
    page = new_page(browser)
    for path in ["", "map", "sample", "sliders", "interpolate", "reconstruct", "anomaly"]:
        page.goto(f"{offline}/{path}?model={model}")
        page.wait_for_function(PICTURED)
        assert page.locator("[data-testid=stException]").count() == 0, path
        if model == "mnist-vae" and path not in ("", "sample", "map"):  # the map draws from the bundle alone
            expect(page.locator("[data-testid=stSidebar]").get_by_text("Offline: the test set of")).to_be_visible()
    page.close()
