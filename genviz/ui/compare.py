"""The Compare models page's pieces: every checkpoint of a dataset read from its config.json and metrics.json
alone (no model, no dataset), the dataset the page opens on, the table's rows and what its likelihoods are, four
plotly figures that show posterior collapse, mode collapse and compression against JPEG, and the offer to compute
the figures a checkpoint lacks.

Figures read metrics.json as `genviz.evaluation` writes it; a key may be absent or, in a hand-edited file,
malformed: either way the figure is missing (an empty cell, a model left out of a chart), never a crash."""

import html
import math
import shlex
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from genviz import CheckpointError, evaluation
from genviz.checkpoint import LIKELIHOOD_NOTE, read_config, read_metrics
from genviz.data import DatasetError, data_root
from genviz.diagnostics import class_entropy_bits
from genviz.folders import checkpoint_folders
from genviz.models import REGISTRY
from genviz.ui.picker import default_index, listed
from genviz.ui.text import code, plain

ACTIVE, COLLAPSED = "#1f77b4", "#d62728"  # KL bars: a dimension in use, and one the posterior collapsed
BASELINE = "grey"  # JPEG, WebP, the raw-pixel probe, the uniform share: what a model is held against
# For scale, in bits per dimension on CIFAR-10 (Kingma et al. 2016; Vahdat & Kautz 2020; Hoogeboom et al. 2019).
PUBLISHED = "published on CIFAR-10: IAF-VAE 3.11, NVAE 2.91, and PNG compresses it to 5.87"
EVALUATE = evaluation.COMMAND


class Checkpoint(NamedTuple):
    name: str  # the folder's name
    path: Path
    config: dict | None  # None: config.json cannot be read
    metrics: dict | None  # None: config.json or metrics.json cannot be read
    problem: str | None  # why, in words

    @property
    def dataset(self) -> str | None:
        return self.config["dataset"]["name"] if self.config else None

    @property
    def explorable(self) -> bool:
        """An autoencoder, VAE or GAN; False for a classifier, which judges the others' samples."""
        return bool(self.config) and REGISTRY[self.config["family"]].model.explorable


def read_checkpoints(roots: list[Path]) -> list[Checkpoint]:
    """Every checkpoint folder in `roots` (`checkpoint_folders`) with its config and metrics; one that cannot be
    read says why."""
    found = []
    for path in checkpoint_folders(roots):
        try:
            config = read_config(path)
        except CheckpointError as e:
            found.append(Checkpoint(path.name, path, None, None, f"its config cannot be read: {e}"))
            continue
        try:
            found.append(Checkpoint(path.name, path, config, read_metrics(path), None))
        except (CheckpointError, OSError) as e:
            found.append(Checkpoint(path.name, path, config, None, f"its metrics cannot be read: {e}"))
    return found


def datasets(checkpoints: list[Checkpoint]) -> list[str]:
    """The datasets of the models among `checkpoints`, sorted by name."""
    return sorted({c.dataset for c in checkpoints if c.explorable})


def chosen_dataset(checkpoints: list[Checkpoint], names: list[str]) -> str:
    """The dataset, among `names`, of the model the other pages show: the link's `model` (a folder's name), else
    the sidebar's choice of this session, else the picker's default; the first of `names` when none of them is of
    one. Only config.json is read: the page loads no model."""
    named = [c.path for c in checkpoints if c.config and c.name == st.query_params.get("model")]
    chosen = named[0] if named else st.session_state.get("model_path")
    if chosen is None:  # as the picker opens
        folders = [str(c.path) for c in checkpoints if c.config and listed(c.path)]
        chosen = folders[default_index(folders)] if folders else None
    try:
        dataset = read_config(chosen)["dataset"]["name"] if chosen else None
    except CheckpointError:  # a typed folder that has gone or broken since
        dataset = None
    return dataset if dataset in names else names[0]


# Reading metrics.json ------------------------------------------------------------------------------------


def number(value) -> float | None:
    """A finite number (not true or false, which JSON also gives), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def figure(metrics: dict, *keys: str) -> float | None:
    """The number at `keys` in nested metrics (`figure(m, "linear_probe", "latent_accuracy")`), or None."""
    value = metrics
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return number(value)


def latent_usage(metrics: dict) -> tuple[list[float], list[bool]] | None:
    """Per-dimension KL (nats) and whether each dimension is active, or None when absent or malformed."""
    usage = metrics.get("latent_usage")
    if not isinstance(usage, dict):
        return None
    kl, active = usage.get("kl_per_dimension_nats"), usage.get("active")
    if not (isinstance(kl, list) and isinstance(active, list) and kl and len(kl) == len(active)):
        return None
    values = [number(v) for v in kl]
    if None in values or not all(isinstance(a, bool) for a in active):
        return None
    return values, active


def class_shares(metrics: dict) -> dict[str, float] | None:
    shares = metrics.get("sample_class_shares")
    if not isinstance(shares, dict) or not shares or any(number(v) is None for v in shares.values()):
        return None
    return {str(k): float(v) for k, v in shares.items()}


def class_entropy(metrics: dict) -> float | None:
    """The entropy of the samples' classes in bits: metrics' figure, else computed from the class shares."""
    if (bits := figure(metrics, "sample_class_entropy_bits")) is not None:
        return bits
    if (shares := class_shares(metrics)) is None or (total := sum(shares.values())) <= 0:
        return None
    return class_entropy_bits([p / total for p in shares.values()])  # shares are rounded: they sum to about 1


def curve(metrics: dict, which: str, extra: str) -> list[tuple[float, float, float]] | None:
    """rate_distortion[which] as (bits per image, PSNR dB, `extra`) points by bits, or None when absent."""
    points = metrics.get("rate_distortion", {})
    points = points.get(which) if isinstance(points, dict) else None
    if not isinstance(points, list) or not points:
        return None
    rows = []
    for p in points:
        if not isinstance(p, dict):
            return None
        row = (number(p.get("bits_per_image")), number(p.get("psnr_db")), number(p.get(extra)))
        if None in row or row[0] <= 0:  # a log axis
            return None
        rows.append(row)
    return sorted(rows)


def kind(config: dict) -> str:
    """The model's kind as its card names it (a denoising AE: "dae"), from the settings read_config checked."""
    return REGISTRY[config["family"]].config(**config["model"]).kind


# The table -----------------------------------------------------------------------------------------------


def rows(models: list[Checkpoint]) -> list[dict]:
    """One row per model; a figure its metrics lack is None (an empty cell), never 0. A likelihood in bits per
    dimension replaces its nats, which are then a density of pixels in [0, 1] that compares with nothing."""
    table = []
    for c in models:
        m = c.metrics or {}
        latent = number(c.config["model"].get("latent_dim"))
        elbo_bits, nll_bits = figure(m, "test_negative_elbo_bits_per_dim"), figure(m, "test_nll_iwae_bits_per_dim")
        table.append({
            "model": c.name,
            "kind": kind(c.config),
            "latent dims": int(latent) if latent is not None else None,
            "active units": figure(m, "latent_usage", "active_units"),
            "MSE": figure(m, "test_mse"),
            "PSNR dB": figure(m, "test_psnr_db"),
            "SSIM": figure(m, "test_ssim"),
            "negative ELBO (nats)": figure(m, "test_negative_elbo_nats") if elbo_bits is None else None,
            "IWAE NLL (nats)": figure(m, "test_nll_iwae_nats") if nll_bits is None else None,
            "negative ELBO (bits/dim)": elbo_bits,
            "IWAE NLL (bits/dim)": nll_bits,
            "FID": figure(m, "sample_fid_classifier"),
            "precision": figure(m, "sample_precision"),
            "recall": figure(m, "sample_recall"),
            "class entropy (bits)": class_entropy(m),
            "smallest class share": figure(m, "sample_min_class_share"),
            "probe (latent)": figure(m, "linear_probe", "latent_accuracy"),
            "probe (pixels)": figure(m, "linear_probe", "pixel_accuracy"),
            "bits at 20 dB": figure(m, "rate_distortion", "bits_at_20db", "model"),
            "JPEG bits at 20 dB": figure(m, "rate_distortion", "bits_at_20db", "jpeg"),
            "WebP bits at 20 dB": figure(m, "rate_distortion", "bits_at_20db", "webp"),
            "CAS (generated)": figure(m, "classification_accuracy_score", "generated"),
            "CAS (real)": figure(m, "classification_accuracy_score", "real"),
        })  # fmt: skip
    return table


def columns(classes: int) -> dict:
    """st.dataframe's column_config for `rows`: each column says what it is and which way is better."""
    num = st.column_config.NumberColumn
    bits = math.log2(classes) if classes > 1 else 0.0
    return {
        "model": st.column_config.TextColumn("model", help="The checkpoint folder", pinned=True),
        "kind": st.column_config.TextColumn(
            help="The kind of model, as its card names it: its family, or its variant (dae, sparse-ae, cae)"
        ),
        "latent dims": num(help="Dimensions of the latent code", format="%d"),
        "active units": num(
            help="Latent dimensions in use: the variance of their posterior mean over the test set exceeds 0.01. "
            "Higher is better; far below the dims means posterior collapse",
            format="%d",
        ),
        "MSE": num(help="Mean squared error of test reconstructions, pixels in [0, 1]. Lower is better", format="%.5f"),
        "PSNR dB": num(help="Peak signal-to-noise ratio of test reconstructions. Higher is better", format="%.2f"),
        "SSIM": num(help="Structural similarity of test reconstructions, at most 1. Higher is better", format="%.3f"),
        "negative ELBO (nats)": num(
            help="Negative evidence lower bound per test image, a bound on the NLL, where the likelihood is not a "
            "density of 8-bit images (a Bernoulli of grey pixels): compare it only among such models of the dataset. "
            "Lower is better",
            format="%.2f",
        ),
        "IWAE NLL (nats)": num(
            help="Importance-weighted estimate of the negative log-likelihood per test image, where the likelihood "
            "is not a density of 8-bit images. Lower is better",
            format="%.2f",
        ),
        "negative ELBO (bits/dim)": num(
            help="Negative ELBO in bits per dimension of the 8-bit image, for a density of the pixels (a Gaussian): "
            f"see the line under the table. Lower is better; {PUBLISHED}",
            format="%.3f",
        ),
        "IWAE NLL (bits/dim)": num(
            help=f"Importance-weighted NLL in bits per dimension of the 8-bit image. Lower is better; {PUBLISHED}",
            format="%.3f",
        ),
        "FID": num(
            help="Frechet distance between samples and test images in the classifier's features. Lower is better",
            format="%.1f",
        ),
        "precision": num(help="Share of samples that lie near real images (quality). Higher is better", format="%.3f"),
        "recall": num(help="Share of real images near some sample (diversity). Higher is better", format="%.3f"),
        "class entropy (bits)": num(
            help=f"Entropy of the classes the classifier gives the samples. Higher is better; at most log2 "
            f"{classes} = {bits:.2f} (every class equally often); well below means mode collapse",
            format="%.3f",
        ),
        "smallest class share": num(
            help=f"Share of samples in the rarest class. Higher is better; 1/{classes} = {1 / max(classes, 1):.1%} "
            "is uniform, near 0 means a class is never drawn (mode collapse)",
            format="percent",
        ),
        "probe (latent)": num(
            help="Test accuracy of a linear classifier on the latent codes. Higher is better: classes are "
            "linearly separable in the code",
            format="percent",
        ),
        "probe (pixels)": num(
            help="Test accuracy of the same linear classifier on raw pixels: the baseline a code should beat",
            format="percent",
        ),
        "bits at 20 dB": num(
            help="Bits per image the model's fixed-length code needs to reach 20 dB PSNR. Lower is better",
            format="%.0f",
        ),
        "JPEG bits at 20 dB": num(
            help="Bits per image JPEG needs for 20 dB: the model should need fewer", format="%.0f"
        ),  # fmt: skip
        "WebP bits at 20 dB": num(
            help="Bits per image WebP needs for 20 dB: the model should need fewer", format="%.0f"
        ),  # fmt: skip
        "CAS (generated)": num(
            help="Classification accuracy score: test accuracy of a classifier trained on the model's samples. "
            "Higher is better; close to CAS (real) means the samples carry the classes",
            format="percent",
        ),
        "CAS (real)": num(
            help="Test accuracy of the same classifier trained on as many real images: the ceiling for CAS",
            format="percent",
        ),
    }


def likelihoods(models: list[Checkpoint]) -> str | None:
    """What the models' likelihood figures are, from each metrics.json's note (genviz.evaluation writes it): one
    line per note, naming its models; None when no model has one."""
    notes: dict[str, list[str]] = {}
    for c in models:
        if isinstance(note := (c.metrics or {}).get(LIKELIHOOD_NOTE), str):
            notes.setdefault(note, []).append(code(c.name))
    return "  \n".join(f"**Likelihoods of {', '.join(names)}.** {plain(note)}" for note, names in notes.items()) or None


def judges(models: list[Checkpoint], classifiers: list[Checkpoint], dataset: str) -> str:
    """Which classifier judged the models' samples (metrics' evaluation.classifier), with its test accuracy."""
    named = []
    for c in models:
        judge = (c.metrics or {}).get("evaluation", {})
        judge = judge.get("classifier") if isinstance(judge, dict) else None
        if isinstance(judge, str) and not judge.startswith("none"):
            named.append(judge)
    if not named:
        return (
            f"No classifier has judged the samples of {code(dataset)}'s models: FID, precision, recall and the class "
            f"shares need one (`genviz train --model classifier --dataset {dataset}` "
            f"`--out <checkpoints>/{dataset}-classifier`, then `{EVALUATE}`)."
        )
    accuracy = {c.name: figure(c.metrics or {}, "test_accuracy") for c in classifiers}
    said = []
    for judge in dict.fromkeys(named):
        known = accuracy.get(Path(judge).name)
        said.append(code(judge) + (f" ({known:.2%} test accuracy)" if known is not None else ""))
    if len(said) == 1:
        return f"Samples judged by the classifier {said[0]}: FID, precision, recall, class shares and CAS use it."
    return f"Samples judged by different classifiers, {', '.join(said)}: their sample figures do not compare exactly."


# The figures ---------------------------------------------------------------------------------------------


def _name(model: str) -> str:
    return html.escape(model)  # plotly reads tags in names and hovers


def kl_figure(models: dict[str, dict]) -> go.Figure | None:
    """Per-dimension KL (nats) of each model with latent usage figures, a subplot row each, dimensions sorted by
    KL highest first; collapsed (inactive) dimensions in a contrasting colour. None if no model has them."""
    usage = {name: u for name, m in models.items() if (u := latent_usage(m))}
    if not usage:
        return None
    titles = [f"{_name(name)}: {sum(active)} of {len(kl)} active" for name, (kl, active) in usage.items()]
    height = 80 + 200 * len(usage)
    fig = make_subplots(rows=len(usage), cols=1, subplot_titles=titles, vertical_spacing=70 / height)
    shown = set()  # each legend entry once
    for row, (kl, active) in enumerate(usage.values(), 1):
        order = sorted(range(len(kl)), key=lambda d: -kl[d])
        for state, colour, label in ((True, ACTIVE, "active"), (False, COLLAPSED, "collapsed")):
            dims = [d for d in order if active[d] is state]
            if not dims:
                continue
            fig.add_trace(
                go.Bar(
                    x=[order.index(d) + 1 for d in dims],
                    y=[kl[d] for d in dims],
                    customdata=dims,
                    name=label,
                    legendgroup=label,
                    showlegend=label not in shown,
                    marker_color=colour,
                    hovertemplate=f"dimension %{{customdata}}: %{{y:.3f}} nats ({label})<extra></extra>",
                ),
                row=row,
                col=1,
            )
            if not state:  # their bars are near 0 high: an x on the axis marks each, at any scale
                fig.add_trace(
                    go.Scatter(
                        x=[order.index(d) + 1 for d in dims],
                        y=[0] * len(dims),
                        mode="markers",
                        marker={"symbol": "x", "color": colour, "size": 8},
                        legendgroup=label,
                        showlegend=False,
                        hoverinfo="skip",
                        cliponaxis=False,
                    ),
                    row=row,
                    col=1,
                )
            shown.add(label)
        fig.update_yaxes(title_text="KL (nats)", row=row, col=1)
    fig.update_xaxes(title_text="dimensions, highest KL first", row=len(usage), col=1)
    fig.update_layout(height=height, margin={"t": 50}, bargap=0.1)
    return fig


def class_share_figure(models: dict[str, dict], class_names: list[str]) -> go.Figure | None:
    """The share of each model's samples the classifier puts in each class, grouped by class, with the uniform
    share 1/K dashed; each model's class entropy in its legend entry. None if no model has class shares."""
    shares = {name: s for name, m in models.items() if (s := class_shares(m))}
    if not shares:
        return None
    names = class_names or list(next(iter(shares.values())))
    fig = go.Figure()
    for model, s in shares.items():
        bits = class_entropy(models[model])
        fig.add_trace(
            go.Bar(
                x=[html.escape(n) for n in names],
                y=[s.get(n) for n in names],
                name=f"{_name(model)} ({bits:.2f} bits)",
                hovertemplate=f"{_name(model)}, %{{x}}: %{{y:.1%}} of samples (entropy {bits:.3f} bits)<extra></extra>",
            )
        )
    k = len(names)
    fig.add_hline(
        y=1 / k, line_dash="dash", line_color=BASELINE, annotation_text=f"uniform (1/{k})",
        annotation_position="top right",
    )  # fmt: skip
    # Class names level where they fit, else upright: slanted ones' boxes run into their neighbours' at 1024 px.
    fig.update_layout(
        barmode="group", height=380, margin={"t": 30}, xaxis_title="class", xaxis_type="category",
        xaxis_autotickangles=[0, 90], yaxis_title="share of samples",
        yaxis_tickformat=".0%", legend_title_text=f"model (entropy; max {math.log2(k):.2f} bits)",
    )  # fmt: skip
    return fig


def rate_distortion_figure(models: dict[str, dict]) -> go.Figure | None:
    """PSNR against bits per image: a line per model (its code at several bits per dimension), JPEG and WebP
    dashed (per dataset: taken from the first model that has them), 20 dB dotted. None if no model has a curve."""
    curves = {name: c for name, m in models.items() if (c := curve(m, "model", "bits_per_dimension"))}
    if not curves:
        return None
    fig = go.Figure()
    for model, points in curves.items():
        bits, psnr, per_dim = zip(*points, strict=True)
        fig.add_trace(
            go.Scatter(
                x=bits, y=psnr, customdata=per_dim, mode="lines+markers", name=_name(model),
                hovertemplate=f"{_name(model)}: %{{customdata:.0f}} bits/dimension, %{{x:,.0f}} bits/image, "
                "%{y:.2f} dB<extra></extra>",
            )
        )  # fmt: skip
    for codec, label, symbol in (("jpeg", "JPEG", "square"), ("webp", "WebP", "diamond")):
        points = next((c for m in models.values() if (c := curve(m, codec, "quality"))), None)
        if points:
            bits, psnr, quality = zip(*points, strict=True)
            fig.add_trace(
                go.Scatter(
                    x=bits, y=psnr, customdata=quality, mode="lines+markers", name=label,
                    line={"dash": "dash", "color": BASELINE if codec == "jpeg" else "black"},
                    marker={"symbol": symbol},
                    hovertemplate=f"{label} quality %{{customdata:.0f}}: %{{x:,.0f}} bits/image, "
                    "%{y:.2f} dB<extra></extra>",
                )
            )  # fmt: skip
    fig.add_hline(y=20, line_dash="dot", line_color=BASELINE, annotation_text="20 dB", annotation_position="top left")
    fig.update_layout(
        height=420, margin={"t": 30}, xaxis_type="log", xaxis_title="bits per image (log scale)",
        yaxis_title="PSNR (dB)", hovermode="closest",
    )  # fmt: skip
    return fig


def probe_figure(models: dict[str, dict]) -> go.Figure | None:
    """Each model's linear-probe test accuracy on its latent codes, with the raw-pixel probe dashed (per dataset:
    the first model's). None if no model has a probe."""
    accuracy = {
        name: a for name, m in models.items() if (a := figure(m, "linear_probe", "latent_accuracy")) is not None
    }
    if not accuracy:
        return None
    fig = go.Figure(
        go.Bar(
            x=[_name(n) for n in accuracy], y=list(accuracy.values()), width=0.6, marker_color=ACTIVE,
            name="latent code", text=[f"{a:.1%}" for a in accuracy.values()], textposition="outside",
            hovertemplate="%{x}: %{y:.2%} test accuracy<extra></extra>",
        )
    )  # fmt: skip
    pixels = next((p for m in models.values() if (p := figure(m, "linear_probe", "pixel_accuracy")) is not None), None)
    if pixels is not None:  # its label right of the plot: inside, it meets the bars' labels, which are near it
        fig.add_hline(
            y=pixels, line_dash="dash", line_color=BASELINE, annotation_text=f"raw pixels ({pixels:.1%})",
            annotation_position="right",
        )  # fmt: skip
    # Model names level where they fit, else upright (slanted, their boxes run into each other's).
    fig.update_layout(
        height=380, margin={"t": 30, "r": 130}, yaxis_title="linear-probe test accuracy", yaxis_tickformat=".0%",
        yaxis_range=[0, 1.05], xaxis_autotickangles=[0, 90], showlegend=False,
    )  # fmt: skip
    return fig


# Computing what is missing -------------------------------------------------------------------------------


def command(folders: list[Path], metric: str | None = None) -> str:
    """The evaluator's command line measuring `metric` (None: whatever each lacks) for these checkpoint
    folders, written relative to here where they lie under it."""
    here = Path.cwd()
    shown = [str(p.relative_to(here)) if p.is_relative_to(here) else str(p) for p in folders]
    return shlex.join([*EVALUATE.split(), *(["--metrics", metric] if metric else ["--missing"]), *shown])


def lacking(name: str, titles: list[str]) -> str:
    return f"{code(name)} lacks: {', '.join(titles)}"


class Track:
    """A `track(iterable, total, desc)` for `genviz.evaluation.evaluate`: wraps each of its loops as tqdm does,
    filling a progress bar with the step's name and fraction done and writing a line per step in `where`."""

    def __init__(self, where=st):
        self.where = where
        self.bar = where.progress(0.0, text="Starting...")

    def __call__(self, iterable: Iterable, total: int, desc: str) -> Iterator:
        line = self.where.empty()
        line.markdown(f"- {plain(desc)}...")
        start, shown = time.monotonic(), -1
        for done, item in enumerate(iterable):
            if total and (percent := 100 * done // total) != shown:  # at most a hundred updates per loop
                shown = percent
                self.bar.progress(min(done / total, 1.0), text=f"{plain(desc)}: {done:,} of {total:,}")
            yield item
        self.bar.progress(1.0, text=f"{plain(desc)}: done")
        line.markdown(f"- {plain(desc)}: done in {time.monotonic() - start:.0f} s")


def compute(checkpoint: Checkpoint, names: list[str], titles: list[str]) -> bool:
    """Measure `names` for the checkpoint in this process (genviz.evaluation), showing its progress; True when
    metrics.json has them, else the page says why and stays usable."""
    what = f"{', '.join(titles)} for {plain(checkpoint.name)}"
    error = None
    with st.status(f"Computing {what}: it can take a few minutes...", expanded=True) as status:
        try:
            evaluation.evaluate(checkpoint.path, metrics=names, track=Track(status))
        except DatasetError as e:
            error = (
                f"The figures need the dataset {code(checkpoint.dataset)}, which cannot be read: {plain(e)}. "
                f"Put it under the data root {code(data_root())} (or point `GENVIZ_DATA_DIR` at it) and try again."
            )
        except (CheckpointError, ValueError, OSError) as e:
            error = f"{code(checkpoint.name)} could not be measured: {plain(e)}"
        status.update(label=f"Could not compute {what}" if error else f"Computed {what}",
                      state="error" if error else "complete")  # fmt: skip
    if error:
        st.error(error)
    return error is None


def offer_missing(models: list[Checkpoint]) -> None:
    """For each model whose metrics.json lacks figures that apply to it, says which, with a button that computes
    them in this process and reruns the page."""
    if done := st.session_state.pop("compare_computed", None):
        st.success(done, icon=":material/check:")
    offers = []
    for c in models:
        try:
            names = evaluation.missing(c.path, c.config, c.metrics)  # as the page read them
        except (CheckpointError, ValueError, OSError) as e:
            st.warning(f"Which figures {code(c.name)} lacks cannot be told: {plain(e)}")
            continue
        if names:
            offers.append((c, names, [evaluation.METRICS[n].title for n in names]))
    if not offers:
        st.caption("Every model here has all its figures.")
        return
    st.caption(
        "Computing reads the dataset and can take a few minutes per checkpoint; the figures are written to its "
        f"metrics.json, as `{command([c.path for c, _, _ in offers])}` would."
    )
    for c, names, titles in offers:
        left, right = st.columns([3, 1], vertical_alignment="center")
        left.markdown(lacking(c.name, titles))
        if right.button("Compute missing figures", key=f"compute_{c.name}", icon=":material/calculate:"):
            started = time.monotonic()
            if compute(c, names, titles):
                took = time.monotonic() - started
                st.session_state.compare_computed = f"Computed {', '.join(titles)} for {code(c.name)} in {took:.0f} s."
                st.rerun()
