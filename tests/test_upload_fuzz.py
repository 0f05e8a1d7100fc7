"""Fuzzing upload_to_input, the one function every page turns an uploaded file into a model input with.

Whatever the bytes, the result is a float32 tensor of exactly the model's shape with finite values in [0, 1], or an
UploadError whose message names the file; any other exception fails. The inputs: random bytes, valid images of every
mode and format Pillow writes (animated, EXIF-rotated, 1 pixel, extreme aspect ratios), the same truncated and
bit-flipped, headers made by hand that claim 0x0 or 20,000 x 20,000 pixels, text saved under image names, drawings
on paper (blank, all ink, specks, several marks, tiny, long and thin) for the preparation that looks for a subject,
and a real decompression bomb. Each is tried with the model's default preparation (a one-channel 28x28 model's:
the subject prepared as MNIST's digits were) or a plain fit.

The budgets are fixed, and the runs derandomized with no example database, so that CI is bounded and every run tries
the same inputs: *_EXAMPLES below, FUZZ_EXAMPLES in all. Peak resident memory is measured on Linux over each run
(VmHWM, reset through /proc/self/clear_refs) and must grow by less than RSS_BOUND.
"""

import io
import re
import struct
import subprocess
import sys
import tomllib
import zlib
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from genviz import preparation, uploads
from genviz.preparation import FITS, ModelInput, upload_to_input
from genviz.uploads import MAX_FILES, MAX_PIXELS, MAX_SIDE, MAX_UPLOAD_BYTES, UploadError

# Pillow's readers warn about the damage they skip in damaged files (TIFF tags, EXIF): expected here, by the hundred.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL")

# Inputs tried per property; INPUTS_TRIED in all, docs/security.md's "N inputs" (Uploads).
RANDOM_BYTES_EXAMPLES = 200
VALID_IMAGE_EXAMPLES = 250
DAMAGED_IMAGE_EXAMPLES = 500
CRAFTED_HEADER_EXAMPLES = 200
TEXT_EXAMPLES = 60
DRAWING_EXAMPLES = 150
FUZZ_EXAMPLES = (
    RANDOM_BYTES_EXAMPLES
    + VALID_IMAGE_EXAMPLES
    + DAMAGED_IMAGE_EXAMPLES
    + CRAFTED_HEADER_EXAMPLES
    + TEXT_EXAMPLES
    + DRAWING_EXAMPLES
)
# Besides, each header made by hand is tried once as it was made: CRAFTED_HEADERS of them.
CRAFTED_HEADERS = 127
INPUTS_TRIED = FUZZ_EXAMPLES + CRAFTED_HEADERS
# Most the peak resident memory may grow over one run. The crafted headers include the largest image accepted,
# 40 megapixels: about 460 MiB at peak as a float TIFF, about 610 MiB as an animated WebP (libwebp's decoder keeps two
# copies of the canvas, Pillow a third, before genviz sees a pixel). A refused bomb must cost next to nothing.
RSS_BOUND = 768 * 2**20


def fuzz_settings(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None)


# Peak resident memory


def _clear_refs_works() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # "5" resets this process's peak RSS (VmHWM) to its current RSS; nothing else changes
        return "VmHWM:" in Path("/proc/self/status").read_text()
    except OSError:
        return False


RSS_MEASURABLE = _clear_refs_works()


def _status_bytes(field: str) -> int:
    return int(re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M).group(1)) * 1024


@contextmanager
def peak_rss_growth():
    """A dict whose "bytes", after the block, is how far the peak resident memory rose above its start (None where
    the peak cannot be reset: Linux only)."""
    growth = {"bytes": None}
    if not RSS_MEASURABLE:
        yield growth
        return
    Path("/proc/self/clear_refs").write_text("5")
    start = _status_bytes("VmRSS")
    yield growth
    growth["bytes"] = _status_bytes("VmHWM") - start


def assert_bounded(growth: dict) -> None:
    # Where it cannot be measured, test_peak_rss_is_measured_here says so by skipping.
    if growth["bytes"] is not None:
        assert growth["bytes"] < RSS_BOUND, f"peak RSS grew by {growth['bytes'] / 2**20:.0f} MiB"


# Run in a fresh process: in pytest's, other threads (servers and loaders of earlier tests) take and free memory
# meanwhile, and once turned the 64 MiB below into a negative growth.
RSS_CHECK = """
import numpy as np
from tests.test_upload_fuzz import peak_rss_growth
with peak_rss_growth() as block_growth:
    block = np.ones(64 * 2**20, dtype=np.uint8)  # touched, so resident
    del block
with peak_rss_growth() as empty_growth:
    pass
print(block_growth["bytes"], empty_growth["bytes"])
"""


def test_peak_rss_is_measured_here():
    if not RSS_MEASURABLE:
        pytest.skip("no /proc/self/clear_refs (Linux only): the fuzz runs' memory bounds are not checked")
    root = Path(__file__).resolve().parent.parent
    run = subprocess.run([sys.executable, "-c", RSS_CHECK], cwd=root, capture_output=True, text=True, check=True)
    block, empty = map(int, run.stdout.split())
    assert 60 * 2**20 < block < 96 * 2**20  # not exactly 64: other pages come and go meanwhile
    assert empty < 16 * 2**20  # the reset works: the 64 MiB above is not counted again


# The property


NAMES = ("upload.png", "photo.JPG", "scan.tiff", "drawing 7 (copy).gif", "ünïcödé.webp", "noextension")
SHAPES = ((1, 28, 28), (3, 32, 32))
names = st.sampled_from(NAMES)
FIT_CHOICES = (None, *FITS)  # None: the model's default preparation, by its shape
targets = st.tuples(st.sampled_from(SHAPES), st.sampled_from(FIT_CHOICES), st.sampled_from((None, True, False)))
# What the subject preparation ends with, one of these: prepared, already as the training images, or padded instead.
SUBJECT_ENDINGS = ("placed in 28x28 by its centre of mass", "used as it is", "the whole picture is padded instead")


def outcome(data: bytes, name: str, target: tuple) -> str:
    """Check one input's result and say which it was, "tensor" or "refused"; any other exception propagates."""
    shape, fit, invert = target
    try:
        result = upload_to_input(data, name, shape, fit, invert)
    except UploadError as err:
        message = str(err)
        assert message.startswith(f"{name}: ") and len(message) > len(name) + 20, message
        return "refused"
    assert isinstance(result, ModelInput) and result.name == name
    tensor = result.image
    assert tensor.dtype == torch.float32 and tuple(tensor.shape) == shape
    assert torch.isfinite(tensor).all() and tensor.min() >= 0 and tensor.max() <= 1
    assert all(isinstance(note, str) and note for note in result.notes)
    assert result.received.mode in ("L", "RGB") and max(result.received.size) <= preparation.RECEIVED_SIDE
    if fit is None and shape == (1, 28, 28):  # the subject preparation says how it ended
        assert any(ending in note for note in result.notes for ending in SUBJECT_ENDINGS), result.notes
    return "tensor"


def fuzz(examples: int, *strategies: st.SearchStrategy, extra: Callable = lambda *_: None) -> Counter:
    """Run `outcome` over `examples` draws of (data, name, target) from the strategies, counting the outcomes and
    checking the peak memory; `extra(data, name, result)` adds a check of its own."""
    counts = Counter()

    @fuzz_settings(examples)
    @given(*strategies)
    def run(data, name, target):
        result = outcome(data, name, target)
        extra(data, name, result)
        counts[result] += 1

    with peak_rss_growth() as growth:
        run()
    assert_bounded(growth)
    assert sum(counts.values()) >= examples  # the budget was spent: the strategies were not exhausted early
    return counts


# Random bytes

MAGICS = (b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"GIF87a", b"BM", b"RIFF\0\0\0\0WEBP", b"II*\0")


@st.composite
def random_bytes(draw) -> bytes:
    """Noise, mostly after a format's magic number so that its reader runs, not just the identification."""
    return draw(st.sampled_from(MAGICS)) + draw(st.binary(max_size=2048))


def test_random_bytes():
    counts = fuzz(RANDOM_BYTES_EXAMPLES, random_bytes(), names, targets)
    assert counts["refused"] > 0


def test_empty_and_oversize_files_are_refused():
    for data in (b"", b"\x89PNG\r\n\x1a\n" + bytes(MAX_UPLOAD_BYTES)):
        for fit in FIT_CHOICES:
            assert outcome(data, "upload.png", ((1, 28, 28), fit, None)) == "refused"


# Valid images: every mode in every format Pillow writes it to, still or animated, EXIF-rotated, 1x1 to 64x64 and
# extreme aspect ratios

MODES = ("1", "L", "P", "PA", "LA", "RGB", "RGBA", "I;16", "I", "F", "CMYK")
FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")
ANIMATED_FORMATS = ("PNG", "GIF", "WEBP", "TIFF")
EXIF_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF")
# 1 x 16,000 and 16,000 x 1 stay within every format's limits (WebP's is 16,383 a side).
EXTREME_SIZES = ((1, 16_000), (16_000, 1), (2, 9_000), (9_000, 3), (1, 2), (2, 1), (1, 1))


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def picture(mode: str, size: tuple[int, int], seed: int, flat: bool) -> Image.Image:
    """Noise, or one flat colour, in `mode`; deep modes span their range (F: 0 to 1 or beyond, as TIFFs do)."""
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0])
    if mode in ("I;16", "I", "F"):
        if mode == "I;16":
            values = rng.integers(0, 2**16, shape, dtype=np.uint16)
        elif mode == "I":
            values = rng.integers(-(2**31), 2**31, shape, dtype=np.int32)
        else:
            values = (rng.uniform(0, 1, shape) * rng.choice([1, 1000])).astype(np.float32)
        if flat:
            values[...] = values.flat[0]
        return Image.fromarray(values)
    rgba = rng.integers(0, 256, (*shape, 4), dtype=np.uint8)
    if flat:
        rgba[...] = rgba[0, 0]
    image = Image.fromarray(rgba)  # RGBA
    if mode == "P":
        return image.convert("RGB").quantize(int(rng.integers(2, 257)))
    if mode == "PA":
        return image.convert("P").convert("PA")
    return image.convert(mode)


def _writable(fmt: str, mode: str, animated: bool = False) -> bool:
    frames = [picture(mode, (3, 2), seed, False) for seed in range(2)]
    try:
        encode(frames[0], fmt, **({"save_all": True, "append_images": frames[1:]} if animated else {}))
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True


# What this Pillow writes, found by trying: a mode Pillow cannot save in a format is no upload anyone has.
STILL = [(mode, fmt) for mode in MODES for fmt in FORMATS if _writable(fmt, mode)]
ANIMATED = [(mode, fmt) for mode in MODES for fmt in ANIMATED_FORMATS if _writable(fmt, mode, animated=True)]


def test_every_mode_and_format_is_covered():
    assert {mode for mode, _ in STILL} == set(MODES) and {fmt for _, fmt in STILL} == set(FORMATS)
    assert {fmt for _, fmt in ANIMATED} == set(ANIMATED_FORMATS)
    assert len(STILL) >= 40 and len(ANIMATED) >= 30


@st.composite
def valid_images(draw) -> bytes:
    size = draw(st.one_of(st.tuples(st.integers(1, 64), st.integers(1, 64)), st.sampled_from(EXTREME_SIZES)))
    seed, flat = draw(st.integers(0, 2**32 - 1)), draw(st.booleans())
    kind = draw(st.sampled_from(("still", "animated", "exif")))
    if kind == "animated":
        mode, fmt = draw(st.sampled_from(ANIMATED))
        frames = [picture(mode, size, seed + k, flat and k == 0) for k in range(draw(st.integers(2, 4)))]
        options = {"save_all": True, "append_images": frames[1:], "duration": 50, "loop": 0}
        return encode(frames[0], fmt, **options)
    mode, fmt = draw(st.sampled_from([entry for entry in STILL if kind == "still" or entry[1] in EXIF_FORMATS]))
    options = {}
    if kind == "exif":
        exif = Image.Exif()
        exif[0x0112] = draw(st.sampled_from([*range(1, 9), 0, 9, 65535]))  # Orientation, with damaged values
        options["exif"] = exif
    return encode(picture(mode, size, seed, flat), fmt, **options)


def test_valid_images_become_inputs():
    def never_refused(data, name, result):
        assert result == "tensor"

    fuzz(VALID_IMAGE_EXAMPLES, valid_images(), names, targets, extra=never_refused)


# The same, damaged


@st.composite
def damaged(draw, files: st.SearchStrategy) -> bytes:
    """Bits flipped (a third of them in the first 64 bytes, where the headers are), then perhaps cut short."""
    data = bytearray(draw(files))
    anywhere, header = st.integers(0, len(data) - 1), st.integers(0, min(63, len(data) - 1))
    for _ in range(draw(st.integers(0 if len(data) > 1 else 1, 6))):
        data[draw(st.one_of(anywhere, anywhere, header))] ^= 1 << draw(st.integers(0, 7))
    if draw(st.booleans()):
        data = data[: draw(st.one_of(st.integers(len(data) // 2, len(data) - 1), st.integers(0, len(data) - 1)))]
    return bytes(data)


def test_damaged_images():
    counts = fuzz(DAMAGED_IMAGE_EXAMPLES, damaged(valid_images()), names, targets)
    assert counts["tensor"] > 0 and counts["refused"] > 0


# Headers made by hand, claiming from 0x0 to over 4 gigapixels with no pixels (or few) behind them


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width: int, height: int, idat: bytes = b"", depth: int = 8, colour: int = 0) -> bytes:
    """A PNG with correct CRCs: colour 0 grey, 2 RGB, 3 palette (one black entry), 4 grey + alpha, 6 RGBA."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))
    palette = png_chunk(b"PLTE", b"\0\0\0") if colour == 3 else b""
    return b"\x89PNG\r\n\x1a\n" + header + palette + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def gif(width: int, height: int) -> bytes:
    """A 1x1 screen whose one frame claims width x height (Pillow grows the screen to fit), one pixel of data."""
    screen = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"  # 2-colour palette
    frame = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return screen + frame + b";"


def bmp(width: int, height: int) -> bytes:
    """A 24-bit BMP (a negative height is a top-down one) with 4 bytes of pixels."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info) + 4, 0, 0, 14 + len(info)) + info + b"\0\0\0\0"


def jpeg(width: int, height: int) -> bytes:
    """Start of image, a baseline frame header of one component, a scan header, a few bytes, end of image."""
    frame = struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00"
    scan = b"\x01\x01\x00\x00\x3f\x00"
    return (
        b"\xff\xd8\xff\xc0"
        + struct.pack(">H", len(frame) + 2)
        + frame
        + b"\xff\xda"
        + struct.pack(">H", len(scan) + 2)
        + scan
        + b"\0" * 8
        + b"\xff\xd9"
    )


def tiff(width: int, height: int) -> bytes:
    """An uncompressed 8-bit greyscale TIFF, one strip that says it holds every pixel; 8 bytes are there."""
    fields = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1)]
    fields += [(273, 4, 8), (277, 3, 1), (278, 4, max(height, 1)), (279, 4, min(width * height, 2**32 - 1))]
    ifd_at = 16
    entries = b"".join(struct.pack("<HHII", tag, kind, 1, value) for tag, kind, value in fields)
    return b"II*\0" + struct.pack("<I", ifd_at) + b"\0" * 8 + struct.pack("<H", len(fields)) + entries + b"\0" * 4


def _animated_webp() -> bytes:
    frames = [Image.new("RGB", (1, 1), colour) for colour in ("red", "blue")]
    return encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)


ANIMATED_WEBP = _animated_webp()


def webp(width: int, height: int) -> bytes:
    """A real two-frame 1x1 animated WebP whose canvas (VP8X chunk, no checksum) claims width x height: a valid file
    as far as libwebp's demuxer goes, whose decoder allocates that canvas."""
    assert ANIMATED_WEBP[12:16] == b"VP8X"
    canvas = (max(width, 1) - 1).to_bytes(3, "little") + (max(height, 1) - 1).to_bytes(3, "little")
    return ANIMATED_WEBP[:24] + canvas + ANIMATED_WEBP[30:]


CRAFTED = {"png": png, "gif": gif, "bmp": bmp, "jpeg": jpeg, "tiff": tiff, "webp": webp}
# The longest side each header can state.
LONGEST = {"png": 2**31 - 1, "gif": 2**16 - 1, "bmp": 2**31 - 1, "jpeg": 2**16 - 1, "tiff": 2**32 - 1, "webp": 2**24}
# 0 and 1 pixel; the largest square accepted (6,324^2 < 40 M < 6,325^2) and the smallest refused; 8,000 x 6,000
# (between Pillow's warning and its error); 20,000 x 20,000; each format's largest; a side past MAX_SIDE.
CLAIMED_SIZES = (
    (0, 0),
    (0, 1),
    (1, 0),
    (1, 1),
    (6_324, 6_324),
    (6_325, 6_325),
    (8_000, 6_000),
    (20_000, 20_000),
    (16_384, 16_384),
    (65_535, 65_535),
    (1, 40_000_001),
    (65_536, 1),
)


@pytest.mark.parametrize("kind", CRAFTED)
def test_crafted_headers_are_read_as_the_size_they_claim(kind, monkeypatch):
    """So that the fuzzing below tests the size checks and not just 'not an image' (Image.open decodes nothing)."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    for size in ((3, 2), (20_000, 16_000)):
        with Image.open(io.BytesIO(CRAFTED[kind](*size))) as image:
            assert image.size == size


def _crafted_files() -> dict[bytes, tuple[int, int]]:
    """Every crafted header at every claimed size (PNG in each colour type, BMP bottom-up and top-down), with the
    size each claims."""
    files = {}
    for kind, make in CRAFTED.items():
        for size in CLAIMED_SIZES:
            width, height = (min(side, LONGEST[kind]) for side in size)
            if kind == "png":
                made = [png(width, height, colour=colour) for colour in (0, 2, 3, 4, 6)]
            elif kind == "bmp":
                made = [bmp(width, height), bmp(width, -height)]
            else:
                made = [make(width, height)]
            files.update(dict.fromkeys(made, (width, height)))
    return files


CRAFTED_FILES = _crafted_files()


def test_crafted_headers_as_made():
    """Each one, tried with each target in turn; those claiming more than MAX_PIXELS, or a side longer than
    MAX_SIDE, are refused."""
    all_targets = [(shape, fit, invert) for shape in SHAPES for fit in FIT_CHOICES for invert in (None, True, False)]
    counts = Counter()
    with peak_rss_growth() as growth:
        for k, (data, (width, height)) in enumerate(CRAFTED_FILES.items()):
            result = outcome(data, NAMES[k % len(NAMES)], all_targets[k % len(all_targets)])
            assert result == "refused" or (width * height <= MAX_PIXELS and max(width, height) <= MAX_SIDE)
            counts[result] += 1
    assert_bounded(growth)
    assert len(CRAFTED_FILES) == CRAFTED_HEADERS and counts["refused"] > 0


def test_crafted_headers_damaged():
    counts = fuzz(CRAFTED_HEADER_EXAMPLES, damaged(st.sampled_from(list(CRAFTED_FILES))), names, targets)
    assert counts["refused"] > 0


# Drawings on paper: what the subject preparation looks for, and everything it must turn down in words

DRAWING_SIZES = st.one_of(
    st.tuples(st.integers(1, 400), st.integers(1, 400)),
    st.sampled_from(((4000, 9), (9, 4000), (8, 8), (7, 300), (2000, 40), (28, 28))),
)


@st.composite
def drawings(draw) -> bytes:
    """Paper of one shade (or a light ramp) with 0 to 5 lines, ellipses or filled boxes of ink on it (blank, a
    digit-like mark, several marks, all ink), specks and noise; PNG or JPEG, grey or colour."""
    width, height = draw(DRAWING_SIZES)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    paper, ink = draw(st.integers(0, 255)), draw(st.integers(0, 255))
    image = Image.new("L", (width, height), paper)
    pen = ImageDraw.Draw(image)
    for _ in range(draw(st.integers(0, 5))):
        x0, x1 = sorted(rng.integers(-width // 4, width + width // 4, 2).tolist())
        y0, y1 = sorted(rng.integers(-height // 4, height + height // 4, 2).tolist())
        stroke = int(rng.integers(1, max(2, min(width, height) // 4)))
        shape = draw(st.sampled_from(("line", "ellipse", "box")))
        if shape == "line":
            pen.line([(x0, y0), (x1, y1)], fill=ink, width=stroke)
        elif shape == "ellipse":
            pen.ellipse([x0, y0, x1, y1], outline=ink, width=stroke)
        else:
            pen.rectangle([x0, y0, x1, y1], fill=ink)
    values = np.asarray(image, dtype=np.float32)
    values = values + draw(st.sampled_from((0, 20, 80))) * np.linspace(-0.5, 0.5, width)[None]
    values = values + rng.normal(0, draw(st.sampled_from((0, 3, 12, 60))), values.shape)
    for _ in range(draw(st.integers(0, 30))):
        values[rng.integers(0, height), rng.integers(0, width)] = ink
    image = Image.fromarray(values.clip(0, 255).astype(np.uint8))
    if draw(st.booleans()):
        image = image.convert("RGB")
    return encode(image, draw(st.sampled_from(("PNG", "JPEG"))))


def test_drawings_are_prepared_or_padded_saying_why():
    """Never refused, each ending as SUBJECT_ENDINGS says (see outcome); some prepared, some padded instead."""
    prepared = Counter()

    def prepared_or_not(data, name, result):
        assert result == "tensor"
        notes = upload_to_input(data, name, (1, 28, 28)).notes
        prepared[any(n.startswith("cropped to the subject") for n in notes)] += 1

    drawing_targets = st.tuples(st.just((1, 28, 28)), st.just(None), st.sampled_from((None, True, False)))
    fuzz(DRAWING_EXAMPLES, drawings(), names, drawing_targets, extra=prepared_or_not)
    assert prepared[True] > 0 and prepared[False] > 0


# Text saved under image names

TEXTS = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28">'
    b'<circle cx="14" cy="14" r="10" fill="black"/></svg>\n',
    b'<svg width="20000" height="20000"><rect width="100%" height="100%"/></svg>',
    b"<!DOCTYPE html>\n<html><body><img src='digit.png'></body></html>\n",
    b"These are not the pixels you are looking for.\n",
    b'{"image": [[0, 1], [1, 0]]}',
    b"P1\n2 2\n0 1\n1 0\n",  # a PBM image: a format genviz does not accept
    "\ufeffÜnicode text with a byte order mark\n".encode(),
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
)


@st.composite
def texts(draw) -> bytes:
    return draw(st.sampled_from(TEXTS)) * draw(st.integers(1, 50))


def test_text_files_with_image_names_are_refused():
    def refused(data, name, result):
        assert result == "refused"

    fuzz(TEXT_EXAMPLES, texts(), names, targets, extra=refused)


# A real decompression bomb


def bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A 1-bit black PNG whose pixels really are there: 50 MB of rows, deflated to about 50 KB, 400 megapixels
    (400 MB in Pillow, a byte each) once decoded. Made by hand: Pillow would take long to encode 400 megapixels."""
    rows = zlib.compressobj(9)
    row = b"\0" * (1 + -(-width // 8))  # filter type 0, then the row's bits
    idat = b"".join(rows.compress(row * 1000) for _ in range(height // 1000)) + rows.compress(row * (height % 1000))
    return png(width, height, idat + rows.flush(), depth=1, colour=0)


def test_the_bomb_is_a_real_png():
    image = Image.open(io.BytesIO(bomb(61, 2_345)))
    assert image.size == (61, 2_345) and image.mode == "1" and image.getextrema() == (0, 0)


@pytest.mark.parametrize("pillow_limit", ["genviz's", "lifted"])
def test_decompression_bomb_is_refused_in_bounded_memory(pillow_limit, monkeypatch):
    """Refused before decoding whether Pillow's own limit holds or other code lifted it; the header check then
    refuses on its own."""
    data = bomb()
    assert len(data) < 200_000
    if pillow_limit == "lifted":
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with peak_rss_growth() as growth, pytest.raises(UploadError, match=r"^bomb\.png: .*more than the 40 megapixels"):
        upload_to_input(data, "bomb.png", (1, 28, 28))
    assert_bounded(growth)
    if growth["bytes"] is not None:
        assert growth["bytes"] < 64 * 2**20  # nothing near the 400 MB the pixels would take


# The limits, set on purpose


def test_limits_are_the_documented_ones():
    config = tomllib.loads((Path(__file__).parents[1] / "genviz" / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 2**20 == MAX_UPLOAD_BYTES  # Streamlit counts it in MiB
    assert Image.MAX_IMAGE_PIXELS == MAX_PIXELS == 40_000_000
    assert MAX_FILES == 64 and uploads.MAX_FILES is MAX_FILES
