"""The explorer inside a notebook: a widget (anywidget) for JupyterLab, Notebook 7, VS Code, Colab and marimo that
shows a model's latent map, sliders, samples and paths, decoded in the browser, synced with Python.

    from genviz.notebook import Explorer
    explorer = Explorer("checkpoints/mnist-vae", view="map")
    explorer                      # the map: hover a point, lasso a cluster
    explorer.selected             # the lassoed points' indices, as a NumPy array
    explorer.view = "sliders"     # the same widget, another view
    explorer.latent = z           # the sliders start from z and the picture is decoded again

It is the app's and the static site's explorer (one TypeScript source: component/frontend/src/notebook.ts is its
third thin host). The model's files are the ones a static site holds (genviz.site.browser_model: the exported
decoder, the explore bundle's map and thumbnails, the latent statistics), made in memory and sent once as binary
buffers; the script and onnxruntime-web's WebAssembly come from the installed package, so it works offline.
"""

from os import PathLike
from pathlib import Path

import anywidget
import numpy as np
import traitlets
from safetensors.numpy import load as load_safetensors

from genviz import site

VIEWS = ("map", "sliders", "sample", "interpolate")
SCRIPT = "notebook.js"  # in genviz.site.BUILD


def _to_bytes(array: np.ndarray | None, _widget) -> memoryview | None:
    return None if array is None else memoryview(np.ascontiguousarray(array).tobytes())


def _from_bytes(dtype: str):
    def read(data, _widget) -> np.ndarray | None:
        return None if data is None else np.frombuffer(bytes(data), dtype=dtype).copy()

    return read


class Array(traitlets.TraitType):
    """A 1-D NumPy array of `dtype`, synced with the browser as little-endian bytes (a binary buffer)."""

    info_text = "a 1-D array"

    def __init__(self, dtype: str, **kwargs):
        self.dtype = np.dtype(dtype)
        super().__init__(default_value=np.zeros(0, self.dtype), **kwargs)
        self.tag(sync=True, to_json=_to_bytes, from_json=_from_bytes(self.dtype.str))

    def validate(self, obj, value) -> np.ndarray:
        array = np.asarray(value)
        if array.ndim != 1 or not (np.can_cast(array.dtype, self.dtype, "same_kind") or array.size == 0):
            self.error(obj, value, info=f"a 1-D array of {self.dtype.name}")
        array = array.astype(self.dtype)
        array.flags.writeable = False  # a copy of the browser's state: set the trait to change it
        return array


class Explorer(anywidget.AnyWidget):
    """A model's explorer in a notebook cell.

    Args:
        model: a checkpoint folder, or a genviz model loaded from one (`genviz.checkpoint.load_model`), a brought
            model included; its explore bundle is built first where it is missing or stale.
        view: the view shown first: "map", "sliders", "sample" or "interpolate".

    Traitlets, synced with the browser (watch them with `explorer.observe(callback, "selected")`):
        view: the view shown; set it to switch.
        selected: indices of the map's points picked (one) or selected with the box or lasso, int32 array.
        hovered: the map point under the mouse, or None.
        latent: the sliders' latent (D,) float32, starting at the map's first point; it follows the sliders, and
            setting it starts them again from it and draws its picture.
        seed: the Sample view's seed.
        ends: the Interpolate view's two ends as map point indices; () for the default pair.
        error: why the browser cannot show a view, in one line ("" when all is well).

    The map's points, as NumPy arrays (index them with `selected`): coords (N, 2), labels (N,) int16 (-1 where
    none), latents (N, D) float32, and numbers (N,) int32 (a test image's number in the test set; None for a map
    of prior samples).
    """

    _esm = site.BUILD / SCRIPT
    view = traitlets.Enum(VIEWS, default_value="map").tag(sync=True)
    selected = Array("int32", read_only=True)
    hovered = traitlets.Int(None, allow_none=True, read_only=True).tag(sync=True)
    latent = Array("float32")
    seed = traitlets.Int(0, min=0, max=2**31 - 1).tag(sync=True)
    ends = traitlets.Tuple((), help="two map point indices").tag(sync=True)
    error = traitlets.Unicode("", read_only=True).tag(sync=True)
    # Sent once, as binary buffers: the model's files (those of a static site's models/<name>/) and the runtime.
    _info = traitlets.Dict().tag(sync=True)
    _decoder = traitlets.Bytes().tag(sync=True)
    _map = traitlets.Bytes().tag(sync=True)
    _latent_stats = traitlets.Bytes().tag(sync=True)
    _tiles = traitlets.List(traitlets.Bytes()).tag(sync=True)
    _wasm = traitlets.Bytes().tag(sync=True)

    def __init__(self, model: "str | PathLike | object", view: str = "map", **kwargs):
        loaded = None if isinstance(model, (str, PathLike)) else model
        folder = Path(model) if loaded is None else _folder_of(loaded)
        made = site.browser_model(folder, folder.resolve().name, model=loaded)
        tiles = [path.read_bytes() for path in made.tiles]
        names = [f"tile_{t:03d}.png" for t in range(len(tiles))]
        points = load_safetensors(made.files[site.MAP_FILE])
        self.coords = points["coords"]  # (N, 2) where each point is on the map
        self.labels = points["labels"]  # (N,) int16 class, -1 where none
        self.latents = points["latents"]  # (N, D) float32
        self.numbers = points.get("numbers")  # (N,) int32 a test image's number in the test set; None for samples
        self._points = len(self.labels)
        wasm = site.BUILD / site.WASM
        if not wasm.is_file() or not (site.BUILD / SCRIPT).is_file():
            raise site.SiteError(f"{site.BUILD}: lacks {SCRIPT} or {site.WASM}; rebuild the component: make component")
        super().__init__(
            view=view,
            latent=points["latents"][0],  # (D,) the first map point's
            _info=made.description("", names),
            _decoder=made.files[site.DECODER_FILE],
            _map=made.files[site.MAP_FILE],
            _latent_stats=made.files[site.LATENT_FILE],
            _tiles=tiles,
            _wasm=wasm.read_bytes(),
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"Explorer({self._info['name']}, view={self.view!r}, {self._points:,} points)"

    @traitlets.validate("latent")
    def _check_latent(self, proposal) -> np.ndarray:
        value, dim = proposal["value"], self._info.get("latent_dim") if self._info else None
        if dim is not None and value.shape != (dim,):
            raise traitlets.TraitError(f"latent: {self._info['name']} has {dim} latent dimensions, not {value.shape}")
        if not np.isfinite(value).all():
            raise traitlets.TraitError("latent: holds NaN or infinite values")
        return value

    @traitlets.validate("ends")
    def _check_ends(self, proposal) -> tuple:
        ends = tuple(proposal["value"])
        points = all(isinstance(i, (int, np.integer)) and 0 <= i < self._points for i in ends)
        if ends and (len(ends) != 2 or not points):
            raise traitlets.TraitError(f"ends: two map point indices from 0 to {self._points - 1}, or (), not {ends}")
        return tuple(int(i) for i in ends)


def _folder_of(model) -> Path:
    """The checkpoint folder a loaded model came from (its decoder export and explore bundle live there)."""
    where = getattr(model, "checkpoint", None)
    if where is None:
        raise site.SiteError(
            f"{type(model).__name__}: not loaded from a checkpoint folder; save it with "
            "genviz.checkpoint.save_checkpoint (or bring it with genviz bring) and pass the folder, or the model "
            "load_model gives"
        )
    return Path(where.path)
