"""Widgets several pages share: where images come from (uploads or test images), how uploads are fitted,
and pictures drawn crisp and never wider than their column."""

import streamlit as st
import torch
from PIL import Image

from genviz.data import parse_indices, to_float
from genviz.images import FITS, MAX_FILES, ModelInput, UploadError, enlarge, grid, to_pil, upload_to_input
from genviz.models import GenerativeModel
from ui.feedback import needs_data
from ui.resources import class_names, test_set
from ui.text import plain

# What the uploaders offer; genviz.images reads the file's contents, whatever its name says.
UPLOAD_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff"]
# An image ready for a model, from an upload or the test set, with what was done to it on the way.
Picture = ModelInput
WIDEST = 1400  # pixels: about the main column of the wide layout; a strip is never drawn wider


def fit_controls(model: GenerativeModel, key: str) -> tuple[str, bool | None]:
    """How uploads become the model's input: fit, and (for one-channel models) inversion."""
    c, h, w = model.image_shape
    left, right = st.columns(2)
    fit = left.radio(
        "Fit to the model's size",
        FITS,
        horizontal=True,
        key=f"{key}_fit",
        help=f"Uploads become {w}x{h}: pad keeps the whole image, crop fills the square, stretch ignores the aspect",
    )
    invert = None
    if c == 1:
        choice = right.radio(
            "Invert",
            ["Auto", "Yes", "No"],
            horizontal=True,
            key=f"{key}_invert",
            help="The model was trained on light strokes on a dark background; auto inverts dark-on-light uploads",
        )
        invert = {"Auto": None, "Yes": True, "No": False}[choice]
    return fit, invert


def read_pictures(files: list, model: GenerativeModel, fit: str, invert: bool | None) -> list[Picture]:
    """The first MAX_FILES uploads as the model's input; a bad file gets an error in the page and is
    skipped, the others are still read."""
    if len(files) > MAX_FILES:
        st.warning(f"{len(files)} files were uploaded; the first {MAX_FILES} are used.")
    pictures = []
    for f in files[:MAX_FILES]:
        try:
            pictures.append(upload_to_input(f.getvalue(), f.name, model.image_shape, fit, invert))
        except UploadError as e:
            st.error(plain(e), icon=":material/broken_image:")
    return pictures


def picture_source(model: GenerativeModel, key: str, default: str = "0-7") -> list[Picture]:
    """The page's images: uploads (converted as the controls say, notes shown) or test images by number."""
    source = st.radio("Images", ["Upload", "Test images"], horizontal=True, key=f"{key}_source")
    if source == "Test images":
        with needs_data(model, "Test images"):
            data = test_set(model)
        text = st.text_input(
            "Test image numbers", default, key=f"{key}_index", help=f"Numbers or ranges from 0 to {len(data) - 1}"
        )
        try:
            index = parse_indices(text, len(data))
        except ValueError as e:
            st.error(f"These test images cannot be shown: {plain(e)}.")
            return []
        if len(index) > MAX_FILES:
            st.warning(f"{len(index)} test images were asked for; the first {MAX_FILES} are used.")
            index = index[:MAX_FILES]
        names = class_names(model)
        return [Picture(f"test-{i} ({names[data.labels[i]]})", to_float(data.images[i]), []) for i in index]
    files = st.file_uploader(
        "Upload images",
        type=UPLOAD_TYPES,
        accept_multiple_files=True,
        key=f"{key}_files",
        help=f"PNG, JPEG, BMP, GIF (first frame), WebP or TIFF; up to {MAX_FILES} files of 20 MiB each",
    )
    fit, invert = fit_controls(model, key)
    return read_pictures(files or [], model, fit, invert)


def show_notes(pictures: list[Picture]) -> None:
    """What conversion did to each upload, so that nothing is changed silently."""
    notes = [f"**{plain(p.name)}**: {plain('; '.join(p.notes))}" for p in pictures if p.notes]
    if notes:
        title = f"How {len(notes)} upload{'s were' if len(notes) > 1 else ' was'} converted"
        with st.expander(title, expanded=len(notes) <= 3):  # open unless a long batch would push the results down
            st.markdown("\n".join(f"- {n}" for n in notes))


def show(where, image: torch.Tensor | Image.Image, caption: str, size: int = 112) -> None:
    """A (C, H, W) image in [0, 1] (or a picture) at `size` pixels with crisp pixels, in `where` (st or a
    column). A fixed width keeps a row of pictures even, whatever their captions; a caption is shown as
    plain text, as it names uploads and classes."""
    picture = to_pil(image) if isinstance(image, torch.Tensor) else image
    where.image(enlarge(picture, size), caption=plain(caption), width=size, output_format="PNG")


def tiled(frames: torch.Tensor, nrow: int, frame: int = 96) -> Image.Image:
    """Images (B, C, H, W) in [0, 1] tiled `nrow` to a row (`genviz.images.grid`) and scaled up by a whole
    factor with crisp pixels, so that each image is about `frame` pixels wide, as far as the whole stays
    within WIDEST pixels."""
    picture = grid(frames, nrow=nrow)
    factor = max(1, min(-(-frame // frames.shape[-1]), WIDEST // picture.width))
    return picture.resize((picture.width * factor, picture.height * factor), Image.Resampling.NEAREST)


def show_tiled(where, frames: torch.Tensor, nrow: int, caption: str, frame: int = 96) -> Image.Image:
    """`tiled` frames in `where`, at their own width but never wider than the column; returns the picture.
    The caption is Markdown: the caller makes any text a user supplied `plain`."""
    picture = tiled(frames, nrow, frame)
    where.image(picture, caption=caption, width="content", output_format="PNG")
    return picture
