"""Sample: a grid drawn from the model's prior, reproducible from its seed, downloadable as PNG; a conditional
model's of the class chosen; a model that grew as it trained (ProGAN), its growth record at the stage chosen."""

import random
from pathlib import Path

import streamlit as st

from genviz import latent as lt
from genviz import ui
from genviz.component import prior_grid
from genviz.pictures import grid, png_bytes

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


# A generator that normalises z's length draws the same at every temperature: only truncation moves its samples.
offered = CONTROLS[1:] if model.ignores_latent_length else CONTROLS
controls, shown = st.columns([1, 3])
ui.linked("seed", "sample_seed", ui.integer(0, MAX_SEED), 0, controls)
ui.linked("grid", "sample_grid", ui.choice(SIDES), 8, controls)
ui.linked("control", "sample_control", ui.choice(offered), offered[0], controls)
if st.session_state.sample_control not in offered:  # kept from a model that offers a temperature
    st.session_state.sample_control = offered[0]
seed = controls.number_input("Seed", 0, MAX_SEED, step=1, key="sample_seed", help="The same seed gives the same grid")
controls.button("New seed", on_click=new_seed, icon=":material/casino:")
side = controls.select_slider("Grid", SIDES, format_func=lambda k: f"{k} x {k}", key="sample_grid")
control = controls.radio(
    "Latent control",
    offered,
    horizontal=True,
    key="sample_control",
    help="Temperature scales every latent; truncation pulls every entry inside a threshold, keeping its order",
)
if model.ignores_latent_length:
    controls.caption("No temperature: its generator scales every latent to one length first")
for name, value in (("seed", seed), ("grid", side), ("control", control)):
    ui.to_url(name, value)
chosen, drawn = None, ""  # the class drawn, for a conditional model
if model.conditional:
    names = ui.class_names(model)
    ui.linked("class", "sample_class", ui.choice(range(len(names))), 0, controls)
    chosen = controls.selectbox("Class", range(len(names)), format_func=names.__getitem__, key="sample_class")
    ui.to_url("class", chosen)
    drawn = f" of class {names[chosen]}"
else:
    ui.drop_from_url("class")  # left by a conditional model chosen before
SETTINGS = {  # the control's widget key, kind, label, range, step and default
    "Temperature": ("sample_temperature", "temperature", "Temperature (latent scale)", 0.1, 2.0, 0.1, 1.0),
    "Truncation": ("sample_truncation", "truncation", "Truncation threshold (sigmas)", 0.1, 3.0, 0.1, 1.0),
}
key, kind, label, low, high, step, default = SETTINGS[control]
n, width = side * side, min(640, 60 * side + 40)
caption = f"{n} samples{drawn} of {model.kind.upper()} from {model.prior_name}, seed {seed}, " + (
    "temperature {value}" if kind == "temperature" else "truncated at {value} sigma"
)
ui.linked(kind, key, ui.decimal(low, high), default, controls)
value = st.session_state[key]
# In the browser, the control recomputes and redraws the grid while it is dragged (ui.live); else on the server.
live = ui.live(path, f"sample-live-{path}", "The samples decode")
if live is not None:
    centre, spread = model.latent_scale(chosen)
    controls_id = f"{path}|{seed}|{side}|{kind}|{chosen}"
    with shown:
        prior_grid(
            live.decoder, lt.prior_noise(model, n, int(seed)).numpy(), centre.float().cpu().numpy(),
            spread.float().cpu().numpy(),
            tuple(model.image_shape), controls_id=controls_id, columns=side, width=width, caption=caption,
            control={"key": key, "kind": kind, "label": label, "min": low, "max": high, "step": step, "value": value},
            show=live.drawn, key=f"sample-live-{path}",
        )  # fmt: skip
    value = st.session_state[key] = float(live.values(controls_id).get(key, value))
if live is None or not live.drawn:
    # Its own widget key: the value lives on in the plain key, where the control in the browser starts too.
    value = st.session_state[key] = controls.slider(label, low, high, value, step, key=f"{key}_server")


def picture():
    """The grid as the control sets it, decoded on the server."""
    z = lt.prior_latents(model, n, int(seed), **{kind: value}, label=chosen)
    return grid(lt.decode(model, z), nrow=side)


if live is None or not live.drawn:
    shown.image(picture(), caption=caption.replace("{value}", str(value)), width=width, output_format="PNG")
name = f"{Path(path).name}{'' if chosen is None else f'-class{chosen}'}-seed{seed}-{side}x{side}-{kind}{value:g}.png"
ui.to_url(kind, value)
ui.drop_from_url("truncation" if kind == "temperature" else "temperature")
# Under the grid: in the narrow controls column, its label is cut to "Download ..." at 1024 px.
shown.download_button("Download PNG", lambda: png_bytes(picture()), name, "image/png", icon=":material/download:")
ui.stage_control(model, controls, shown)  # a model that grew as it trained (ProGAN): its recorded stages
