"""Latent map: test images (a stratified sample, or every test and training image) encoded and projected to
2-D; click a point, empty space or a region to decode it."""

import numpy as np
import streamlit as st
import torch

import ui
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
with ui.needs_data(model, "The map"):
    total = len(ui.test_set(model)) if encodes else SAMPLED
dataset, names = ui.code(ui.dataset_name(model)), ui.class_names(model)

left, middle, right = st.columns(3)
sizes = [n for n in (1_000, 5_000, 10_000) if n < total] + [total] + (["all"] if encodes else [])
ui.from_url("points", "map_size", ui.choice(sizes), left)
remembered = st.session_state.get("map_points")  # kept across pages, where the widget's own state ends
st.session_state.setdefault("map_size", remembered if remembered in sizes else sizes[min(1, len(sizes) - 1)])
choice = left.selectbox(
    "Points",
    sizes,
    key="map_size",
    format_func=lambda k: "all test and training images" if k == "all" else f"{k:,}" + (" (all)" * (k == total)),
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

with ui.needs_data(model, "The map of every image", split="training"):
    projection = ui.latent_map(path, model, n, method, n_neighbors, min_dist)
tested = len(ui.test_set(model)) if encodes else 0  # points from here on are training images
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


pick = st.session_state.get("map_pick")
pick = pick if pick and pick["key"] == key else None
chart, detail = st.columns([3, 2])
fig = ui.map_figure(projection, names, lt.click_grid(projection), pick if pick and pick["kind"] != "region" else None)
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
    detail.info(
        "Click a point to see its image, its reconstruction and its latent; click empty space to decode "
        "the map there; box- or lasso-select (toolbar above the map) to see a region."
    )
elif pick["kind"] == "point":
    i, label = pick["index"], projection.labels[pick["index"]]
    z = torch.from_numpy(projection.latents[i])
    detail.subheader(f"Point {i}" + (f": {ui.plain(names[label])}" if label >= 0 else ""))
    if encodes and n is not None:  # a sample: the point's number in the test set
        detail.caption(f"Test image {int(ui.map_data(model, n).positions()[i]):,} of {dataset}")
    a, b = detail.columns(2)
    image = enlarge(to_pil(images_of([i])[0]), 140)
    kind = "test image" if i < tested else "training image" if encodes else "generator sample"
    a.image(image, caption=kind, output_format="PNG")
    if encodes:
        b.image(enlarge(to_pil(lt.decode(model, z[None])[0]), 140), caption="reconstruction", output_format="PNG")
    show_latent(z)
elif pick["kind"] == "space":
    z = torch.from_numpy(projection.inverse(np.array([pick["x"], pick["y"]]))[0])
    detail.subheader(f"Decoded at ({pick['x']:.2f}, {pick['y']:.2f})")
    show_decoded(z, f"{method.upper()} inverse of the clicked spot, decoded")
    show_latent(z)
else:
    index = pick["index"]
    detail.subheader(f"{len(index):,} points selected")
    shown = f"{'the first 64 of ' if len(index) > 64 else ''}the selected {'images' if encodes else 'samples'}"
    ui.show_tiled(detail, images_of(index[:64]), 8, shown, frame=64)
    mean = torch.from_numpy(projection.latents[index].mean(0))
    show_decoded(mean, "their mean latent, decoded")
    show_latent(mean)
