"""Reconstruct and denoise: uploads or test images through several models side by side, with error maps and
MSE, PSNR and SSIM; a denoising lab that corrupts an image and measures what each model recovers."""

from pathlib import Path

import plotly.graph_objects as go
import streamlit as st
import torch

import ui
from genviz import metrics
from genviz.data import DatasetError
from genviz.images import heatmap, png_bytes, to_pil, zip_bytes
from genviz.noise import NOISE_KINDS, corrupt

st.title("Reconstruct and denoise")
picked = ui.model_picker()
if not picked:
    st.stop()
path, model = picked
configs = ui.compatible_models(model)
options = list(configs)
dataset = model.checkpoint["dataset"]["name"]
same_data = [p for p, c in configs.items() if p != path and c["family"] != "gan" and c["dataset"]["name"] == dataset]
chosen = st.multiselect(
    "Models side by side",
    options,
    default=[path, *same_data],
    format_func=lambda p: Path(p).name,
    key=f"recon_models_{Path(path).name}",  # each sidebar model keeps its own choice
    help="Checkpoints that take the same images as the sidebar's model",
)
models = ui.loaded_models(chosen)
if not models:
    st.info("Choose at least one model above.")
    st.stop()
if any(metrics.is_approximate(m) for m in models.values()):
    st.caption("A GAN has no encoder: its reconstruction is the sample an inversion search finds nearest the image.")
mode = st.radio("Mode", ["Reconstruct", "Denoising lab"], horizontal=True, key="recon_mode")
pictures = ui.picture_source(model, "recon")
if not pictures:
    st.info("Upload images or choose test images above.")
    st.stop()
ui.show_notes(pictures)
clean = torch.stack([p.image for p in pictures])  # (B, C, H, W)


def scores(output: torch.Tensor, target: torch.Tensor) -> dict:
    return {
        "MSE": float(metrics.mse(output, target)[0]),
        "PSNR (dB)": float(metrics.psnr(output, target)[0]),
        "SSIM": float(metrics.ssim(output, target)[0]),
    }


def label(name: str) -> str:
    return f"{name} (approximate)" if metrics.is_approximate(models[name]) else name


if mode == "Reconstruct":
    outputs = {name: ui.reconstructed(m, clean) for name, m in models.items()}
    files, rows = {}, []
    st.caption(
        "Each row: the input, then each model's reconstruction and its squared error per pixel (brighter: larger)."
    )
    for i, p in enumerate(pictures):
        columns = st.columns(1 + 2 * len(models))
        ui.show(columns[0], p.image, p.name)
        folder = f"{i + 1:02d}-{p.name}"  # numbered: two uploads may share a name
        files[f"{folder}/input.png"] = png_bytes(to_pil(p.image))
        errors = {name: metrics.error_map(out[i : i + 1], clean[i : i + 1])[0] for name, out in outputs.items()}
        top = max(float(e.max()) for e in errors.values()) or 1.0  # one scale per row, so models compare
        for j, (name, out) in enumerate(outputs.items()):
            row = {"image": p.name, "model": label(name), **scores(out[i : i + 1], clean[i : i + 1])}
            rows.append(row)
            ui.show(columns[1 + 2 * j], out[i], f"{label(name)}: {row['PSNR (dB)']:.1f} dB")
            heat = heatmap(errors[name], top)
            ui.show(columns[2 + 2 * j], heat, f"error, 0 to {top:.3f}")
            files[f"{folder}/{name}-reconstruction.png"] = png_bytes(to_pil(out[i]))
            files[f"{folder}/{name}-error.png"] = png_bytes(heat)
    st.dataframe(rows, hide_index=True, column_config={"MSE": st.column_config.NumberColumn(format="%.5f")})
    files["metrics.csv"] = ui.csv_bytes(rows)
    st.download_button(
        "Download every output (ZIP)",
        zip_bytes(files),
        "reconstructions.zip",
        "application/zip",
        icon=":material/download:",
    )
    st.stop()

which = st.selectbox("Image", range(len(pictures)), format_func=lambda i: pictures[i].name, key="noise_image")
left, middle, right = st.columns(3)
kind = left.radio("Noise", NOISE_KINDS, horizontal=True, key="noise_kind")
what = {"gaussian": "Sigma", "salt-pepper": "Fraction of pixels", "mask": "Fraction of pixels masked"}[kind]
level = middle.slider(what, 0.0, 1.0, {"gaussian": 0.5}.get(kind, 0.3), 0.05, key=f"noise_level_{kind}")
seed = right.number_input("Noise seed", 0, 2**31 - 1, 0, key="noise_seed")
target = clean[which : which + 1]
noisy = corrupt(target, kind, level, torch.Generator().manual_seed(int(seed)))
columns = st.columns(2 + len(models))
ui.show(columns[0], target[0], "clean")
row = scores(noisy, target)
rows = [{"image": "noisy", **row}]
ui.show(columns[1], noisy[0], f"noisy: {row['PSNR (dB)']:.1f} dB, SSIM {row['SSIM']:.3f}")
files = {"clean.png": png_bytes(to_pil(target[0])), "noisy.png": png_bytes(to_pil(noisy[0]))}
for j, (name, m) in enumerate(models.items()):
    out = ui.reconstructed(m, noisy)
    row = scores(out, target)
    rows.append({"image": f"denoised by {label(name)}", **row})
    ui.show(columns[2 + j], out[0], f"{label(name)}: {row['PSNR (dB)']:.1f} dB, SSIM {row['SSIM']:.3f}")
    files[f"{name}-denoised.png"] = png_bytes(to_pil(out[0]))
st.dataframe(rows, hide_index=True, column_config={"MSE": st.column_config.NumberColumn(format="%.5f")})
files["metrics.csv"] = ui.csv_bytes(rows)
st.download_button(
    "Download every output (ZIP)", zip_bytes(files), f"denoising-{kind}-{level}.zip", "application/zip",
    icon=":material/download:",
)  # fmt: skip

st.subheader(f"PSNR against {kind} noise level")
try:
    curves, levels, count = ui.denoising_curves(models, kind)
except DatasetError as e:
    st.info(f"The curve is measured on test images, which cannot be read: {ui.plain(e)}")
    st.stop()
fig = go.Figure()
for name, ys in curves.items():
    plain = name not in models  # the noisy input itself: the line a model has to beat
    line = {"dash": "dash", "color": "grey"} if plain else {}
    fig.add_trace(go.Scatter(x=levels, y=ys, mode="lines+markers", name=name if plain else label(name), line=line))
fig.update_layout(xaxis_title=what, yaxis_title="mean PSNR (dB)", height=380, margin={"t": 20})
st.plotly_chart(fig)
st.caption(f"Mean over the first {count} test images, noise seed 0; higher is better.")
