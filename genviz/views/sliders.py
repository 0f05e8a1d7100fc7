"""Latent sliders: move each latent dimension, or a direction through the latent space, and watch the decode."""

import os

import streamlit as st
import torch

from genviz import latent as lt
from genviz import ui
from genviz.ui import sliders as sl

MAX_SEED = 2**31 - 1
STARTS = ["Random latent", "Test image", "Drawing", "Map point", "Pasted latent"]
KEPT = {"Map point": "slider_from_map", "Pasted latent": "slider_pasted"}  # starts kept as a latent, by session key
# GENVIZ_SLIDER_FRAGMENT=0 draws the editor outside a fragment, so that a slider reruns the whole
# script: the baseline of benchmarks/slider_latency.py. Leave it unset.
FRAGMENT = os.environ.get("GENVIZ_SLIDER_FRAGMENT", "1") != "0"
st.title("Latent sliders")
picked = ui.model_picker()
if not picked:
    st.stop()
path, model = picked
with ui.needs_data(model, "This page"):
    order, (data_z, labels), (pcs, spreads) = (
        ui.dimension_order(model, path),
        ui.latent_sample(model, path),
        ui.directions(model, path),
    )

st.session_state.setdefault("slider_gen", 0)
for flag, option in (("slider_goto_map", "Map point"), ("slider_goto_pasted", "Pasted latent")):
    if st.session_state.pop(flag, False):
        st.session_state.slider_start = option
# A map point's or a pasted latent travels in the address as `z` (its float32 bytes), as the other starts do.
ui.linked("start", "slider_start", ui.choice(STARTS), STARTS[0])
start = st.session_state.slider_start
if start in KEPT and "z" in st.query_params and not st.session_state.get(KEPT[start]):
    try:
        z = sl.latent_from_text(st.query_params["z"], model.latent_dim)
        st.session_state[KEPT[start]] = {"path": path, "z": z.tolist()}
    except ValueError as e:
        ui.link_warning("slider_start", f"The link's latent was ignored ({ui.plain(e)}).")
start = st.radio("Start from", STARTS, horizontal=True, key="slider_start")
base, base_id = None, None
if start == "Random latent":
    ui.linked("seed", "slider_seed", ui.integer(0, MAX_SEED), 0)
    seed = st.number_input("Seed", 0, MAX_SEED, key="slider_seed")
    base, base_id = lt.prior_latents(model, 1, int(seed))[0], ("random", seed)
    ui.to_url("seed", seed)
elif start == "Test image":
    with ui.needs_data(model, "Test images"):
        count = len(ui.test_set(model))
    ui.linked("image", "slider_image", ui.integer(0, count - 1), 0)
    index = st.number_input("Test image", 0, count - 1, key="slider_image")
    base, base_id = ui.encoded_test_image(model, path, int(index)), ("image", index)
    ui.to_url("image", index)
    if not model.has_exact_encoder:
        st.caption("This model has no encoder: this latent was found by searching for a z whose decode matches.")
elif start == "Drawing":
    pad, prepared = st.columns(2)
    if drawn := ui.drawn_picture(model, f"slider-pad-{path}", ui.model_preparation(model), where=pad):
        picture, digest = drawn
        ui.show(prepared, picture.image, "as the model sees it")
        ui.show_notes([picture])
        base, base_id = (
            ui.encoded_picture(model, path, (picture.image * 255).round().byte().numpy()),
            ("drawing", digest),
        )
else:
    kept = st.session_state.get(KEPT[start])
    if kept and kept["path"] == path:
        base = torch.tensor(kept["z"])
        base_id = (start, tuple(base.tolist()))
        ui.to_url("z", sl.latent_text(base))
ui.to_url("start", start)
if start not in KEPT:
    ui.drop_from_url("z")

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
    if start == "Map point":
        st.info("Click a point or empty space on the **Latent map** page, then **Edit in latent sliders**.")
    elif start == "Drawing":
        st.stop()
    else:
        st.info("Paste a latent vector above and press **Use this latent**.")
    st.stop()

# New start, or Reset: new widget keys, so every slider returns to the start latent.
if st.session_state.get("slider_base_id") != (path, base_id):
    st.session_state.slider_base_id = (path, base_id)
    st.session_state.slider_gen += 1
if st.button("Reset", icon=":material/restart_alt:"):
    st.session_state.slider_gen += 1
editor = sl.Editor(model, path, base, st.session_state.slider_gen, order, data_z, labels, pcs, spreads)
if not editor.dims:
    st.caption(sl.why_no_dims(model.latent_dim))


def edit() -> None:
    editor()  # only this reruns when a control moves


(st.fragment(edit) if FRAGMENT else edit)()
