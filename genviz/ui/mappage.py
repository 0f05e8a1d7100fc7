"""The Latent map page's parts: the choice of map, its caption, one numbering of its points, the pick (from the
browser's map or the Plotly one, and from the address), and the panel that shows the pick."""

from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch

from genviz import latent as lt
from genviz.data import to_float
from genviz.models import GenerativeModel
from genviz.pictures import enlarge, to_pil
from genviz.ui.feedback import needs_data
from genviz.ui.maps import bundled_map, map_data
from genviz.ui.params import choice, from_url, linked, to_url
from genviz.ui.resources import bundle, data_source, dataset_name, say_bundle_problem, test_set
from genviz.ui.text import code, plain
from genviz.ui.widgets import show_tiled

SAMPLED = 10_000  # prior samples behind the largest map of a model without an exact encoder


@dataclass(frozen=True)
class MapChoice:
    n: int | None  # points: a stratified sample of n test images (or n prior samples); None: every image
    method: str  # "umap" or "pca"
    n_neighbors: int
    min_dist: float
    tested: int  # points below this are test images (0 for prior samples)
    from_bundle: bool  # the explore bundle holds this map

    @property
    def settings(self) -> tuple:
        return self.n, self.method, self.n_neighbors, self.min_dist


def choose_map(path: str, model: GenerativeModel) -> MapChoice:
    """The map's controls (points, projection, UMAP's settings), from and to the address; stops the page where the
    map asked for needs a dataset that is not there."""
    encodes = model.has_exact_encoder  # else the map shows prior samples: encoding thousands of images is a search each
    bundled = bundle(path)  # its map opens at once, without reading the dataset (a second on a first open)
    known = bundled.test_size if bundled is not None and encodes else None  # the test set's size, as it recorded
    if not encodes:
        say_bundle_problem(path)
        total, offline = SAMPLED, False
    elif known is not None:
        total, offline = known, False  # the dataset is read only for a map the bundle does not hold
    else:
        source = data_source(model)  # says why a bundle is not used, or that the page works offline
        with needs_data(model, "The map"):
            total = len(test_set(model))
            offline = source == "bundle"  # the bundle's sample stands in for the test set
    left, middle, right = st.columns(3)
    steps = {1_000, 5_000, 10_000} | ({len(bundled.labels)} if bundled is not None else set())
    sizes = sorted(k for k in steps if k < total) + [total] + (["all"] if encodes and not offline else [])
    from_url("points", "map_size", choice(sizes), left)
    remembered = st.session_state.get("map_points")  # kept across pages, where the widget's own state ends
    first = sizes[min(1, len(sizes) - 1)]
    start = len(bundled.labels) if bundled is not None and len(bundled.labels) in sizes else first
    st.session_state.setdefault("map_size", remembered if remembered in sizes else start)
    whole = " (the explore bundle's sample)" if offline else " (all)"
    chosen = left.selectbox(
        "Points", sizes, key="map_size",
        format_func=lambda k: "all test and training images" if k == "all" else f"{k:,}" + whole * (k == total),
        help="A sample stratified by class (seed 0); all test and training images: MNIST's 70,000, a minute or two"
        if encodes else None,
    )  # fmt: skip
    linked("projection", "map_method", choice(["umap", "pca"]), "umap", middle)
    method = middle.radio(
        "Projection", ["umap", "pca"], format_func=str.upper, horizontal=True, key="map_method",
        help="PCA is linear and instant; UMAP keeps neighbourhoods",
    )  # fmt: skip
    with right.popover("UMAP settings", disabled=method != "umap"):
        n_neighbors = st.slider("Neighbours", 5, 100, 15, help="Larger values keep more of the global structure")
        min_dist = st.slider("Minimum distance", 0.0, 0.99, 0.1, 0.01, help="Smaller values pack clusters tighter")
    st.session_state.map_points = chosen
    to_url("points", chosen)
    to_url("projection", method)
    n = None if chosen == "all" else chosen  # None: every test image, then every training image (ui.map_data)
    from_bundle = bundled_map(path, n, method, n_neighbors, min_dist) is not None
    if encodes and known is not None and not from_bundle and data_source(model) == "bundle":
        st.info(
            f"Offline, this page draws maps of up to {len(bundled.labels):,} test images, the explore bundle's; "
            f"{'every image' if n is None else f'{n:,}'} needs the dataset (see the sidebar)."
        )
        st.stop()
    return MapChoice(n, method, n_neighbors, min_dist, total if encodes else 0, from_bundle)


def caption(model: GenerativeModel, chosen: MapChoice, projection: lt.Projection) -> str:
    """What the map shows: how many points of what, and how it was made."""
    dataset, n, tested = code(dataset_name(model)), chosen.n, chosen.tested
    if chosen.method == "pca":
        settings = "PCA, first two components"
    elif "seed" in projection.settings:
        settings = (
            f"UMAP, {chosen.n_neighbors} neighbours, minimum distance {chosen.min_dist}, "
            f"seed {projection.settings['seed']}"
        )
    else:
        settings = (
            f"UMAP, {chosen.n_neighbors} neighbours, minimum distance {chosen.min_dist}, "
            f"{projection.settings['n_epochs']} epochs from a PCA start, on every core: not bit-reproducible, a new "
            "fit differs in detail"
        )
    if not model.has_exact_encoder:
        labelled = (projection.labels >= 0).any()
        what = "prior samples" + ("" if labelled else " (no classifier beside the model to colour them)")
    elif n is None:
        trained = len(projection.coords) - tested
        what = f"images: {tested:,} test (points 0 to {tested - 1:,}), then {trained:,} training"
    else:
        what = "test images"
    sampled = " The test images are a sample stratified by class (seed 0)." if n and n < tested else ""
    return f"{len(projection.coords):,} {what} of {dataset}, {settings}.{sampled}"


def numbering(path: str, model: GenerativeModel, chosen: MapChoice) -> tuple[np.ndarray | None, list[tuple[int, str]]]:
    """Each point's number where it comes from (a sampled test image's in the test set), and the map's parts
    (`genviz.mapdata.map_blob`'s numbering): the browser's captions and this page's panel name a point alike."""
    if not model.has_exact_encoder:
        return None, [(0, "sample")]
    if chosen.n is None:
        return None, [(0, "test image"), (chosen.tested, "training image")]
    numbers = bundle(path).positions if chosen.from_bundle else map_data(model, chosen.n).positions().cpu().numpy()
    return np.asarray(numbers), [(0, "test image")]


def point_name(numbers: np.ndarray | None, parts: list[tuple[int, str]], i: int) -> str:
    """Point i as the browser's captions name it: "test image 1,046", "training image 12", "sample 7"."""
    start, what = [part for part in parts if part[0] <= i][-1]
    return f"{what} {int(numbers[i]) if numbers is not None else i - start:,}"


def pick_from_address(key: tuple, projection: lt.Projection) -> None:
    """A link's pick (`pick=p123`: point 123, `pick=x0.51,-1.2`: that spot) where this visit has none yet."""
    text = st.query_params.get("pick", "")
    if "map_pick" in st.session_state or not text:
        return
    try:
        if text.startswith("p"):
            i = int(text[1:])
            if not 0 <= i < len(projection.coords):
                raise ValueError
            x, y = projection.coords[i].tolist()
            st.session_state.map_pick = {"key": key, "kind": "point", "index": i, "x": x, "y": y}
        elif text.startswith("x"):
            x, y = (float(v) for v in text[1:].split(","))
            st.session_state.map_pick = {"key": key, "kind": "space", "x": x, "y": y}
        else:
            raise ValueError
    except ValueError:
        st.warning(f"The link's {code(f'pick={text}')} was ignored (not a point or a spot of this map).")


def pick_to_address(pick: dict | None) -> None:
    """The pick in the address (a region is not: it may hold thousands of points)."""
    if pick and pick["kind"] == "point":
        text = f"p{pick['index']}"
    elif pick and pick["kind"] == "space":
        text = f"x{pick['x']:.6g},{pick['y']:.6g}"
    else:
        text = None
    if text is None:
        if "pick" in st.query_params:
            del st.query_params["pick"]
    elif st.query_params.get("pick") != text:
        st.query_params["pick"] = text


def record_plotly_pick(key: tuple) -> None:
    """The Plotly map's selection as the pick shown beside it: one point, empty space or a region."""
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


def record_browser_pick(report: dict, key: tuple, projection: lt.Projection) -> None:
    """A new pick in the browser's map (its count moved on), recorded as the Plotly map's are; a cleared selection
    clears it."""
    if not report.get("ok") or report.get("seq") == st.session_state.get("map_seq"):
        return
    st.session_state.map_seq = report.get("seq")
    there = report.get("pick")
    index = there.get("index", []) if there else []
    within = there and all(0 <= i < len(projection.coords) for i in np.atleast_1d(index))
    st.session_state.map_pick = {"key": key, **there} if within else None


def inverse(projection: lt.Projection, pick: dict) -> np.ndarray:
    """The latent (D,) the map's inverse gives at the picked spot, kept for this pick: computed once, with a
    spinner that says what is computed (the first inverse after a start compiles part of UMAP)."""
    kept = st.session_state.get("map_inverse")
    spot = (pick["key"], pick["x"], pick["y"])
    if kept and kept[0] == spot:
        return kept[1]
    method = pick["key"][2].upper()
    with st.spinner(f"Finding the latent at ({pick['x']:.2f}, {pick['y']:.2f}) with {method}'s inverse..."):
        z = projection.inverse(np.array([pick["x"], pick["y"]]))[0]
    st.session_state.map_inverse = (spot, z)
    return z


class PickPanel:
    """The panel beside (or under) the map: what the pick is, its pictures where the browser does not show them,
    its latent and a way to edit it in the sliders."""

    def __init__(self, where, path: str, model: GenerativeModel, chosen: MapChoice, projection, in_browser: bool):
        self.where, self.path, self.model, self.chosen = where, path, model, chosen
        self.projection, self.in_browser = projection, in_browser
        self.numbers, self.parts = numbering(path, model, chosen)

    def images(self, index: list[int]) -> torch.Tensor:
        """The map's points as images (B, C, H, W): the test (and training) images mapped, or decoded samples."""
        if not self.model.has_exact_encoder:
            return lt.decode(self.model, torch.from_numpy(self.projection.latents[index]))
        return to_float(map_data(self.model, self.chosen.n).images[index])

    def decoded(self, z: torch.Tensor, caption: str) -> None:
        image = enlarge(to_pil(lt.decode(self.model, z[None])[0]), 140)
        self.where.image(image, caption=caption, output_format="PNG")

    def latent(self, z: torch.Tensor, slot=None) -> None:
        (slot or self.where).code(lt.format_latent(z), language=None, wrap_lines=True)
        if self.where.button("Edit in latent sliders", icon=":material/tune:"):
            st.session_state.slider_from_map = {"path": self.path, "z": z.tolist()}
            st.session_state.slider_goto_map = True
            st.switch_page("views/sliders.py")

    def show(self, pick: dict | None, names: list[str]) -> None:
        where, projection, method = self.where, self.projection, self.chosen.method
        if pick is None:
            hover = "Hover the map to see its images and, between points, the decode of the latent there. "
            where.info(
                (hover if self.in_browser else "")
                + "Click a point to see its image, its reconstruction and its latent; click empty space to decode "
                "the map there; box- or lasso-select (toolbar above the map) to see a region."
            )
        elif pick["kind"] == "point":
            i, label = pick["index"], projection.labels[pick["index"]]
            name = point_name(self.numbers, self.parts, i)
            where.subheader(name[0].upper() + name[1:] + (f": {plain(names[label])}" if label >= 0 else ""))
            where.caption(f"Point {i:,} of the map, of {code(dataset_name(self.model))}")
            z = torch.from_numpy(projection.latents[i])
            if not self.in_browser:  # the component shows them at once
                a, b = where.columns(2)
                encodes = self.model.has_exact_encoder
                kind = "test image" if i < self.chosen.tested else "training image" if encodes else "generator sample"
                a.image(enlarge(to_pil(self.images([i])[0]), 140), caption=kind, output_format="PNG")
                if encodes:
                    b.image(
                        enlarge(to_pil(lt.decode(self.model, z[None])[0]), 140),
                        caption="reconstruction", output_format="PNG",
                    )  # fmt: skip
            self.latent(z)
        elif pick["kind"] == "space" and method == "umap" and "triangle" in pick and pick["triangle"] is None:
            where.info("That spot is outside the map: UMAP's inverse holds only among the map's points.")
        elif pick["kind"] == "space":
            where.subheader(f"Decoded at ({pick['x']:.2f}, {pick['y']:.2f})")
            slot = where.empty()  # in the latent's place at once: never the last pick's latent while this one is found
            slot.caption(f"Finding the latent here with {method.upper()}'s inverse...")
            with where:
                z = torch.from_numpy(inverse(projection, pick))
            if not self.in_browser:
                self.decoded(z, f"{method.upper()} inverse of the clicked spot, decoded")
            self.latent(z, slot)
        else:
            index = pick["index"]
            where.subheader(f"{len(index):,} points selected")
            mean = torch.from_numpy(projection.latents[index].mean(0))
            if not self.in_browser:
                encodes = self.model.has_exact_encoder
                first = "the first 64 of " if len(index) > 64 else ""
                shown = f"{first}the selected {'images' if encodes else 'samples'}"
                show_tiled(where, self.images(index[:64]), 8, shown, frame=64)
                self.decoded(mean, "their mean latent, decoded")
            self.latent(mean)
