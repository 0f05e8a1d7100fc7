"""Pictures in and out: uploads decoded and checked, turned into model inputs; tensors to grids, PNG, GIF and MP4."""

import csv
import importlib.util
import io
import os
import re
import warnings
import zipfile
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
from PIL import ExifTags, GifImagePlugin, Image, ImageOps

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
            notes.append("inverted: the model was trained on light-on-dark images and this one is dark-on-light")
    elif invert:
        notes.append("inverted, as asked")
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
    if len(shape) != 3 or shape[0] not in (1, 3) or min(shape[1:]) < 1:
        raise ValueError(f"shape must be (C, H, W) with 1 or 3 channels and positive sides, not {shape}")


@dataclass
class ModelInput:
    name: str
    image: torch.Tensor  # (C, H, W) float32 in [0, 1]: the model's image shape
    notes: list[str]  # what was done on the way, in order: read_upload's notes, then to_model_input's


def upload_to_input(
    data: bytes, name: str, shape: tuple[int, int, int], fit: str = "pad", invert: bool | None = None
) -> ModelInput:
    """An uploaded file's bytes as the input of a model of image shape `shape` (C, H, W): the one way every page
    turns an upload into a model input. read_upload, then to_model_input (see both for fit and invert).

    Any file raises only UploadError, its message naming the file and saying what to do; ValueError means a wrong
    shape or fit, a mistake of the caller's whatever the file. tests/test_upload_fuzz.py holds it to that.
    """
    _check_target(shape, fit)
    upload = read_upload(data, name)
    tensor, notes = to_model_input(upload.image, shape, fit, invert)
    return ModelInput(name, tensor, upload.notes + notes)


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
