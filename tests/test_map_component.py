"""The latent map mode of genviz's component in a real browser: 1,000 MNIST test images encoded by the shipped
mnist-vae, mapped with PCA, drawn with WebGL (regl-scatterplot, SwiftShader here). Hovering a point shows its
thumbnail pixel for pixel; hovering empty space decodes the latent blended from the enclosing Delaunay triangle;
clicks, box and lasso selections come back to Python with the right points; a hidden class is neither hovered nor
selected; a reload sends neither the decoder nor the map again; without WebGL the component says so.

Skipped when Chromium or Playwright is missing, unless GENVIZ_REQUIRE_BROWSER=1.
"""

import hashlib
import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.spatial import Delaunay, cKDTree

from genviz import latent as lt
from genviz.checkpoint import load_model
from genviz.component import map_blob
from genviz.data import load_dataset
from genviz.explore import thumbnail_tiles
from genviz.export import decoder_onnx
from support.browser import CHROMIUM, FLAGS, missing_browser, serve

ROOT = Path(__file__).resolve().parent.parent
MISSING = missing_browser()
pytestmark = [pytest.mark.skipif(bool(MISSING), reason=MISSING or ""), pytest.mark.browser, pytest.mark.slow]
if not MISSING:
    from playwright.sync_api import expect, sync_playwright

FRAME = "iframe[title*=genviz_decoder_canvas]"
N = 1000
SCALE = 4  # the hover preview's pixels per image pixel
MARGIN = 2  # CSS pixels kept between a selection's edge and any point
FEW = 6  # points a selection holds at least

# A page with nothing but the map; it appends each value the component returns to <folder>/<?out=name>.jsonl and
# answers an empty-space pick with an "exact" latent, as the Latent map page answers with UMAP's inverse.
SCRIPT = """import json, sys
from pathlib import Path
import numpy as np
import streamlit as st
sys.path.insert(0, {root!r})
from genviz.component import latent_map

folder = Path({folder!r})
latents = np.load(folder / "latents.npy")
value = st.session_state.get("map") or {{}}
pick = value.get("pick") or {{}}
exact = None
if pick.get("kind") == "space" and pick.get("triangle"):
    z = (np.array(pick["weights"])[:, None] * latents[pick["triangle"]]).sum(0)
    exact = {{"seq": value["seq"], "x": pick["x"], "y": pick["y"], "z": z.tolist(), "label": "exact from Python"}}
result = latent_map((folder / "decoder.onnx").read_bytes(), (folder / "map.safetensors").read_bytes(),
                    data_id="mnist-1000-pca", class_names=[str(k) for k in range(10)], image_shape=(1, 28, 28),
                    exact=exact, moving=st.query_params.get("moving", "auto"), key="map")
if result is not None:
    with open(folder / (st.query_params["out"] + ".jsonl"), "a") as f:
        f.write(json.dumps(result) + "\\n")
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("map")
    model = load_model(ROOT / "checkpoints" / "mnist-vae", device="cpu")
    data = load_dataset("mnist", "test").sample(N)
    z = lt.encode_images(model, data.images).numpy()
    projection = lt.project(z, data.labels.numpy(), "pca")
    images = data.images[:, 0].numpy()
    tiles, layout = thumbnail_tiles(data.images)  # as the app sends a map's images
    blob = map_blob(projection.coords, projection.labels, projection.latents, tiles, layout)
    decoder = decoder_onnx(model)
    (folder / "decoder.onnx").write_bytes(decoder)
    (folder / "map.safetensors").write_bytes(blob)
    np.save(folder / "latents.npy", projection.latents)
    (folder / "app.py").write_text(SCRIPT.format(root=str(ROOT), folder=str(folder)))
    return {"folder": folder, "coords": projection.coords, "labels": projection.labels,
            "latents": projection.latents, "images": images, "blob": len(blob), "decoder": len(decoder),
            "decoder_id": hashlib.sha256(decoder).hexdigest()}  # fmt: skip


@pytest.fixture(scope="module")
def server(setup):
    with serve(setup["folder"] / "app.py", log=setup["folder"] / "streamlit.log") as running:
        yield running.url


@pytest.fixture(scope="module")
def browser(server):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser):
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.set_default_timeout(120_000)
    expect.set_options(timeout=120_000)
    return page


def values(setup, out: str) -> list[dict]:
    path = setup["folder"] / f"{out}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_value(setup, out: str, check, timeout_s: float = 120) -> dict:
    """Until the last value the component returned satisfies `check`; that value."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = values(setup, out)
        if got and check(got[-1]):
            return got[-1]
        assert time.monotonic() < deadline, f"no such value; the last: {got[-1:] or None}"
        time.sleep(0.05)


def open_map(browser, server, setup, out: str, moving: str = "auto"):
    """A page with the map drawn and the decoder loaded (ok reported); `moving` as latent_map takes it."""
    page = new_page(browser)
    page.goto(f"{server}/?out={out}&moving={moving}")
    wait_value(setup, out, lambda v: v.get("ok") is True)
    frame = page.frame_locator(FRAME)
    expect(frame.locator("[data-testid=map-canvas]")).to_have_attribute("data-points", str(N))
    return page, frame


@pytest.fixture(scope="module")
def shown(browser, server, setup):
    """One page with the map, its frame, the canvas's page position and every point's page position."""
    page, frame = open_map(browser, server, setup, "main")
    canvas = frame.locator("[data-testid=map-canvas]")
    box = canvas.bounding_box()
    screen = np.array(
        frame.locator("body").evaluate(f"() => Array.from({{length: {N}}}, (_, i) => genvizMap.screenOf(i))")
    )
    yield {"page": page, "frame": frame, "canvas": canvas, "box": box, "at": screen + [box["x"], box["y"]]}
    page.close()


def preview_pixels(frame) -> np.ndarray:
    """The hover preview's canvas as (H, W, 4) uint8."""
    flat = frame.locator("[data-testid=map-preview] canvas").evaluate(
        "c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)"
    )
    width = frame.locator("[data-testid=map-preview] canvas").evaluate("c => c.width")
    return np.array(flat, np.uint8).reshape(-1, width, 4)


def frames_of(frame) -> int:
    return int(frame.locator("[data-testid=map-preview]").get_attribute("data-frames"))


def wait_frames(frame, after: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while frames_of(frame) <= after:
        assert time.monotonic() < deadline, "the preview was not painted"
        time.sleep(0.02)


def lonely_points(at: np.ndarray, box: dict, k: int = 5, least: float = 15) -> list[int]:
    """k points far (more than `least` CSS pixels) from every other, the loneliest first, away from the canvas's
    edges and toolbar."""
    distance, _ = cKDTree(at).query(at, k=2)
    x, y = at[:, 0] - box["x"], at[:, 1] - box["y"]
    ok = (x > 20) & (x < box["width"] - 160) & (y > 60) & (y < box["height"] - 160)
    order = [i for i in np.argsort(-distance[:, 1]) if ok[i]]
    assert distance[order[k - 1], 1] > least, "no point stands alone on the map"
    return [int(i) for i in order[:k]]


def empty_spots(at: np.ndarray, k: int = 2) -> list[np.ndarray]:
    """k positions inside the hull, each the centroid of a Delaunay triangle far from every point."""
    tri = Delaunay(at)
    centroids = at[tri.simplices].mean(axis=1)
    distance, _ = cKDTree(at).query(centroids)
    order = np.argsort(-distance)[:k]
    assert distance[order[-1]] > 12, "no empty space on the map"
    return [centroids[i] for i in order]


def hover(page, xy) -> None:
    page.mouse.move(float(xy[0]), float(xy[1]), steps=4)


def test_points_are_drawn(setup, shown):
    canvas = shown["canvas"]
    assert canvas.get_attribute("data-points") == str(N)
    assert int(canvas.get_attribute("data-draws")) > 0
    shot = np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("RGB")).astype(int)
    assert shot.std() > 5 and len(np.unique(shot.reshape(-1, 3), axis=0)) > 10, "the canvas is blank"
    # Point i's page position is where its colour is drawn (not the white background).
    i = lonely_points(shown["at"], shown["box"], 1)[0]
    x, y = shown["at"][i] - [shown["box"]["x"], shown["box"]["y"]]
    scale = shot.shape[1] / shown["box"]["width"]
    assert shot[int(y * scale), int(x * scale)].sum() < 3 * 250
    # The legend names every class present.
    assert shown["frame"].locator(".map-legend .entry").count() == 10


def test_hovering_a_point_shows_its_thumbnail(setup, shown):
    page, frame = shown["page"], shown["frame"]
    preview = frame.locator("[data-testid=map-preview]")
    for i in lonely_points(shown["at"], shown["box"], 2):
        before = frames_of(frame)
        hover(page, shown["at"][i])
        expect(preview).to_have_attribute("data-index", str(i))
        assert preview.get_attribute("data-kind") == "point"
        wait_frames(frame, before)
        got = preview_pixels(frame)
        want = np.kron(setup["images"][i], np.ones((SCALE, SCALE), np.uint8))
        assert got.shape == (28 * SCALE, 28 * SCALE, 4)
        assert np.array_equal(got[..., 0], want) and np.array_equal(got[..., 1], want)
        assert str(setup["labels"][i]) in preview.inner_text()


def test_hovering_empty_space_decodes_the_blended_latent(setup, shown):
    page, frame = shown["page"], shown["frame"]
    preview = frame.locator("[data-testid=map-preview]")
    pixels = []
    for spot in empty_spots(shown["at"]):
        before = frames_of(frame)
        hover(page, spot)
        expect(preview).to_have_attribute("data-kind", "space")
        wait_frames(frame, before)
        triangle = [int(v) for v in preview.get_attribute("data-triangle").split(",")]
        weights = np.array([float(v) for v in preview.get_attribute("data-weights").split(",")])
        z = np.array([float(v) for v in preview.get_attribute("data-z").split(",")])
        assert weights.min() >= -1e-6 and weights.sum() == pytest.approx(1, abs=1e-9)
        assert z == pytest.approx((weights[:, None] * setup["latents"][triangle]).sum(0), abs=1e-5)
        # The weights place the cursor's data position in that triangle.
        xy = [float(preview.get_attribute("data-x")), float(preview.get_attribute("data-y"))]
        assert xy == pytest.approx((weights[:, None] * setup["coords"][triangle]).sum(0), abs=1e-4)
        # ... which is where the mouse is: the triangle's corners surround it on the screen too.
        corners = shown["at"][triangle]
        assert Delaunay(corners).find_simplex(spot) == 0
        pixels.append(preview_pixels(frame))
    assert not np.array_equal(pixels[0], pixels[1]), "two places in empty space drew the same picture"
    box = shown["box"]
    hover(page, (box["x"] + box["width"] - 6, box["y"] + box["height"] - 6))
    expect(preview).to_have_attribute("data-kind", "outside")
    expect(preview).to_contain_text("outside the map")


def test_clicks_pick_a_point_or_empty_space(setup, shown):
    page, frame = shown["page"], shown["frame"]
    i = lonely_points(shown["at"], shown["box"], 3)[2]
    hover(page, shown["at"][i])
    page.mouse.click(*shown["at"][i])
    got = wait_value(setup, "main", lambda v: (v.get("pick") or {}).get("kind") == "point")
    assert got["ok"] is True and got["drawn"] == N
    assert got["pick"]["index"] == i
    assert [got["pick"]["x"], got["pick"]["y"]] == pytest.approx(setup["coords"][i].tolist(), abs=1e-5)
    expect(frame.locator("[data-testid=map-pick]")).to_contain_text(f"Point {i:,}")  # no numbering given: "point N"
    seq = got["seq"]

    spot = empty_spots(shown["at"], 1)[0]
    hover(page, spot)
    page.mouse.click(*spot)
    got = wait_value(setup, "main", lambda v: (v.get("pick") or {}).get("kind") == "space")
    assert got["seq"] == seq + 1
    assert len(got["pick"]["triangle"]) == 3 and sum(got["pick"]["weights"]) == pytest.approx(1)
    # Python's answer (exact) is decoded and shown under its label.
    exact = frame.locator("[data-testid=map-pick] figure").filter(has_text="exact from Python").locator("canvas")
    expect(exact).to_have_attribute("data-frames", "1")


def inside_rectangle(at, x0, y0, x1, y1) -> np.ndarray:
    return (at[:, 0] > x0) & (at[:, 0] < x1) & (at[:, 1] > y0) & (at[:, 1] < y1)


def clear_rectangle(at: np.ndarray, box: dict) -> tuple[float, float, float, float]:
    """A rectangle on the canvas (below its toolbar) holding FEW or more points, none within MARGIN pixels of its
    edges, so that which points it holds does not hang on a fraction of a pixel; found by a seeded search."""
    rng = np.random.default_rng(0)
    for _ in range(20_000):
        w, h = rng.uniform(30, box["width"] / 2), rng.uniform(30, box["height"] / 2)
        x0 = box["x"] + rng.uniform(10, box["width"] - 10 - w)
        y0 = box["y"] + rng.uniform(60, box["height"] - 10 - h)
        x1, y1 = x0 + w, y0 + h
        near = inside_rectangle(at, x0 - MARGIN, y0 - MARGIN, x1 + MARGIN, y1 + MARGIN)
        inner = inside_rectangle(at, x0 + MARGIN, y0 + MARGIN, x1 - MARGIN, y1 - MARGIN)
        if inner.sum() >= FEW and np.array_equal(near, inner):
            return x0, y0, x1, y1
    raise AssertionError("no rectangle with clear edges")


def segment_distance(at: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Each point's distance to the segment a-b."""
    t = np.clip(((at - a) @ (b - a)) / ((b - a) @ (b - a)), 0, 1)
    return np.linalg.norm(at - (a + t[:, None] * (b - a)), axis=1)


def clear_triangle(at: np.ndarray, box: dict) -> np.ndarray:
    """(3, 2) corners of a triangle on the canvas holding FEW or more points, none within MARGIN pixels of its
    edges; found by a seeded search."""
    rng = np.random.default_rng(1)
    low, high = [box["x"] + 10, box["y"] + 60], [box["x"] + box["width"] - 10, box["y"] + box["height"] - 10]
    for _ in range(20_000):
        corners = rng.uniform(low, high, size=(3, 2))
        edges = [(corners[k], corners[(k + 1) % 3]) for k in range(3)]
        if not 30 < min(np.linalg.norm(b - a) for a, b in edges) < 250:
            continue
        inside = Delaunay(corners).find_simplex(at) >= 0
        clear = all(segment_distance(at, a, b).min() > MARGIN for a, b in edges)
        if inside.sum() >= FEW and clear:
            return corners
    raise AssertionError("no triangle with clear edges")


def drag(page, path) -> None:
    """Press at path[0], move along the path, let go. regl-scatterplot starts a lasso at the first move with the
    button down (so the first move is to where it was pressed) and takes moves at most every lassoMinDelay ms,
    the last one after a pause (so the hand rests before letting go)."""
    page.mouse.move(*path[0])
    page.mouse.down()
    page.mouse.move(*path[0])
    for xy in path[1:]:
        page.mouse.move(*xy, steps=12)
    page.wait_for_timeout(150)
    page.mouse.up()


def select_box(setup, shown, rectangle, out: str = "main") -> dict:
    frame, page = shown["frame"], shown["page"]
    seq = values(setup, out)[-1].get("seq", 0)
    frame.get_by_role("button", name="Box", exact=True).click()
    x0, y0, x1, y1 = rectangle
    drag(page, [(x0, y0), (x1, y1)])
    got = wait_value(setup, out, lambda v: v.get("seq", 0) > seq)
    frame.get_by_role("button", name="Pan", exact=True).click()
    assert got["pick"]["kind"] == "region"
    return got


def test_box_and_lasso_select_the_points_inside(setup, shown):
    at = shown["at"]
    rectangle = clear_rectangle(at, shown["box"])
    got = select_box(setup, shown, rectangle)
    want = np.flatnonzero(inside_rectangle(at, *rectangle))
    assert got["pick"]["index"] == want.tolist()
    expect(shown["frame"].locator("[data-testid=map-pick]")).to_contain_text(f"{len(want)} points selected")

    # A triangular lasso, its edges clear of every point.
    frame, page = shown["frame"], shown["page"]
    corners = clear_triangle(at, shown["box"])
    inside = Delaunay(corners).find_simplex(at) >= 0
    seq = values(setup, "main")[-1]["seq"]
    frame.get_by_role("button", name="Lasso", exact=True).click()
    drag(page, [tuple(c) for c in corners] + [tuple(corners[0])])
    got = wait_value(setup, "main", lambda v: v.get("seq", 0) > seq)
    frame.get_by_role("button", name="Pan", exact=True).click()
    assert got["pick"]["kind"] == "region"
    assert got["pick"]["index"] == np.flatnonzero(inside).tolist()
    frame.get_by_role("button", name="Clear selection").click()


def test_a_hidden_class_is_neither_hovered_nor_selected(setup, shown):
    at, labels = shown["at"], setup["labels"]
    rectangle = clear_rectangle(at, shown["box"])
    inside = inside_rectangle(at, *rectangle)
    hidden = int(np.bincount(labels[inside], minlength=10).argmax())  # the class most present there
    frame, page = shown["frame"], shown["page"]
    entry = frame.locator(f".map-legend .entry[data-label='{hidden}']")
    entry.click()
    expect(entry).to_have_attribute("aria-pressed", "false")
    try:
        got = select_box(setup, shown, rectangle)
        assert got["pick"]["index"] == np.flatnonzero(inside & (labels != hidden)).tolist()
        lonely = next(i for i in lonely_points(at, shown["box"], 40, least=0) if labels[i] == hidden)
        preview = frame.locator("[data-testid=map-preview]")
        hover(page, at[lonely])
        expect(preview).not_to_have_attribute("data-kind", "")
        assert preview.get_attribute("data-index") != str(lonely)
    finally:
        entry.click()
        frame.get_by_role("button", name="Clear selection").click()
    expect(entry).to_have_attribute("aria-pressed", "true")


# In the component's frame: resolves once genviz's IndexedDB store holds a key starting with each prefix.
STORED = """async (_, prefixes) => {
  for (;;) {
    const keys = await new Promise((resolve, reject) => {
      const open = indexedDB.open('genviz');
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const db = open.result;
        if (!db.objectStoreNames.contains('bytes')) { db.close(); resolve([]); return; }
        const request = db.transaction('bytes').objectStore('bytes').getAllKeys();
        request.onsuccess = () => { db.close(); resolve(request.result.map(String)); };
        request.onerror = () => { db.close(); reject(request.error); };
      };
    });
    if (prefixes.every((p) => keys.some((k) => k.startsWith(p)))) return keys;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}"""


# In the page: the ids of the bytes the component asks Python for ({need: id}), in order.
ASKS = """window.genvizAsked = [];
window.addEventListener("message", (event) => {
  const value = event.data?.type === "streamlit:setComponentValue" ? event.data.value : null;
  if (value && value.need) window.genvizAsked.push(value.need);
});"""


def test_a_reload_sends_neither_the_decoder_nor_the_map_again(browser, server, setup):
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    try:
        page = context.new_page()
        page.set_default_timeout(120_000)
        received = []
        page.on("websocket", lambda ws: ws.on("framereceived", lambda f: received.append(len(f))))
        page.add_init_script(ASKS)
        for visit in ("first", "again"):
            received.clear()
            out = f"reload-{visit}"
            page.goto(f"{server}/?out={out}")
            wait_value(setup, out, lambda v: v.get("ok") is True)
            expect(page.frame_locator(FRAME).locator("[data-testid=map-canvas]")).to_have_attribute(
                "data-points", str(N)
            )
            # What the component asked, not what the script saw: a rerun for another reason repeats a value.
            needs = page.evaluate("window.genvizAsked")
            if visit == "first":
                # Each asked for once, the data first, though two painters wait for the decoder.
                assert needs == ["mnist-1000-pca", setup["decoder_id"]]
                assert sum(received) > setup["blob"] + setup["decoder"]
                # The browser keeps them in IndexedDB as it gets them, without waiting: until both are stored.
                page.frame_locator(FRAME).locator("body").evaluate(STORED, ["map ", "decoder "])
            else:
                assert needs == [] and sum(received) < min(setup["blob"], setup["decoder"]) / 4
    finally:
        context.close()


def test_without_webgl_the_component_reports_an_error(browser, server, setup):
    page = new_page(browser)
    try:
        page.add_init_script(
            "const get = HTMLCanvasElement.prototype.getContext;"
            "HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {"
            "  return String(kind).startsWith('webgl') ? null : get.call(this, kind, ...rest); };"
        )
        page.goto(f"{server}/?out=nowebgl")
        got = wait_value(setup, "nowebgl", lambda v: "ok" in v, timeout_s=60)
        assert got["ok"] is False and "WebGL" in got["error"]
    finally:
        page.close()


def counters(canvas) -> dict:
    """The map canvas's counters: full draws, moved-picture frames, whether a moved view waits to be drawn."""
    return canvas.evaluate(
        "c => ({draws: Number(c.dataset.draws), moved: Number(c.dataset.movedFrames), pending: c.dataset.pending,"
        " moving: c.dataset.moving})"
    )


def settled(canvas, timeout_s: float = 60) -> dict:
    """Once no moved view waits to be drawn and no full draw has come for half a second: the counters."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = counters(canvas)
        time.sleep(0.5)
        if now["pending"] == "0" and counters(canvas) == now:
            return now
        assert time.monotonic() < deadline, f"the map did not settle: {now}"


def screen_positions(frame, box) -> np.ndarray:
    at = frame.locator("body").evaluate(f"() => Array.from({{length: {N}}}, (_, i) => genvizMap.screenOf(i))")
    return np.array(at) + [box["x"], box["y"]]


def zoom_and_pan(page, box) -> None:
    """Two wheel notches in about a point left of the centre, then a drag of (-60, 40) CSS pixels, no pause."""
    page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.55)
    page.mouse.wheel(0, -120)
    page.mouse.wheel(0, -120)
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    for k in range(1, 13):
        page.mouse.move(cx - 5 * k, cy + 10 * k / 3)
    page.mouse.up()


@pytest.mark.parametrize("moving", ["snapshot", "direct"])
def test_pan_and_zoom_keep_picks_exact(setup, browser, server, moving):
    """Snapshot mode forced on: the wheel and the drag paint moved pictures and no full draw, then one full draw
    once the hand rests, after which clicks and boxes pick exactly the points under them. Forced off: regl-
    scatterplot's camera redraws the points on each move, as before, with the same exact picks."""
    out = f"moving-{moving}"
    page, frame = open_map(browser, server, setup, out, moving)
    try:
        canvas = frame.locator("[data-testid=map-canvas]")
        box = canvas.bounding_box()
        before_at = screen_positions(frame, box)
        page.mouse.move(box["x"] + 5, box["y"] + box["height"] - 5)
        before = settled(canvas)
        assert before["moving"] == moving
        zoom_and_pan(page, box)
        after = settled(canvas)
        if moving == "snapshot":
            assert after["moved"] > before["moved"], "no moved picture was painted"
            assert after["draws"] == before["draws"] + 1, "not exactly one full draw after the hand rested"
        else:
            assert after["moved"] == before["moved"] == 0
            assert after["draws"] > before["draws"] + 1
        at = screen_positions(frame, box)
        # Zoomed in: the points spread out (two notches of exp(120 / height) each); and panned.
        spread = (
            np.linalg.norm(at - at.mean(0), axis=1).mean()
            / np.linalg.norm(before_at - before_at.mean(0), axis=1).mean()
        )
        assert spread == pytest.approx(np.exp(240 / box["height"]), rel=0.02)
        # The overlay is gone: the canvas shows the points where screenOf says.
        assert frame.locator("canvas.map-overlay").is_hidden()
        # A click on a lone point picks exactly it.
        i = lonely_points(at, box, 1)[0]
        hover(page, at[i])
        page.mouse.click(*at[i])
        got = wait_value(setup, out, lambda v: (v.get("pick") or {}).get("kind") == "point")
        assert got["pick"]["index"] == i
        # A box holds exactly the points inside it.
        shown = {"page": page, "frame": frame}
        rectangle = clear_rectangle(at, box)
        got = select_box(setup, shown, rectangle, out)
        assert got["pick"]["index"] == np.flatnonzero(inside_rectangle(at, *rectangle)).tolist()
    finally:
        page.close()
