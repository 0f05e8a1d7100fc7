"""The app in a browser, for the browser tests and the benchmarks that time it: a live `streamlit run` and
Debian's Chromium driven by Playwright."""

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "genviz" / "app.py"  # the app's Streamlit script
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    # WebGL in software (SwiftShader) for the latent map, which some Chromium builds no longer fall back to alone.
    "--enable-unsafe-swiftshader",
]  # fmt: skip
# The baseline served beside genviz: a stock one-file Streamlit app that imports torch and shows one picture.
STOCK_APP = """import numpy as np
import streamlit as st
import torch

st.title("stock")
st.image(torch.rand(28, 28).numpy(), width=280)
"""


def wait_until_healthy(url: str, process: subprocess.Popen, started: float, timeout: float, what: str) -> None:
    """Until the Streamlit server at `url` answers its health endpoint; RuntimeError if `process` ends first or
    `timeout` seconds pass after `started` (time.perf_counter())."""
    while True:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
            return
        except OSError:
            if process.poll() is not None or time.perf_counter() - started > timeout:
                raise RuntimeError(f"{what} did not start a server: exit code {process.poll()}") from None
            time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    started: float  # time.perf_counter() just before the process was launched
    healthy: float  # ... when its health endpoint first answered


@contextmanager
def serve(
    script: str | Path = APP, env: dict | None = None, timeout: float = 120, log: Path | None = None
) -> Iterator[Server]:
    """`streamlit run <script>` (through serve.py, as `make run` starts the app) on a free port over the shipped
    checkpoints and an empty map cache (unless `env` says otherwise); yields once its health endpoint answers,
    and stops it afterwards. Its output goes to `log` when given, else nowhere."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="genviz-bench-") as cache, ExitStack() as files:
        env = {"GENVIZ_CHECKPOINTS": str(ROOT / "checkpoints"), "GENVIZ_CACHE_DIR": cache, **(env or {})}
        command = [sys.executable, "-m", "genviz.serve", str(script), "--server.headless", "true",
                   "--server.port", str(port), "--server.fileWatcherType", "none",
                   "--browser.gatherUsageStats", "false"]  # fmt: skip
        output = files.enter_context(open(log, "w")) if log else subprocess.DEVNULL  # closed after the process
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **env}, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_healthy(url, process, started, timeout, "streamlit")
            yield Server(url, process, started, time.perf_counter())
        finally:
            process.terminate()
            process.wait(timeout=30)


@contextmanager
def chromium():
    """A headless Chromium page, 1500 x 1100."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser.new_page(viewport={"width": 1500, "height": 1100})
        finally:
            browser.close()


def wait_for_painted_image(page, timeout_ms: float = 120_000) -> None:
    """Until an `st.image` picture of the page (not the sidebar's) has loaded and the frame after it has been drawn."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stMain] [data-testid=stImage] img')]"
        ".some(i => i.complete && i.naturalWidth)",
        timeout=timeout_ms,
    )
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def settled(page) -> None:
    """Until Streamlit has finished its run (its status widget says 'Running' while busy) and every spinner has gone
    (a fragment's run, such as the map's, shows one without the status widget): the page at rest."""
    from playwright.sync_api import expect

    page.wait_for_timeout(500)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=600_000)
    expect(page.get_by_test_id("stSpinner")).to_have_count(0, timeout=600_000)


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory (VmHWM) in MiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None. Under GENVIZ_REQUIRE_BROWSER=1 (set by .ci/run)
    a missing browser raises instead: there the browser tests may not be skipped."""
    missing = None if importlib.util.find_spec("playwright") else "Playwright is not installed"
    missing = missing or (None if Path(CHROMIUM).is_file() else f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    if missing and os.environ.get("GENVIZ_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"browser tests required, but {missing}")
    return missing


@contextmanager
def served_app(trained: dict, root: Path, env: dict | None = None) -> Iterator[Server]:
    """`streamlit run app.py` over copies of the session's trained VAE, GAN and classifier under `root`,
    its output in root/streamlit.log; `env` adds to its environment."""
    for family in ("vae", "gan", "classifier"):
        shutil.copytree(trained[family].out, root / "checkpoints" / f"mnist-{family}")
    env = {"GENVIZ_CHECKPOINTS": str(root / "checkpoints"), "GENVIZ_CACHE_DIR": str(root / "cache"), **(env or {})}
    with serve("genviz/app.py", env, log=root / "streamlit.log") as running:
        yield running


def frames(canvas) -> int:
    """How many frames a live canvas of genviz's component has drawn (its data-frames counter)."""
    return int(canvas.evaluate("c => Number(c.dataset.frames || 0)"))


def wait_for_frame(canvas, after: int, timeout_s: float = 60) -> None:
    """Until the live canvas has drawn more than `after` frames."""
    deadline = time.monotonic() + timeout_s
    while frames(canvas) <= after:
        assert time.monotonic() < deadline, "no new frame drawn"
        time.sleep(0.02)


def drag_slider(page, slider, canvas, moves: int = 5) -> set[str]:
    """Drag `slider` from its left end to its right in `moves` moves with the mouse held down (and left down),
    waiting for a new frame of the live `canvas` after each: the canvas's pictures seen (data URLs), the first too."""
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    seen, count = {canvas.evaluate("c => c.toDataURL()")}, frames(canvas)
    page.mouse.move(box["x"] + 4, y)
    page.mouse.down()
    for i in range(1, moves + 1):
        page.mouse.move(box["x"] + 4 + i * (box["width"] - 8) / moves, y, steps=3)
        wait_for_frame(canvas, count)
        count = frames(canvas)
        seen.add(canvas.evaluate("c => c.toDataURL()"))
    return seen
