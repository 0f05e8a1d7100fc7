"""Latent sliders: move each latent dimension, or a direction through the latent space, and watch the decode."""

import base64
import io
import os

import streamlit as st
import torch
from PIL import Image

import ui
from genviz import latent as lt
from genviz.data import DatasetError
from genviz.images import enlarge, grid, to_pil

MAX_SLIDERS = 32
# GENVIZ_SLIDER_FRAGMENT=0 draws the editor outside a fragment, so that a slider reruns the whole
# script: the baseline of benchmarks/slider_latency.py. Leave it unset.
FRAGMENT = os.environ.get("GENVIZ_SLIDER_FRAGMENT", "1") != "0"
st.title("Latent sliders")
picked = ui.model_picker()
if not picked:
    st.stop()
path, model = picked
centre, std = lt.latent_scale(model)
try:
    order, (data_z, labels), (pcs, spreads) = (
        ui.dimension_order(model, path),
        ui.latent_sample(model, path),
        ui.directions(model, path),
    )
except DatasetError as e:
    st.error(f"This page needs the test set of {ui.code(model.checkpoint['dataset']['name'])}: {ui.plain(e)}")
    st.stop()

for key, value in (("slider_gen", 0), ("slider_start", "Random latent")):
    st.session_state.setdefault(key, value)
from_map = st.session_state.get("slider_from_map")
from_map = from_map if from_map and from_map["path"] == path else None
for flag, option in (("slider_goto_map", "Map point"), ("slider_goto_pasted", "Pasted latent")):
    if st.session_state.pop(flag, False):
        st.session_state.slider_start = option

options = ["Random latent", "Test image", "Map point", "Pasted latent"]
start = st.radio("Start from", options, horizontal=True, key="slider_start")
if start == "Random latent":
    seed = st.number_input("Seed", 0, 2**31 - 1, 0, key="slider_seed")
    base, base_id = lt.prior_latents(model, 1, int(seed))[0], ("random", seed)
elif start == "Test image":
    try:
        count = len(ui.test_set(model))
    except DatasetError as e:
        st.error(f"Test images need the test set of {ui.code(model.checkpoint['dataset']['name'])}: {ui.plain(e)}")
        st.stop()
    index = st.number_input("Test image", 0, count - 1, 0, key="slider_image")
    base, base_id = ui.encoded_test_image(model, path, int(index)), ("image", index)
    if model.family == "gan":
        st.caption("A GAN has no encoder: this latent was found by searching for a z whose sample matches the image.")
elif start == "Map point":
    if not from_map:
        st.info("Click a point or empty space on the **Latent map** page, then **Edit in latent sliders**.")
        st.stop()
    base, base_id = torch.tensor(from_map["z"]), ("map", tuple(from_map["z"]))
else:
    pasted = st.session_state.get("slider_pasted")
    base = torch.tensor(pasted["z"]) if pasted and pasted["path"] == path else None
    base_id = ("pasted", tuple(base.tolist()) if base is not None else None)

with st.expander("Paste a latent vector"):
    text = st.text_area(
        "Latent", placeholder=f"{model.latent_dim} numbers, as copied from this page", label_visibility="collapsed"
    )
    if st.button("Use this latent"):
        try:
            st.session_state.slider_pasted = {"path": path, "z": lt.parse_latent(text, model.latent_dim).tolist()}
            st.session_state.slider_goto_pasted = True
            st.rerun()
        except ValueError as e:
            st.error(f"This latent cannot be used: {ui.plain(e)}.")
if base is None:
    st.info("Paste a latent vector above and press **Use this latent**.")
    st.stop()

# New start, or Reset: new widget keys, so every slider returns to the start latent.
if st.session_state.get("slider_base_id") != (path, base_id):
    st.session_state.slider_base_id = (path, base_id)
    st.session_state.slider_gen += 1
if st.button("Reset", icon=":material/restart_alt:"):
    st.session_state.slider_gen += 1
gen = st.session_state.slider_gen
dims = order[:MAX_SLIDERS].tolist()
known = sorted(set(labels.tolist()) - {-1})  # classes with latents, for the class direction


def edited(value) -> torch.Tensor:
    """The start latent (D,) as the controls edit it; value(key, default) gives each control's value."""
    z = base.clone()
    for d in dims:
        z[d] = value(f"dim-{gen}-{d}", float(base[d]))
    for k in range(len(pcs)):
        z += value(f"pc-{gen}-{k}", 0.0) * spreads[k] * pcs[k]
    if len(known) >= 2 and (amount := value(f"cls-{gen}", 0.0)):
        source, target = value(f"from-{gen}", known[0]), value(f"to-{gen}", known[1])
        z += amount * lt.class_direction(data_z, labels, source, target)
    return z


def data_url(image: Image.Image) -> str:
    """The image as a PNG data URL: it travels inside the element's message. A file URL would be
    fetched by a second request, which Streamlit's server answers only after it has sent the
    rest of the rerun's messages (a few hundred ms on a busy 2-core machine)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def draw(where, z: torch.Tensor) -> None:
    """The decode of z (280 px) and z itself as text, in `where`."""
    with where.container():
        decoded = lt.decode(model, z[None])[0]  # (C, H, W)
        st.image(data_url(enlarge(to_pil(decoded), 280)), caption="decoded")
        st.code(lt.format_latent(z), language=None, wrap_lines=True)


def editor() -> None:
    """Only this reruns when a slider moves. The decode is drawn first, from the values the browser
    sent for the controls, so that it is on its way before the ~25 widgets are drawn again."""
    image_col, controls = st.columns([1, 2])
    slot = image_col.empty()
    z = edited(lambda key, default: st.session_state.get(key, default))
    draw(slot, z)
    chosen = {}  # each control's value by its widget key, as the widgets return them
    with controls:
        tabs = st.tabs(["Dimensions", "Directions", "Traversal"])
        with tabs[0]:
            ranked = (
                "most active first (posterior variance furthest from the prior's)"
                if model.family == "vae"
                else "in order"
            )
            st.caption(f"{len(dims)} of {model.latent_dim} dimensions, {ranked}.")
            columns = st.columns(4)
            for j, d in enumerate(dims):
                low = min(float(centre[d] - 4 * std[d]), float(base[d]))
                high = max(float(centre[d] + 4 * std[d]), float(base[d]))
                key = f"dim-{gen}-{d}"
                chosen[key] = columns[j % 4].slider(
                    f"z[{d}]", low, high, float(base[d]), (high - low) / 100, key=key, format="%.2f"
                )
        with tabs[1]:
            source = (
                "the generator's first-layer activations (GANSpace)"
                if model.family == "gan"
                else "the encoded test images"
            )
            st.caption(f"Principal directions of {source}, in standard deviations along each.")
            for k in range(len(pcs)):
                key = f"pc-{gen}-{k}"
                chosen[key] = st.slider(f"Principal direction {k + 1}", -3.0, 3.0, 0.0, 0.1, key=key)
            names = ui.class_names(model)
            if len(known) >= 2:
                a, b = st.columns(2)
                chosen[f"from-{gen}"] = a.selectbox(
                    "From class", known, format_func=lambda c: names[c], key=f"from-{gen}"
                )
                chosen[f"to-{gen}"] = b.selectbox(
                    "To class", known, index=1, format_func=lambda c: names[c], key=f"to-{gen}"
                )
                chosen[f"cls-{gen}"] = st.slider(
                    "Along the class direction",
                    -1.0,
                    2.0,
                    0.0,
                    0.05,
                    key=f"cls-{gen}",
                    help="1 adds the mean latent of the target class minus that of the source class",
                )
            else:
                st.caption("Class directions need class labels: a GAN needs a classifier checkpoint beside it.")
        # Read before the widgets, the values are those the widgets return; should they ever differ,
        # the decode is drawn again in its place.
        if not torch.equal(final := edited(lambda key, default: chosen[key]), z):
            z = final
            draw(slot, z)
        with tabs[2]:
            d = st.selectbox("Dimension", dims, format_func=lambda d: f"z[{d}]", key=f"trav-{gen}")
            images, values = lt.traversal(model, z, d)
            st.image(
                grid(images, nrow=len(images)),
                caption=f"z[{d}] from {values[0]:.2f} to {values[-1]:.2f} (-3 to +3 sigma)",
                output_format="PNG",
            )


(st.fragment(editor) if FRAGMENT else editor)()
