"""Home: what genviz does, and samples from the chosen model so the first screen is never empty."""

import streamlit as st

from genviz import latent as lt
from genviz import ui
from genviz.pictures import grid

st.title("genviz")
st.markdown(
    "Explore what autoencoders, variational autoencoders and GANs learn. Pick a trained model "
    "in the sidebar; its model card shows what it was trained on and how well it does.\n\n"
    "- **Latent map**: the test set encoded and laid out in 2-D (UMAP or PCA), coloured by class. "
    "Click a point for its image, reconstruction and latent; click empty space to decode the map there; "
    "select a region for its images and their mean.\n"
    "- **Sample**: a grid from the model's prior with a seed, temperature or truncation, as a PNG.\n"
    "- **Latent sliders**: one slider per latent dimension, principal and class-to-class directions, "
    "and traversals, each redrawing the decode at once.\n"
    "- **Interpolate**: a linear or spherical path between two test images, uploads or random latents "
    "(or a grid between four), drawn on the latent map, as PNG, GIF or MP4.\n"
    "- **Reconstruct and denoise**: your images or test images through several models side by side, with "
    "error maps, MSE, PSNR and SSIM; a denoising lab with three kinds of noise.\n"
    "- **Anomaly detection**: images scored against the test set's scores, a batch ranked by score, and "
    "ROC curves against a held-out class or another dataset.\n"
    "- **Compare models**: every checkpoint of a dataset in one sortable table of its figures, with charts of "
    "posterior collapse (KL per latent dimension), mode collapse (class shares of samples), rate-distortion "
    "against JPEG and WebP, and linear-probe accuracy; figures a checkpoint lacks can be computed there.\n\n"
    "Each page keeps the model and its main choices in its address: reload it or share it to see the same view."
)
picked = ui.model_picker()
if picked:
    _, model = picked
    left, right = st.columns([1, 3])
    ui.linked("seed", "home_seed", ui.integer(0, 2**31 - 1), 0, left)
    seed = left.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="home_seed")
    # No temperature for a generator that normalises z's length: it would change nothing.
    temperature = 1.0 if model.ignores_latent_length else left.slider("Temperature (latent scale)", 0.1, 2.0, 1.0, 0.1)
    ui.to_url("seed", seed)
    samples = lt.decode(model, lt.prior_latents(model, 64, int(seed), temperature=temperature))
    right.image(
        grid(samples),
        caption=f"64 samples of {model.kind.upper()} from {model.prior_name}, seed {seed}",
        output_format="PNG",
        width=480,
    )
