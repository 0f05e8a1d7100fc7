"""Compare models: every checkpoint of a dataset side by side (the chosen model's dataset first), drawn from
config.json and metrics.json alone (no model or dataset is loaded), with posterior collapse, mode collapse and
compression against JPEG made visible; then an offer to compute the figures a checkpoint lacks."""

import streamlit as st

from genviz import ui
from genviz.ui import compare

st.title("Compare models")
checkpoints = compare.read_checkpoints(ui.CHECKPOINTS)
names = compare.datasets(checkpoints)


def left_out(dataset: str | None) -> None:
    for c in checkpoints:
        if c.problem and c.dataset == dataset:
            st.warning(f"{ui.code(c.name)} is left out: {ui.plain(c.problem)}", icon=":material/warning:")


left_out(None)  # config.json unreadable: of no known dataset
if not names:
    st.info(
        f"No models in {ui.searched()} to compare. Train one with "
        "`genviz train --model vae --dataset mnist --out checkpoints/mnist-vae`."
    )
    st.stop()
ui.linked("dataset", "compare_dataset", ui.choice(names), compare.chosen_dataset(checkpoints, names))
dataset = st.selectbox("Dataset", names, key="compare_dataset", help="The datasets the checkpoints were trained on")
ui.to_url("dataset", dataset)
left_out(dataset)
here = [c for c in checkpoints if c.dataset == dataset and not c.problem]
models = [c for c in here if c.explorable]
metrics = {c.name: c.metrics for c in models}
classes = models[0].config["dataset"]["class_names"] if models else []
st.caption(compare.judges(models, [c for c in here if not c.explorable], dataset))

st.dataframe(compare.rows(models), hide_index=True, column_config=compare.columns(len(classes)))
st.caption("Hover a column's name for what it measures and which way is better; click it to sort. None: not measured.")
if likelihoods := compare.likelihoods(models):
    st.caption(likelihoods)


def chart(line: str, figure, metric: str) -> None:
    """One line saying what the chart shows, then the chart, or how to compute it when no model has the figures."""
    st.markdown(line)
    if figure is None:
        command = compare.command([c.path for c in models], metric)
        st.info(f"No {ui.code(dataset)} model has these figures yet: `{command}` computes them, or see below.")
    else:
        st.plotly_chart(figure)


chart(
    "**Latent usage**: KL per dimension, highest first. Red, with an x on the axis: collapsed dimensions, "
    "which carry almost no information (posterior collapse); more active dimensions is better.",
    compare.kl_figure(metrics),
    "latent-usage",
)
chart(
    "**Class shares of samples**: how often the classifier sees each class. Bars near the dashed uniform line are "
    "better; a class near 0 is mode collapse.",
    compare.class_share_figure(metrics, classes),
    "samples",
)
chart(
    "**Rate-distortion**: PSNR against bits per image. Up and to the left is better; a model whose line lies right "
    "of JPEG's or WebP's compresses worse than they do.",
    compare.rate_distortion_figure(metrics),
    "compression",
)
chart(
    "**Linear probe**: test accuracy of a linear classifier on each code. Higher is better; below the dashed "
    "raw-pixel line, the code hides the classes.",
    compare.probe_figure(metrics),
    "linear-probe",
)

st.subheader("Missing figures")
compare.offer_missing(models)
