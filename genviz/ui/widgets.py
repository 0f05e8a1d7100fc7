"""Widgets several pages share: where images come from (uploads or test images), how uploads are prepared,
each upload shown as received beside the model's input, and pictures drawn crisp and never wider than their
column."""

import streamlit as st
import torch
from PIL import Image

from genviz import latent as lt
from genviz.data import class_members, parse_indices, to_float
from genviz.models import GenerativeModel
from genviz.pictures import enlarge, grid, to_pil
from genviz.preparation import FITS, ModelInput, Preparation, default_preparation, upload_to_input
from genviz.ui.drawing import drawn_picture
from genviz.ui.feedback import needs_data
from genviz.ui.params import choice, drop_from_url, integer, linked, to_url
from genviz.ui.resources import (
    class_names,
    data_source,
    dataset_name,
    encoded_picture,
    encoded_test_image,
    is_offline,
    spread_over_classes,
    test_set,
)
from genviz.ui.text import plain
from genviz.uploads import MAX_FILES, UploadError

# What the uploaders offer; genviz.uploads reads the file's contents, whatever its name says.
UPLOAD_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff"]
# An image ready for a model, from an upload or the test set, with what was done to it on the way.
Picture = ModelInput
WIDEST = 1400  # pixels: about the main column of the wide layout; a strip is never drawn wider
AS_TRAINED = "like the training images"  # the preparation control's first choice: the checkpoint's own
SOURCES = ["Test image", "Upload", "Drawing", "Random latent"]  # where an interpolation's endpoint comes from


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


def picture_source(model: GenerativeModel, key: str, count: int = 10) -> list[Picture]:
    """The page's images: uploads (converted as the controls say, notes shown) or test images by number, at first
    `count` of them spread over the classes (`spread_over_classes`). Numbers other than those are kept in the URL
    as `images`, so that a reload or a link shows them, on this model or another of any dataset."""
    # Test images first, so that a page shows what it does before anything is chosen.
    source = st.radio("Images", ["Test images", "Upload", "Draw"], horizontal=True, key=f"{key}_source")
    if source == "Test images":
        data_source(model)  # says why a bundle is not used, or that the page works offline
        with needs_data(model, "Test images"):
            data = test_set(model)
        offline = is_offline(data)
        what = "images of the explore bundle's sample of the test set" if offline else "test images"
        default = ", ".join(map(str, spread_over_classes(model, count)))

        def valid(text: str) -> str:
            parse_indices(text, len(data))  # ValueError names the bad part
            return text

        field = f"{key}_index_{dataset_name(model)}"  # a model of another dataset starts at its own default
        linked("images", field, valid, default)
        text = st.text_input(
            f"{what.capitalize()}: numbers", key=field, help=f"Numbers or ranges from 0 to {len(data) - 1}"
        )
        if text == default:  # left out of the URL: a model of another dataset then opens on its own default
            drop_from_url("images")
        else:
            to_url("images", text)
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
    drop_from_url("images")  # uploads and drawings are not in the URL
    if source == "Draw":
        fit, invert = fit_controls(model, key)
        drawn = drawn_picture(model, f"{key}_pad", fit, invert)
        return [drawn[0]] if drawn else []
    files = st.file_uploader(
        "Upload images",
        type=UPLOAD_TYPES,
        accept_multiple_files=True,
        key=f"{key}_files",
        help=f"PNG, JPEG, BMP, GIF (first frame), WebP or TIFF; up to {MAX_FILES} files of 20 MiB each",
    )
    fit, invert = fit_controls(model, key)
    return read_pictures(files or [], model, fit, invert)


def endpoint(
    model: GenerativeModel, path: str, label: str, k: int, fit: Preparation, invert: bool | None
) -> torch.Tensor | None:
    """Interpolate's endpoint k (from 0), chosen in the caller's column: a test image by class and number (at first
    the first image of class k, so that the endpoints show different classes), an upload, or a prior sample by seed
    (k at first). Its latent (D,), or None until an upload is given. The choices are in the URL as source<k+1>,
    class<k+1> and image<k+1>, or seed<k+1>; an upload's file is not."""
    n, key = k + 1, f"interp_{{}}_{k}"  # the URL counts endpoints from 1; key.format("seed") is interp_seed_<k>
    # Offline without the bundle's test images (a GAN's bundle has none), prior samples.
    linked(f"source{n}", key.format("source"), choice(SOURCES), SOURCES[-1 if data_source(model) == "none" else 0])
    source = st.selectbox(label, SOURCES, key=key.format("source"))
    to_url(f"source{n}", source)
    upload = ["class", "image", "seed"]
    for unused in {"Test image": ["seed"], "Upload": upload, "Drawing": upload}.get(source, ["class", "image"]):
        drop_from_url(f"{unused}{n}")
    if source == "Random latent":
        linked(f"seed{n}", key.format("seed"), integer(0, 2**31 - 1), k)
        seed = st.number_input("Seed", 0, 2**31 - 1, key=key.format("seed"))
        to_url(f"seed{n}", seed)
        z = lt.prior_latents(model, 1, int(seed))[0]
        show(st, lt.decode(model, z[None])[0], f"prior sample, seed {seed}")
        return z
    if source in ("Upload", "Drawing"):
        if source == "Upload":
            file = st.file_uploader("Image", type=UPLOAD_TYPES, key=key.format("file"), label_visibility="collapsed")
            pictures = read_pictures([file] if file else [], model, fit, invert)
        else:
            drawn = drawn_picture(model, key.format("pad"), fit, invert)
            pictures = [drawn[0]] if drawn else []
        if not pictures:
            st.info(f"{'Upload' if source == 'Upload' else 'Draw'} an image for this endpoint.")
            return None
        show_notes(pictures)
        image = pictures[0].image
        z = encoded_picture(model, path, (image * 255).round().byte().numpy())
    else:
        with needs_data(model, "Test images"):
            data = test_set(model)
        names = class_names(model)
        linked(f"class{n}", key.format("class"), choice(["any", *names]), names[k % len(names)])
        chosen = st.selectbox("Class", ["any", *names], key=key.format("class"))
        pool = class_members(data.labels, None if chosen == "any" else names.index(chosen))
        linked(f"image{n}", key.format("image"), integer(0, len(pool) - 1), 0)  # a number past the pool starts at 0
        number = st.number_input(f"Image (of {len(pool):,})", 0, len(pool) - 1, key=key.format("image"))
        to_url(f"class{n}", chosen)
        to_url(f"image{n}", number)
        index = int(pool[int(number)])
        image, z = to_float(data.images[index]), encoded_test_image(model, path, index)
    search = "" if model.has_exact_encoder else ": this model's latent for it is a search, approximate"
    show(st, image, f"input{search}")
    return z


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


def strip_row(steps: int, longest: int = 8) -> int:
    """Frames to a row of a strip of `steps`: all of them up to `longest`, else as few rows of at most `longest`
    as hold them, as even as they can be (32 steps: 4 rows of 8; 12: 2 of 6), so that each frame stays large."""
    rows = -(-steps // longest)
    return -(-steps // rows)


def tiled(frames: torch.Tensor, nrow: int, frame: int = 96) -> Image.Image:
    """Images (B, C, H, W) in [0, 1] tiled `nrow` to a row (`genviz.pictures.grid`) and scaled up by a whole
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
