"""The example notebook (examples/explore_in_a_notebook.ipynb), run top to bottom by nbclient in its own folder, as
the docs show it: `python -m support.notebook_example` runs it and stores its outputs in it (the widgets' state
left out: each explorer's files would make it megabytes), and writes its picture, the lassoed cluster's mean images,
to docs/notebook/cluster.png for docs/notebook.md. tests/test_notebook.py runs it afresh and checks both.

It also takes the docs' pictures of the widget itself, which a stored notebook cannot show: an explorer of the
shipped mnist-vae in a real JupyterLab in Chromium, its map and its sliders (docs/notebook/widget-<view>.png).
tests/test_notebook_browser.py takes them the same way."""

import argparse
import base64
import os
import sys
import tempfile
from pathlib import Path

import nbclient
import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "explore_in_a_notebook.ipynb"
PICTURE = ROOT / "docs" / "notebook" / "cluster.png"
WIDGET_VIEWS = ("map", "sliders")  # pictured as docs/notebook/widget-<view>.png
WIDGET_CELL = (
    f"from genviz.notebook import Explorer\nexplorer = Explorer({str(ROOT / 'checkpoints' / 'mnist-vae')!r})\nexplorer"
)
# A view drawn: the map's points with its decoder ready, or the sliders' picture.
DRAWN = {
    "map": "() => { const c = document.querySelector('[data-testid=map-canvas]');"
    " return c && Number(c.dataset.draws) > 0 && c.dataset.decoder === 'ready'; }",
    "sliders": "() => Number(document.querySelector('canvas[data-testid=live-canvas]')?.dataset.frames || 0) > 0",
}


def run_example(path: Path = NOTEBOOK) -> nbformat.NotebookNode:
    """The notebook at `path` after a run in its folder with the python3 kernel; CellExecutionError on an error."""
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=False,
    )  # fmt: skip
    # The kernel imports genviz from this checkout, whichever one the environment installed.
    path_list = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    client.execute(env={**os.environ, "PYTHONPATH": os.pathsep.join(path_list)})
    return notebook


def pictures(notebook: nbformat.NotebookNode) -> list[bytes]:
    """The PNG pictures the notebook's cells show, in order."""
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if "image/png" in output.get("data", {}):
                found.append(base64.b64decode(output["data"]["image/png"]))
    return found


def shoot_widget(page, kernel, out: Path) -> list[Path]:
    """The explorer's output area in each of WIDGET_VIEWS, once drawn, as out/widget-<view>.png; `page` shows a
    notebook whose cell made `explorer`, and `kernel` is a client of its kernel."""
    output = page.locator(".jp-OutputArea-output").first
    paths = []
    for view in WIDGET_VIEWS:
        reply = kernel.execute_interactive(f"explorer.view = {view!r}", timeout=120)
        assert reply["content"]["status"] == "ok", reply["content"]
        page.wait_for_function(DRAWN[view], timeout=120_000)
        page.wait_for_timeout(1000)  # the map's thumbnails and the last frame
        paths.append(out / f"widget-{view}.png")
        output.screenshot(path=paths[-1])
    return paths


def take_widget_pictures(out: Path = PICTURE.parent) -> list[Path]:
    """shoot_widget in a JupyterLab of its own over one notebook holding WIDGET_CELL."""
    from playwright.sync_api import sync_playwright

    from support.browser import CHROMIUM, FLAGS
    from support.jupyter import kernel_of, lab_server, open_and_run

    with tempfile.TemporaryDirectory(prefix="genviz-lab-") as home, sync_playwright() as p:
        with lab_server(Path(home), {"widget.ipynb": [WIDGET_CELL]}) as lab:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                page = open_and_run(browser, lab, "widget.ipynb", [], [])
                page.wait_for_function(DRAWN["map"], timeout=300_000)
                kernel = kernel_of(lab, "widget.ipynb")
                try:
                    return shoot_widget(page, kernel, out)
                finally:
                    kernel.stop_channels()
            finally:
                browser.close()


def main() -> int:
    argparse.ArgumentParser(
        description="Run the example notebook, store its outputs and its picture for the docs, and take the docs' "
        "pictures of the widget in JupyterLab."
    ).parse_args()
    notebook = run_example()
    for cell in notebook.cells:
        cell.get("metadata", {}).pop("execution", None)  # timings: a rerun would change the file for nothing
    nbformat.write(notebook, NOTEBOOK)
    (picture,) = pictures(notebook)
    PICTURE.parent.mkdir(exist_ok=True)
    PICTURE.write_bytes(picture)
    print(f"{NOTEBOOK.relative_to(ROOT)}: run, outputs stored; {PICTURE.relative_to(ROOT)} written")
    for path in take_widget_pictures():
        print(f"{path.relative_to(ROOT)} written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
