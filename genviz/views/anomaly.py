"""Anomaly detection: images scored by reconstruction error (or a VAE's negative ELBO) against the test set's
scores; a batch ranked by score; ROC and AUROC against a held-out class or another dataset."""

import streamlit as st
import torch

from genviz import metrics, ui
from genviz.data import DatasetError, available_datasets
from genviz.pictures import grid

PICTURED = 8  # the most anomalous images shown, and marked on the histogram
SEARCHED = 500  # test images scored for a model that reconstructs by a search (about 40 s on two CPU cores)
VIEWS = ["Score images", "Evaluate (ROC)"]
AGAINST = ["A class of this dataset", "Another dataset"]
st.title("Anomaly detection")
picked = ui.model_picker()
if not picked:
    st.stop()
path, model = picked
dataset = ui.dataset_name(model)
ui.linked("score", "anomaly_score", ui.choice(model.score_kinds), model.score_kinds[0])
score = st.radio("Score", model.score_kinds, format_func=metrics.SCORES.get, horizontal=True, key="anomaly_score")
n = None if model.has_exact_encoder else SEARCHED  # None: every test image
with ui.needs_data(model, "Comparing scores"):
    reference = ui.test_scores(model, path, score, n)
searched = "" if model.has_exact_encoder else " (a stratified sample; a reconstruction is a search's nearest sample)"
st.caption(f"Higher is more anomalous. Compared with {len(reference):,} test images of {ui.code(dataset)}{searched}.")
ui.linked("view", "anomaly_view", ui.choice(VIEWS), VIEWS[0])
view = st.radio("View", VIEWS, horizontal=True, key="anomaly_view")
for name, value in (("score", score), ("view", view)):
    ui.to_url(name, value)

if view == "Score images":
    pictures = ui.picture_source(model, "anomaly")
    ui.show_notes(pictures)
    low, high = float(reference.min()), float(reference.quantile(0.999))
    threshold = st.slider(
        "Threshold", low, high, float(reference.quantile(0.95)), (high - low) / 500, format="%.4f",
        key=f"anomaly_threshold_{score}",
        help="Images scoring above it are flagged; it starts at the test set's 95th percentile",
    )  # fmt: skip
    rate = metrics.false_positive_rate(threshold, reference)
    st.markdown(f"At this threshold **{rate:.1f}%** of the test images would be flagged (the false-positive rate).")
    if not pictures:
        st.plotly_chart(ui.score_histogram(reference, threshold, [], metrics.SCORES[score]))
        st.info("Upload images or choose test images above to score them.")
        st.stop()
    images = torch.stack([p.image for p in pictures])
    scores = ui.picture_scores(model, images, score)
    order = scores.argsort(descending=True).tolist()
    percentile = [metrics.percentile(float(s), reference) for s in scores]
    rows = [
        {"rank": k + 1, "image": pictures[i].name, "score": float(scores[i]), "percentile": percentile[i],
         "flagged": bool(scores[i] > threshold)}
        for k, i in enumerate(order)
    ]  # fmt: skip
    marked = [r["score"] for r in rows[:PICTURED]]  # drawn as lines numbered by rank, the most anomalous
    st.plotly_chart(ui.score_histogram(reference, threshold, marked, metrics.SCORES[score]))
    st.caption(f"The numbered lines: the {len(marked)} images ranked highest in the table below.")
    percentiles = st.column_config.NumberColumn("percentile of the test set", format="%.1f")
    score_column = st.column_config.NumberColumn(format="%.5f")
    st.dataframe(rows, hide_index=True, column_config={"score": score_column, "percentile": percentiles})
    st.subheader("Most anomalous first")
    outputs = ui.reconstructed(model, images)
    st.caption("Each pair: the image, then the model's reconstruction of it.")
    gallery = st.container(horizontal=True, gap="medium")  # wraps at any width
    for i, r in zip(order[:PICTURED], rows, strict=False):
        caption = f"{r['rank']}. {r['image']}: {ui.percentile_text(r['percentile'])}"
        ui.show(gallery, grid(torch.stack([images[i], outputs[i]]), nrow=2), caption, 192)
    st.stop()

ui.linked("against", "anomaly_against", ui.choice(AGAINST), AGAINST[0])
against = st.radio("Anomalies", AGAINST, horizontal=True, key="anomaly_against")
ui.to_url("against", against)
if against == AGAINST[0]:
    names = ui.class_names(model)
    anomalous = st.selectbox("Class treated as anomalous", range(len(names)), format_func=names.__getitem__)
    scores, is_anomaly = metrics.class_as_anomalies(reference, ui.test_subset(model, n).labels, anomalous)
    what = f"class {ui.plain(names[anomalous])} against the other classes of {ui.code(dataset)}"
    st.caption(
        "These models were trained on every class, so a class is only as anomalous as it is hard to reconstruct; "
        "`genviz anomaly` trains one-class models for the standard benchmark."
    )
else:
    if not (others := [d for d in available_datasets() if d != dataset]):
        st.info(
            "No other dataset under the data root: put one there (see the docs' Data page, docs/data.md) "
            "to compare against it."
        )
        st.stop()
    other = st.selectbox("Dataset treated as anomalous", others, key="anomaly_other")
    try:
        foreign = ui.foreign_scores(model, path, other, score, len(reference))
    except DatasetError as e:
        st.error(f"{ui.code(other)} cannot be read: {ui.plain(e)}")
        st.stop()
    scores, is_anomaly = metrics.dataset_as_anomalies(reference, foreign)
    size, colour = "x".join(map(str, model.image_shape[1:])), "greyscale" if model.image_shape[0] == 1 else "colour"
    what = f"{len(foreign):,} test images of {ui.code(other)}, made {size} {colour}, against {ui.code(dataset)}"
if is_anomaly.all() or not is_anomaly.any():
    st.info("The ROC curve needs both normal and anomalous images.")
    st.stop()
fpr, tpr = metrics.roc_curve(scores, is_anomaly)
auc = metrics.auroc(scores, is_anomaly)
st.metric("AUROC", f"{auc:.4f}", help="1 separates every anomaly from every normal image; 0.5 is chance")
if note := ui.below_chance(auc):
    st.warning(note, icon=":material/swap_vert:")
st.plotly_chart(ui.roc_figure(fpr, tpr, auc))
st.caption(f"ROC of the {metrics.SCORES[score]}: {what}.")
