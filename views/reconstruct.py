"""Reconstruct and denoise: uploads or test images through several models side by side, with error maps and
MSE, PSNR and SSIM; a denoising lab that corrupts an image and measures what each model recovers."""

from pathlib import Path

import streamlit as st
import torch

import ui
from genviz import metrics
from genviz.images import csv_bytes, heatmap, png_bytes, to_pil, zip_bytes
from genviz.noise import NOISE_KINDS, corrupt

MODES = ["Reconstruct", "Denoising lab"]
LEVEL = {"gaussian": "Sigma", "salt-pepper": "Fraction of pixels", "mask": "Fraction of pixels masked"}
st.title("Reconstruct and denoise")
picked = ui.model_picker()
if not picked:
    st.stop()
path, model = picked
candidates = ui.compatible_models(model)
# Beside it by default: the models of the same data that encode exactly (a search per image is slow).
alike = [
    p for p, c in candidates.items() if p != path and c.model.has_exact_encoder and c.dataset == ui.dataset_name(model)
]
chosen = st.multiselect(
    "Models side by side", list(candidates), default=[path, *alike], format_func=lambda p: Path(p).name,
    key=f"recon_models_{Path(path).name}",  # each sidebar model keeps its own choice
    help="Checkpoints that take the same images as the sidebar's model",
)  # fmt: skip
models = ui.loaded_models(chosen)
if not models:
    st.info("Choose at least one model above.")
    st.stop()
if not all(m.has_exact_encoder for m in models.values()):
    st.caption("A model without an encoder reconstructs by a search: the sample it finds nearest the image.")
ui.linked("mode", "recon_mode", ui.choice(MODES), MODES[0])
mode = st.radio("Mode", MODES, horizontal=True, key="recon_mode")
ui.to_url("mode", mode)
pictures = ui.picture_source(model, "recon")
if not pictures:
    st.info("Upload images or choose test images above.")
    st.stop()
ui.show_notes(pictures)
clean = torch.stack([p.image for p in pictures])  # (B, C, H, W)


def scores(output: torch.Tensor, target: torch.Tensor) -> dict:
    mse, psnr, ssim = (float(f(output, target)[0]) for f in (metrics.mse, metrics.psnr, metrics.ssim))
    return {"MSE": mse, "PSNR (dB)": psnr, "SSIM": ssim}


def label(name: str) -> str:
    return name if models[name].has_exact_encoder else f"{name} (approximate)"


def results(rows: list[dict], files: dict[str, bytes], archive: str) -> None:
    """The table of scores, and every picture with the table as CSV in one ZIP."""
    st.dataframe(rows, hide_index=True, column_config={"MSE": st.column_config.NumberColumn(format="%.5f")})
    files["metrics.csv"] = csv_bytes(rows)
    zipped = zip_bytes(files)
    st.download_button("Download every output (ZIP)", zipped, archive, "application/zip", icon=":material/download:")


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
            rows.append({"image": p.name, "model": label(name), **scores(out[i : i + 1], clean[i : i + 1])})
            ui.show(columns[1 + 2 * j], out[i], f"{label(name)}: {rows[-1]['PSNR (dB)']:.1f} dB")
            heat = heatmap(errors[name], top)
            ui.show(columns[2 + 2 * j], heat, f"error, 0 to {top:.3f}")
            files[f"{folder}/{name}-reconstruction.png"] = png_bytes(to_pil(out[i]))
            files[f"{folder}/{name}-error.png"] = png_bytes(heat)
    results(rows, files, "reconstructions.zip")
    st.stop()

which = st.selectbox("Image", range(len(pictures)), format_func=lambda i: pictures[i].name, key="noise_image")
left, middle, right = st.columns(3)
kind = left.radio("Noise", NOISE_KINDS, horizontal=True, key="noise_kind")
level = middle.slider(LEVEL[kind], 0.0, 1.0, {"gaussian": 0.5}.get(kind, 0.3), 0.05, key=f"noise_level_{kind}")
seed = right.number_input("Noise seed", 0, 2**31 - 1, 0, key="noise_seed")
target = clean[which : which + 1]
noisy = corrupt(target, kind, level, torch.Generator().manual_seed(int(seed)))
columns = st.columns(2 + len(models))
ui.show(columns[0], target[0], "clean")
rows = [{"image": "noisy", **scores(noisy, target)}]
ui.show(columns[1], noisy[0], f"noisy: {rows[0]['PSNR (dB)']:.1f} dB, SSIM {rows[0]['SSIM']:.3f}")
files = {"clean.png": png_bytes(to_pil(target[0])), "noisy.png": png_bytes(to_pil(noisy[0]))}
for j, (name, m) in enumerate(models.items()):
    out = ui.reconstructed(m, noisy)
    rows.append({"image": f"denoised by {label(name)}", **scores(out, target)})
    ui.show(columns[2 + j], out[0], f"{label(name)}: {rows[-1]['PSNR (dB)']:.1f} dB, SSIM {rows[-1]['SSIM']:.3f}")
    files[f"{name}-denoised.png"] = png_bytes(to_pil(out[0]))
results(rows, files, f"denoising-{kind}-{level}.zip")

st.subheader(f"PSNR against {kind} noise level")
with ui.needs_data(model, "The curve"):
    curves, levels, count = ui.denoising_curves(models, kind)
st.plotly_chart(ui.curves_figure(curves, levels, label, LEVEL[kind]))
st.caption(f"Mean over {count} test images (a sample stratified by class), noise seed 0; higher is better.")
