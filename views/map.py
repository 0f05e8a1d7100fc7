"""Latent map: the test set (or test and training sets) encoded and projected to 2-D; click a point, empty
space or a region to decode it."""

import numpy as np
import streamlit as st
import torch

import ui
from genviz import latent as lt
from genviz.data import DatasetError
from genviz.images import enlarge, grid, to_pil
from genviz.models import GAN

st.title("Latent map")
picked = ui.model_picker()
if not picked:
    st.stop()
path, model = picked
is_gan = isinstance(model, GAN)
try:
    total = 10_000 if is_gan else len(ui.test_set(model))
except DatasetError as e:
    st.error(f"The map needs the test set of {ui.code(model.checkpoint['dataset']['name'])}: {ui.plain(e)}")
    st.stop()

left, middle, right = st.columns(3)
sizes = [n for n in (1_000, 5_000, 10_000) if n < total] + [total] + ([] if is_gan else ["all"])
remembered = st.session_state.get("map_points", sizes[min(1, len(sizes) - 1)])  # kept across pages
choice = left.selectbox(
    "Points",
    sizes,
    index=sizes.index(remembered) if remembered in sizes else min(1, len(sizes) - 1),
    format_func=lambda k: "all test and training images" if k == "all" else f"{k:,}" + (" (all)" * (k == total)),
    help=None if is_gan else "All test and training images: MNIST's 70,000; the first map takes a minute or two",
)
st.session_state.map_points = choice
n = None if choice == "all" else choice  # None: every test image, then every training image (ui.map_data)
method = middle.radio(
    "Projection",
    ["umap", "pca"],
    format_func=str.upper,
    horizontal=True,
    help="PCA is linear and instant; UMAP keeps neighbourhoods",
)
with right.popover("UMAP settings", disabled=method != "umap"):
    n_neighbors = st.slider("Neighbours", 5, 100, 15, help="Larger values keep more of the global structure")
    min_dist = st.slider("Minimum distance", 0.0, 0.99, 0.1, 0.01, help="Smaller values pack clusters tighter")

try:
    projection = ui.latent_map(path, model, n, method, n_neighbors, min_dist)
except DatasetError as e:
    dataset = ui.code(model.checkpoint["dataset"]["name"])
    st.error(f"The map of every image needs the training set of {dataset}: {ui.plain(e)}")
    st.stop()
names = ui.class_names(model)
tested = len(ui.test_set(model)) if not is_gan else 0  # points from here on are training images
if method == "pca":
    settings = "PCA, first two components"
elif "seed" in projection.settings:
    settings = f"UMAP, {n_neighbors} neighbours, minimum distance {min_dist}, seed {projection.settings['seed']}"
else:
    settings = (
        f"UMAP, {n_neighbors} neighbours, minimum distance {min_dist}, {projection.settings['n_epochs']} epochs "
        "from a PCA start, on every core: not bit-reproducible, a new fit differs in detail"
    )
what = (
    "prior samples" + ("" if (projection.labels >= 0).any() else " (no classifier beside the model to colour them)")
    if is_gan
    else "test images"
    if n is not None
    else f"images: {tested:,} test (points 0 to {tested - 1:,}), then {len(projection.coords) - tested:,} training"
)
st.caption(f"{len(projection.coords):,} {what} of {ui.code(model.checkpoint['dataset']['name'])}, {settings}.")
key = (path, n, method, n_neighbors, min_dist)


def record_pick() -> None:
    """Turn the chart's selection into the pick shown beside it: one point, empty space or a region."""
    selection = st.session_state.map_chart.selection
    points = [p for p in selection["points"] if p.get("customdata") is not None]
    index = [int(np.ravel(p["customdata"])[0]) for p in points]
    if selection["box"] or selection["lasso"]:
        st.session_state.map_pick = {"key": key, "kind": "region", "index": index} if index else None
    elif index:
        st.session_state.map_pick = {
            "key": key,
            "kind": "point",
            "index": index[0],
            "x": points[0]["x"],
            "y": points[0]["y"],
        }
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


def show_latent(z: torch.Tensor) -> None:
    detail.code(lt.format_latent(z), language=None, wrap_lines=True)
    if detail.button("Edit in latent sliders", icon=":material/tune:"):
        st.session_state.slider_from_map = {"path": path, "z": z.tolist()}
        st.session_state.slider_goto_map = True
        st.switch_page("views/sliders.py")


def images_of(index: list[int]) -> torch.Tensor:
    """The map's points as images (B, C, H, W): test (and training) images, or a GAN's decoded samples."""
    if is_gan:
        return lt.decode(model, torch.from_numpy(projection.latents[index]))
    return ui.map_data(model, n).images[index].float().div(255)


if pick is None:
    detail.info(
        "Click a point to see its image, its reconstruction and its latent; click empty space to decode "
        "the map there; box- or lasso-select (toolbar above the map) to see a region."
    )
elif pick["kind"] == "point":
    i = pick["index"]
    z = torch.from_numpy(projection.latents[i])
    label = projection.labels[i]
    detail.subheader(f"Point {i}" + (f": {ui.plain(names[label])}" if label >= 0 else ""))
    a, b = detail.columns(2)
    a.image(
        enlarge(to_pil(images_of([i])[0]), 140),
        caption="generator sample" if is_gan else "test image" if i < tested else "training image",
        output_format="PNG",
    )
    if not is_gan:
        b.image(enlarge(to_pil(lt.decode(model, z[None])[0]), 140), caption="reconstruction", output_format="PNG")
    show_latent(z)
elif pick["kind"] == "space":
    z = torch.from_numpy(projection.inverse(np.array([pick["x"], pick["y"]]))[0])
    detail.subheader(f"Decoded at ({pick['x']:.2f}, {pick['y']:.2f})")
    detail.image(
        enlarge(to_pil(lt.decode(model, z[None])[0]), 140),
        caption=f"{method.upper()} inverse of the clicked spot, decoded",
        output_format="PNG",
    )
    show_latent(z)
else:
    index = pick["index"]
    detail.subheader(f"{len(index):,} points selected")
    shown = index[:64]
    detail.image(
        grid(images_of(shown)),
        caption=f"{'the first 64 of ' if len(index) > 64 else ''}the selected {'samples' if is_gan else 'images'}",
        output_format="PNG",
    )
    mean = torch.from_numpy(projection.latents[index].mean(0))
    detail.image(
        enlarge(to_pil(lt.decode(model, mean[None])[0]), 140), caption="their mean latent, decoded", output_format="PNG"
    )
    show_latent(mean)
