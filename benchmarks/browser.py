"""What the benchmarks that time the app in a browser share: a live `streamlit run` and Debian's Chromium
driven by Playwright, as `tests/test_browser.py` runs them."""

import os
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
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


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
    script: str | Path = "app.py", env: dict | None = None, timeout: float = 120, log: Path | None = None
) -> Iterator[Server]:
    """`streamlit run <script>` on a free port over the shipped checkpoints and an empty map cache (unless
    `env` says otherwise); yields once its health endpoint answers, and stops it afterwards. Its output
    goes to `log` when given, else nowhere."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="genviz-bench-") as cache, ExitStack() as files:
        env = {"GENVIZ_CHECKPOINTS": str(ROOT / "checkpoints"), "GENVIZ_CACHE_DIR": cache, **(env or {})}
        command = [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
                   "--server.port", str(port), "--server.fileWatcherType", "none",
                   "--browser.gatherUsageStats", "false"]  # fmt: skip
        output = files.enter_context(open(log, "w")) if log else subprocess.DEVNULL  # closed after the process
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **env}, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            url = f"http://127.0.0.1:{port}"
            while True:
                try:
                    urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                    break
                except OSError:
                    if process.poll() is not None or time.perf_counter() - started > timeout:
                        raise RuntimeError(f"streamlit did not start: exit code {process.poll()}") from None
                    time.sleep(0.02)
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
    """Until an `st.image` picture has loaded and the frame after it has been drawn."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stImage] img')].some(i => i.complete && i.naturalWidth)",
        timeout=timeout_ms,
    )
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory (VmHWM) in MiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")
