"""No text on top of other text: every page of the app, at 1400 and 1024 px wide, on an MNIST and a CIFAR-10
model (the shipped checkpoints), in a real browser. The visible text boxes of the page and of every iframe in it
(HTML text, line by line, and SVG text, such as plotly's labels) are measured where they are drawn, cut to what
their clipping boxes leave visible; a test fails on any two that overlap, and names them.

Skipped when Chromium or Playwright is missing, unless GENVIZ_REQUIRE_BROWSER=1. Screenshots of each page, its
whole height, go to tests/artifacts/overlap-<model>-<page>-<width>.png.
"""

import time
from pathlib import Path

import pytest

from support.browser import CHROMIUM, FLAGS, missing_browser, serve, settled

MISSING = missing_browser()
pytestmark = [pytest.mark.skipif(bool(MISSING), reason=MISSING or ""), pytest.mark.browser, pytest.mark.slow]
if not MISSING:
    from playwright.sync_api import expect, sync_playwright

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
MODELS = ["mnist-vae", "cifar10-vae"]
WIDTHS = [1400, 1024]
PAGES = {  # address -> heading
    "": "genviz",
    "map": "Latent map",
    "sample": "Sample",
    "sliders": "Latent sliders",
    "interpolate": "Interpolate",
    "reconstruct": "Reconstruct and denoise",
    "anomaly": "Anomaly detection",
    "compare": "Compare models",
}
MIN_OVERLAP = 3  # pixels each way: glyph boxes of neighbouring lines and words may touch or share a pixel
# The visible text boxes of one document, in its viewport's pixels: [text, left, top, right, bottom, node], node
# numbering the text node or SVG <text> element (a wrapped line gives one box per line, all of one node).
TEXT_BOXES = """() => {
  const boxes = [];
  const seen = {opacityProperty: true, visibilityProperty: true, contentVisibilityAuto: true};
  // A box cut to what every clipping ancestor (overflow other than visible) leaves of it; an SVG's own box clips.
  const visible = (element, r) => {
    let [left, top, right, bottom] = [r.left, r.top, r.right, r.bottom];
    for (let a = element; a && a !== document.documentElement; a = a.parentElement) {
      const style = getComputedStyle(a), b = a.getBoundingClientRect();
      if (style.overflowX !== "visible") { left = Math.max(left, b.left); right = Math.min(right, b.right); }
      if (style.overflowY !== "visible") { top = Math.max(top, b.top); bottom = Math.min(bottom, b.bottom); }
    }
    return right - left >= 2 && bottom - top >= 2 ? [left, top, right, bottom] : null;
  };
  const add = (text, element, rects, node) => {
    for (const r of rects) {
      const box = visible(element, r);
      if (box) boxes.push([text.trim().slice(0, 60), ...box, node]);
    }
  };
  let node = 0;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let t = walker.nextNode(); t; t = walker.nextNode()) {
    const parent = t.parentElement;
    if (!t.textContent.trim() || !parent || parent.closest("svg, script, style, noscript, template")) continue;
    if (!parent.checkVisibility(seen) || getComputedStyle(parent).color === "rgba(0, 0, 0, 0)") continue;
    const range = document.createRange();
    range.selectNodeContents(t);
    add(t.textContent, parent, range.getClientRects(), node++);
  }
  for (const text of document.querySelectorAll("svg text")) {
    if (text.textContent.trim() && text.checkVisibility(seen)) {
      add(text.textContent, text, [text.getBoundingClientRect()], node++);
    }
  }
  return boxes;
}"""


# The height of the page's content: its main area or its sidebar, whichever is taller, and at least 1000 px.
PAGE_HEIGHT = """() => Math.max(1000,
  ...[...document.querySelectorAll('[data-testid=stMain], [data-testid=stSidebarContent]')].map(e => e.scrollHeight))"""


def text_boxes(page) -> list[tuple]:
    """The visible text boxes of the page and of its iframes, in the page's pixels: (frame, text, left, top, right,
    bottom, node). An iframe's boxes are moved by where it sits and cut to its box."""
    found = []
    for k, frame in enumerate(page.frames):
        if frame.is_detached():
            continue
        if frame == page.main_frame:
            left, top, right, bottom = 0, 0, float("inf"), float("inf")
        else:
            element = frame.frame_element()
            if not element.is_visible() or not (box := element.bounding_box()):
                continue
            left, top, right, bottom = box["x"], box["y"], box["x"] + box["width"], box["y"] + box["height"]
        try:
            boxes = frame.evaluate(TEXT_BOXES)
        except Exception:  # a component's frame that reloaded while it was read: the next reading takes it
            continue
        for text, x0, y0, x1, y1, node in boxes:
            x0, y0, x1, y1 = max(x0 + left, left), max(y0 + top, top), min(x1 + left, right), min(y1 + top, bottom)
            if x1 - x0 >= 2 and y1 - y0 >= 2:
                found.append((k, text, x0, y0, x1, y1, node))
    return found


def overlaps(boxes: list[tuple]) -> list[str]:
    """Every pair of boxes of different text that overlap by at least MIN_OVERLAP pixels each way, in words."""
    pairs = []
    boxes = sorted(boxes, key=lambda b: b[2])
    for i, (fa, ta, ax0, ay0, ax1, ay1, na) in enumerate(boxes):
        for fb, tb, bx0, by0, bx1, by1, nb in boxes[i + 1 :]:
            if bx0 > ax1 - MIN_OVERLAP:
                break  # sorted by left edge: no later box reaches back into this one
            if (fa, na) == (fb, nb):
                continue
            if min(ay1, by1) - max(ay0, by0) >= MIN_OVERLAP and min(ax1, bx1) - max(ax0, bx0) >= MIN_OVERLAP:
                pairs.append(f"{ta!r} at ({ax0:.0f}, {ay0:.0f}) overlaps {tb!r} at ({bx0:.0f}, {by0:.0f})")
    return pairs


def steady_boxes(page, timeout_s: float = 120) -> list[tuple]:
    """The text boxes once two readings a second apart agree (charts and components draw after the run ends)."""
    deadline, last = time.monotonic() + timeout_s, None
    while True:
        settled(page)
        boxes = sorted(text_boxes(page))
        if boxes == last or time.monotonic() > deadline:
            return boxes
        last = boxes
        page.wait_for_timeout(1000)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("overlap")
    with serve("genviz/app.py", {"GENVIZ_CACHE_DIR": str(folder / "cache")}, log=folder / "streamlit.log") as running:
        yield running.url


@pytest.fixture(scope="module")
def browser():
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


# One page load per model and page, measured at both widths: the MNIST model's pages load at 1400 px and are
# then narrowed to 1024, the CIFAR-10 model's load at 1024 and are widened, so each width is also a first layout.
CASES = [(model, address) for model in MODELS for address in PAGES]


@pytest.mark.parametrize(("model", "address"), CASES)
def test_no_text_overlaps_other_text(server, browser, model, address):
    widths = WIDTHS if model == MODELS[0] else WIDTHS[::-1]
    page = browser.new_page(viewport={"width": widths[0], "height": 1000})
    page.set_default_timeout(600_000)  # a page's first open scores or encodes the test set on a busy CPU
    found = []
    try:
        page.goto(f"{server}/{address}?model={model}")
        expect(page.get_by_role("heading", name=PAGES[address], exact=True)).to_be_visible(timeout=600_000)
        for width in widths:
            page.set_viewport_size({"width": width, "height": 1000})
            steady_boxes(page)
            # The viewport made as tall as the page, so that nothing is scrolled away and the screenshot shows it all.
            height = page.evaluate(PAGE_HEIGHT)
            page.set_viewport_size({"width": width, "height": min(height, 16000)})
            boxes = steady_boxes(page)
            expect(page.get_by_test_id("stException")).to_have_count(0)
            page.screenshot(path=ARTIFACTS / f"overlap-{model}-{address or 'home'}-{width}.png")
            assert boxes, f"no text found on the page at {width} px"
            found += [f"at {width} px: {pair}" for pair in overlaps(boxes)]
        assert not found, f"{len(found)} overlapping text pairs:\n" + "\n".join(found)
    finally:
        page.close()
