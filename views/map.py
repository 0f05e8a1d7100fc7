"""Latent map: test images (a stratified sample, or every test and training image) encoded and projected to
2-D; click a point, empty space or a region to decode it.

In a browser, genviz's component draws the map with WebGL: hover a point for its image, hover empty space for a
live decode of the latent there (interpolated from the enclosing triangle of map points), click or select for
the details below. Elsewhere, or where WebGL or WebAssembly fail, a Plotly map does the same on the server.
"""

import functools
from pathlib import Path

import numpy as np
import streamlit as st
import torch

import ui
from component import latent_map as map_canvas
from genviz import latent as lt
from genviz.data import to_float
from genviz.images import enlarge, to_pil

SAMPLED = 10_000  # prior samples behind the largest map of a model without an exact encoder
st.title("Latent map")
picked = ui.model_picker()
if not picked:
    st.stop()
path, model = picked
encodes = model.has_exact_encoder  # else the map shows prior samples: encoding thousands of images is a search each
dataset, names = ui.code(ui.dataset_name(model)), ui.class_names(model)
bundled = ui.bundle(path)  # its map opens at once, without reading the dataset (a second on a first open)
known = bundled.test_size if bundled is not None and encodes else None  # the test set's size, as it recorded
if not encodes:
    ui.say_bundle_problem(path)
    total, offline = SAMPLED, False
elif known is not None:
    total, offline = known, False  # the dataset is read only for a map the bundle does not hold
else:
    source = ui.data_source(model)  # says why a bundle is not used, or that the page works offline
    with ui.needs_data(model, "The map"):
        total = len(ui.test_set(model))
        offline = source == "bundle"  # the bundle's sample stands in for the test set

left, middle, right = st.columns(3)
steps = {1_000, 5_000, 10_000} | ({len(bundled.labels)} if bundled is not None else set())
sizes = sorted(n for n in steps if n < total) + [total] + (["all"] if encodes and not offline else [])
ui.from_url("points", "map_size", ui.choice(sizes), left)
remembered = st.session_state.get("map_points")  # kept across pages, where the widget's own state ends
start = len(bundled.labels) if bundled is not None and len(bundled.labels) in sizes else sizes[min(1, len(sizes) - 1)]
st.session_state.setdefault("map_size", remembered if remembered in sizes else start)
whole = " (the explore bundle's sample)" if offline else " (all)"
choice = left.selectbox(
    "Points",
    sizes,
    key="map_size",
    format_func=lambda k: "all test and training images" if k == "all" else f"{k:,}" + whole * (k == total),
    help="A sample stratified by class (seed 0); all test and training images: MNIST's 70,000, a minute or two"
    if encodes
    else None,
)
ui.linked("projection", "map_method", ui.choice(["umap", "pca"]), "umap", middle)
method = middle.radio(
    "Projection", ["umap", "pca"], format_func=str.upper, horizontal=True, key="map_method",
    help="PCA is linear and instant; UMAP keeps neighbourhoods",
)  # fmt: skip
with right.popover("UMAP settings", disabled=method != "umap"):
    n_neighbors = st.slider("Neighbours", 5, 100, 15, help="Larger values keep more of the global structure")
    min_dist = st.slider("Minimum distance", 0.0, 0.99, 0.1, 0.01, help="Smaller values pack clusters tighter")
st.session_state.map_points = choice
ui.to_url("points", choice)
ui.to_url("projection", method)
n = None if choice == "all" else choice  # None: every test image, then every training image (ui.map_data)

from_bundle = ui.bundled_map(path, n, method, n_neighbors, min_dist) is not None
if encodes and known is not None and not from_bundle and ui.data_source(model) == "bundle":
    st.info(
        f"Offline, this page draws maps of up to {len(bundled.labels):,} test images, the explore bundle's; "
        f"{'every image' if n is None else f'{n:,}'} needs the dataset (see the sidebar)."
    )
    st.stop()
with ui.needs_data(model, "The map of every image", split="training"):
    projection = ui.latent_map(path, model, n, method, n_neighbors, min_dist)
tested = total if encodes else 0  # points from here on are training images
if method == "pca":
    settings = "PCA, first two components"
elif "seed" in projection.settings:
    settings = f"UMAP, {n_neighbors} neighbours, minimum distance {min_dist}, seed {projection.settings['seed']}"
else:
    settings = (
        f"UMAP, {n_neighbors} neighbours, minimum distance {min_dist}, {projection.settings['n_epochs']} epochs "
        "from a PCA start, on every core: not bit-reproducible, a new fit differs in detail"
    )
if not encodes:
    labelled = (projection.labels >= 0).any()
    what = "prior samples" + ("" if labelled else " (no classifier beside the model to colour them)")
elif n is None:
    what = f"images: {tested:,} test (points 0 to {tested - 1:,}), then {len(projection.coords) - tested:,} training"
else:
    what = "test images"
sampled = " The test images are a sample stratified by class (seed 0)." if encodes and n and n < tested else ""
st.caption(f"{len(projection.coords):,} {what} of {dataset}, {settings}.{sampled}")
key = (path, n, method, n_neighbors, min_dist)


def record_pick() -> None:
    """Turn the chart's selection into the pick shown beside it: one point, empty space or a region."""
    selection = st.session_state.map_chart.selection
    points = [p for p in selection["points"] if p.get("customdata") is not None]
    index = [int(np.ravel(p["customdata"])[0]) for p in points]
    if selection["box"] or selection["lasso"]:
        st.session_state.map_pick = {"key": key, "kind": "region", "index": index} if index else None
    elif index:
        here = points[0]
        st.session_state.map_pick = {"key": key, "kind": "point", "index": index[0], "x": here["x"], "y": here["y"]}
    elif selection["points"]:
        here = selection["points"][0]
        st.session_state.map_pick = {"key": key, "kind": "space", "x": here["x"], "y": here["y"]}


@functools.cache
def inverse_at(x: float, y: float) -> np.ndarray:
    """The latent (D,) the map's inverse gives at (x, y), once per run."""
    return projection.inverse(np.array([x, y]))[0]


# In a browser (a session with request headers), the component draws the map: until it reports, nothing else
# does, so that a large map is not drawn twice. A session without one (Streamlit's AppTest), or a browser where
# the component fails, gets the Plotly map.
canvas_key = f"map-live-{Path(path).name}"
live = ui.live(path, canvas_key, "The map's previews decode") if st.context.headers else None
in_browser = False
if live is not None:
    blob, blob_id = ui.map_payload(path, model, n, method, n_neighbors, min_dist, projection)
    report = live.report
    if report.get("ok") and report.get("seq") != st.session_state.get("map_seq"):
        # A new pick in the browser (its count moved on): the same record as the Plotly map's.
        st.session_state.map_seq = report.get("seq")
        there = report.get("pick")
        index = there.get("index", []) if there else []
        within = there and all(0 <= i < len(projection.coords) for i in np.atleast_1d(index))
        st.session_state.map_pick = {"key": key, **there} if within else None
    pick = st.session_state.get("map_pick")
    exact = None
    if pick and pick["key"] == key and pick["kind"] == "space" and pick.get("triangle") is not None:
        z = inverse_at(pick["x"], pick["y"])
        exact = {"seq": st.session_state.get("map_seq"), "x": pick["x"], "y": pick["y"], "z": z.tolist(),
                 "label": f"{method.upper()} inverse, on the server"}  # fmt: skip
    value = map_canvas(
        live.decoder, blob, data_id=blob_id, class_names=names, image_shape=model.image_shape, exact=exact,
        key=canvas_key,
    )  # fmt: skip
    if not (value or {}).get("ok"):
        if (value or {}).get("ok") is None:  # still loading its decoder and the map's data
            st.caption("Drawing the map in the browser...")
            st.stop()
    else:
        in_browser = True

pick = st.session_state.get("map_pick")
pick = pick if pick and pick["key"] == key else None
if in_browser:
    detail = st.container()
else:
    chart, detail = st.columns([3, 2])
    fig = ui.map_figure(
        projection, names, lt.click_grid(projection), pick if pick and pick["kind"] != "region" else None
    )
    chart.plotly_chart(
        fig, key="map_chart", on_select=record_pick, selection_mode=("points", "box", "lasso"), width="stretch"
    )


def images_of(index: list[int]) -> torch.Tensor:
    """The map's points as images (B, C, H, W): the test (and training) images mapped, or decoded samples."""
    if not encodes:
        return lt.decode(model, torch.from_numpy(projection.latents[index]))
    return to_float(ui.map_data(model, n).images[index])


def show_decoded(z: torch.Tensor, caption: str) -> None:
    detail.image(enlarge(to_pil(lt.decode(model, z[None])[0]), 140), caption=caption, output_format="PNG")


def show_latent(z: torch.Tensor) -> None:
    detail.code(lt.format_latent(z), language=None, wrap_lines=True)
    if detail.button("Edit in latent sliders", icon=":material/tune:"):
        st.session_state.slider_from_map = {"path": path, "z": z.tolist()}
        st.session_state.slider_goto_map = True
        st.switch_page("views/sliders.py")


if pick is None:
    hover = "Hover the map to see its images and, between points, the decode of the latent there. "
    detail.info(
        (hover if in_browser else "")
        + "Click a point to see its image, its reconstruction and its latent; click empty space to decode "
        "the map there; box- or lasso-select (toolbar above the map) to see a region."
    )
elif pick["kind"] == "point":
    i, label = pick["index"], projection.labels[pick["index"]]
    z = torch.from_numpy(projection.latents[i])
    detail.subheader(f"Point {i}" + (f": {ui.plain(names[label])}" if label >= 0 else ""))
    if encodes and n is not None:  # a sample: the point's number in the test set
        number = bundled.positions[i] if from_bundle else ui.map_data(model, n).positions()[i]
        detail.caption(f"Test image {int(number):,} of {dataset}")
    if not in_browser:  # the component shows them at once
        a, b = detail.columns(2)
        image = enlarge(to_pil(images_of([i])[0]), 140)
        kind = "test image" if i < tested else "training image" if encodes else "generator sample"
        a.image(image, caption=kind, output_format="PNG")
        if encodes:
            b.image(enlarge(to_pil(lt.decode(model, z[None])[0]), 140), caption="reconstruction", output_format="PNG")
    show_latent(z)
elif pick["kind"] == "space" and method == "umap" and "triangle" in pick and pick["triangle"] is None:
    detail.info("That spot is outside the map: UMAP's inverse holds only among the map's points.")
elif pick["kind"] == "space":
    z = torch.from_numpy(inverse_at(pick["x"], pick["y"]))
    detail.subheader(f"Decoded at ({pick['x']:.2f}, {pick['y']:.2f})")
    if not in_browser:
        show_decoded(z, f"{method.upper()} inverse of the clicked spot, decoded")
    show_latent(z)
else:
    index = pick["index"]
    detail.subheader(f"{len(index):,} points selected")
    mean = torch.from_numpy(projection.latents[index].mean(0))
    if not in_browser:
        shown = f"{'the first 64 of ' if len(index) > 64 else ''}the selected {'images' if encodes else 'samples'}"
        ui.show_tiled(detail, images_of(index[:64]), 8, shown, frame=64)
        show_decoded(mean, "their mean latent, decoded")
    show_latent(mean)
