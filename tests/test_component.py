"""The genviz component in a real browser: the shipped mnist-vae's decoder, exported to ONNX, decodes 256 prior
latents in Chromium (onnxruntime-web, WASM) to within 1e-3 per pixel of torch; nothing is fetched from anywhere
but the app's own server; and without WebAssembly the component reports the failure instead of hanging.

Skipped when Chromium or Playwright is missing, unless GENVIZ_REQUIRE_BROWSER=1.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from genviz import latent as lt
from genviz.checkpoint import load_model
from genviz.export import decoder_onnx
from support.browser import CHROMIUM, FLAGS, missing_browser, serve

ROOT = Path(__file__).resolve().parent.parent
MISSING = missing_browser()
pytestmark = [pytest.mark.skipif(bool(MISSING), reason=MISSING or ""), pytest.mark.browser, pytest.mark.slow]
if not MISSING:
    from playwright.sync_api import sync_playwright

# A page with nothing but the component; it writes what the browser reported to <folder>/<?out=name>.json.
SCRIPT = """import base64, json, sys
from pathlib import Path
import numpy as np
import streamlit as st
sys.path.insert(0, {root!r})
from genviz.component import decoder_canvas

folder = Path({folder!r})
result = decoder_canvas((folder / "decoder.onnx").read_bytes(), np.load(folder / "z.npy"), (1, 28, 28),
                        columns=16, scale=1, report_pixels=True, key="canvas")
if result is not None:
    if "pixels" in result:
        np.save(folder / (st.query_params["out"] + ".npy"), result.pop("pixels"))
    (folder / (st.query_params["out"] + ".json")).write_text(json.dumps(result))
    st.write("reported")
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """(folder, torch's decode of the 256 latents); the folder holds the decoder, the latents and the script."""
    folder = tmp_path_factory.mktemp("component")
    model = load_model(ROOT / "checkpoints" / "mnist-vae", device="cpu")
    z = lt.prior_latents(model, 256, seed=0).float()
    with torch.no_grad():
        want = model.decode(z).float().numpy()
    (folder / "decoder.onnx").write_bytes(decoder_onnx(model))
    np.save(folder / "z.npy", z.numpy())
    (folder / "app.py").write_text(SCRIPT.format(root=str(ROOT), folder=str(folder)))
    return folder, want


@pytest.fixture(scope="module")
def server(setup):
    folder, _ = setup
    with serve(folder / "app.py", log=folder / "streamlit.log") as running:
        yield running.url


def report(
    url: str, folder: Path, out: str, init_script: str | None = None, block: str | None = None
) -> tuple[dict, list[str], list[str]]:
    """Open the page (running `init_script` first in every frame, failing requests matching `block`) and wait
    for the component's report: (report, every URL requested, every response >= 400)."""
    requested, failed = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.on("request", lambda r: requested.append(r.url))
            page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            if block:
                page.route(block, lambda route: route.abort())
            if init_script:
                page.add_init_script(init_script)  # runs in every frame, the component's iframe included
            page.goto(f"{url}/?out={out}")
            page.get_by_text("reported").wait_for(timeout=120_000)
        finally:
            browser.close()
    return json.loads((folder / f"{out}.json").read_text()), requested, failed


def test_browser_decodes_like_torch_from_the_app_alone(setup, server):
    folder, want = setup
    result, requested, failed = report(server, folder, "wasm")
    assert result["ok"] is True, result
    assert result["n"] == 256
    got = np.load(folder / "wasm.npy")
    assert got.shape == want.shape == (256, 1, 28, 28)
    assert np.abs(got - want).max() <= 1e-3
    assert requested and all(u.startswith(server + "/") for u in requested), [
        u for u in requested if not u.startswith(server + "/")
    ]
    assert any(u.endswith("/ort-wasm-simd-threaded.wasm") for u in requested)
    assert not failed, failed


def test_without_webassembly_the_component_reports_an_error(setup, server):
    folder, _ = setup
    result, _, _ = report(server, folder, "nowasm", "delete globalThis.WebAssembly")
    assert result["ok"] is False
    assert "WebAssembly" in result["error"]


def test_when_the_runtime_cannot_load_the_component_reports_an_error(setup, server):
    folder, _ = setup
    result, _, _ = report(server, folder, "nowasmfile", block="**/ort-wasm-simd-threaded.wasm")
    assert result["ok"] is False
    assert result["error"]
