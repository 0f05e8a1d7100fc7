"""Interpolate: a path through latent space between two endpoints as a strip, or between four as a grid,
drawn on the latent map and exported as PNG, GIF and MP4."""

import functools
import hashlib
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from genviz import latent as lt
from genviz import ui
from genviz.component import path_grid
from genviz.pictures import MP4_AVAILABLE, gif_bytes, mp4_bytes, png_bytes, to_pil

st.title("Interpolate")
picked = ui.model_picker()
if not picked:
    st.stop()
path, model = picked
centre, _ = model.latent_scale()

ui.linked("grid", "interp_four", ui.flag, False)
four = st.toggle("Four endpoints: a 2-D grid", key="interp_four", help="Corners of a grid, interpolated bilinearly")
labels = ["Top left", "Top right", "Bottom left", "Bottom right"] if four else ["Start", "End"]
sources = [st.session_state.get(f"interp_source_{k}") for k in range(len(labels))]
fit, invert = ("pad", None)
if "Upload" in sources:
    with st.expander("How uploads are fitted", expanded=True):
        fit, invert = ui.fit_controls(model, "interp")
ends = []
for k, (column, label) in enumerate(zip(st.columns(len(labels)), labels, strict=True)):
    with column:
        ends.append(ui.endpoint(model, path, label, k, fit, invert))
for unused in (f"{what}{n}" for n in range(len(labels) + 1, 5) for what in ("source", "class", "image", "seed")):
    ui.drop_from_url(unused)  # the corners a strip does not use
if any(z is None for z in ends):
    st.stop()

PATHS = {"slerp": "Spherical (slerp)", "linear": "Linear"}  # in the order of lt.INTERPOLATIONS
ui.linked("path", "interp_method", ui.choice(lt.INTERPOLATIONS), lt.INTERPOLATIONS[0])
ui.linked("steps", "interp_steps", ui.integer(2, 32), 8)
method, steps = st.session_state.interp_method, st.session_state.interp_steps
# In the browser, the path and the step count recompute and redraw the strip while they move (ui.live).
key = f"interp-live-{path}"
live = ui.live(path, key, "The path decodes")
if live is not None:
    corners = torch.stack(ends).float().cpu()
    controls_id = f"{path}|{four}|{hashlib.sha256(corners.numpy().tobytes()).hexdigest()[:16]}"
    path_grid(
        live.decoder, corners.numpy(), centre.float().cpu().numpy(), tuple(model.image_shape),
        controls_id=controls_id, width=96, show=live.drawn, key=key,
        method={"label": "Path", "value": method, "options": [{"value": m, "label": PATHS[m]} for m in PATHS]},
        steps={"label": "Steps", "min": 2, "max": 32, "step": 1, "value": steps},
    )  # fmt: skip
    chosen = live.values(controls_id)
    method, steps = chosen.get("method", method), int(chosen.get("steps", steps))
    st.session_state.interp_method, st.session_state.interp_steps = method, steps  # plain keys
if live is None or not live.drawn:
    left, right = st.columns(2)
    method = st.session_state.interp_method = left.radio(
        "Path", lt.INTERPOLATIONS, lt.INTERPOLATIONS.index(method), format_func=PATHS.get, horizontal=True,
        key="interp_method_server",
        help="Slerp follows the sphere where most of a Gaussian prior's mass lies; linear cuts through its middle",
    )  # fmt: skip
    steps = st.session_state.interp_steps = right.slider("Steps", 2, 32, steps, key="interp_steps_server")
for name, value in (("grid", four), ("path", method), ("steps", steps)):
    ui.to_url(name, value)
if four:
    zs = lt.interpolate_grid(torch.stack(ends), steps, steps, method, centre).reshape(steps * steps, -1)
    shape = f"{steps} x {steps} grid"
else:
    zs, shape = lt.interpolate(ends[0], ends[1], steps, method, centre), f"strip of {steps}"


@functools.cache
def frames() -> torch.Tensor:
    """The path decoded on the server: drawn here where the browser does not draw it, and for the downloads."""
    return lt.decode(model, zs)


if live is None or not live.drawn:
    ui.show_tiled(st, frames(), steps if four else ui.strip_row(steps), f"{method} {shape}")  # within the page

name = f"{Path(path).name}-{method}-{steps}{'x' + str(steps) if four else ''}"
a, b, c = st.columns(3)
# Each download is made only when asked for (a callable): a 32 x 32 grid takes seconds to encode.
a.download_button(
    "PNG", lambda: png_bytes(ui.tiled(frames(), steps)), f"{name}.png", "image/png", icon=":material/download:"
)
b.download_button(
    "GIF", lambda: gif_bytes([to_pil(f) for f in frames()], scale_to=112), f"{name}.gif", "image/gif",
    icon=":material/gif_box:",
)  # fmt: skip
if MP4_AVAILABLE:
    c.download_button(
        "MP4", lambda: mp4_bytes([to_pil(f) for f in frames()]), f"{name}.mp4", "video/mp4", icon=":material/movie:"
    )
else:
    c.caption("MP4 export needs PyAV: `pip install av`.")

st.subheader("On the latent map")
if (projection := ui.latest_map(path)) is None:
    with ui.needs_data(model, "The map"):
        projection = ui.pca_map(model, path)
    where = f"PCA of {ui.SAMPLE:,} points; make a UMAP map on the **Latent map** page to draw the path on it"
else:
    where = f"the last map made on the Latent map page ({projection.method.upper()}, {len(projection.coords):,} points)"
placed = projection.place(zs)  # (P, 2)
corners = [0, steps - 1, steps * (steps - 1), steps * steps - 1] if four else [0, steps - 1]  # in `labels`' order
how = "exact" if projection.method == "pca" else "approximate: UMAP's placement of new points"
figure = ui.map_figure(
    projection, ui.class_names(model), np.empty((0, 2)), None, ui.path_rows(placed, steps if four else 1),
    dict(zip(labels, placed[corners], strict=True)),
)  # fmt: skip
st.plotly_chart(figure)
st.caption(f"The path on {where}; positions are {how}.")
