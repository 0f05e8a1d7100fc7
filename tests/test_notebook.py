"""genviz.notebook.Explorer on the Python side: the model's files it sends are a static site's, as binary buffers
beside a small JSON state; the traitlets the browser sets arrive as NumPy arrays, those Python sets are checked; a
loaded model (a brought one too) works as its folder does. And the example notebook runs top to bottom with nbclient,
its stored outputs and the docs' picture being what it shows (slow). The widget in a real JupyterLab:
tests/test_notebook_browser.py."""

import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import traitlets
from ipywidgets.widgets.widget import _remove_buffers
from PIL import Image

from genviz import site
from genviz.checkpoint import load_model
from genviz.explore import load_bundle
from genviz.export import cached_decoder
from genviz.models.vae import VAE, VAEConfig
from genviz.notebook import Explorer
from support.notebook_example import NOTEBOOK, PICTURE, WIDGET_VIEWS, pictures, run_example

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS = ROOT / "checkpoints"


@pytest.fixture(scope="module")
def explorer():
    return Explorer(CHECKPOINTS / "mnist-vae")


def test_it_sends_the_sites_files_and_the_packages_runtime(explorer):
    folder = CHECKPOINTS / "mnist-vae"
    bundle = load_bundle(folder)
    assert explorer._decoder == cached_decoder(folder).read_bytes()
    assert explorer._wasm == (site.BUILD / site.WASM).read_bytes()
    assert explorer._tiles == [tile.read_bytes() for tile in bundle.tiles]
    info = explorer._info
    for name, data in [("decoder.onnx", explorer._decoder), ("map.safetensors", explorer._map)]:
        assert info["files"][name] == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    assert info["latent_dim"] == 16 and info["map"]["n"] == len(explorer.labels) == 5000
    assert info["thumbnails"]["tiles"] == [f"tile_{t:03d}.png" for t in range(len(bundle.tiles))]
    projection = bundle.map("umap")
    assert np.array_equal(explorer.coords, projection.coords) and np.array_equal(explorer.latents, projection.latents)
    assert np.array_equal(explorer.latent, projection.latents[0])  # the sliders start at the first point
    assert np.array_equal(explorer.numbers, bundle.positions)


def test_large_data_crosses_as_binary_buffers_beside_a_small_json_state(explorer):
    state, paths, buffers = _remove_buffers(explorer.get_state())
    buffered = {path[0] for path in paths}  # a tile's path is ["_tiles", t]
    assert buffered == {"_decoder", "_map", "_latent_stats", "_tiles", "_wasm", "latent", "selected"}
    assert sum(len(b) for b in buffers) > 15e6  # the runtime alone is 14 MB
    state.pop("_esm")  # the script, read from the package's build folder
    assert len(json.dumps(state)) < 20_000


def test_what_the_browser_sets_arrives_as_numpy_arrays(explorer):
    explorer.set_state({"selected": memoryview(np.array([4, 8, 15], "<i4").tobytes()), "hovered": 16})
    assert explorer.selected.dtype == np.int32 and explorer.selected.tolist() == [4, 8, 15]
    assert explorer.hovered == 16
    z = np.linspace(-1, 1, 16, dtype=np.float32)
    explorer.set_state({"latent": memoryview(z.tobytes())})
    assert np.array_equal(explorer.latent, z)
    sent = explorer.get_state("latent")["latent"]
    assert np.array_equal(np.frombuffer(bytes(sent), "<f4"), z)
    with pytest.raises(ValueError):
        explorer.latent[0] = 5  # a copy of the browser's state: set the trait to change it


def test_what_python_sets_is_checked(explorer):
    with pytest.raises(traitlets.TraitError, match="mnist-vae has 16 latent dimensions"):
        explorer.latent = np.zeros(3)
    with pytest.raises(traitlets.TraitError, match="NaN"):
        explorer.latent = np.full(16, np.nan)
    with pytest.raises(traitlets.TraitError, match="two map point indices from 0 to 4999"):
        explorer.ends = (1, 5000)
    with pytest.raises(traitlets.TraitError):
        explorer.view = "compare"
    with pytest.raises(traitlets.TraitError):
        explorer.selected = [1, 2]  # the browser's, read-only in Python
    explorer.latent = [0.5] * 16
    assert explorer.latent.dtype == np.float32
    explorer.view, explorer.ends = "interpolate", (3, 9)
    assert explorer.get_state("view") == {"view": "interpolate"} and explorer.ends == (3, 9)


def test_a_loaded_model_is_explored_as_its_folder_is_a_brought_one_included():
    model = load_model(CHECKPOINTS / "mnist-pytorch-vae", device="cpu")
    brought = Explorer(model, view="sliders")
    assert brought.view == "sliders" and brought._info["name"] == "mnist-pytorch-vae"
    assert brought._decoder == cached_decoder(CHECKPOINTS / "mnist-pytorch-vae").read_bytes()
    assert repr(brought) == "Explorer(mnist-pytorch-vae, view='sliders', 5,000 points)"


def test_a_model_without_a_folder_or_a_latent_space_is_refused_with_a_reason():
    with pytest.raises(site.SiteError, match="not loaded from a checkpoint folder"):
        Explorer(VAE(VAEConfig()))
    with pytest.raises(site.SiteError, match="mnist-classifier: a classifier has no latent space"):
        Explorer(CHECKPOINTS / "mnist-classifier")


def test_the_widget_imports_neither_streamlit_nor_the_apps_folders():
    code = "import json, sys, genviz.notebook; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = json.loads(done.stdout)
    assert not {"streamlit", "ui", "component", "training", "views"} & set(loaded)


@pytest.mark.slow
def test_the_example_notebook_runs_and_shows_what_its_stored_outputs_and_the_docs_show():
    fresh, stored = run_example(), nbformat.read(NOTEBOOK, as_version=4)

    def texts(notebook):
        return [
            (o.get("text") or o.get("data", {}).get("text/plain", ""))
            for cell in notebook.cells
            for o in cell.get("outputs", [])
            if "image/png" not in o.get("data", {})
        ]

    assert texts(fresh) == texts(stored)
    assert any("points:" in text for text in texts(fresh))
    (picture,) = pictures(fresh)
    assert pictures(stored) == [PICTURE.read_bytes()]  # the docs' picture is the stored output
    with Image.open(PICTURE) as want, Image.open(io.BytesIO(picture)) as got:
        assert got.size == want.size
        assert np.abs(np.asarray(got, np.int16) - np.asarray(want, np.int16)).max() <= 1
    # The docs page shows every code cell.
    page = (ROOT / "docs" / "notebook.md").read_text()
    assert [cell.source for cell in stored.cells if cell.cell_type == "code" and cell.source not in page] == []


def test_every_picture_of_the_notebook_page_is_one_the_script_takes_and_is_shown():
    taken = {PICTURE.name, *(f"widget-{view}.png" for view in WIDGET_VIEWS)}
    assert {p.name for p in PICTURE.parent.iterdir()} == taken
    page = (ROOT / "docs" / "notebook.md").read_text()
    assert [name for name in sorted(taken) if f"notebook/{name}" not in page] == []
