"""The static site in Chromium: written by `genviz site` from shipped checkpoints (a trained VAE on MNIST and
on CIFAR-10, and a brought PyTorch VAE), served by `python -m http.server` under a sub-path with no Streamlit
running. Every view draws; hovering the map and dragging a slider redraw while the hand moves; a copied address
restores the view and its state; every request stays on the site's origin; and the site decodes as torch does."""

import math
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
import torch

from genviz.checkpoint import load_model
from genviz.explore import load_bundle
from support.browser import CHROMIUM, FLAGS, drag_slider, frames, free_port, missing_browser, wait_for_frame

MISSING = missing_browser()
pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.skipif(bool(MISSING), reason=MISSING or "")]

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("mnist-vae", "cifar10-vae", "mnist-pytorch-vae")  # the last one brought (genviz.bring), not trained here
VIEWS = ("map", "sliders", "sample", "interpolate")
SUB = "team/project/explore"  # the site's sub-path, as on GitHub Pages


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site's base URL, under a sub-path of a plain static server."""
    www = tmp_path_factory.mktemp("www")
    out = www / SUB
    command = [sys.executable, "-m", "genviz.site", *(str(ROOT / "checkpoints" / m) for m in MODELS), "--out", str(out)]
    subprocess.run(command, check=True, cwd=ROOT, capture_output=True, text=True)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(www), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/{SUB}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "site.json", timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the static server did not answer"
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield launched
        finally:
            launched.close()


class Visits:
    """Fresh pages (each its own context: an empty cache and store, as a new reader has), recording every request."""

    def __init__(self, browser, base: str):
        self.browser, self.base, self.requests, self.errors, self.contexts = browser, base, [], [], []

    def open(self, address: str, width: int = 1400):
        context = self.browser.new_context(viewport={"width": width, "height": 1000})
        self.contexts.append(context)
        page = context.new_page()
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.goto(self.base + "index.html" + address)
        return page

    def close(self):
        for context in self.contexts:
            context.close()


@pytest.fixture
def visits(browser, site):
    opened = Visits(browser, site)
    yield opened
    opened.close()
    assert not opened.errors, opened.errors


def status(page) -> str:
    return page.evaluate("() => { const s = document.getElementById('status'); return s.hidden ? '' : s.textContent; }")


def wait_for_map(page):
    canvas = page.locator("[data-testid=map-canvas]")
    canvas.wait_for(timeout=120_000)
    page.wait_for_function(
        "() => { const c = document.querySelector('[data-testid=map-canvas]');"
        " return c && Number(c.dataset.draws) > 0 && c.dataset.decoder === 'ready'; }",
        timeout=120_000,
    )
    return canvas


def wait_for_live(page, testid: str):
    canvas = page.locator(f"canvas[data-testid={testid}]")
    canvas.wait_for(timeout=120_000)
    wait_for_frame(canvas, 0, timeout_s=120)
    return canvas


def colours(canvas) -> int:
    """How many different colours the canvas holds."""
    return canvas.evaluate(
        "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; const seen = new Set();"
        " for (let i = 0; i < d.length; i += 4) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);"
        " return seen.size; }"
    )


def pixels(canvas, image_shape, columns: int) -> np.ndarray:
    """The images a live canvas shows (N, C, H, W) in [0, 1], read at the centre of each drawn pixel block."""
    c, h, w = image_shape
    width, height, data = canvas.evaluate(
        "c => [c.width, c.height, Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)]"
    )
    rgba = np.asarray(data, dtype=np.float32).reshape(height, width, 4) / 255
    scale = width // (columns * w)
    rows = height // (scale * h)
    centres = rgba[scale // 2 :: scale, scale // 2 :: scale, :3][: rows * h, : columns * w]  # (rows*H, cols*W, 3)
    images = centres.reshape(rows, h, columns, w, 3).transpose(0, 2, 4, 1, 3).reshape(rows * columns, 3, h, w)
    return images[:, :1] if c == 1 else images


def torch_decode(name: str, z: np.ndarray) -> np.ndarray:
    model = load_model(ROOT / "checkpoints" / name, device="cpu")
    with torch.no_grad():
        return model.decode(torch.from_numpy(z).float()).clamp(0, 1).numpy()


def site_normals(seed: int, count: int) -> np.ndarray:
    """The site's seeded noise (component/frontend/src/site/random.ts), by hand: mulberry32's uniforms, Box-Muller."""
    state, out = seed & 0xFFFFFFFF, np.empty(count, dtype=np.float32)

    def imul(a, b):
        return (a * b) & 0xFFFFFFFF

    def uniform():
        nonlocal state
        state = (state + 0x6D2B79F5) & 0xFFFFFFFF
        t = imul(state ^ (state >> 15), 1 | state)
        t = ((t + imul(t ^ (t >> 7), 61 | t)) & 0xFFFFFFFF) ^ t
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296

    for i in range(0, count, 2):
        radius, angle = math.sqrt(-2 * math.log(1 - uniform())), 2 * math.pi * uniform()
        out[i] = radius * math.cos(angle)
        if i + 1 < count:
            out[i + 1] = radius * math.sin(angle)
    return out


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("view", VIEWS)
def test_every_view_draws_decoded_pictures_with_no_server(visits, name, view):
    page = visits.open(f"#/{view}/{name}")
    if view == "map":
        canvas = wait_for_map(page)
        points = len(load_bundle(ROOT / "checkpoints" / name).labels)
        assert int(canvas.evaluate("c => Number(c.dataset.points)")) == points
    else:
        canvas = wait_for_live(page, "live-canvas" if view == "sliders" else "live-grid")
        assert colours(canvas) > 8  # pictures, not a blank canvas
    assert status(page) == ""  # no error said
    assert page.locator("nav a[aria-current=page]").inner_text() == {
        "map": "Latent map", "sliders": "Latent sliders", "sample": "Sample", "interpolate": "Interpolate"
    }[view]  # fmt: skip
    assert page.locator("#model").input_value() == name


def test_the_model_list_shows_every_model_with_its_card_and_links(visits):
    page = visits.open("#/")
    page.locator("#home article").nth(len(MODELS) - 1).locator("a").first.wait_for()
    assert [page.locator("#home article h2").nth(i).inner_text() for i in range(len(MODELS))] == list(MODELS)
    page.locator("#home article").nth(1).get_by_role("link", name="Sample").click()
    wait_for_live(page, "live-grid")
    assert urlsplit(page.url).fragment.startswith("/sample/cifar10-vae")
    page.locator("#card summary").click()
    assert "CIFAR" in page.locator("#card").inner_text() or "cifar10" in page.locator("#card").inner_text()


def test_hovering_the_map_shows_each_points_image_and_decodes_the_space_between(visits):
    page = visits.open("#/map/mnist-vae")
    canvas = wait_for_map(page)
    box = canvas.bounding_box()
    preview = page.locator("[data-testid=map-preview]")
    labels = load_bundle(ROOT / "checkpoints" / "mnist-vae").labels
    a, b = int(np.flatnonzero(labels == 0)[0]), int(np.flatnonzero(labels == 1)[0])  # a 0 and a 1: apart on the map
    seen = []
    for i in (a, b):  # where regl-scatterplot drew them
        x, y = page.evaluate(f"() => window.genvizMap.screenOf({i})")
        page.mouse.move(box["x"] + x, box["y"] + y)
        page.wait_for_function(f"() => document.querySelector('[data-testid=map-preview]').dataset.index === '{i}'")
        page.wait_for_function("() => document.querySelector('[data-testid=map-preview] canvas').width > 0")
        seen.append(preview.locator("canvas").evaluate("c => c.toDataURL()"))
    assert seen[0] != seen[1]
    # Empty space between the two points' clusters, inside the map: a decode of the blended latent.
    x0, y0 = page.evaluate(f"() => window.genvizMap.screenOf({a})")
    x1, y1 = page.evaluate(f"() => window.genvizMap.screenOf({b})")
    for fraction in np.linspace(0.3, 0.7, 9):
        before = int(preview.evaluate("p => Number(p.dataset.frames)"))
        page.mouse.move(box["x"] + x0 + fraction * (x1 - x0), box["y"] + y0 + fraction * (y1 - y0))
        if preview.evaluate("p => p.dataset.kind") == "space":
            break
    assert preview.evaluate("p => p.dataset.kind") == "space"
    shown = "document.querySelector('[data-testid=map-preview]')"
    page.wait_for_function(f"() => Number({shown}.dataset.frames) > {before}")
    assert preview.locator("canvas").evaluate("c => c.toDataURL()") not in seen


@pytest.mark.parametrize("name", ["mnist-vae", "mnist-pytorch-vae"])
def test_dragging_a_slider_redraws_while_the_mouse_is_held(visits, name):
    page = visits.open(f"#/sliders/{name}")
    canvas = wait_for_live(page, "live-canvas")
    seen = drag_slider(page, page.get_by_role("slider").first, canvas)
    assert len(seen) >= 4, "the picture did not follow the hand"
    page.mouse.up()


def test_a_copied_address_restores_the_sliders_and_their_picture(visits):
    page = visits.open("#/sliders/mnist-vae?start=p42")
    canvas = wait_for_live(page, "live-canvas")
    slider = page.get_by_role("slider").first
    drag_slider(page, slider, canvas, moves=2)
    page.mouse.up()  # the change: the address takes the value
    page.wait_for_function("() => /[?&]d\\d+=/.test(location.hash)")
    key = slider.get_attribute("name")
    address, value = page.url, slider.input_value()
    picture = canvas.evaluate("c => c.toDataURL()")
    params = parse_qs(urlsplit(address).fragment.split("?", 1)[1])
    assert params["start"] == ["p42"] and float(params[key][0]) == pytest.approx(float(value))

    again = visits.open(address[address.index("#") :])
    restored = wait_for_live(again, "live-canvas")
    again.wait_for_function(f"() => document.querySelector('input[name=\"{key}\"]')?.value === '{value}'")
    wait_for_frame(restored, 0)
    assert restored.evaluate("c => c.toDataURL()") == picture


def test_a_copied_address_restores_the_map_pick_and_the_sample_grid(visits):
    page = visits.open("#/map/mnist-vae")
    canvas = wait_for_map(page)
    box = canvas.bounding_box()
    x, y = page.evaluate("() => window.genvizMap.screenOf(123)")
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_function("() => location.hash.includes('pick=p123')")
    number = f"Test image {int(load_bundle(ROOT / 'checkpoints' / 'mnist-vae').positions[123]):,}"  # as the app says
    assert page.locator("[data-testid=map-pick] .title").inner_text().startswith(number)
    assert page.get_by_role("link", name="Edit in latent sliders").get_attribute("href").endswith("start=p123")

    again = visits.open(page.url[page.url.index("#") :])
    wait_for_map(again)
    title = "document.querySelector('[data-testid=map-pick] .title')"
    again.wait_for_function(f"() => {title}?.textContent.startsWith('{number}')")
    again.get_by_role("link", name="Edit in latent sliders").click()
    wait_for_live(again, "live-canvas")
    assert again.evaluate("() => window.genvizSite.shown()") == {"model": "mnist-vae", "view": "sliders"}

    sample = visits.open("#/sample/mnist-vae")
    grid = wait_for_live(sample, "live-grid")
    sample.get_by_label("Seed").fill("77")
    sample.get_by_label("Seed").dispatch_event("change")
    sample.wait_for_function("() => location.hash.includes('seed=77')")
    count = frames(grid)
    sample.get_by_role("slider").press("ArrowRight")  # temperature 1.0 -> 1.1, said to the address on change
    wait_for_frame(grid, count)
    sample.wait_for_function("() => location.hash.includes('value=1.1')")
    picture = grid.evaluate("c => c.toDataURL()")
    copy = visits.open(sample.url[sample.url.index("#") :])
    assert wait_for_live(copy, "live-grid").evaluate("c => c.toDataURL()") == picture


def test_every_request_stays_on_the_sites_origin(visits, site):
    for view in VIEWS:
        page = visits.open(f"#/{view}/cifar10-vae")
        if view == "map":
            wait_for_map(page)
        else:
            wait_for_live(page, "live-canvas" if view == "sliders" else "live-grid")
    origin = site[: site.index("/", len("http://"))]
    assert visits.requests and all(url.startswith(origin + "/") for url in visits.requests), visits.requests
    assert any(url.endswith("ort-wasm-simd-threaded.wasm") for url in visits.requests)


@pytest.mark.parametrize("name", ["mnist-vae", "cifar10-vae", "mnist-pytorch-vae"])
def test_the_site_decodes_as_torch_does(visits, name):
    bundle = load_bundle(ROOT / "checkpoints" / name)
    shape = bundle.image_shape
    # A map point's latent, exactly as the bundle holds it: the sliders' start.
    page = visits.open(f"#/sliders/{name}?start=p7")
    shown = pixels(wait_for_live(page, "live-canvas"), shape, 1)
    expected = torch_decode(name, bundle.latents[7:8])
    assert np.abs(shown - expected).max() <= 2.5 / 255
    # The Sample grid of seed 5: the site's noise (by hand here) times the latent's scale.
    page = visits.open(f"#/sample/{name}?seed=5&grid=4")
    shown = pixels(wait_for_live(page, "live-grid"), shape, 4)
    d = bundle.latents.shape[1]
    centre, spread = load_model(ROOT / "checkpoints" / name, device="cpu").latent_scale()
    z = centre.numpy() + site_normals(5, 16 * d).reshape(16, d) * spread.numpy()
    assert np.abs(shown - torch_decode(name, z.astype(np.float32))).max() <= 2.5 / 255
