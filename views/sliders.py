"""Latent sliders: move each latent dimension, or a direction through the latent space, and watch the decode."""

import base64
import os

import streamlit as st
import torch

import ui
from component import latent_sliders
from genviz import latent as lt
from genviz.images import enlarge, png_bytes, to_pil
from ui import sliders as sl

MAX_SEED = 2**31 - 1
STARTS = ["Random latent", "Test image", "Map point", "Pasted latent"]
# GENVIZ_SLIDER_FRAGMENT=0 draws the editor outside a fragment, so that a slider reruns the whole
# script: the baseline of benchmarks/slider_latency.py. Leave it unset.
FRAGMENT = os.environ.get("GENVIZ_SLIDER_FRAGMENT", "1") != "0"
st.title("Latent sliders")
picked = ui.model_picker()
if not picked:
    st.stop()
path, model = picked
centre, std = model.latent_scale()
with ui.needs_data(model, "This page"):
    order, (data_z, labels), (pcs, spreads) = (
        ui.dimension_order(model, path),
        ui.latent_sample(model, path),
        ui.directions(model, path),
    )

st.session_state.setdefault("slider_gen", 0)
from_map = st.session_state.get("slider_from_map")
from_map = from_map if from_map and from_map["path"] == path else None
for flag, option in (("slider_goto_map", "Map point"), ("slider_goto_pasted", "Pasted latent")):
    if st.session_state.pop(flag, False):
        st.session_state.slider_start = option
# Only the random and test-image starts go in the URL: a map point or a pasted latent lives in this session.
ui.linked("start", "slider_start", ui.choice(STARTS[:2]), STARTS[0])
start = st.radio("Start from", STARTS, horizontal=True, key="slider_start")
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
elif start == "Map point":
    if not from_map:
        st.info("Click a point or empty space on the **Latent map** page, then **Edit in latent sliders**.")
        st.stop()
    base, base_id = torch.tensor(from_map["z"]), ("map", tuple(from_map["z"]))
else:
    pasted = st.session_state.get("slider_pasted")
    base = torch.tensor(pasted["z"]) if pasted and pasted["path"] == path else None
    base_id = ("pasted", tuple(base.tolist()) if base is not None else None)
if start in STARTS[:2]:
    ui.to_url("start", start)
else:
    ui.drop_from_url("start")

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
dims = sl.slider_dims(order)  # every dimension, or none
traversable = dims or list(range(len(pcs)))  # what the traversal row moves: dimensions, else directions
if not dims:
    st.caption(sl.why_no_dims(model.latent_dim))
known = sorted(set(labels.tolist()) - {-1})  # classes with latents, for the class direction
names = ui.class_names(model)


def edited(value) -> torch.Tensor:
    """The start latent (D,) as the controls edit it; value(key, default) gives each control's value."""
    shift, along = None, 0.0
    if len(known) >= 2 and (along := value(f"cls-{gen}", 0.0)):
        source, target = value(f"from-{gen}", known[0]), value(f"to-{gen}", known[1])
        shift = lt.class_direction(data_z, labels, source, target)
    values = {d: value(f"dim-{gen}-{d}", float(base[d])) for d in dims}
    amounts = [value(f"pc-{gen}-{k}", 0.0) for k in range(len(pcs))]
    return lt.edit_latent(base, values, pcs, spreads, amounts, shift, along)


def traversed() -> int:
    """The dimension, or principal direction, that the traversal row moves."""
    label = "Traversal of " + ("dimension" if dims else "principal direction")
    return st.selectbox(label, traversable, format_func=lambda c: sl.traversal_name(c, not dims), key=f"trav-{gen}")


def draw(where, z: torch.Tensor) -> None:
    """The decode of z (280 px) and z itself as text, in `where`. The picture is a PNG data URL: it travels
    inside the element's message, where a file URL would be fetched by a second request that Streamlit's
    server answers only after the rest of the rerun (a few hundred ms on a busy 2-core machine)."""
    with where.container():
        png = png_bytes(enlarge(to_pil(lt.decode(model, z[None])[0]), 280))
        st.image("data:image/png;base64," + base64.b64encode(png).decode("ascii"), caption="decoded")
        st.code(lt.format_latent(z), language=None, wrap_lines=True)


def class_direction(chosen: dict, amount: bool = True) -> None:
    """The class-to-class direction's controls, where the latent sample has two classes or more; without
    `amount`, only its two classes (the browser draws the amount's slider)."""
    if len(known) < 2:
        st.caption("Class directions need class labels: a model without an encoder needs a classifier beside it.")
        return
    a, b = st.columns(2)
    chosen[f"from-{gen}"] = a.selectbox("From class", known, format_func=names.__getitem__, key=f"from-{gen}")
    chosen[f"to-{gen}"] = b.selectbox("To class", known, index=1, format_func=names.__getitem__, key=f"to-{gen}")
    if not amount:
        return
    chosen[f"cls-{gen}"] = st.slider(
        "Along the class direction", -1.0, 2.0, 0.0, 0.05, key=f"cls-{gen}",
        help="1 adds the mean latent of the target class minus that of the source class",
    )  # fmt: skip


def live_editor() -> bool:
    """The controls, the decode and the traversal row, drawn and decoded by the browser while dragging (`ui.live`);
    False where the server must draw them instead."""
    key = f"live-{path}"
    if (state := ui.live(path, key, "The sliders decode")) is None:
        return False
    controls_id = f"{path}|{gen}"
    class_spec = class_vector = None
    if len(known) >= 2:
        source = st.session_state.get(f"from-{gen}", known[0])
        target = st.session_state.get(f"to-{gen}", known[1])
        class_vector = lt.class_direction(data_z, labels, source, target).numpy()
        class_spec = {"key": f"cls-{gen}", "label": "Along the class direction", "min": -1.0, "max": 2.0,
                      "step": 0.05, "value": 0.0}  # fmt: skip
    row = sl.traversal_row(centre, std, spreads, st.session_state.get(f"trav-{gen}", traversable[0]), not dims)
    latent_sliders(
        state.decoder, base.detach().float().numpy(), tuple(model.image_shape),
        controls_id=controls_id, dims=sl.dim_specs(dims, centre, std, base, gen),
        directions=sl.direction_specs(spreads, gen),
        direction_vectors=pcs.detach().float().reshape(len(pcs), model.latent_dim).numpy(),
        class_spec=class_spec, class_vector=class_vector, traversal=row, show=state.drawn, key=key,
    )  # fmt: skip
    if not state.drawn:
        return False
    values = state.values(controls_id)
    z = edited(lambda key, default: values.get(key, default))
    class_direction({}, amount=False)
    st.code(lt.format_latent(z), language=None, wrap_lines=True)
    traversed()
    return True


def editor() -> None:
    """Only this reruns when a slider moves. The decode is drawn first, from the values the browser
    sent for the controls, so that it is on its way before the ~25 widgets are drawn again."""
    if live_editor():
        return
    image_col, controls = st.columns([1, 2])
    slot = image_col.empty()
    z = edited(lambda key, default: st.session_state.get(key, default))
    draw(slot, z)
    chosen = {}  # each control's value by its widget key, as the widgets return them
    with controls:
        tabs = st.tabs((["Dimensions"] if dims else []) + ["Directions", "Traversal"])
        if dims:
            tabs[0].caption(f"All {len(dims)} dimensions, {model.dimension_order_name}.")
            columns = tabs[0].columns(4)
            for j, d in enumerate(dims):
                low, high = sl.dim_range(centre, std, base, d)
                key = f"dim-{gen}-{d}"
                chosen[key] = columns[j % 4].slider(
                    f"z[{d}]", low, high, float(base[d]), (high - low) / 100, key=key, format="%.2f"
                )
        with tabs[-2]:
            st.caption(f"Principal directions of {model.directions_name}, in standard deviations along each.")
            for k in range(len(pcs)):
                key = f"pc-{gen}-{k}"
                chosen[key] = st.slider(f"Principal direction {k + 1}", -3.0, 3.0, 0.0, 0.1, key=key)
            class_direction(chosen)
        # Read before the widgets, the values are those the widgets return; should they ever differ,
        # the decode is drawn again in its place.
        if not torch.equal(final := edited(lambda key, default: chosen[key]), z):
            z = final
            draw(slot, z)
        with tabs[-1]:
            row = sl.traversal_row(centre, std, spreads, traversed(), not dims)
            ui.show_tiled(st, sl.traversal_images(model, z, row, pcs, spreads), len(row["values"]), row["caption"])


(st.fragment(editor) if FRAGMENT else editor)()
