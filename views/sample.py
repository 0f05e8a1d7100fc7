"""Sample: a grid drawn from the model's prior, reproducible from its seed, downloadable as PNG."""

import io
import random
from pathlib import Path

import streamlit as st

import ui
from genviz import latent as lt
from genviz.images import grid

st.title("Sample")
picked = ui.model_picker()
if not picked:
    st.stop()
path, model = picked

if "sample_seed" not in st.session_state:
    st.session_state.sample_seed = 0


def new_seed() -> None:
    st.session_state.sample_seed = random.randrange(2**31)


controls, shown = st.columns([1, 3])
seed = controls.number_input("Seed", 0, 2**31 - 1, step=1, key="sample_seed", help="The same seed gives the same grid")
controls.button("New seed", on_click=new_seed, icon=":material/casino:")
side = controls.select_slider("Grid", [4, 6, 8, 10, 12], value=8, format_func=lambda k: f"{k} x {k}")
control = controls.radio(
    "Latent control",
    ["Temperature", "Truncation"],
    horizontal=True,
    help="Temperature scales every latent; truncation redraws entries beyond a threshold",
)
if control == "Temperature":
    temperature = controls.slider("Temperature (latent scale)", 0.1, 2.0, 1.0, 0.1)
    z = lt.prior_latents(model, side * side, int(seed), temperature=temperature)
    setting = f"temperature {temperature}"
else:
    threshold = controls.slider("Truncation threshold (sigmas)", 0.1, 3.0, 1.0, 0.1)
    z = lt.prior_latents(model, side * side, int(seed), truncation=threshold)
    setting = f"truncated at {threshold} sigma"
picture = grid(lt.decode(model, z), nrow=side)
source = "a Gaussian fitted to its training latents" if model.family == "ae" else "its prior"
shown.image(
    picture,
    caption=f"{side * side} samples of {model.kind.upper()} from {source}, seed {seed}, {setting}",
    width=min(640, 60 * side + 40),
    output_format="PNG",
)
png = io.BytesIO()
picture.save(png, format="PNG")
name = f"{Path(path).name}-seed{seed}-{side}x{side}.png"
controls.download_button("Download PNG", png.getvalue(), file_name=name, mime="image/png", icon=":material/download:")
