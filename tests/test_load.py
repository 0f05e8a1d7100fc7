"""Twenty users at once in real browsers: no errors, and no one sees another's seed, latent or upload.

One `streamlit run app.py` over copies of the session's trained checkpoints and one Chromium with a
browser context (its own Streamlit session) per user, driven by `support.users` as `benchmarks.load` drives
them. Skipped when Chromium or Playwright is missing, unless GENVIZ_REQUIRE_BROWSER=1, as
tests/test_browser.py is.
"""

import asyncio
import urllib.request

import pytest

from support.browser import CHROMIUM, missing_browser, served_app

MISSING = missing_browser()
pytestmark = [pytest.mark.skipif(bool(MISSING), reason=MISSING or ""), pytest.mark.browser, pytest.mark.slow]
if not MISSING:  # it drives Playwright
    from playwright.async_api import async_playwright

    from support.users import LOAD_FLAGS, Session, cross_check, lockstep, png

SESSIONS = 20


@pytest.fixture(scope="module")
def server(trained, tmp_path_factory):
    """The running app over copies of the session's trained checkpoints, and its log."""
    root = tmp_path_factory.mktemp("load")
    # The sessions move Streamlit's sliders, decoded on the server: the path that 20 users load.
    with served_app(trained, root, {"GENVIZ_BROWSER_DECODE": "0"}) as running:
        yield running, root / "streamlit.log"


async def twenty_users(url: str, pictures: list[bytes]) -> tuple[list, list[str]]:
    """The sessions after `lockstep`, and the pictures any two of them were both shown."""
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=LOAD_FLAGS)
        try:
            sessions = await asyncio.gather(
                *(Session.open(browser, url, i, timeout_ms=300_000) for i in range(SESSIONS))
            )
            await lockstep(sessions, pictures)
            for s in sessions:
                await s.close()
            return sessions, cross_check(sessions)
        finally:
            await browser.close()


def test_twenty_sessions_at_once_see_only_their_own_state(server, mnist_test):
    """Each user moves its own latent slider, types its own seed and uploads its own digit under its own
    name, waits until all the others have done the same on that page, reruns the page and checks it
    again; and the server is still up and has logged no exception."""
    running, log = server
    pictures = [png(mnist_test.images[i, 0].numpy()) for i in range(SESSIONS)]
    sessions, shared = asyncio.run(twenty_users(running.url, pictures))
    assert [e for s in sessions for e in s.errors] == []
    assert [v for s in sessions for v in s.violations] == []
    assert shared == []
    # every session was shown its own pictures: the sample grid of its seed and its upload
    assert all(len(s.seen) == 2 for s in sessions)
    assert running.process.poll() is None
    assert urllib.request.urlopen(f"{running.url}/_stcore/health", timeout=30).read() == b"ok"
    assert "Traceback" not in log.read_text()
