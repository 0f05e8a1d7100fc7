"""genviz as a user installs it: the wheel `python -m build` makes, installed into a fresh virtual environment
outside the checkout (its dependencies at requirements.txt's versions), and run from another folder: `genviz --help`
and `python -m genviz --help` answer, and `genviz serve` on a copied checkpoint folder draws the home page's
samples and the latent map in Chromium. Nothing of the checkout is on the path: this shows the app finds its pages,
settings and browser component in the installed package.

The environment takes under a minute and 7 GB of disk to install (torch's wheels, from pip's cache)."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.browser import CHROMIUM, FLAGS, ROOT, free_port, missing_browser, settled, wait_until_healthy
from support.screenshots import PAINTED

MISSING = missing_browser()
pytestmark = [pytest.mark.skipif(bool(MISSING), reason=MISSING or ""), pytest.mark.browser, pytest.mark.slow]
MODEL = "mnist-vae"


def run(command: list, cwd: Path, env: dict) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(map(str, command))} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the fresh environment's bin folder, a folder outside the checkout, the environment to run in)."""
    root = tmp_path_factory.mktemp("installed")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GENVIZ_CHECKPOINTS", "VIRTUAL_ENV")}
    env["GENVIZ_CACHE_DIR"] = str(root / "cache")
    run([sys.executable, "-m", "build", "--wheel", "--outdir", root / "dist", ROOT], root, env)
    shutil.rmtree(ROOT / "build", ignore_errors=True)  # setuptools' scratch folder, left in the checkout
    (wheel,) = (root / "dist").glob("genviz-*.whl")
    run([sys.executable, "-m", "venv", root / "venv"], root, env)
    bin = root / "venv" / "bin"
    # No .pyc files written ahead: Python compiles what it imports, and the install takes less time.
    pins = ["--constraint", ROOT / "requirements.txt"]
    run([bin / "pip", "install", "--quiet", "--no-compile", *pins, wheel], root, env)
    work = root / "work"
    # A checkpoint folder copied with the thumbnails its explore bundle shares with the shipped ones.
    for name in (MODEL, "thumbnails"):
        shutil.copytree(ROOT / "checkpoints" / name, work / "models" / name)
    yield bin, work, env
    shutil.rmtree(root / "venv")  # 7 GB


def test_the_installed_package_runs_from_its_own_files(installed):
    bin, work, env = installed
    where = run([bin / "python", "-c", "import genviz.app, genviz.cli; print(genviz.cli.__file__)"], work, env)
    assert Path(where.strip()).is_relative_to(bin.parent), f"genviz was imported from {where}"
    said = run([bin / "genviz", "--help"], work, env)
    for command in ("serve", "train", "evaluate", "export", "explore", "bring", "site"):
        assert f"    {command} " in said, f"genviz --help does not list {command}:\n{said}"
    assert run([bin / "python", "-m", "genviz", "--help"], work, env) == said
    assert "usage: genviz serve" in run([bin / "genviz", "serve", "--help"], work, env)


def test_genviz_serve_on_a_copied_checkpoint_draws_the_home_page_and_the_map(installed, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    bin, work, env = installed
    port = free_port()
    env = {**env, "STREAMLIT_SERVER_HEADLESS": "true"}
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [bin / "genviz", "serve", f"models/{MODEL}", "--port", str(port)],
            cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    points = json.loads((work / "models" / MODEL / "explore" / "meta.json").read_text())["n"]
    try:
        wait_until_healthy(url, server, time.perf_counter(), 120, "genviz serve")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(300_000)
            page.goto(url)
            page.get_by_role("heading", name="genviz", exact=True).wait_for()
            page.wait_for_function(PAINTED, polling=100, timeout=300_000)
            settled(page)
            expect(page.get_by_test_id("stException")).to_have_count(0)
            page.goto(f"{url}/map?model={MODEL}")
            canvas = page.frame_locator("iframe[title*=genviz_decoder_canvas]").locator("[data-testid=map-canvas]")
            expect(canvas).to_have_attribute("data-points", str(points), timeout=300_000)  # the bundle's
            expect(page.get_by_test_id("stException")).to_have_count(0)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    said = log.read_text()
    assert "Traceback" not in said, said
