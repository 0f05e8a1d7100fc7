"""Latent map: test images (a stratified sample, or every test and training image) encoded and projected to
2-D; click a point, empty space or a region to decode it.

In a browser, genviz's component draws the map with WebGL: hover a point for its image, hover empty space for a
live decode of the latent there (interpolated from the enclosing triangle of map points), click or select for
the details below. Elsewhere, or where WebGL or WebAssembly fail, a Plotly map does the same on the server.
"""

from pathlib import Path

import streamlit as st

from genviz import latent as lt
from genviz import ui
from genviz.component import latent_map as map_canvas
from genviz.ui import mappage as mp

st.title("Latent map")
picked = ui.model_picker()
if not picked:
    st.stop()
path, model = picked
names = ui.class_names(model)
chosen = mp.choose_map(path, model)
with ui.needs_data(model, "The map of every image", split="training"):
    projection = ui.latent_map(path, model, *chosen.settings)
st.caption(mp.caption(model, chosen, projection))
key = (path, *chosen.settings)
mp.pick_from_address(key, projection)

# In a browser (a session with request headers), the component draws the map: until it reports, nothing else
# does, so that a large map is not drawn twice. A session without one (Streamlit's AppTest), or a browser where
# the component fails, gets the Plotly map.
canvas_key = f"map-live-{Path(path).name}"
live = ui.live(path, canvas_key, "The map's previews decode") if st.context.headers else None
in_browser = False
if live is not None:
    numbers, parts = mp.numbering(path, model, chosen)
    blob, blob_id = ui.map_payload(path, model, *chosen.settings, projection, numbers, parts)
    mp.record_browser_pick(live.report, key, projection)
    pick = st.session_state.get("map_pick")
    kept = st.session_state.get("map_inverse")  # the server's inverse at a picked spot, once computed
    exact = None
    if pick and pick["key"] == key and pick["kind"] == "space" and kept and kept[0] == (key, pick["x"], pick["y"]):
        exact = {"seq": st.session_state.get("map_seq"), "x": pick["x"], "y": pick["y"], "z": kept[1].tolist(),
                 "label": f"{chosen.method.upper()} inverse, on the server"}  # fmt: skip
    shown = pick if pick and pick["key"] == key and pick["kind"] != "region" else None
    value = map_canvas(
        live.decoder, blob, data_id=blob_id, class_names=names, image_shape=model.image_shape, exact=exact,
        pick=shown and {k: shown[k] for k in ("kind", "index", "x", "y") if k in shown},
        decode_caption="Reconstruction" if model.has_exact_encoder else "Decoded sample", key=canvas_key,
    )  # fmt: skip
    if not (value or {}).get("ok"):
        if (value or {}).get("ok") is None:  # still loading its decoder and the map's data
            st.caption("Drawing the map in the browser...")
            st.stop()
    else:
        in_browser = True

pick = st.session_state.get("map_pick")
pick = pick if pick and pick["key"] == key else None
mp.pick_to_address(pick)
if in_browser:
    detail = st.container()
else:
    chart, detail = st.columns([3, 2])
    fig = ui.map_figure(
        projection, names, lt.click_grid(projection), pick if pick and pick["kind"] != "region" else None
    )
    chart.plotly_chart(
        fig, key="map_chart", on_select=lambda: mp.record_plotly_pick(key), selection_mode=("points", "box", "lasso"),
        width="stretch",
    )  # fmt: skip
needs_exact = in_browser and pick and pick["kind"] == "space" and pick.get("triangle") is not None
had = st.session_state.get("map_inverse")
mp.PickPanel(detail, path, model, chosen, projection, in_browser).show(pick, names)
if needs_exact and st.session_state.get("map_inverse") is not had:
    st.rerun()  # the inverse was computed below the map: send it to the browser's pick panel
