"""Sample: a grid drawn from the model's prior, reproducible from its seed, downloadable as PNG."""

import random
from pathlib import Path

import streamlit as st

import ui
from genviz import latent as lt
from genviz.images import grid, png_bytes

MAX_SEED = 2**31 - 1
SIDES = [4, 6, 8, 10, 12]
CONTROLS = ["Temperature", "Truncation"]

st.title("Sample")
picked = ui.model_picker()
if not picked:
    st.stop()
path, model = picked


def new_seed() -> None:
    st.session_state.sample_seed = random.randrange(2**31)


controls, shown = st.columns([1, 3])
ui.linked("seed", "sample_seed", ui.integer(0, MAX_SEED), 0, controls)
ui.linked("grid", "sample_grid", ui.choice(SIDES), 8, controls)
ui.linked("control", "sample_control", ui.choice(CONTROLS), CONTROLS[0], controls)
seed = controls.number_input("Seed", 0, MAX_SEED, step=1, key="sample_seed", help="The same seed gives the same grid")
controls.button("New seed", on_click=new_seed, icon=":material/casino:")
side = controls.select_slider("Grid", SIDES, format_func=lambda k: f"{k} x {k}", key="sample_grid")
control = controls.radio(
    "Latent control",
    CONTROLS,
    horizontal=True,
    key="sample_control",
    help="Temperature scales every latent; truncation redraws entries beyond a threshold",
)
for name, value in (("seed", seed), ("grid", side), ("control", control)):
    ui.to_url(name, value)
if control == "Temperature":
    temperature = controls.slider("Temperature (latent scale)", 0.1, 2.0, 1.0, 0.1)
    z = lt.prior_latents(model, side * side, int(seed), temperature=temperature)
    setting = f"temperature {temperature}"
else:
    threshold = controls.slider("Truncation threshold (sigmas)", 0.1, 3.0, 1.0, 0.1)
    z = lt.prior_latents(model, side * side, int(seed), truncation=threshold)
    setting = f"truncated at {threshold} sigma"
picture = grid(lt.decode(model, z), nrow=side)
shown.image(
    picture,
    caption=f"{side * side} samples of {model.kind.upper()} from {model.prior_name}, seed {seed}, {setting}",
    width=min(640, 60 * side + 40),
    output_format="PNG",
)
name = f"{Path(path).name}-seed{seed}-{side}x{side}.png"
controls.download_button("Download PNG", png_bytes(picture), name, "image/png", icon=":material/download:")
