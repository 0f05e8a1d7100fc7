"""Reconstruct and denoise: uploads or test images through several models side by side, with error maps and
MSE, PSNR and SSIM; a denoising lab that corrupts an image and measures what each model recovers."""

from pathlib import Path

import streamlit as st
import torch

from genviz import metrics, ui
from genviz.noise import NOISE_KINDS, corrupt
from genviz.pictures import csv_bytes, heatmap, png_bytes, to_pil, zip_bytes

MODES = ["Reconstruct", "Denoising lab"]
LEVEL = {"gaussian": "Sigma", "salt-pepper": "Fraction of pixels", "mask": "Fraction of pixels masked"}
BESIDE = 2  # models shown beside the sidebar's by default; more are a choice away
st.title("Reconstruct and denoise")
picked = ui.model_picker()
if not picked:
    st.stop()
path, model = picked
candidates = ui.compatible_models(model)
# Beside it by default: a few models of the same data that encode exactly (a search per image is slow).
alike = [
    p for p, c in candidates.items() if p != path and c.model.has_exact_encoder and c.dataset == ui.dataset_name(model)
]
chosen = st.multiselect(
    "Models side by side", list(candidates), default=[path, *alike[:BESIDE]], format_func=lambda p: Path(p).name,
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
    formats = {"MSE": "%.5f", "PSNR (dB)": "%.2f", "SSIM": "%.4f"}
    st.dataframe(
        rows, hide_index=True, column_config={k: st.column_config.NumberColumn(format=f) for k, f in formats.items()}
    )
    files["metrics.csv"] = csv_bytes(rows)
    zipped = zip_bytes(files)
    st.download_button("Download every output (ZIP)", zipped, archive, "application/zip", icon=":material/download:")


if mode == "Reconstruct":
    outputs = {name: ui.reconstructed(m, clean) for name, m in models.items()}
    files, rows = {}, []
    st.caption(
        "Each box: an image, then each model's reconstruction beside its squared error per pixel, from black (none) "
        "to pale yellow (the largest error in the box: one scale, so that the models compare); scores in the table."
    )
    for i, p in enumerate(pictures):
        folder = f"{i + 1:02d}-{p.name}"  # numbered: two uploads may share a name
        files[f"{folder}/input.png"] = png_bytes(to_pil(p.image))
        errors = {name: metrics.error_map(out[i : i + 1], clean[i : i + 1])[0] for name, out in outputs.items()}
        top = max(float(e.max()) for e in errors.values()) or 1.0  # one scale per box, so models compare
        row = st.container(border=True, horizontal=True, gap="medium")  # wraps: as many models to a line as fit
        ui.show(row, p.image, p.name)
        for name, out in outputs.items():
            rows.append({"image": p.name, "model": label(name), **scores(out[i : i + 1], clean[i : i + 1])})
            heat = heatmap(errors[name], top)
            pair = row.container(horizontal=True, width="content", gap="small")  # wrapped as one
            ui.show(pair, out[i], label(name))
            ui.show(pair, heat, f"error, 0 to {top:.3f}")
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
row = st.container(horizontal=True, gap="medium")  # wraps, as above; the scores are in the table below
ui.show(row, target[0], "clean")
ui.show(row, noisy[0], "noisy")
rows = [{"image": "noisy", **scores(noisy, target)}]
files = {"clean.png": png_bytes(to_pil(target[0])), "noisy.png": png_bytes(to_pil(noisy[0]))}
for name, m in models.items():
    out = ui.reconstructed(m, noisy)
    rows.append({"image": f"denoised by {label(name)}", **scores(out, target)})
    ui.show(row, out[0], f"denoised by {label(name)}")
    files[f"{name}-denoised.png"] = png_bytes(to_pil(out[0]))
results(rows, files, f"denoising-{kind}-{level}.zip")

st.subheader(f"PSNR against {kind} noise level")
with ui.needs_data(model, "The curve"):
    curves, levels, count = ui.denoising_curves(models, kind)
st.plotly_chart(ui.curves_figure(curves, levels, label, LEVEL[kind]))
st.caption(f"Mean over {count} test images (a sample stratified by class), noise seed 0; higher is better.")
