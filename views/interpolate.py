"""Interpolate: a path through latent space between two endpoints as a strip, or between four as a grid,
drawn on the latent map and exported as PNG, GIF and MP4."""

from pathlib import Path

import numpy as np
import streamlit as st
import torch

import ui
from genviz import latent as lt
from genviz.data import DatasetError
from genviz.images import MP4_AVAILABLE, gif_bytes, grid, mp4_bytes, png_bytes, to_pil

st.title("Interpolate")
picked = ui.model_picker()
if not picked:
    st.stop()
path, model = picked
centre, _ = lt.latent_scale(model)
SOURCES = ["Test image", "Upload", "Random latent"]


def endpoint(label: str, k: int, fit: str, invert: bool | None) -> torch.Tensor | None:
    """One endpoint's latent, chosen in its column: a test image by class and number, an upload, or a seed."""
    source = st.selectbox(label, SOURCES, key=f"interp_source_{k}")
    if source == "Random latent":
        seed = st.number_input("Seed", 0, 2**31 - 1, k, key=f"interp_seed_{k}")
        z = lt.prior_latents(model, 1, int(seed))[0]
        ui.show(st, lt.decode(model, z[None])[0], f"prior sample, seed {seed}")
        return z
    if source == "Upload":
        file = st.file_uploader("Image", type=ui.UPLOAD_TYPES, key=f"interp_file_{k}", label_visibility="collapsed")
        pictures = ui.read_pictures([file] if file else [], model, fit, invert)
        if not pictures:
            st.info("Upload an image for this endpoint.")
            return None
        ui.show_notes(pictures)
        image = pictures[0].image
        z = ui.encoded_picture(model, path, (image * 255).round().byte().numpy())
    else:
        try:
            data = ui.test_set(model)
        except DatasetError as e:
            st.error(f"Test images need the test set of {ui.code(model.checkpoint['dataset']['name'])}: {ui.plain(e)}")
            return None
        names = ui.class_names(model)
        chosen = st.selectbox("Class", ["any", *names], key=f"interp_class_{k}")
        pool = torch.arange(len(data)) if chosen == "any" else torch.flatnonzero(data.labels == names.index(chosen))
        n = st.number_input(f"Image (of {len(pool):,})", 0, len(pool) - 1, k, key=f"interp_image_{k}")
        index = int(pool[int(n)])
        image = data.images[index].float().div(255)
        z = ui.encoded_test_image(model, path, index)
    ui.show(
        st, image, "input" + (": the GAN's latent for it is a search, approximate" if model.family == "gan" else "")
    )
    return z


four = st.toggle("Four endpoints: a 2-D grid", key="interp_four", help="Corners of a grid, interpolated bilinearly")
labels = ["Top left", "Top right", "Bottom left", "Bottom right"] if four else ["Start", "End"]
sources = [st.session_state.get(f"interp_source_{k}", SOURCES[0]) for k in range(len(labels))]
fit, invert = ("pad", None)
if "Upload" in sources:
    with st.expander("How uploads are fitted", expanded=True):
        fit, invert = ui.fit_controls(model, "interp")
columns = st.columns(len(labels))
ends = []
for k, (column, label) in enumerate(zip(columns, labels, strict=True)):
    with column:
        ends.append(endpoint(label, k, fit, invert))
if any(z is None for z in ends):
    st.stop()

left, right = st.columns(2)
method = left.radio(
    "Path",
    lt.INTERPOLATIONS,
    format_func={"slerp": "Spherical (slerp)", "linear": "Linear"}.get,
    horizontal=True,
    key="interp_method",
    help="Slerp follows the sphere where most of a Gaussian prior's mass lies; linear cuts through its middle",
)
steps = right.slider("Steps", 2, 32, 8, key="interp_steps")
if four:
    zs = lt.interpolate_grid(torch.stack(ends), steps, steps, method, centre)
    shape, zs = f"{steps} x {steps} grid", zs.reshape(steps * steps, -1)
else:
    zs = lt.interpolate(ends[0], ends[1], steps, method, centre)
    shape = f"strip of {steps}"
frames = lt.decode(model, zs)
strip = grid(frames, nrow=steps)
st.image(strip, caption=f"{method} {shape}", width=min(1200, 64 * steps), output_format="PNG")

name = f"{Path(path).name}-{method}-{steps}{'x' + str(steps) if four else ''}"
pictures = [to_pil(f) for f in frames]
a, b, c = st.columns(3)
a.download_button("PNG", png_bytes(strip), f"{name}.png", "image/png", icon=":material/download:")
# GIF and MP4 are encoded only when asked for (a callable): a 32 x 32 grid takes seconds to encode.
b.download_button(
    "GIF", lambda: gif_bytes(pictures, scale_to=112), f"{name}.gif", "image/gif", icon=":material/gif_box:"
)
if MP4_AVAILABLE:
    c.download_button("MP4", lambda: mp4_bytes(pictures), f"{name}.mp4", "video/mp4", icon=":material/movie:")
else:
    c.caption("MP4 export needs PyAV: `pip install av`.")

st.subheader("On the latent map")
projection = ui.latest_map(path)
if projection is None:
    try:
        projection = ui.pca_map(model, path)
    except DatasetError as e:
        st.info(f"No map: {ui.plain(e)}")
        st.stop()
    where = "PCA of 2,000 points; make a UMAP map on the **Latent map** page to draw the path on it"
else:
    where = f"the last map made on the Latent map page ({projection.method.upper()}, {len(projection.coords):,} points)"
coords = projection.place(zs)
if four:  # a NaN between rows breaks the line, so that each row is drawn as its own path
    rows = coords.reshape(steps, steps, 2)
    coords = np.concatenate([np.vstack([r, [[np.nan, np.nan]]]) for r in rows])[:-1]
how = "exact" if projection.method == "pca" else "approximate: UMAP's placement of new points"
st.plotly_chart(ui.map_figure(projection, ui.class_names(model), np.empty((0, 2)), None, path=coords))
st.caption(f"The path on {where}; positions are {how}.")
