"""Anomaly detection: images scored by reconstruction error (or a VAE's negative ELBO) against the test set's
scores; a batch ranked by score; ROC and AUROC against a held-out class or another dataset."""

import plotly.graph_objects as go
import streamlit as st
import torch

import ui
from genviz import metrics
from genviz.data import DatasetError, available_datasets
from genviz.images import grid

st.title("Anomaly detection")
picked = ui.model_picker()
if not picked:
    st.stop()
path, model = picked
dataset = model.checkpoint["dataset"]["name"]
approximate = metrics.is_approximate(model)
kinds = ["reconstruction", "elbo"] if model.family == "vae" else ["reconstruction"]
score = st.radio("Score", kinds, format_func=metrics.SCORES.get, horizontal=True, key="anomaly_score")
try:
    # A GAN reconstructs by a search per image (about 40 s for 500 on two CPU cores).
    reference = ui.test_scores(model, path, score, 500 if approximate else len(ui.test_set(model)))
except DatasetError as e:
    st.error(f"Scores are compared with the test set of {ui.code(dataset)}, which cannot be read: {ui.plain(e)}")
    st.stop()
st.caption(
    f"Higher is more anomalous. Compared with the scores of {len(reference):,} test images of {ui.code(dataset)}"
    + ("; a GAN's reconstruction is approximate: the nearest sample an inversion search finds." if approximate else ".")
)
view = st.radio("View", ["Score images", "Evaluate (ROC)"], horizontal=True, key="anomaly_view")

if view == "Score images":
    pictures = ui.picture_source(model, "anomaly", default="0-9")
    ui.show_notes(pictures)
    low, high = float(reference.min()), float(reference.quantile(0.999))
    threshold = st.slider(
        "Threshold",
        low,
        high,
        float(reference.quantile(0.95)),
        (high - low) / 500,
        format="%.4f",
        key=f"anomaly_threshold_{score}",
        help="Images scoring above it are flagged; it starts at the test set's 95th percentile",
    )
    rate = metrics.false_positive_rate(threshold, reference)
    st.markdown(f"At this threshold **{rate:.1f}%** of the test images would be flagged (the false-positive rate).")
    fig = go.Figure(go.Histogram(x=reference.numpy(), nbinsx=80, name="test set", marker_color="#8da0cb"))
    fig.add_vline(
        x=threshold, line_dash="dash", line_color="red", annotation_text="threshold", annotation_position="bottom right"
    )
    if not pictures:
        st.plotly_chart(fig)
        st.info("Upload images or choose test images above to score them.")
        st.stop()
    images = torch.stack([p.image for p in pictures])
    scores = ui.picture_scores(model, images, score)
    order = scores.argsort(descending=True).tolist()
    rows = [
        {
            "image": pictures[i].name,
            "score": float(scores[i]),
            "percentile": metrics.percentile(float(scores[i]), reference),
            "flagged": bool(scores[i] > threshold),
        }
        for i in order
    ]
    for row in rows[:5]:  # the most anomalous, marked on the histogram with their percentiles
        fig.add_vline(x=row["score"], line_color="black", annotation_text=f"{row['image']}: {row['percentile']:.1f}th")
    fig.update_layout(xaxis_title=metrics.SCORES[score], yaxis_title="test images", height=360, margin={"t": 30})
    st.plotly_chart(fig)
    st.dataframe(
        rows,
        hide_index=True,
        column_config={
            "score": st.column_config.NumberColumn(format="%.5f"),
            "percentile": st.column_config.NumberColumn("percentile of the test set", format="%.1f"),
        },
    )
    st.subheader("Most anomalous first")
    outputs = ui.reconstructed(model, images)
    st.caption("Each pair: the image, then the model's reconstruction of it.")
    columns = st.columns(4)
    for k, i in enumerate(order[:8]):
        pair = grid(torch.stack([images[i], outputs[i]]), nrow=2)
        ui.show(columns[k % 4], pair, f"{pictures[i].name}: {rows[k]['percentile']:.1f}th percentile", 192)
    st.stop()

against = st.radio("Anomalies", ["A class of this dataset", "Another dataset"], horizontal=True, key="anomaly_against")
if against == "A class of this dataset":
    names = ui.class_names(model)
    anomalous = st.selectbox("Class treated as anomalous", range(len(names)), format_func=names.__getitem__)
    labels = ui.test_set(model).labels[: len(reference)]
    scores, is_anomaly = reference, labels == anomalous
    what = f"class {ui.plain(names[anomalous])} against the other classes of {ui.code(dataset)}"
    st.caption(
        "These models were trained on every class, so a class is only as anomalous as it is hard to reconstruct; "
        "`python -m training.anomaly` trains one-class models for the standard benchmark."
    )
else:
    others = [d for d in available_datasets() if d != dataset]
    if not others:
        st.info("No other dataset under the data root: put one there (see the README) to compare against it.")
        st.stop()
    other = st.selectbox("Dataset treated as anomalous", others, key="anomaly_other")
    try:
        other_scores = ui.foreign_scores(model, path, other, score, len(reference))
    except DatasetError as e:
        st.error(f"{ui.code(other)} cannot be read: {ui.plain(e)}")
        st.stop()
    scores = torch.cat([reference, other_scores])
    is_anomaly = torch.cat(
        [torch.zeros(len(reference), dtype=torch.bool), torch.ones(len(other_scores), dtype=torch.bool)]
    )
    what = f"{len(other_scores):,} test images of {ui.code(other)}, made {'x'.join(map(str, model.image_shape[1:]))} "
    what += f"{'greyscale' if model.image_shape[0] == 1 else 'colour'}, against {ui.code(dataset)}"
if is_anomaly.all() or not is_anomaly.any():
    st.info("The ROC curve needs both normal and anomalous images.")
    st.stop()
fpr, tpr = metrics.roc_curve(scores, is_anomaly)
auc = metrics.auroc(scores, is_anomaly)
st.metric("AUROC", f"{auc:.4f}", help="1 separates every anomaly from every normal image; 0.5 is chance")
fig = go.Figure(go.Scatter(x=fpr.numpy(), y=tpr.numpy(), mode="lines", name=f"AUROC {auc:.4f}"))
fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line_dash="dot", line_color="grey", name="chance"))
fig.update_layout(xaxis_title="false-positive rate", yaxis_title="true-positive rate", height=420, margin={"t": 20})
st.plotly_chart(fig)
st.caption(f"ROC of the {metrics.SCORES[score]}: {what}.")
