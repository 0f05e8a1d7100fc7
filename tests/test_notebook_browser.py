"""The notebook widget (genviz.notebook.Explorer) in a real JupyterLab from PyPI, in Chromium. The test types nothing
into the kernel through the page: it runs the notebook's one cell with the keyboard, then talks to the same kernel
as a second client (jupyter_client, through the connection file of the kernel JupyterLab's /api/sessions names).
The map draws; a lasso drawn with the mouse reaches `explorer.selected` and hovering a point `explorer.hovered`;
setting `explorer.view` from Python switches views; a slider drag redraws while the mouse is down and its value
reaches `explorer.latent`; setting `explorer.latent` from Python draws that latent's picture, as torch decodes it.
Nothing is fetched from anywhere but JupyterLab, and a front end without WebAssembly says so in one line."""

import json
import reprlib
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from genviz.checkpoint import load_model
from genviz.explore import load_bundle
from support.browser import CHROMIUM, FLAGS, drag_slider, frames, missing_browser, wait_for_frame
from support.jupyter import kernel_of, lab_server, open_and_run

MISSING = missing_browser()
pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.skipif(bool(MISSING), reason=MISSING or "")]

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT = ROOT / "checkpoints" / "mnist-vae"
CELL = f"from genviz.notebook import Explorer\nexplorer = Explorer({str(CHECKPOINT)!r})\nexplorer"
FEW = 5  # points at least inside the lasso
MARGIN = 3  # pixels between a lasso's edge and any point, so that which points it holds is not a rounding matter


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with lab_server(tmp_path_factory.mktemp("lab"), {"explore.ipynb": [CELL], "no-webassembly.ipynb": [CELL]}) as lab:
        yield lab


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def shown(lab, browser):
    """The notebook open in Chromium with its explorer's map drawn, and a second client of its kernel."""
    requests, errors = [], []
    page = open_and_run(browser, lab, "explore.ipynb", requests, errors)
    canvas = page.locator("[data-testid=map-canvas]")
    canvas.wait_for(timeout=120_000)
    page.wait_for_function(
        "() => { const c = document.querySelector('[data-testid=map-canvas]');"
        " return c && Number(c.dataset.draws) > 0 && c.dataset.decoder === 'ready'; }",
        timeout=120_000,
    )
    kernel = kernel_of(lab, "explore.ipynb")
    try:
        yield {"page": page, "canvas": canvas, "kernel": kernel, "requests": requests}
    finally:
        kernel.stop_channels()
        page.context.close()
    assert not errors, errors


def run(kernel, code: str):
    """Run `code` in the notebook's kernel; the value of its last line's expression, through JSON."""
    out = []

    def hook(message):
        if message["msg_type"] == "stream" and message["content"]["name"] == "stdout":
            out.append(message["content"]["text"])
        elif message["msg_type"] == "error":
            out.append("\n".join(message["content"]["traceback"]))

    lines = code.strip().splitlines()
    body = "\n".join([*lines[:-1], f"import json as _json; print(_json.dumps({lines[-1]}))"])
    reply = kernel.execute_interactive(body, output_hook=hook, timeout=120)
    assert reply["content"]["status"] == "ok", "".join(out)
    return json.loads("".join(out))


def kernel_until(kernel, expression: str, wanted, timeout_s: float = 60):
    """Until `expression` in the kernel equals `wanted` (the browser's messages arrive in their own time)."""
    deadline = time.monotonic() + timeout_s
    while (got := run(kernel, expression)) != wanted:
        assert time.monotonic() < deadline, f"{expression} is {reprlib.repr(got)}, not {reprlib.repr(wanted)}"
        time.sleep(0.2)


def segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,) each point's distance to the segment a-b."""
    t = np.clip(((points - a) @ (b - a)) / ((b - a) @ (b - a)), 0, 1)
    return np.linalg.norm(points - (a + t[:, None] * (b - a)), axis=1)


def inside_triangle(points: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """(N,) whether each point is inside the triangle (the same side of every edge)."""
    edges = [(corners[k], corners[(k + 1) % 3] - corners[k]) for k in range(3)]
    sides = [e[0] * (points[:, 1] - a[1]) - e[1] * (points[:, 0] - a[0]) for a, e in edges]  # 2-D cross products
    return np.all(np.stack(sides) > 0, axis=0) | np.all(np.stack(sides) < 0, axis=0)


def test_the_map_draws_and_a_lasso_and_a_hover_reach_python(shown):
    page, canvas, kernel = shown["page"], shown["canvas"], shown["kernel"]
    n = run(kernel, "len(explorer.labels)")
    box = canvas.bounding_box()
    at = np.array(page.evaluate(f"() => Array.from({{length: {n}}}, (_, i) => window.genvizMap.screenOf(i))"))
    at += [box["x"], box["y"]]  # (N, 2) page pixels
    assert (at[:, 0] > box["x"]).all() and (at[:, 0] < box["x"] + box["width"]).all()
    # A triangle holding a few points or more, none near its edges, found by a seeded search.
    rng = np.random.default_rng(0)
    low, high = [box["x"] + 20, box["y"] + 60], [box["x"] + box["width"] - 20, box["y"] + box["height"] - 20]
    for _ in range(20_000):
        corners = rng.uniform(low, high, (3, 2))
        if not 30 < min(np.linalg.norm(corners[k] - corners[(k + 1) % 3]) for k in range(3)) < 250:
            continue
        inside = inside_triangle(at, corners)
        clear = all(segment_distance(at, corners[k], corners[(k + 1) % 3]).min() > MARGIN for k in range(3))
        if inside.sum() >= FEW and clear:
            break
    else:
        raise AssertionError("no triangle with clear edges")
    page.get_by_role("button", name="Lasso", exact=True).click()
    path = [tuple(c) for c in corners] + [tuple(corners[0])]
    page.mouse.move(*path[0])
    page.mouse.down()
    page.mouse.move(*path[0])
    for xy in path[1:]:
        page.mouse.move(*xy, steps=12)
    page.wait_for_timeout(150)
    page.mouse.up()
    kernel_until(kernel, "explorer.selected.tolist()", np.flatnonzero(inside).tolist())
    assert run(kernel, "str(explorer.selected.dtype)") == "int32"
    page.get_by_role("button", name="Pan", exact=True).click()

    # Hovering a point far from the others names it in Python; leaving the map, None.
    nearest = np.sort(np.linalg.norm(at[:, None] - at[None], axis=2), axis=1)[:, 1]
    lonely = int(np.argmax(np.where(inside_box(at, box), nearest, 0)))
    page.mouse.move(*at[lonely], steps=4)
    kernel_until(kernel, "explorer.hovered", lonely)
    page.mouse.move(box["x"] + box["width"] + 200, box["y"] + 10)
    kernel_until(kernel, "explorer.hovered", None)


def inside_box(at: np.ndarray, box: dict, margin: float = 80) -> np.ndarray:
    """(N,) whether each point is well inside the canvas (clear of the map's buttons and the preview's flip)."""
    x, y = at[:, 0] - box["x"], at[:, 1] - box["y"]
    return (x > margin) & (y > margin) & (x < box["width"] - margin) & (y < box["height"] - margin)


def pixels(canvas, shape) -> np.ndarray:
    """The one image (C, H, W) in [0, 1] a live canvas shows, read at the centre of each drawn pixel block."""
    c, h, w = shape
    width, height, data = canvas.evaluate(
        "c => [c.width, c.height, Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)]"
    )
    rgba = np.asarray(data, dtype=np.float32).reshape(height, width, 4) / 255
    scale = width // w
    centres = rgba[scale // 2 :: scale, scale // 2 :: scale, :3][:h, :w]  # (H, W, 3)
    return centres.transpose(2, 0, 1)[:c]


# The numbers of the printed latent that the page wraps across two lines (JupyterLab's output area breaks words
# anywhere, which the views' own style must undo).
BROKEN_NUMBERS = """() => {
  const text = document.querySelector('pre.latent').firstChild, broken = [];
  for (const m of text.textContent.matchAll(/-?\\d+\\.\\d+/g)) {
    const range = document.createRange();
    range.setStart(text, m.index);
    range.setEnd(text, m.index + m[0].length);
    if (new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size > 1) broken.push(m[0]);
  }
  return broken;
}"""


def test_sliders_follow_the_hand_and_the_latent_set_in_python(shown):
    page, kernel = shown["page"], shown["kernel"]
    start = np.array(run(kernel, "explorer.view = 'sliders'\nexplorer.latent.tolist()"), dtype=np.float32)
    canvas = page.locator("canvas[data-testid=live-canvas]")
    canvas.wait_for(timeout=120_000)
    wait_for_frame(canvas, 0, timeout_s=120)
    assert page.get_by_role("button", name="Latent sliders").get_attribute("aria-pressed") == "true"

    # A drag redraws while the mouse is held; its value reaches Python when the hand lets go.
    slider = page.get_by_role("slider").first
    seen = drag_slider(page, slider, canvas)
    assert len(seen) >= 4, "the picture did not follow the hand"
    page.mouse.up()
    bundle = load_bundle(CHECKPOINT)
    dim = int(bundle.dimension_order[0])  # the first slider's dimension
    deadline = time.monotonic() + 60
    while np.array(run(kernel, "explorer.latent.tolist()"))[dim] == start[dim]:
        assert time.monotonic() < deadline, "the dragged slider's value did not reach explorer.latent"
        time.sleep(0.2)
    moved = np.array(run(kernel, "explorer.latent.tolist()"), dtype=np.float32)
    assert moved[dim] > start[dim]  # dragged to the right
    assert np.array_equal(np.delete(moved, dim), np.delete(start, dim))

    # Setting the latent from Python draws its picture, the picture torch decodes.
    before = frames(canvas)
    run(kernel, "explorer.latent = explorer.latents[7]\nNone")
    wait_for_frame(canvas, before)
    page.wait_for_function(
        "z => document.querySelector('pre.latent')?.textContent.includes(z)", arg=f"{bundle.latents[7][0]:.4f}"
    )
    assert page.evaluate(BROKEN_NUMBERS) == [], "the latent's text wraps inside a number (JupyterLab's word-break)"
    with torch.no_grad():
        model = load_model(CHECKPOINT, device="cpu")
        expected = model.decode(torch.from_numpy(bundle.latents[7:8])).clamp(0, 1).numpy()[0]
    assert np.abs(pixels(canvas, bundle.image_shape) - expected).max() <= 2.5 / 255


def test_nothing_is_fetched_from_anywhere_but_jupyterlab(shown, lab):
    # The script and the runtime come from the installed package through the kernel; the tiles are blob URLs.
    assert shown["requests"], "no request recorded"
    elsewhere = [url for url in shown["requests"] if not url.startswith((lab["base"] + "/", "blob:", "data:"))]
    assert elsewhere == []
    assert not [url for url in shown["requests"] if url.endswith((".wasm", "notebook.js"))]


def test_a_front_end_without_webassembly_says_so_in_one_line(lab, browser):
    requests, errors = [], []
    page = open_and_run(browser, lab, "no-webassembly.ipynb", requests, errors, script="delete globalThis.WebAssembly")
    try:
        status = page.locator("[data-testid=notebook-status]")
        status.wait_for(timeout=120_000)
        text = status.inner_text()
        assert "cannot run WebAssembly" in text and "\n" not in text
        assert page.locator("[data-testid=map-canvas]").count() == 0
        kernel = kernel_of(lab, "no-webassembly.ipynb")
        try:
            kernel_until(kernel, "explorer.error", text)
        finally:
            kernel.stop_channels()
    finally:
        page.context.close()
    assert not errors, errors


def test_sample_and_interpolate_follow_the_seed_and_the_ends_set_in_python(shown):
    page, kernel = shown["page"], shown["kernel"]
    grid = page.locator("canvas[data-testid=live-grid]")
    pictures = []
    for code in (
        "explorer.view = 'sample'",
        "explorer.seed = 7",
        "explorer.view = 'interpolate'",
        "explorer.ends = (3, 9)",
    ):
        before = frames(grid) if grid.count() else 0
        run(kernel, f"{code}\nNone")
        grid.wait_for(timeout=120_000)
        wait_for_frame(grid, before, timeout_s=120)
        pictures.append(grid.evaluate("c => c.toDataURL()"))
    assert len(set(pictures)) == 4, "a change set in Python did not draw a new picture"
    assert page.get_by_role("button", name="Interpolate").get_attribute("aria-pressed") == "true"


def test_the_docs_pictures_of_the_widget_are_taken_as_it_draws_each_view(shown, tmp_path):
    """support.notebook_example's pictures, taken here from the same page: each view drawn, as wide as the one the
    docs show (the widget's layout unchanged), and not blank."""
    from PIL import Image

    from support.notebook_example import PICTURE, shoot_widget

    for path in shoot_widget(shown["page"], shown["kernel"], tmp_path):
        with Image.open(path) as taken, Image.open(PICTURE.parent / path.name) as shown_in_docs:
            assert abs(taken.width - shown_in_docs.width) <= 2  # the height follows what earlier tests picked
            assert len(taken.convert("RGB").getcolors(1 << 16) or range(1 << 16)) > 16, f"{path.name} is blank"
