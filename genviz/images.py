"""Pictures in and out: uploads decoded and checked, turned into model inputs; tensors to grids, PNG, GIF and MP4."""

import csv
import importlib.util
import io
import os
import re
import warnings
import zipfile
from dataclasses import asdict, dataclass, fields
from fractions import Fraction

import numpy as np
import torch
from PIL import ExifTags, GifImagePlugin, Image, ImageFilter, ImageOps

from genviz.files import atomic_path

# Limits on uploads, set on purpose and checked by tests/test_upload_fuzz.py. Streamlit's server.maxUploadSize
# (.streamlit/config.toml) makes the browser refuse bigger files; read_upload refuses them too, for callers outside
# the app.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# At most 40 megapixels (a 7,200 x 5,500 photo) per image, whatever the file's size: a few KiB of PNG can declare
# 20,000 x 20,000 pixels and expand to gigabytes when decoded.
MAX_PIXELS = 40_000_000
# At most this many pixels on a side, whatever the area: Pillow keeps a pointer (8 bytes) per row, so a picture one
# pixel wide and 40 million tall would take 320 MB more per copy. The largest JPEG or GIF has 65,535.
MAX_SIDE = 65_535
# At most this many pictures in one upload batch: each becomes a model input, and the page shows each one.
MAX_FILES = 64
# Pillow's own decompression-bomb limit, process-wide, set to ours: Image.open (and Pillow's checks of GIF frames,
# TIFF tiles and crops while decoding) then warns above MAX_PIXELS and raises above twice that, for every image this
# process opens, uploads or not. read_upload turns the warning into a refusal too; its own check of the header's size,
# before any pixel is decoded, holds even where other code lifts Pillow's limit (MAX_IMAGE_PIXELS = None).
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# Pillow's names of the formats read_upload accepts; other plugins (PSD, ICO, EPS, ...) are never tried on uploads.
UPLOAD_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF")
_FORMATS_IN_WORDS = "PNG, JPEG, BMP, GIF, WebP or TIFF"
# How a note names a file with several frames, by Pillow's format name (a phone's multi-picture JPEG opens as MPO).
_SEQUENCES = {
    "GIF": ("animated GIF", "frames"),
    "PNG": ("animated PNG", "frames"),
    "WEBP": ("animated WebP", "frames"),
    "TIFF": ("multi-page TIFF", "pages"),
    "MPO": ("multi-picture JPEG", "pictures"),
}
FITS = ("pad", "crop", "stretch")
# The preparation that finds the subject of a picture and places it as the dataset's images were (see Preparation).
SUBJECT = "subject"
CENTRES = ("mass", "box")
# Pictures with a side under this many pixels are too small to look for a subject in: they get the plain fit.
MIN_SUBJECT_SIDE = 8
# A picture is searched for its subject at most about this many pixels on its longer side (reduced by a whole
# factor first): a digit a tenth of a phone photo's height is then still about 100 pixels tall.
WORK_SIDE = 1024
# The upload as received is kept, for showing beside the model's input, at most this many pixels on a side.
RECEIVED_SIDE = 256
# What the notes say of an inversion, whichever preparation made it.
_INVERTED = "inverted: the model was trained on light-on-dark images and this one is dark-on-light"
_INVERTED_AS_ASKED = "inverted, as asked"
MP4_AVAILABLE = importlib.util.find_spec("av") is not None


def to_pil(image: torch.Tensor) -> Image.Image:
    """One (C, H, W) image in [0, 1] to a PIL image (L for one channel, RGB for three)."""
    array = image.detach().clamp(0, 1).mul(255).round().byte().cpu()
    if array.shape[0] == 1:
        return Image.fromarray(array[0].numpy(), mode="L")
    return Image.fromarray(array.permute(1, 2, 0).numpy(), mode="RGB")


def grid(images: torch.Tensor, nrow: int = 8, padding: int = 2) -> Image.Image:
    """(B, C, H, W) images in [0, 1] tiled into one picture, nrow per row, with `padding` white pixels
    around and between them: torchvision's make_grid layout, without importing torchvision (a
    second of the app's start). A single image comes back as it is."""
    images = images.detach().float().cpu()
    if len(images) == 1:
        return to_pil(images[0])
    count, channels, height, width = images.shape
    cols = min(nrow, count)
    rows = -(-count // cols)
    canvas = torch.ones(channels, rows * (height + padding) + padding, cols * (width + padding) + padding)
    for k, image in enumerate(images):
        y, x = (padding + i * (size + padding) for i, size in zip(divmod(k, cols), (height, width), strict=True))
        canvas[:, y : y + height, x : x + width] = image
    return to_pil(canvas)


def save_png(image: Image.Image, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def enlarge(image: Image.Image, size: int) -> Image.Image:
    """Scale a small image up to `size` pixels wide with crisp (nearest-neighbour) pixels."""
    factor = max(1, size // image.width)
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)


class UploadError(ValueError):
    """An upload genviz refuses. The message is shown to the user as it is: it says what is wrong and what to do."""


@dataclass
class Upload:
    name: str
    image: Image.Image  # mode "L" or "RGB", fully loaded
    notes: list[str]  # one plain-English sentence per conversion made on the way, shown under the image


def read_upload(data: bytes, name: str) -> Upload:
    """Decode an uploaded file into an L or RGB image, refusing anything genviz cannot read safely."""
    if not data:
        raise UploadError(f"{name}: the file is empty; pick the file again or export it again and upload that")
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(
            f"{name}: the file is {len(data) / 2**20:.1f} MiB, more than the {MAX_UPLOAD_BYTES // 2**20} MiB "
            "genviz accepts; save a smaller version (fewer pixels, or as JPEG) and upload that"
        )
    notes = []
    # Pillow warns of a possible decompression bomb above its pixel limit (MAX_PIXELS, set above) and raises above
    # twice that; the warning is turned into an error too, but only for this call: the warning filters of the rest
    # of the process are left as they are.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = _decode(data, name, notes)
        except UploadError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
            raise UploadError(_too_many_pixels(name, "the image")) from err
        except Image.UnidentifiedImageError as err:
            raise UploadError(
                f"{name}: not an image genviz can read ({_FORMATS_IN_WORDS}); export it as PNG or JPEG and upload that"
            ) from err
        # Pillow's decoders raise many kinds of exception on damaged input (OSError, SyntaxError, struct.error,
        # EOFError, ...); whichever it is, the user's remedy is the same.
        except Exception as err:
            raise UploadError(
                f"{name}: the file is damaged or cut short and cannot be decoded; open it in an image viewer, "
                "export it again as PNG or JPEG and upload that"
            ) from err
    return Upload(name, _to_l_or_rgb(image, name, notes), notes)


def _too_many_pixels(name: str, size: str) -> str:
    return (
        f"{name}: {size} has more than the {MAX_PIXELS // 1_000_000} megapixels genviz accepts "
        "(a limit against files that expand to fill the memory); scale it down and upload that"
    )


def _decode(data: bytes, name: str, notes: list[str]) -> Image.Image:
    """Open, check the header's size, then load the first frame, turned upright as its EXIF data asks."""
    image = Image.open(io.BytesIO(data), formats=UPLOAD_FORMATS)
    width, height = image.size  # Pillow refuses zero-size images while identifying them
    # Checked before load(): a few KiB of PNG can decode to gigabytes.
    if width * height > MAX_PIXELS:
        raise UploadError(_too_many_pixels(name, f"at {width}x{height} pixels, the image"))
    if max(width, height) > MAX_SIDE:
        raise UploadError(
            f"{name}: at {width}x{height} pixels, the image is longer on one side than the {MAX_SIDE:,} pixels genviz "
            "accepts; crop it or scale it down and upload that"
        )
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        kind, unit = _SEQUENCES[image.format]
        notes.append(f"{kind}: the first of its {frames} {unit} is used")
    image.load()
    # Orientations 2 to 8 ask for a flip or a turn; 1 is upright, and anything else (a damaged tag) is ignored.
    if image.getexif().get(ExifTags.Base.Orientation, 1) in range(2, 9):
        image = ImageOps.exif_transpose(image)
        notes.append("rotated upright as its EXIF orientation asks")
    return image


def _to_l_or_rgb(image: Image.Image, name: str, notes: list[str]) -> Image.Image:
    """L for greyscale sources (and palettes whose colours are all grey), RGB for the rest; alpha laid on white."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I", "F"):
        return _deep_grey_to_l(image, name, notes)
    if image.mode in ("CMYK", "YCbCr"):
        notes.append(f"{image.mode} converted to RGB")
        image = image.convert("RGB")
    if image.mode not in ("1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX"):
        raise UploadError(
            f"{name}: its colour mode ({image.mode}) is not one genviz can read; "
            "export it as an 8-bit RGB or greyscale PNG and upload that"
        )
    # L for a palette of greys too: exact, as Pillow's RGB-to-L weights sum to 1.
    mode = "L" if image.mode in ("1", "L", "LA", "La") or _palette_is_grey(image) else "RGB"
    # Each step makes at most one copy the size of the picture: a 40-megapixel RGBA upload is 160 MB a copy.
    if image.has_transparency_data:
        layers = image if image.mode in ("LA", "RGBA") else image.convert("RGBA")
        alpha = layers.getchannel("A")
        if alpha.getextrema()[0] < 255:
            notes.append("transparent pixels laid on white, as a browser shows them")
        image = Image.new(layers.mode[:-1], image.size, "white")
        image.paste(layers, (0, 0), alpha)  # alpha compositing over an opaque white background
        del layers, alpha
    return image if image.mode == mode else image.convert(mode)


def _palette_is_grey(image: Image.Image) -> bool:
    """Whether every colour a P or PA image uses is a grey (an index past the end of its palette counts as not)."""
    if image.mode not in ("P", "PA"):
        return False
    indices = image if image.mode == "P" else image.getchannel("P")
    palette = image.getpalette("RGB") or []
    colours = [palette[3 * index : 3 * index + 3] for _, index in indices.getcolors(256)]
    return all(len(rgb) == 3 and rgb[0] == rgb[1] == rgb[2] for rgb in colours)


def _deep_grey_to_l(image: Image.Image, name: str, notes: list[str]) -> Image.Image:
    """16-bit, 32-bit integer and float greyscale scaled to 8 bits; convert("L") would clip them at 255 instead."""
    values = np.array(image, dtype=np.float32)  # a copy of our own, changed in place below
    if not np.isfinite(values).all():
        raise UploadError(
            f"{name}: some pixels are not numbers (NaN or infinite); export it as an 8-bit PNG and upload that"
        )
    low, high = float(values.min()), float(values.max())
    if image.mode.startswith("I;16") or (image.mode == "I" and low >= 0 and 255 < high <= 65535):
        low, high = 0.0, 65535.0
        notes.append("16-bit greyscale scaled to 8 bits")
    elif image.mode == "I" and low >= 0 and high <= 255:
        low, high = 0.0, 255.0  # 8-bit values in a 32-bit container: nothing to say
    elif image.mode == "F" and low >= 0 and high <= 1:
        low, high = 0.0, 1.0
        notes.append("floating-point greyscale (0 to 1) scaled to 8 bits")
    else:
        kind = "floating-point" if image.mode == "F" else "32-bit"
        notes.append(f"{kind} greyscale from {low:g} to {high:g} stretched to 8 bits (0 to 255)")
    # In place, so that a 40-megapixel float image costs one more copy, not four. A flat image has high == low: it
    # maps to black instead of dividing by zero.
    values -= low
    values /= (high - low) or 1.0
    values *= 255
    return Image.fromarray(np.rint(values, out=values).astype(np.uint8), mode="L")


def is_dark_on_light(image: Image.Image) -> bool:
    """Whether an L or RGB picture has a light background, judged by its border: mean border value above half."""
    return _border(image).mean() > 127.5


def _border(image: Image.Image) -> np.ndarray:
    """(N, C) values of the outermost pixels (corners counted twice, harmless for a mean or a median)."""
    width, height = image.size
    strips = ((0, 0, width, 1), (0, height - 1, width, height), (0, 0, 1, height), (width - 1, 0, width, height))
    bands = len(image.getbands())
    return np.concatenate([np.asarray(image.crop(box)).reshape(-1, bands) for box in strips])


def to_model_input(
    image: Image.Image, shape: tuple[int, int, int], fit: str = "pad", invert: bool | None = None
) -> tuple[torch.Tensor, list[str]]:
    """The (C, H, W) tensor in [0, 1] a model of image shape `shape` takes, and notes on what was done to get it.

    fit: "pad" keeps the aspect ratio and pads with the border's median colour, "crop" keeps it and cuts the centre
    out, "stretch" ignores it. invert: None inverts one-channel inputs that are dark on light (the MNIST models saw
    light digits on black); True or False forces it.
    """
    _check_target(shape, fit)
    channels, height, width = shape
    if image.mode not in ("L", "RGB"):
        raise ValueError(f"expected an L or RGB image, as read_upload returns, not {image.mode}")
    notes = []
    mode = "L" if channels == 1 else "RGB"
    if image.mode != mode:
        notes.append("converted to greyscale" if mode == "L" else "greyscale copied into the 3 colour channels")
        image = image.convert(mode)
    # Inverting before fitting makes the padding, taken from the border, match the inverted picture.
    if invert is None:
        invert = channels == 1 and is_dark_on_light(image)
        if invert:
            notes.append(_INVERTED)
    elif invert:
        notes.append(_INVERTED_AS_ASKED)
    if invert:
        image = ImageOps.invert(image)
    if image.size != (width, height):
        image, note = _fit(image, (width, height), fit)
        notes.append(note)
    pixels = torch.from_numpy(np.array(image)).float().div(255)  # (H, W) or (H, W, 3)
    return (pixels[None] if pixels.ndim == 2 else pixels.permute(2, 0, 1)).contiguous(), notes


def _check_target(shape: tuple[int, int, int], fit: str) -> None:
    """ValueError for a model shape or fit no upload can meet: a mistake in the calling code, not in the upload."""
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, not {fit!r}")
    _check_shape(shape)


def _check_shape(shape: tuple[int, int, int]) -> None:
    if len(shape) != 3 or shape[0] not in (1, 3) or min(shape[1:]) < 1:
        raise ValueError(f"shape must be (C, H, W) with 1 or 3 channels and positive sides, not {shape}")


@dataclass(frozen=True)
class Preparation:
    """How an upload becomes a model's input: the way the model's training images were made, so that an upload
    looks like them. A checkpoint records its own (config.json's dataset.preparation); `default_preparation` gives
    one where it records none.

    fit "subject" (one-channel, digit-like datasets) levels the background, finds the subject, crops to it, scales
    its longer side to `box` pixels and centres it, as MNIST's digits were made (the MNIST page, LeCun, Cortes and
    Burges: "size normalized to fit in a 20x20 pixel box while preserving their aspect ratio ... centered in a 28x28
    image by computing the center of mass of the pixels"). A plain fit ("pad", "crop", "stretch") fits the whole
    picture (see to_model_input).
    """

    fit: str = "pad"  # "subject", or one of FITS
    box: int = 20  # subject: pixels its longer side is scaled to (MNIST: 20 of 28)
    centre: str = "mass"  # subject: "mass" puts its centre of mass at the image's centre, "box" its bounding box's
    full: float = 0.4  # subject: fraction of its pixels at full strength after (MNIST: 0.4 of a digit's pixels are 255)

    def __post_init__(self):
        if self.fit not in (SUBJECT, *FITS):
            raise ValueError(f"fit must be one of {(SUBJECT, *FITS)}, not {self.fit!r}")
        if type(self.box) is not int or self.box < 1:
            raise ValueError(f"box must be a positive whole number of pixels, not {self.box!r}")
        if self.centre not in CENTRES:
            raise ValueError(f"centre must be one of {CENTRES}, not {self.centre!r}")
        if type(self.full) not in (int, float) or not 0 <= self.full < 1:
            raise ValueError(f"full must be a number from 0 up to 1 (a fraction of the subject), not {self.full!r}")

    @property
    def plain(self) -> bool:
        """Whether this is a plain fit of the whole picture, with no subject looked for."""
        return self.fit != SUBJECT

    def as_dict(self) -> dict:
        """As config.json records it: a plain fit by its name alone."""
        return {"fit": self.fit} if self.plain else asdict(self)

    @classmethod
    def from_dict(cls, values: object) -> "Preparation":
        """From config.json's dataset.preparation; ValueError says what is wrong (unknown keys included)."""
        if not isinstance(values, dict) or "fit" not in values:
            raise ValueError("must be a JSON object with a 'fit'")
        if unknown := values.keys() - {f.name for f in fields(cls)}:
            raise ValueError(f"unknown keys: {', '.join(sorted(map(str, unknown)))}")
        if values["fit"] in FITS and len(values) > 1:
            raise ValueError(f"the plain fit {values['fit']!r} takes no other settings")
        return cls(**values)

    def check(self, shape: tuple[int, int, int]) -> None:
        """ValueError where a model of image shape `shape` (C, H, W) cannot take inputs prepared this way."""
        if not self.plain and shape[0] != 1:
            raise ValueError(f"the subject preparation is for one-channel models, not {shape[0]} channels")
        if not self.plain and self.box > min(shape[1:]):
            raise ValueError(f"a box of {self.box} pixels does not fit the model's {shape[2]}x{shape[1]} images")

    def describe(self, shape: tuple[int, int, int]) -> str:
        """What it does, in words, for a model of image shape `shape`."""
        if self.plain:
            return {
                "pad": "the whole picture, padded to a square",
                "crop": "the centre of the picture, cropped to a square",
                "stretch": "the whole picture, stretched to a square",
            }[self.fit] + f" and scaled to {shape[2]}x{shape[1]}"
        centred = "its centre of mass" if self.centre == "mass" else "its box"
        return (
            f"the background levelled, the subject found, scaled to fit {self.box}x{self.box} "
            f"and placed in {shape[2]}x{shape[1]} by {centred}"
        )


# Each dataset's own preparation, by the name genviz.data.load_dataset takes. Fashion-MNIST's products were trimmed,
# their longer side resized to 28 and the shorter extended to 28 about the centre, then negated (Xiao, Rasul and
# Vollgraf 2017, section 2): the box fills the image, centred, and the shades are kept (only the brightest at 1).
MNIST = Preparation(SUBJECT, box=20, centre="mass", full=0.4)
FASHION_MNIST = Preparation(SUBJECT, box=28, centre="box", full=0.0)
DATASET_PREPARATIONS = {"mnist": MNIST, "fashion-mnist": FASHION_MNIST, "cifar10": Preparation("crop")}


def default_preparation(shape: tuple[int, int, int], dataset: str | None = None) -> Preparation:
    """The preparation for a model of image shape `shape` (C, H, W) trained on `dataset`, where its checkpoint records
    none: the dataset's own (DATASET_PREPARATIONS); else MNIST's for a one-channel 28x28 model, and a centre crop,
    as for natural images, for any other."""
    own = DATASET_PREPARATIONS.get(dataset)
    if own is not None:
        try:
            own.check(shape)
            return own
        except ValueError:
            pass
    return MNIST if tuple(shape) == (1, 28, 28) else Preparation("crop")


def prepare(
    image: Image.Image, shape: tuple[int, int, int], preparation: Preparation | None = None, invert: bool | None = None
) -> tuple[torch.Tensor, list[str]]:
    """The (C, H, W) tensor in [0, 1] a model of image shape `shape` takes, prepared as `preparation` says (default:
    `default_preparation(shape)`), and notes on what was done. A plain fit is to_model_input's (see it for invert).

    The subject preparation never fails on a picture: where none can be found (blank, all ink, too small) the notes
    say why and the whole picture is padded instead. invert: None inverts a picture whose ink is darker than its
    background (the one-channel models saw light strokes on black); True or False forces it.
    """
    _check_shape(shape)
    preparation = preparation or default_preparation(shape)
    preparation.check(shape)
    if image.mode not in ("L", "RGB"):
        raise ValueError(f"expected an L or RGB image, as read_upload returns, not {image.mode}")
    if preparation.plain:
        return to_model_input(image, shape, preparation.fit, invert)
    return _prepare_subject(image, shape, preparation, invert)


class _NoSubject(Exception):
    """Why a picture's subject cannot be prepared, in words for the notes."""


def _prepare_subject(
    image: Image.Image, shape: tuple[int, int, int], preparation: Preparation, invert: bool | None
) -> tuple[torch.Tensor, list[str]]:
    _, height, width = shape
    w, h = image.size
    if min(w, h) < MIN_SUBJECT_SIDE:
        return _padded_instead(image, shape, invert, f"at {w}x{h} pixels the picture is too small to find a subject in")
    # Reduced by a whole factor (each pixel the mean of a block) before anything else: a 40-megapixel upload is
    # searched at about a megapixel, and never copied whole. The shorter side keeps at least MIN_SUBJECT_SIDE.
    factor = max(1, min(-(-max(w, h) // WORK_SIDE), min(w, h) // MIN_SUBJECT_SIDE))
    work = image.reduce(factor) if factor > 1 else image
    notes = []
    if work.mode != "L":
        notes.append("converted to greyscale")
        work = work.convert("L")
    # Smoothed a little (a Gaussian of up to 1.7 pixels at 1,024 a side) against the camera's noise and JPEG's
    # blocks: strokes are many pixels wide at this size, and the subject is scaled down to a few dozen pixels after.
    if (sigma := max(work.size) / 600) >= 0.5:
        work = work.filter(ImageFilter.GaussianBlur(sigma))
    values = np.asarray(work, dtype=np.float32)
    asked = invert
    if invert is None:
        invert = _ink_is_dark(values)
        notes += [_INVERTED] if invert else []
    elif invert:
        notes.append(_INVERTED_AS_ASKED)
    if invert:
        values = 255 - values  # from here on the ink is brighter than the paper, as in the model's images
    if (w, h) == (width, height) and _already_prepared(values, preparation):
        notes.append(
            f"already as the training images are (a clean background, the subject within "
            f"{preparation.box}x{preparation.box} and centred): used as it is"
        )
        return torch.from_numpy(values / 255).float()[None].contiguous(), notes
    try:
        ink, box, level_note, left_out = _find_subject(values, invert)
    except _NoSubject as reason:
        return _padded_instead(image, shape, asked, str(reason))
    left, top, right, bottom = (v * factor for v in box)
    notes.append(level_note)
    notes += left_out
    notes.append(f"cropped to the subject: {min(right, w) - left}x{min(bottom, h) - top} pixels at ({left}, {top})")
    canvas, placed = _place(ink, (height, width), preparation)
    notes.append(placed)
    return torch.from_numpy(canvas)[None].contiguous(), notes


def _padded_instead(
    image: Image.Image, shape: tuple[int, int, int], invert: bool | None, reason: str
) -> tuple[torch.Tensor, list[str]]:
    """The plain "pad" fit of the whole picture, inverted as to_model_input decides (a blank page is judged by its
    border), after `reason`: why no subject was prepared."""
    tensor, notes = to_model_input(image, shape, "pad", invert)
    return tensor, [f"{reason}; the whole picture is padded instead", *notes]


def _ink_is_dark(values: np.ndarray) -> bool:
    """Whether the marks in a greyscale picture (H, W) are darker than its background: the background is the typical
    value (the median), the marks the tail that reaches further from it. Judged from the extremes (0.05% of the
    pixels each way), so that a digit on a hundredth of a photo still counts, and a few hot pixels do not."""
    low, middle, high = np.percentile(values, (0.05, 50, 99.95))
    return middle - low > high - middle


def _already_prepared(values: np.ndarray, preparation: Preparation) -> bool:
    """Whether a picture of the model's size (ink bright) already is as the training images are: a clean background,
    the subject within the box and centred within a pixel (a test image saved and uploaded again)."""
    ink = values > 16
    if not ink.any() or ink.all() or values[~ink].mean() > 4:
        return False
    if max(values[0].max(), values[-1].max(), values[:, 0].max(), values[:, -1].max()) > 16:
        return False
    rows, cols = np.nonzero(ink)
    if np.ptp(rows) + 1 > preparation.box + 1 or np.ptp(cols) + 1 > preparation.box + 1:
        return False
    height, width = values.shape
    if preparation.centre == "mass":
        mass = values.sum()
        y, x = (values.sum(1) @ np.arange(height)) / mass, (values.sum(0) @ np.arange(width)) / mass
        target = (height / 2, width / 2)
    else:
        y, x = (rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2
        target = ((height - 1) / 2, (width - 1) / 2)
    return abs(y - target[0]) <= 1 and abs(x - target[1]) <= 1


def _background(values: np.ndarray) -> np.ndarray:
    """The paper's shade under a picture (H, W) whose ink is bright: a quadratic surface (uneven light) fitted to the
    medians of a 16x16 grid of cells, cells the ink covers (much brighter than the fit) left out and the fit
    repeated. A cell's median is the paper's unless ink covers half of it; thick strokes spoil a few cells, which
    are left out."""
    height, width = values.shape
    cell = max(2, -(-max(height, width) // 16))
    rows, cols = -(-height // cell), -(-width // cell)
    padded = np.pad(values, ((0, rows * cell - height), (0, cols * cell - width)), mode="edge")
    medians = np.median(padded.reshape(rows, cell, cols, cell).transpose(0, 2, 1, 3).reshape(rows, cols, -1), axis=2)
    y, x = np.meshgrid((np.arange(rows) + 0.5) / rows, (np.arange(cols) + 0.5) / cols, indexing="ij")
    terms = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1).reshape(-1, 6)
    target = medians.reshape(-1)
    coefficients, keep = np.array([np.median(target), 0, 0, 0, 0, 0]), np.ones(rows * cols, dtype=bool)
    for _ in range(5):  # from one shade (the median) on: a band of ink along an edge cannot bend the first fit
        residual = target - terms @ coefficients
        spread = max(2.0, 1.4826 * float(np.median(np.abs(residual[keep]))))
        keep = residual < 3 * spread  # one-sided: ink is brighter than the paper, never darker
        if keep.sum() < 12:  # too few cells for a surface: one shade
            coefficients = np.array([np.median(target[keep]) if keep.any() else np.median(target), 0, 0, 0, 0, 0])
            break
        coefficients = np.linalg.lstsq(terms[keep], target[keep], rcond=None)[0]
    y, x = (np.arange(height)[:, None] + 0.5) / (rows * cell), (np.arange(width)[None] + 0.5) / (cols * cell)
    a, b, c, d, e, f = coefficients
    return (a + b * x + c * y + d * x * x + e * x * y + f * y * y).astype(np.float32)


def _find_subject(values: np.ndarray, inverted: bool) -> tuple[np.ndarray, tuple[int, int, int, int], str, list[str]]:
    """The subject of a greyscale picture (H, W) whose ink is bright (`inverted`: made so from the upload): its ink
    cropped, (h, w) float32 from 0 (the background, exactly) to 1; its box (left, top, right, bottom) in the
    picture; a note on the levelling; notes on marks left out. _NoSubject says why there is none."""
    paper = _background(values)
    ink = values - paper
    below = ink[ink <= np.median(ink)]
    centre = float(np.median(ink))
    # The paper's noise, from the half of the pixels below the median, where no ink is: ink only adds bright pixels.
    noise = 1.4826 * float(np.median(centre - below)) if below.size else 0.0
    strong = ink > centre + max(6 * noise, 12)
    if not strong.any():
        raise _NoSubject("nothing stands out from the background (the picture is blank or of one shade)")
    level = float(np.percentile(ink[strong], 90))
    if level - centre < 32:
        raise _NoSubject(
            f"nothing stands out clearly: the strongest marks differ from the background by {level - centre:.0f} of 255"
        )
    mask = ink > centre + max(6 * noise, 12, 0.4 * (level - centre))
    if mask.mean() > 0.5:
        raise _NoSubject(f"marks cover {mask.mean():.0%} of the picture, so there is no single subject to crop to")
    labels, count = _components(mask)
    subject, left_out = _subject_components(labels, count, mask.size)
    # One pixel around the strokes kept: their anti-aliased edges, below the threshold.
    near = np.asarray(Image.fromarray(np.isin(labels, subject).astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(3)))
    rows, cols = np.nonzero(near)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    floor = centre + 3 * noise  # the paper's brightest, noise included: black after
    strength = np.clip((ink[top:bottom, left:right] - floor) / max(level - floor, 1.0), 0, 1)
    strength *= near[top:bottom, left:right] > 0
    low, middle, high = np.percentile(paper, (5, 50, 95))
    if inverted:  # the paper's shade as the picture has it
        low, middle, high = 255 - high, 255 - middle, 255 - low
    uneven = f", from {low:.0f} to {high:.0f} across the picture" if high - low >= 16 else ""
    note = (
        f"background levelled: the paper (about {middle:.0f} of 255{uneven}) made black "
        "and the ink's contrast stretched"
    )
    return strength.astype(np.float32), (int(left), int(top), int(right), int(bottom)), note, left_out


def _components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """The 8-connected components of a boolean mask (H, W): labels (H, W), 0 outside and 1 to count inside, and the
    count. Runs of each row are joined to the runs they touch in the next row, and the labels of joined runs
    settled by taking the smallest over each join, then following each label to its own, until none changes."""
    height, width = mask.shape
    edges = np.diff(np.pad(mask, ((0, 0), (1, 1))).astype(np.int8), axis=1)  # (H, W + 1): +1 a run starts, -1 ends
    run_rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)  # the same order: row by row, left to right, one end per start
    count = len(starts)
    run = np.full((height, width), -1, dtype=np.int64)  # each pixel's run
    if count == 0:
        return np.zeros((height, width), dtype=np.int32), 0
    lengths = ends - starts
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    run[np.repeat(run_rows, lengths), np.repeat(starts, lengths) + np.arange(lengths.sum()) - first] = np.repeat(
        np.arange(count), lengths
    )
    pairs = []
    for shift in (-1, 0, 1):  # a pixel touches three in the row below
        upper = run[:-1, max(0, -shift) : width - max(0, shift)]
        lower = run[1:, max(0, shift) : width - max(0, -shift)]
        touching = (upper >= 0) & (lower >= 0)
        pairs.append(np.stack([upper[touching], lower[touching]], axis=1))
    joins = np.concatenate(pairs)  # repeats are harmless below
    label = np.arange(count)
    while len(joins):
        smaller = np.minimum(label[joins[:, 0]], label[joins[:, 1]])
        settled = label.copy()
        np.minimum.at(settled, label[joins[:, 0]], smaller)
        np.minimum.at(settled, label[joins[:, 1]], smaller)
        while not np.array_equal(settled, settled[settled]):
            settled = settled[settled]
        if np.array_equal(settled, label):
            break
        label = settled
    roots, label = np.unique(label, return_inverse=True)
    labels = np.zeros((height, width), dtype=np.int32)
    labels[run >= 0] = label[run[run >= 0]] + 1
    return labels, len(roots)


def _subject_components(labels: np.ndarray, count: int, pixels: int) -> tuple[np.ndarray, list[str]]:
    """Which components (labels 1 to count) make the subject, and notes on the marks left out. The subject grows from
    the largest mark, one not touching the picture's edge where there is one of some size (a shadow or the paper's
    edge touches it; a digit seldom does), taking in every mark whose box comes within a sixth of the subject's size
    of its box: the strokes of one digit, broken or not. Specks (under 2% of the largest mark) and marks apart
    from the subject are left out."""
    height, width = labels.shape
    rows, cols = np.nonzero(labels)
    found = labels[rows, cols] - 1
    areas = np.bincount(found, minlength=count)
    top, left = np.full(count, height), np.full(count, width)
    bottom, right = np.zeros(count, dtype=np.int64), np.zeros(count, dtype=np.int64)
    np.minimum.at(top, found, rows)
    np.minimum.at(left, found, cols)
    np.maximum.at(bottom, found, rows + 1)
    np.maximum.at(right, found, cols + 1)
    smallest = max(9, 2e-4 * pixels)  # a subject's least area: a fiftieth of a percent of the picture
    if areas.max() < smallest:
        raise _NoSubject(
            f"nearly blank: the largest mark covers {areas.max() / pixels:.3%} of the picture, too little for a subject"
        )
    inner = (top > 0) & (left > 0) & (bottom < height) & (right < width)
    pool = inner if (inner & (areas >= smallest)).any() else np.ones(count, dtype=bool)
    specks = areas < max(3, 0.02 * areas[pool].max())
    candidates = pool & ~specks
    seed = int(np.argmax(np.where(candidates, areas, -1)))
    subject = np.zeros(count, dtype=bool)
    subject[seed] = True
    box = [top[seed], left[seed], bottom[seed], right[seed]]
    while True:
        margin = max(2, max(box[2] - box[0], box[3] - box[1]) / 6)
        near = (
            candidates
            & ~subject
            & (top < box[2] + margin)
            & (bottom > box[0] - margin)
            & (left < box[3] + margin)
            & (right > box[1] - margin)
        )
        if not near.any():
            break
        subject |= near
        box = [top[subject].min(), left[subject].min(), bottom[subject].max(), right[subject].max()]
    apart = candidates & ~subject
    # Of a size with the subject: a box at least half as long. Not by ink: a '1' has a third of a '0's.
    large = apart & (np.maximum(bottom - top, right - left) >= max(box[2] - box[0], box[3] - box[1]) / 2)
    counts = (
        (large.sum(), "other mark of a size with the subject", "other marks of a size with the subject"),
        ((apart & ~large).sum(), "smaller mark away from the subject", "smaller marks away from the subject"),
        ((~pool & ~specks).sum(), "mark along the picture's edge", "marks along the picture's edge"),
        (specks.sum(), "speck", "specks"),
    )
    notes = [f"{n} {one if n == 1 else many} left out" for n, one, many in counts if n]
    if large.any():
        notes[0] += " (the model takes one subject a picture: crop the picture to the one you mean)"
    return np.flatnonzero(subject) + 1, notes


def _place(ink: np.ndarray, size: tuple[int, int], preparation: Preparation) -> tuple[np.ndarray, str]:
    """The subject's ink (h, w) scaled so that its longer side is `preparation.box` pixels (aspect ratio kept),
    stretched so that `preparation.full` of its pixels are at full strength, and placed on a black canvas of
    `size` (H, W) with its centre of mass (or its box) at the centre: float32 (H, W) in [0, 1], and a note."""
    height, width = size
    h, w = ink.shape
    scale = preparation.box / max(h, w)
    scaled = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(_resize(Image.fromarray(ink, mode="F"), scaled)).clip(0, 1)
    on = small[small > 0.05]
    top_level = (np.quantile(on, 1 - preparation.full) if preparation.full else on.max()) if on.size else 1.0
    small = (small / max(float(top_level), 1e-3)).clip(0, 1).astype(np.float32)
    sh, sw = small.shape
    if preparation.centre == "mass" and small.sum() > 0:
        mass = small.sum()
        y, x = (small.sum(1) @ np.arange(sh)) / mass, (small.sum(0) @ np.arange(sw)) / mass
        # MNIST's digits have their centre of mass at (14, 14) of 28x28: pixel centres counted from 0.
        top, left, how = round(height / 2 - y), round(width / 2 - x), "its centre of mass"
    else:
        top, left, how = round((height - sh) / 2), round((width - sw) / 2), "its box"
    top, left = min(max(top, 0), height - sh), min(max(left, 0), width - sw)  # the whole box inside
    canvas = np.zeros((height, width), dtype=np.float32)
    canvas[top : top + sh, left : left + sw] = small
    return canvas, (
        f"scaled to {sw}x{sh} to fit {preparation.box}x{preparation.box}, keeping its aspect ratio, and placed in "
        f"{width}x{height} by {how}, as the training images were"
    )


@dataclass
class ModelInput:
    name: str
    image: torch.Tensor  # (C, H, W) float32 in [0, 1]: the model's image shape
    notes: list[str]  # what was done on the way, in order: read_upload's notes, then the preparation's
    # The upload as read (upright, L or RGB), at most RECEIVED_SIDE pixels on a side, to show beside `image`;
    # None for an image that was no upload (a test image).
    received: Image.Image | None = None


def upload_to_input(
    data: bytes,
    name: str,
    shape: tuple[int, int, int],
    fit: str | None = None,
    invert: bool | None = None,
    *,
    preparation: Preparation | None = None,
) -> ModelInput:
    """An uploaded file's bytes as the input of a model of image shape `shape` (C, H, W): the one way every page
    turns an upload into a model input. read_upload, then `prepare`.

    preparation: how the model's training images were made (a checkpoint's `dataset.preparation`); by default
    `default_preparation(shape)`: a one-channel 28x28 model's uploads are prepared as MNIST's digits were. fit: a
    plain fit of the whole picture instead (see to_model_input); give one or the other. invert: see `prepare`.

    Any file raises only UploadError, its message naming the file and saying what to do; ValueError means a wrong
    shape, fit or preparation, a mistake of the caller's whatever the file. tests/test_upload_fuzz.py holds it to
    that.
    """
    if fit is not None:
        _check_target(shape, fit)
        if preparation is not None:
            raise ValueError("give a fit or a preparation, not both")
        preparation = Preparation(fit)
    _check_shape(shape)
    preparation = preparation or default_preparation(shape)
    preparation.check(shape)
    upload = read_upload(data, name)
    tensor, notes = prepare(upload.image, shape, preparation, invert)
    return ModelInput(name, tensor, upload.notes + notes, _received(upload.image))


def _received(image: Image.Image) -> Image.Image:
    """A copy of an upload small enough to keep for showing: at most RECEIVED_SIDE pixels on a side."""
    scale = RECEIVED_SIDE / max(image.size)
    if scale >= 1:
        return image.copy()
    return _resize(image, (max(1, round(image.width * scale)), max(1, round(image.height * scale))))


def _resize(
    image: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float] | None = None
) -> Image.Image:
    # LANCZOS averages over the whole footprint of each output pixel, so a stroke thinner than the reduction factor
    # fades instead of vanishing; reducing_gap first box-reduces big uploads by an integer factor, which is faster.
    return image.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)


def _fit(image: Image.Image, size: tuple[int, int], fit: str) -> tuple[Image.Image, str]:
    (w, h), (width, height) = image.size, size
    change = f"from {w}x{h} to {width}x{height}"
    if fit == "stretch":
        return _resize(image, size), f"stretched {change}, ignoring the aspect ratio"
    scale = min(width / w, height / h) if fit == "pad" else max(width / w, height / h)
    scaled = (max(1, round(w * scale)), max(1, round(h * scale)))
    if fit == "crop":
        scaled = (max(width, scaled[0]), max(height, scaled[1]))
    if scaled == size:
        return _resize(image, size), f"resized {change}"
    sides = "the sides" if scaled[0] != width else "the top and bottom"
    if fit == "crop":
        # The centre of the source with the target's aspect ratio, resized in one step. Scaling the whole image
        # first and cropping after would build the scaled image in full: 28 x 1,120,000 pixels for a 1 x 40,000 one.
        crop_w, crop_h = min(w, width / scale), min(h, height / scale)  # min: against rounding past the edge
        left, top = (w - crop_w) / 2, (h - crop_h) / 2
        resized = _resize(image, size, box=(left, top, left + crop_w, top + crop_h))
        return resized, f"resized {change}, keeping the aspect ratio and cropping {sides}"
    resized = _resize(image, scaled)
    left, top = (width - scaled[0]) // 2, (height - scaled[1]) // 2
    background = tuple(int(v) for v in np.median(_border(image), axis=0))
    canvas = Image.new(image.mode, size, background[0] if image.mode == "L" else background)
    canvas.paste(resized, (left, top))
    return canvas, f"resized {change}, keeping the aspect ratio and padding {sides}"


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """A ZIP archive of name -> contents, for downloading every output at once. Names come partly from
    uploads' file names, so each folder and file name is reduced to letters, digits, '.', '-' and '_'
    and can never climb out of the folder it is unpacked in."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            parts = (re.sub(r"[^\w.-]+", "_", part).strip(".") or "_" for part in name.split("/"))
            archive.writestr("/".join(parts), data)
    return buffer.getvalue()


# Anchors of matplotlib's "inferno" colour map (black, purple, red, orange, pale yellow): perceptually
# even, and readable in greyscale print.
_INFERNO = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], dtype=np.float32)


def heatmap(values: torch.Tensor, top: float) -> Image.Image:
    """A map (H, W) of non-negative values as an RGB picture, 0 black to `top` (and above) pale yellow."""
    t = (values.detach().float().cpu().numpy() / max(top, 1e-12)).clip(0, 1) * (len(_INFERNO) - 1)
    low = np.minimum(t.astype(int), len(_INFERNO) - 2)
    frac = (t - low)[..., None]
    rgb = _INFERNO[low] * (1 - frac) + _INFERNO[low + 1] * frac
    return Image.fromarray(rgb.round().astype(np.uint8), mode="RGB")


def gif_bytes(frames: list[Image.Image], fps: float = 8, scale_to: int = 0) -> bytes:
    """An animated GIF that loops forever, every frame kept, each shown 1/fps s (GIF counts in 1/100 s).

    scale_to > 0 enlarges each frame with crisp pixels to at most that width (see `enlarge`).
    """
    frames = _checked(frames, fps)
    if scale_to > 0:
        frames = [enlarge(frame, scale_to) for frame in frames]
    # Image.save(save_all=True) merges identical consecutive frames into one longer frame whatever the options
    # (optimize=False and per-frame durations included), which changes the frame count; so the file is assembled
    # from Pillow's public getheader/getdata instead, one full frame with its own colour table each.
    # Browsers show delays under 2/100 s as 1/10 s, hence the floor of 2.
    delay_ms = 10 * max(2, round(100 / fps))
    paletted = [frame.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE) for frame in frames]
    header, _ = GifImagePlugin.getheader(paletted[0], info={"loop": 0})
    parts = list(header)
    for frame in paletted:
        parts += GifImagePlugin.getdata(frame, duration=delay_ms, include_color_table=True)
    return b"".join([*parts, b";"])  # ";" is GIF's trailer


def mp4_bytes(frames: list[Image.Image], fps: float = 8, scale_to: int = 256) -> bytes:
    """An H.264 (yuv420p) MP4 of the frames in order, enlarged with crisp pixels to at least `scale_to` wide."""
    if not MP4_AVAILABLE:
        raise RuntimeError("MP4 export needs PyAV, which is not installed: pip install av")
    import av  # here, so that importing genviz does not load FFmpeg

    frames = _checked(frames, fps)
    w, h = frames[0].size
    factor = max(1, -(-scale_to // w))
    # yuv420p keeps colour at half resolution, so H.264 needs even sides; an even factor makes both even.
    if factor % 2 and (w % 2 or h % 2):
        factor += 1
    size = (w * factor, h * factor)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            big = frame.convert("RGB").resize(size, Image.Resampling.NEAREST)
            container.mux(stream.encode(av.VideoFrame.from_image(big)))
        container.mux(stream.encode())  # flush the frames the encoder holds back for look-ahead
    return buffer.getvalue()


def _checked(frames: list[Image.Image], fps: float) -> list[Image.Image]:
    if not frames:
        raise ValueError("an animation needs at least one frame")
    if fps <= 0:
        raise ValueError(f"fps must be positive, not {fps}")
    if len({frame.size for frame in frames}) > 1:
        raise ValueError(f"all frames must have one size, got {sorted({frame.size for frame in frames})}")
    return frames


def csv_bytes(rows: list[dict]) -> bytes:
    """Rows of a table (dicts with the same keys, in column order) as CSV, for the downloads."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()
