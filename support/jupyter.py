"""JupyterLab (from PyPI) driven in Chromium, for the notebook widget's browser test and the docs' pictures of it:
a server over a folder of notebooks, isolated from the user's Jupyter settings; a page with a notebook open and its
first cell run from the keyboard; a second client of the kernel that page's notebook runs in."""

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat

from support.browser import ROOT, free_port


@contextmanager
def lab_server(home: Path, notebooks: dict[str, list[str]]) -> Iterator[dict]:
    """A JupyterLab server over `home`/notebooks, holding a notebook per name with those code cells; yields its
    base URL, token and runtime folder (where its kernels' connection files are)."""
    (home / "notebooks").mkdir()
    for name, cells in notebooks.items():
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell) for cell in cells])
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(notebook, home / "notebooks" / name)
    news = home / "settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')  # no news toast over the map
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),  # the kernel imports genviz from this checkout
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
    }
    port, token = free_port(), secrets.token_hex(16)
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={home / 'notebooks'}",
        "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]  # fmt: skip
    log = (home / "lab.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None:
                    raise RuntimeError(f"JupyterLab ended before it answered:\n{(home / 'lab.log').read_text()}")
                time.sleep(0.3)
        yield {"base": base, "token": token, "runtime": home / "runtime"}
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def open_and_run(browser, lab: dict, name: str, requests: list, errors: list, script: str = ""):
    """A page (a fresh context) with notebook `name` open in JupyterLab, `script` run before the page's own, and its
    one cell run from the keyboard once its kernel is idle; every request and page error recorded."""
    page = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    if script:
        page.add_init_script(script)
    # A workspace of its own, reset: the page shows this notebook alone, not the tabs another page left open.
    workspace = Path(name).stem
    page.goto(f"{lab['base']}/lab/workspaces/{workspace}/tree/{name}?reset&token={lab['token']}")
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=120_000)
    page.locator(".jp-Notebook .jp-Cell .cm-content").first.click()
    page.keyboard.press("Shift+Enter")
    return page


def kernel_of(lab: dict, name: str):
    """A second client of the kernel JupyterLab runs notebook `name` in (its session says which)."""
    from jupyter_client import BlockingKernelClient

    with urllib.request.urlopen(f"{lab['base']}/api/sessions?token={lab['token']}") as answer:
        (session,) = [s for s in json.load(answer) if s["path"] == name]
    kernel = BlockingKernelClient(connection_file=str(lab["runtime"] / f"kernel-{session['kernel']['id']}.json"))
    kernel.load_connection_file()
    kernel.start_channels()
    kernel.wait_for_ready(timeout=60)
    return kernel
