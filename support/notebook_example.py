"""The example notebook (examples/explore_in_a_notebook.ipynb), run top to bottom by nbclient in its own folder, as
the docs show it: `python -m support.notebook_example` runs it and stores its outputs in it (the widgets' state
left out: each explorer's files would make it megabytes), and writes its picture, the lassoed cluster's mean images,
to docs/notebook/cluster.png for docs/notebook.md. tests/test_notebook.py runs it afresh and checks both."""

import argparse
import base64
import os
import sys
from pathlib import Path

import nbclient
import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "explore_in_a_notebook.ipynb"
PICTURE = ROOT / "docs" / "notebook" / "cluster.png"


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


def main() -> int:
    argparse.ArgumentParser(description="Run the example notebook, store its outputs and its picture for the docs.")
    notebook = run_example()
    for cell in notebook.cells:
        cell.get("metadata", {}).pop("execution", None)  # timings: a rerun would change the file for nothing
    nbformat.write(notebook, NOTEBOOK)
    (picture,) = pictures(notebook)
    PICTURE.parent.mkdir(exist_ok=True)
    PICTURE.write_bytes(picture)
    print(f"{NOTEBOOK.relative_to(ROOT)}: run, outputs stored; {PICTURE.relative_to(ROOT)} written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
