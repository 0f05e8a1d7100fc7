"""genviz's Streamlit component: a model's decoder run in the browser.

`decoder_canvas` sends an ONNX decoder and latents to the page, where onnxruntime-web (WebAssembly,
single-threaded) decodes them and a canvas draws them as a grid; the browser reports back whether that
worked. The frontend's source is in the checkout's `component/frontend/`; its build, committed and shipped in the
package, in `build/` (`make component` rebuilds it from the lockfile, `make component-check` checks a rebuild gives
the same bytes).

Streamlit's components v1 API (`declare_component(path=...)`) serves it: it serves any file of a plain
folder (the 14 MB .wasm beside the bundle) without installing a package, and it passes bytes arguments
to the browser in binary; Streamlit's message cache sends an unchanged element once per session. The live modes
(`latent_sliders`, `prior_grid`, `path_grid`) name their decoder by its SHA-256 and send its bytes only when the
browser asks: the browser keeps decoders and the runtime's WASM in IndexedDB, so each crosses the network once
per browser. `latent_map` (the "map" mode) sends its map data (`map_blob`) the same way.
"""

import base64
import functools
import hashlib
from pathlib import Path

import numpy as np
import streamlit as st
import streamlit.components.v1 as components

from genviz.mapdata import map_blob  # noqa: F401  (re-exported: it lives where streamlit is not imported)

BUILD = Path(__file__).resolve().parent / "build"


@functools.lru_cache(maxsize=8)
def _digest(data: bytes) -> str:
    """SHA-256 of a decoder, computed once per bytes object: a page passes the same cached object on every
    rerun, whose hash Python keeps, so a slider's release does not hash 2 MB again."""
    return hashlib.sha256(data).hexdigest() if data else ""


def _asked_arguments(name: str, data: bytes, ident: str, key: str | None) -> dict:
    """Large bytes as the live modes send them, named `name`: their id always ("" until there are any), the bytes
    only when the browser has asked for that id ({"need": id}: its own store lacks them), so that a rerun whose
    other arguments change does not send megabytes again, and a browser gets each once."""
    asked = (st.session_state.get(key) or {}).get("need") if key is not None else None
    payload = data if ident and asked == ident else b""
    # Their size too: Streamlit's frontend renders a component again only when a JSON argument changes, not bytes.
    return {name: payload, f"{name}_id": ident, f"{name}_size": len(payload)}


def _decoder_arguments(decoder: bytes | None, key: str | None) -> dict:
    """The decoder as a live mode sends it (`_asked_arguments`), named by its SHA-256."""
    model = bytes(decoder or b"")
    return _asked_arguments("decoder", model, _digest(model), key)


def _declared():
    """The component, registered with the running app: declared on each call, since Streamlit registers a
    declaration only inside a script run (a module imported before one would leave its files unserved)."""
    return components.declare_component("genviz_decoder_canvas", path=str(BUILD))


def decoder_canvas(
    decoder: bytes,
    latents: np.ndarray,
    image_shape: tuple[int, int, int],
    *,
    columns: int | None = None,
    scale: int = 2,
    report_pixels: bool = False,
    key: str | None = None,
) -> dict | None:
    """Decode `latents` in the browser with `decoder` and draw them as a grid; return what the browser reports.

    Args:
        decoder: the model's decoder exported to ONNX (`genviz.export.decoder_onnx`): input z (B, latent_dim)
            float32, output images (B, C, H, W) in [0, 1], dynamic batch. Sent as binary.
        latents: (N, D) latents, decoded as float32 in one batch. Sent as binary (float32, little-endian).
        image_shape: (C, H, W) of one decoded image, C 1 (grey) or 3 (RGB); the browser checks the output.
        columns: images per row of the grid; by default about square (ceil(sqrt(N))).
        scale: each image pixel is drawn as a scale x scale block of CSS pixels (crisp, no smoothing).
        report_pixels: also return the decoded images (for parity checks; 4 bytes a pixel, as base64 JSON).
        key: Streamlit's widget key; give one so that the canvas and its decoder session survive reruns.

    Returns:
        None until the browser has reported (the first run); then `{"ok": True, "n": N, "ms": decode time}`,
        plus `"pixels"`: an (N, C, H, W) float32 array when `report_pixels`; or `{"ok": False, "error": "..."}`
        when WebAssembly or the ONNX runtime fails in this browser, so the page can fall back to decoding on
        the server.
    """
    z = np.ascontiguousarray(latents, dtype="<f4")
    if z.ndim != 2:
        raise ValueError(f"latents must be (N, D), got shape {z.shape}")
    n = z.shape[0]
    value = _declared()(
        decoder=bytes(decoder),
        decoder_id=_digest(bytes(decoder)),
        latents=z.tobytes(),
        latent_shape=list(z.shape),
        image_shape=list(image_shape),
        columns=int(columns or max(1, int(np.ceil(np.sqrt(n))))),
        scale=int(scale),
        report_pixels=bool(report_pixels),
        key=key,
        default=None,
    )
    if not isinstance(value, dict):
        return None
    result = dict(value)
    if result.get("ok"):
        dims = tuple(result.pop("dims"))
        if dims[1:] != tuple(image_shape):
            return {"ok": False, "error": f"the decoder drew images of shape {dims[1:]}, not {tuple(image_shape)}"}
        if "pixels" in result:
            result["pixels"] = np.frombuffer(base64.b64decode(result["pixels"]), dtype="<f4").reshape(dims)
    return result


def latent_sliders(
    decoder: bytes | None,
    base: np.ndarray,
    image_shape: tuple[int, int, int],
    *,
    controls_id: str,
    dims: list[dict],
    directions: list[dict],
    direction_vectors: np.ndarray,
    class_spec: dict | None = None,
    class_vector: np.ndarray | None = None,
    traversal: dict | None = None,
    show: bool = False,
    size: int = 280,
    key: str | None = None,
) -> dict | None:
    """The Latent sliders page's controls, drawn and decoded in the browser on every input event while dragging.

    The browser recomposes z as `genviz.latent.edit_latent` does (each shown dimension set to its control,
    plus amount_k * spread_k * direction_k, plus the class amount times `class_vector`), decodes it with
    onnxruntime-web and draws it (`size` px, crisp pixels) with the latent as text; Python hears only on
    `change` (the hand lets go, or a key press).

    Args:
        decoder: the model's ONNX decoder (`genviz.export.cached_decoder`), its bytes sent only when the browser
            asks for them (`_decoder_arguments`); None or b""
            until the browser has said it is there (so that no export is made for a session without one).
        base: the start latent (D,), sent as float32.
        image_shape: (C, H, W) of one decoded image; the browser checks the decoder's output against it.
        controls_id: the controls are drawn again (at the values given) only when this changes, e.g. on a new
            start or Reset; otherwise the browser keeps its own values across reruns.
        dims: one dict per latent dimension shown: key (its name in the returned values), index, label, min,
            max, step, value.
        directions: one dict per principal direction: key, label, spread, min, max, step, value.
        direction_vectors: (K, D) the unit directions, row k for directions[k]; sent as float32.
        class_spec: the class direction's control (key, label, min, max, step, value), or None for none.
        class_vector: (D,) the class direction (mean of the target class minus the source's); may change
            without the controls being drawn again.
        traversal: the row under the controls, decoded with each z in the same batch: {"index": the dimension,
            "values": what it is set to in each picture, "caption": the row's caption}, or {"direction": k,
            "values": how many spreads each picture moves z along directions[k], "caption": ...}; None for no row.
        show: draw the controls; False keeps the component 0 px high while it loads and checks the decoder.
        size: the decoded image's width on the page, in CSS pixels (rounded to whole pixels per pixel).
        key: Streamlit's widget key; give one, so that the iframe and its decoder session survive reruns.

    Returns:
        None until the browser reports; `{"alive": True}` once it runs (without a decoder); `{"need": id}` when
        it lacks the decoder's bytes; then
        `{"ok": True, "controls_id": ..., "values": {key: value}, "z": [D floats]}` when the decoder has drawn
        the start latent and after each change; or `{"ok": False, "error": "..."}` when WebAssembly, the
        runtime or the decoder fails, so that the page can fall back to decoding on the server.
    """
    vectors = np.ascontiguousarray(direction_vectors, dtype="<f4")
    value = _declared()(
        mode="sliders",
        **_decoder_arguments(decoder, key),
        base=np.ascontiguousarray(base, dtype="<f4").tobytes(),
        image_shape=list(image_shape),
        controls_id=str(controls_id),
        dims=dims,
        directions=directions,
        direction_vectors=vectors.tobytes(),
        class_spec=class_spec,
        class_vector=np.ascontiguousarray(class_vector, dtype="<f4").tobytes() if class_vector is not None else b"",
        class_id=hashlib.sha256(np.ascontiguousarray(class_vector, dtype="<f4").tobytes()).hexdigest()[:16]
        if class_vector is not None
        else "",
        traversal=traversal,
        show=bool(show),
        size=int(size),
        key=key,
        default=None,
    )
    return dict(value) if isinstance(value, dict) else None


def _live_grid(decoder: bytes | None, key: str | None, **arguments) -> dict | None:
    value = _declared()(**_decoder_arguments(decoder, key), key=key, default=None, **arguments)
    return dict(value) if isinstance(value, dict) else None


def prior_grid(
    decoder: bytes | None,
    noise: np.ndarray,
    centre: np.ndarray,
    spread: np.ndarray,
    image_shape: tuple[int, int, int],
    *,
    controls_id: str,
    control: dict,
    columns: int,
    width: int,
    caption: str,
    show: bool = False,
    key: str | None = None,
) -> dict | None:
    """The Sample page's grid and its temperature or truncation control, recomputed and decoded in the browser
    on every input event: z = centre + eps * temperature * spread, or each entry of eps truncated
    (`GenerativeModel.prior_from_noise`).

    Args:
        decoder: the model's ONNX decoder, its bytes sent only when the browser asks; None or b"" until the browser
            has said it is there.
        noise: (N, D) the prior's standard normal draws for the page's seed (`genviz.latent.prior_noise`).
        centre, spread: (D,) the model's `latent_scale()`.
        image_shape: (C, H, W) of one decoded image; the browser checks the decoder's output against it.
        controls_id: the control is drawn again (at `control["value"]`) only when this changes: give it the
            seed, grid and control kind, so that a new draw starts from the value last set.
        control: key, label, min, max, step, value, and kind: "temperature" or "truncation".
        columns: images per row.
        width: the grid's width at most, in CSS pixels.
        caption: under the grid; "{value}" becomes the control's value.
        show: draw it; False keeps the component 0 px high while it loads and checks the decoder.
        key: Streamlit's widget key, so that the iframe and its decoder session survive reruns.

    Returns:
        None until the browser reports; {"alive": True} once it runs (without a decoder); {"need": id} when it
        lacks the decoder's bytes; then
        {"ok": True, "controls_id": ..., "values": {control key: value}} once the first grid is drawn and on each
        release; or {"ok": False, "error": "..."} when WebAssembly, the runtime or the decoder fails.
    """
    return _live_grid(
        decoder,
        key,
        mode="prior",
        noise=np.ascontiguousarray(noise, dtype="<f4").tobytes(),
        centre=np.ascontiguousarray(centre, dtype="<f4").tobytes(),
        spread=np.ascontiguousarray(spread, dtype="<f4").tobytes(),
        image_shape=list(image_shape),
        controls_id=str(controls_id),
        control=control,
        columns=int(columns),
        width=int(width),
        caption=caption,
        show=bool(show),
    )


def path_grid(
    decoder: bytes | None,
    ends: np.ndarray,
    centre: np.ndarray,
    image_shape: tuple[int, int, int],
    *,
    controls_id: str,
    method: dict,
    steps: dict,
    width: int,
    show: bool = False,
    key: str | None = None,
) -> dict | None:
    """The Interpolate page's strip (two ends) or grid (four corners) and its path and step controls, recomputed
    as `genviz.latent.interpolate` and `interpolate_grid` do and decoded in the browser on every input event.

    Args:
        decoder: the model's ONNX decoder, its bytes sent only when the browser asks; None or b"" until the browser
            has said it is there.
        ends: (2, D) start and end, or (4, D) corners: top-left, top-right, bottom-left, bottom-right.
        centre: (D,) the point slerp turns about (the model's latent centre).
        image_shape: (C, H, W) of one decoded image.
        controls_id: the controls are drawn again (at the values given) only when this changes.
        method: the path's radio buttons: label, options [{"value": "slerp", "label": ...}, ...], value.
        steps: the step count's range control: label, min, max, step, value.
        width: each picture's width at most, in CSS pixels; the whole shrinks to the page.
        show, key: as for `prior_grid`.

    Returns:
        As `prior_grid`, with values {"method": ..., "steps": ...}.
    """
    return _live_grid(
        decoder,
        key,
        mode="path",
        ends=np.ascontiguousarray(ends, dtype="<f4").tobytes(),
        centre=np.ascontiguousarray(centre, dtype="<f4").tobytes(),
        image_shape=list(image_shape),
        controls_id=str(controls_id),
        method=method,
        steps=steps,
        width=int(width),
        show=bool(show),
    )


def latent_map(
    decoder: bytes | None,
    data: bytes | None,
    *,
    data_id: str,
    class_names: list[str],
    image_shape: tuple[int, int, int],
    exact: dict | None = None,
    pick: dict | None = None,
    decode_caption: str = "Reconstruction",
    synthetic: int = 0,
    height: int = 560,
    point_size: float = 0,
    performance_mode: bool | None = None,
    moving: str = "auto",
    key: str | None = None,
) -> dict | None:
    """The Latent map page's map, drawn with WebGL (regl-scatterplot) and explored in the browser: pan and zoom,
    a thumbnail beside a hovered point, the decode of the latent blended from the enclosing Delaunay triangle
    where the cursor is over empty space, box and lasso selection, a legend that hides classes, and a pick panel.

    Args:
        decoder: the model's ONNX decoder (`genviz.export.cached_decoder`), named by its SHA-256 and its bytes sent
            only when the browser asks; None or b"" until the browser has said it is there.
        data: the map's data (`map_blob`), sent only when the browser asks for `data_id`; None is fine otherwise
            (the browser keeps it in IndexedDB, so a reload sends nothing).
        data_id: names `data`; it must change whenever the data does (e.g. a hash, or the map's fingerprint and
            settings). "" with `data` given: its SHA-256.
        class_names: label k's name; -1 is "unlabelled".
        image_shape: (C, H, W) of one decoded image (and thumbnail); the browser checks the decoder against it.
        exact: Python's answer to the last empty-space pick: {"seq": its seq, "x", "y", "z": [D floats], "label":
            the caption, e.g. "UMAP inverse"}; the pick panel decodes and shows z beside the blended preview.
        pick: the pick to show when the map is drawn (a link's): {"kind": "point", "index"}, {"kind": "space", "x",
            "y"} or {"kind": "region", "index": [...]}; later picks are the hand's.
        decode_caption: the pick panel's caption of a point's decoded latent ("Reconstruction" for encoded images;
            a map of prior samples shows their decodes).
        synthetic: benchmarks only: draw this many seeded points in 10 Gaussian clusters generated in the browser,
            with no data and no decoder (`data` and `decoder` are ignored).
        height: the map's height in CSS pixels; it fills the component's width, less the side panel.
        point_size: points' size in pixels; 0 picks one by the number of points (5, 3 above 20,000, 2 above 200,000).
        performance_mode: regl-scatterplot's performanceMode (square points, no blending); None: from 500,000 points.
        moving: how pan and zoom are drawn. "direct": regl-scatterplot's own camera redraws every point on each
            move. "snapshot": the browser moves a picture of the last full draw (scaled and shifted on a 2-D
            canvas) while the hand moves, and redraws the points once, crisply, when no input has come for 150 ms.
            "auto" (the default): "snapshot" while a full draw takes longer than a 60 Hz frame (16 ms; from some
            50,000 points in software WebGL), else "direct".
        key: Streamlit's widget key; give one, so that the iframe, its map and decoder survive reruns.

    Returns:
        None until the browser reports; {"alive": True, ...} once the map is drawn while no decoder is named;
        {"need": id} when it lacks the data's or the decoder's bytes (the data first); then
        {"ok": True, "drawn": N, "pick": pick or None, "seq": k} once the map is drawn and the decoder loaded,
        and after each pick (k counts them), where pick is {"kind": "point", "index", "x", "y"},
        {"kind": "space", "x", "y", "triangle": [a, b, c] or None, "weights": [3 floats] or None} (None outside
        the convex hull; the latent there is sum_i weights[i] * latents[triangle[i]]) or
        {"kind": "region", "index": [sorted point indices]} (box or lasso); or {"ok": False, "error": "..."} when
        WebGL, WebAssembly or the decoder fails, so that the page can fall back to its server-drawn map.
        Hovering never reports.
    """
    if moving not in ("auto", "snapshot", "direct"):
        raise ValueError(f'moving must be "auto", "snapshot" or "direct", got {moving!r}')
    blob = bytes(data or b"")
    ident = str(data_id) or _digest(blob)
    value = _declared()(
        mode="map",
        **_decoder_arguments(None if synthetic else decoder, key),
        **_asked_arguments("data", b"" if synthetic else blob, "" if synthetic else ident, key),
        class_names=list(class_names),
        image_shape=list(image_shape),
        exact=exact,
        pick=pick,
        decode_caption=decode_caption,
        synthetic=int(synthetic),
        height=int(height),
        point_size=float(point_size),
        performance_mode=performance_mode,
        moving=moving,
        key=key,
        default=None,
    )
    return dict(value) if isinstance(value, dict) else None


def drawing_pad(*, key: str, pad_id: str = "", size: int = 280) -> bytes | None:
    """A drawing pad (mouse, pen or finger): dark ink on a light square, with Clear and the pen's width.

    Args:
        key: Streamlit's widget key; give one, so that the drawing survives reruns.
        pad_id: a new id gives a clean sheet (e.g. another model, whose inputs differ).
        size: the pad's side in CSS pixels (and its picture's in pixels).

    Returns:
        The drawing as PNG bytes after each finished stroke, for the page to prepare as an upload
        (`genviz.preparation.upload_to_input`); None before the first stroke and after Clear.
    """
    value = _declared()(mode="pad", pad_id=str(pad_id), size=int(size), key=key, default=None)
    return bytes(value) if isinstance(value, (bytes, bytearray, memoryview)) else None
