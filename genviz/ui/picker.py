"""The sidebar's model picker: every checkpoint folder under the checkpoints folder, a typed folder, the
model card, and the model's folder name in the URL."""

import math
from pathlib import Path
from typing import NamedTuple

import streamlit as st

from genviz import CheckpointError, models, ui
from genviz.checkpoint import model_card, read_config, read_metrics
from genviz.folders import checkpoint_folders
from genviz.models import GenerativeModel, Model
from genviz.ui.growth import growth_card
from genviz.ui.params import drop_from_url, link_warning, to_url
from genviz.ui.resources import cached_model
from genviz.ui.text import code, plain


def _described(folder: str | Path) -> tuple[type[Model], dict] | None:
    """The class a checkpoint folder loads as, and its config, read without loading the weights; None when
    the config cannot be read. A model's capabilities are class attributes: they can be asked before loading."""
    try:
        config = read_config(folder)
    except CheckpointError:
        return None
    return models.model_class(config["family"], config["model"]), config


def model_class(folder: str | Path) -> type[Model] | None:
    return (_described(folder) or (None,))[0]


def listed(folder: str | Path) -> bool:
    """A model with a latent space to explore, or a folder too broken to tell (listed, so that picking it
    says why); a classifier only measures the others."""
    found = model_class(folder)
    return found is None or found.explorable


def listed_folders() -> list[str]:
    """The checkpoint folders in `ui.CHECKPOINTS` the picker lists (`listed`)."""
    return [str(p) for p in checkpoint_folders(ui.CHECKPOINTS) if listed(p)]


def default_checkpoint() -> str | None:
    """The folder a session opens on when its link names none (`default_index`); None without checkpoints."""
    folders = listed_folders()
    return folders[default_index(folders)] if folders else None


def default_index(options: list[str]) -> int:
    """Open on the MNIST VAE, else on any model with a likelihood (a VAE): prior samples of a VAE make the
    most telling first screen, and MNIST's are the easiest to read."""
    likely = [i for i, path in enumerate(options) if getattr(model_class(path), "has_likelihood", False)]
    preferred = [i for i in likely if Path(options[i]).name == "mnist-vae"]
    return (preferred or likely or [0])[0]


def _select_custom() -> None:
    if path := st.session_state.custom_checkpoint.strip():
        st.session_state.custom_path = st.session_state.model_path = path


def _remember_choice() -> None:
    st.session_state.model_path = st.session_state.checkpoint


def _first_choice(options: list[str], folders: list[str]) -> str:
    """The model a session opens on: the one the URL names (a folder's name), else the default."""
    if name := st.query_params.get("model"):
        named = [p for p in folders if Path(p).name == name]
        if named:
            return named[0]
        message = f"The link's model {code(name)} is not among the checkpoints; the default opened instead."
        link_warning("model_path", message)  # said on every run until another model is chosen
    return options[default_index(options)]


def model_picker() -> tuple[str, GenerativeModel] | None:
    """Sidebar: choose a checkpoint folder (or type a path); shows its card. None if none loads.

    Every page draws it. A widget's state ends with its page, so the choice and the typed folder
    are kept in `model_path` and `custom_path` and handed to the next page's widgets."""
    folders = listed_folders()
    with st.sidebar:
        st.header("Model")
        if "model_path" in st.session_state.get("link_notes", {}):
            link_warning("model_path", "")
        custom = st.session_state.get("custom_path", "")
        options = folders + ([custom] if custom and custom not in folders else [])
        if options:
            chosen = st.session_state.get("model_path")
            if chosen is None:
                chosen = _first_choice(options, folders)
            st.session_state.checkpoint = st.session_state.model_path = (
                chosen if chosen in options else options[default_index(options)]
            )
        st.session_state.custom_checkpoint = custom
        path = st.selectbox(
            "Checkpoint", options, format_func=lambda p: Path(p).name, key="checkpoint", on_change=_remember_choice
        )
        st.text_input(
            "Another checkpoint folder",
            key="custom_checkpoint",
            on_change=_select_custom,
            help="Path to a folder written by `genviz train`",
        )
        if path is None:
            st.info(
                f"No checkpoints in {ui.searched()}. Train one with "
                "`genviz train --model vae --dataset mnist --out checkpoints/mnist-vae`."
            )
            return None
        # A listed folder goes in the URL by its name; a typed path is not shared (a link names no paths).
        if path in folders:
            to_url("model", Path(path).name)
        else:
            drop_from_url("model")
        try:
            model = cached_model(path)
        except CheckpointError as e:
            st.error(f"This checkpoint cannot be opened: {plain(e)}. Choose another one above.")
            return None
        if not model.explorable:
            st.error(
                f"{code(path)} holds a {model.display_name}, which measures other models and has no latent space "
                "to explore. Choose an autoencoder, VAE or GAN."
            )
            return None
        st.session_state.offline_slot = st.empty()  # says so when a page explores from the bundle (test_set)
        st.session_state.card_slot = (st.expander("Model card"), path)  # filled after the page (show_card)
    return path, model


def show_card() -> None:
    """The model card, in the sidebar's expander the picker made, drawn once the page has run (app.py): its text
    and curves would otherwise reach the browser, and take its time to draw, before the page's own pictures."""
    if pending := st.session_state.pop("card_slot", None):
        expander, path = pending
        with expander:
            sidebar_card(path)


def _card_parts(path: str, curves_in_table: bool = True) -> tuple[str, dict, dict]:
    """The model card's text above its metrics (title, description, settings, training), the metrics, and the
    config; without curves_in_table, the training's per-epoch records (drawn by `training_curves`) are left out of
    its table. Raises CheckpointError."""
    config, metrics = read_config(path), read_metrics(path)
    training = {k: v for k, v in config["training"].items() if curves_in_table or not _is_curve(k, v)}
    card = model_card({**config, "training": training}, metrics, literal=plain, name=Path(path).name)
    return card.rpartition("\n## Metrics\n")[0], metrics, config


def sidebar_card(path: str) -> None:
    """The model card in the sidebar's width: its text, its numbers in a two-column table, the names of its
    nested figures (curves, shares per class, the evaluation's record), and a button that opens all of it in the
    main area."""
    try:
        head, metrics, config = _card_parts(path, curves_in_table=False)
    except CheckpointError as e:  # the weights loaded; only the card's metrics are unreadable
        st.warning(f"The model card cannot be shown: {plain(e)}")
        return
    rows, rest = metric_rows(metrics)
    st.markdown(f"{wrappable(head)}\n{metrics_section(metrics, rows)}")
    if rest:
        st.caption("In the full card: " + ", ".join(plain(_label(k)) for k in rest) + ".")
    if st.button("Full model card", icon=":material/open_in_full:", key="full_model_card"):
        full_card(path)
    training_curves(config["training"])
    growth_card(cached_model(path), columns=1)


@st.dialog("Model card", width="large")
def full_card(path: str) -> None:
    """The whole model card in the main area: each nested figure as the JSON metrics.json holds it."""
    head, metrics, config = _card_parts(path)
    rows, rest = metric_rows(metrics)
    st.markdown(f"{head}\n{metrics_section(metrics, rows)}")
    for name in rest:
        if isinstance(metrics[name], str):
            st.markdown(f"**{plain(_label(name))}.** {plain(metrics[name])}")
        else:
            with st.expander(plain(_label(name))):
                st.json(metrics[name])
    training_curves(config["training"])
    growth_card(cached_model(path))


def wrappable(card: str) -> str:
    """The card with a break opportunity (a zero-width space) after each underscore of its tables' cells, so that
    names like final_wasserstein_estimate wrap in the sidebar's width instead of pushing their values out of it."""
    return "\n".join(line.replace("_", "_\u200b") if line.startswith("| ") else line for line in card.split("\n"))


NESTED_ROWS = 4  # a dict of at most this many numbers is shown as rows of the table, one per number


def metric_rows(metrics: dict) -> tuple[list[tuple[str, str]], list[str]]:
    """The metrics that read as a table: (label, value) for each number, and for a dict of at most NESTED_ROWS
    numbers one row per entry ("linear probe: latent accuracy"); and the names of the others (curves, values per
    class or dimension, records, notes)."""
    rows, rest = [], []
    for name, value in metrics.items():
        if _is_number(value):
            rows.append((_label(name), _value(value)))
        elif isinstance(value, dict) and len(value) <= NESTED_ROWS and all(map(_is_number, value.values())):
            rows += [(f"{_label(name)}: {_label(key)}", _value(v)) for key, v in value.items()]
        else:
            rest.append(name)
    return rows, rest


def metrics_section(metrics: dict, rows: list[tuple[str, str]]) -> str:
    """The card's Metrics heading and `rows` (`metric_rows`) as a table whose labels wrap at their spaces, so that
    the values keep their column in the sidebar's width."""
    if not metrics:
        return "## Metrics\n\nNot evaluated yet: run `genviz evaluate <this folder>`."
    table = ["| metric | value |", "| --- | ---: |", *(f"| {plain(k)} | {plain(v)} |" for k, v in rows)]
    return "## Metrics\n\n" + "\n".join(table)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _label(name: str) -> str:
    return str(name).replace("_", " ")


def _value(value: int | float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


def training_curves(training: dict) -> None:
    """Each per-epoch record of the training (`loss_by_epoch`, a WGAN-GP's `wasserstein_estimate_by_epoch`) as a
    line over the epochs, where it holds two finite numbers or more."""
    for name, values in training.items():
        if _is_curve(name, values):
            st.caption(f"{name.removesuffix('_by_epoch').replace('_', ' ').capitalize()} by epoch")
            st.image(curve_svg([float(v) for v in values]))


def _is_curve(name: str, values) -> bool:
    """Whether a training record is one `training_curves` draws: `*_by_epoch`, two finite numbers or more."""
    numbers = isinstance(values, list) and all(isinstance(v, int | float) for v in values)
    return name.endswith("_by_epoch") and numbers and len(values) >= 2 and all(math.isfinite(v) for v in values)


def curve_svg(values: list[float], width: int = 300, height: int = 110) -> str:
    """A line of `values` over epochs 1 to N as SVG, its range and epochs marked: drawn without a chart library,
    which would load pandas on every page that shows the card."""
    left, right, top, bottom = 48, 8, 8, 22
    low, high = min(values), max(values)
    span = high - low or 1.0
    step = (width - left - right) / (len(values) - 1)
    points = " ".join(
        f"{left + i * step:.1f},{top + (high - v) / span * (height - top - bottom):.1f}" for i, v in enumerate(values)
    )
    text = 'font-family="sans-serif" font-size="11" fill="#888"'
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
        f'<path d="M{left},{top} V{height - bottom} H{width - right}" fill="none" stroke="#888"/>'
        f'<polyline points="{points}" fill="none" stroke="#1f77b4" stroke-width="2"/>'
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" {text}>{high:.4g}</text>'
        f'<text x="{left - 4}" y="{height - bottom}" text-anchor="end" {text}>{low:.4g}</text>'
        f'<text x="{left}" y="{height - 6}" {text}>epoch 1</text>'
        f'<text x="{width - right}" y="{height - 6}" text-anchor="end" {text}>{len(values)}</text>'
        "</svg>"
    )


class Candidate(NamedTuple):
    """A checkpoint that can stand beside the sidebar's model, as its config describes it."""

    model: type[GenerativeModel]
    dataset: str


def compatible_models(model: GenerativeModel) -> dict[str, Candidate]:
    """Folder -> candidate, for the explorable models that take the same images as `model`: those that can
    be compared with it side by side. Each config is read once."""
    custom = st.session_state.get("custom_path", "")
    folders = [str(p) for p in checkpoint_folders(ui.CHECKPOINTS)] + ([custom] if custom else [])
    found = {}
    for folder in dict.fromkeys(folders):
        cls, config = _described(folder) or (None, None)
        if cls and cls.explorable and tuple(config["model"]["image_shape"]) == model.image_shape:
            found[folder] = Candidate(cls, config["dataset"]["name"])
    return found


def loaded_models(paths: list[str]) -> dict[str, GenerativeModel]:
    """Folder name -> model for each path that loads; says in the page why any other does not."""
    models = {}
    for p in paths:
        try:
            models[Path(p).name] = cached_model(p)
        except CheckpointError as e:
            st.error(f"{code(Path(p).name)} is left out: {plain(e)}")
    return models
