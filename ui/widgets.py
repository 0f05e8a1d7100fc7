"""Widgets several pages share: where images come from (uploads or test images), how uploads are prepared,
each upload shown as received beside the model's input, and pictures drawn crisp and never wider than their
column."""

import streamlit as st
import torch
from PIL import Image

from genviz.data import parse_indices, to_float
from genviz.images import (
    FITS,
    MAX_FILES,
    ModelInput,
    Preparation,
    UploadError,
    default_preparation,
    enlarge,
    grid,
    to_pil,
    upload_to_input,
)
from genviz.models import GenerativeModel
from ui.feedback import needs_data
from ui.resources import class_names, data_source, is_offline, test_set
from ui.text import plain

# What the uploaders offer; genviz.images reads the file's contents, whatever its name says.
UPLOAD_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff"]
# An image ready for a model, from an upload or the test set, with what was done to it on the way.
Picture = ModelInput
WIDEST = 1400  # pixels: about the main column of the wide layout; a strip is never drawn wider
AS_TRAINED = "like the training images"  # the preparation control's first choice: the checkpoint's own


def model_preparation(model: GenerativeModel) -> Preparation:
    """How uploads are made to look like `model`'s training images: as its checkpoint records, else the default for
    its dataset and image shape."""
    info = model.checkpoint.dataset if model.checkpoint else None
    if info is not None and info.preparation is not None:
        return info.preparation
    return default_preparation(model.image_shape, info.name if info else None)


def fit_controls(model: GenerativeModel, key: str) -> tuple[Preparation, bool | None]:
    """How uploads become the model's input: prepared like its training images, or a plain fit of the whole
    picture (the preparation switched off); and, for one-channel models, inversion. The first is what
    `read_pictures` takes as `fit`."""
    c, h, w = model.image_shape
    own = model_preparation(model)
    choices = {AS_TRAINED: own} | {fit: Preparation(fit) for fit in FITS if Preparation(fit) != own}
    left, right = st.columns(2)
    choice = left.radio(
        "Prepare uploads",
        list(choices),
        horizontal=True,
        key=f"{key}_fit",
        help=f"Uploads become {w}x{h}. Like the training images: {own.describe(model.image_shape)}. Pad keeps the "
        "whole picture, crop fills the square, stretch ignores the aspect ratio: the picture as it is, no subject "
        "looked for",
    )
    invert = None
    if c == 1:
        choice_of_invert = right.radio(
            "Invert",
            ["Auto", "Yes", "No"],
            horizontal=True,
            key=f"{key}_invert",
            help="The model was trained on light strokes on a dark background; auto inverts uploads whose ink is "
            "darker than their background",
        )
        invert = {"Auto": None, "Yes": True, "No": False}[choice_of_invert]
    return choices[choice], invert


def read_pictures(files: list, model: GenerativeModel, fit: Preparation | str, invert: bool | None) -> list[Picture]:
    """The first MAX_FILES uploads as the model's input, prepared as `fit` says (`fit_controls`' choice, or a plain
    fit by name); a bad file gets an error in the page and is skipped, the others are still read."""
    if len(files) > MAX_FILES:
        st.warning(f"{len(files)} files were uploaded; the first {MAX_FILES} are used.")
    preparation = fit if isinstance(fit, Preparation) else Preparation(fit)
    pictures = []
    for f in files[:MAX_FILES]:
        try:
            pictures.append(
                upload_to_input(f.getvalue(), f.name, model.image_shape, invert=invert, preparation=preparation)
            )
        except UploadError as e:
            st.error(plain(e), icon=":material/broken_image:")
    return pictures


def picture_source(model: GenerativeModel, key: str, default: str = "0-7") -> list[Picture]:
    """The page's images: uploads (converted as the controls say, notes shown) or test images by number."""
    # Test images first, so that a page shows what it does before anything is chosen.
    source = st.radio("Images", ["Test images", "Upload"], horizontal=True, key=f"{key}_source")
    if source == "Test images":
        data_source(model)  # says why a bundle is not used, or that the page works offline
        with needs_data(model, "Test images"):
            data = test_set(model)
        offline = is_offline(data)
        what = "images of the explore bundle's sample of the test set" if offline else "test images"
        text = st.text_input(
            f"{what.capitalize()}: numbers",
            default,
            key=f"{key}_index",
            help=f"Numbers or ranges from 0 to {len(data) - 1}",
        )
        try:
            index = parse_indices(text, len(data))
        except ValueError as e:
            st.error(f"These {what} cannot be shown: {plain(e)}.")
            return []
        if len(index) > MAX_FILES:
            st.warning(f"{len(index)} {what} were asked for; the first {MAX_FILES} are used.")
            index = index[:MAX_FILES]
        names, numbers = class_names(model), data.positions().tolist()
        return [Picture(f"test-{numbers[i]} ({names[data.labels[i]]})", to_float(data.images[i]), []) for i in index]
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
    """Each upload as received beside the model's input, with what was done on the way, so that nothing is changed
    silently. Pictures that were no upload (test images) are left out."""
    uploads = [p for p in pictures if p.received is not None or p.notes]
    if not uploads:
        return
    title = f"How {len(uploads)} upload{'s were' if len(uploads) > 1 else ' was'} prepared"
    with st.expander(title, expanded=len(uploads) <= 3):  # open unless a long batch would push the results down
        for p in uploads:
            row = st.container(horizontal=True, vertical_alignment="center")  # wraps in a narrow column
            if p.received is not None:
                show_within(row, p.received, "as received")
            show_within(row, p.image, "the model's input")
            notes = "; ".join(p.notes) or "used as it is"
            row.markdown(f"**{plain(p.name)}**: {plain(notes)}", width="stretch")


def show_within(where, image: torch.Tensor | Image.Image, caption: str, size: int = 112) -> None:
    """A picture of any shape (or a (C, H, W) image in [0, 1]) drawn within `size` x `size` pixels: a small one
    scaled up by a whole factor with crisp pixels, a long thin one as thin as it is. The caption is plain text."""
    picture = to_pil(image) if isinstance(image, torch.Tensor) else image
    factor = max(1, size // max(picture.size))
    if factor > 1:
        picture = picture.resize((picture.width * factor, picture.height * factor), Image.Resampling.NEAREST)
    width = max(1, round(picture.width * min(1.0, size / max(picture.size))))
    where.image(picture, caption=plain(caption), width=width, output_format="PNG")


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
