"""Uploads read and checked: any file a person gives the app is decoded within set limits (size, pixels, sides,
formats, frames), upright and as L or RGB, or refused with an UploadError that names it and says what to do."""

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import ExifTags, Image, ImageOps

# Limits on uploads, set on purpose and checked by tests/test_upload_fuzz.py. Streamlit's server.maxUploadSize
# (genviz/.streamlit/config.toml) makes the browser refuse bigger files; read_upload refuses them too, for callers
# outside the app.
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
