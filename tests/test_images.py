"""Uploads decoded from real files made here with Pillow, model inputs, and GIF/MP4 export read back."""

import io
import random
import re
import struct
import warnings
import zipfile
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from genviz import pictures, preparation, uploads
from genviz.pictures import gif_bytes, heatmap, mp4_bytes, png_bytes, zip_bytes
from genviz.preparation import (
    FASHION_MNIST,
    FITS,
    MNIST,
    RECEIVED_SIDE,
    ModelInput,
    Preparation,
    default_preparation,
    is_dark_on_light,
    prepare,
    to_model_input,
    upload_to_input,
)
from genviz.uploads import MAX_SIDE, MAX_UPLOAD_BYTES, Upload, UploadError, read_upload

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def halves(left, right, size=(40, 20), mode="RGB") -> Image.Image:
    image = Image.new(mode, size, left)
    image.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return image


def png_with_size(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header claims another size (its CRC fixed so Pillow trusts it): the pixels are not there."""
    data = encode(Image.new("1", (1, 1)), "PNG")
    body = data[12:16] + struct.pack(">II", width, height) + data[24:29]  # IHDR chunk type, size, the rest
    return data[:12] + body + struct.pack(">I", zlib.crc32(body)) + data[33:]


def stroke(width: int = 200, height: int = 100) -> Image.Image:
    """A dark-on-light 'digit': a thick black bar 120x20 across a white canvas."""
    image = Image.new("L", (width, height), 255)
    ImageDraw.Draw(image).line([(40, 50), (159, 50)], fill=0, width=20)
    return image


def bright_box(tensor: torch.Tensor) -> tuple[int, int]:
    """(width, height) of the tight box around pixels brighter than half."""
    rows, cols = torch.nonzero(tensor[0] > 0.5, as_tuple=True)
    return int(cols.max() - cols.min() + 1), int(rows.max() - rows.min() + 1)


# read_upload: formats and modes


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "WEBP", "TIFF"])
def test_still_formats_read_as_rgb(fmt):
    upload = read_upload(encode(halves(RED, BLUE), fmt), f"photo.{fmt.lower()}")
    assert isinstance(upload, Upload) and upload.name == f"photo.{fmt.lower()}"
    assert upload.image.mode == "RGB" and upload.image.size == (40, 20)
    pixels = np.asarray(upload.image).astype(int)
    assert np.abs(pixels[10, 5] - RED).max() < 10 and np.abs(pixels[10, 35] - BLUE).max() < 10
    assert upload.notes == []


def test_greyscale_png_stays_greyscale():
    image = Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16))
    upload = read_upload(encode(image, "PNG"), "grey.png")
    assert upload.image.mode == "L"
    assert np.array_equal(np.asarray(upload.image), np.asarray(image))
    assert upload.notes == []


@pytest.mark.parametrize(
    ("fmt", "options", "note"),
    [
        ("GIF", {"loop": 0, "duration": 100}, "animated GIF: the first of its 3 frames is used"),
        ("WEBP", {"lossless": True}, "animated WebP: the first of its 3 frames is used"),
        ("PNG", {}, "animated PNG: the first of its 3 frames is used"),
        ("TIFF", {}, "multi-page TIFF: the first of its 3 pages is used"),
    ],
)
def test_sequences_give_their_first_frame(fmt, options, note):
    red, green, blue = (Image.new("RGB", (16, 16), colour) for colour in (RED, GREEN, BLUE))
    upload = read_upload(encode(red, fmt, save_all=True, append_images=[green, blue], **options), "anim")
    assert upload.notes == [note]
    assert upload.image.mode == "RGB" and upload.image.size == (16, 16)
    assert np.abs(np.asarray(upload.image).astype(int) - RED).max() < 10


def test_16_bit_greyscale_is_scaled_not_clipped():
    image = Image.fromarray(np.array([[0, 257, 32768, 65535]], dtype=np.uint16))
    assert image.mode == "I;16"
    upload = read_upload(encode(image, "PNG"), "depth.png")
    assert upload.image.mode == "L"
    assert np.asarray(upload.image).tolist() == [[0, 1, 128, 255]]
    assert upload.notes == ["16-bit greyscale scaled to 8 bits"]


def test_float_and_32_bit_greyscale_are_mapped_to_8_bits():
    unit = read_upload(encode(Image.fromarray(np.array([[0, 0.5, 1]], dtype=np.float32)), "TIFF"), "f.tif")
    assert np.asarray(unit.image).tolist() == [[0, 128, 255]]
    assert unit.notes == ["floating-point greyscale (0 to 1) scaled to 8 bits"]
    wide = read_upload(encode(Image.fromarray(np.array([[-100, 0, 99_900]], dtype=np.int32)), "TIFF"), "i.tif")
    assert np.asarray(wide.image).tolist() == [[0, 0, 255]]
    assert wide.notes == ["32-bit greyscale from -100 to 99900 stretched to 8 bits (0 to 255)"]


def test_float_with_nan_is_refused():
    data = encode(Image.fromarray(np.array([[0, np.nan]], dtype=np.float32)), "TIFF")
    with pytest.raises(UploadError, match="not numbers"):
        read_upload(data, "nan.tif")


def test_unsupported_colour_mode_is_refused():
    with pytest.raises(UploadError, match=r"lab\.tif: its colour mode \(LAB\)"):
        read_upload(encode(Image.new("LAB", (4, 4)), "TIFF"), "lab.tif")


def test_palette_transparency_is_laid_on_white():
    image = halves(0, 1, mode="P")
    image.putpalette([0, 0, 0, *RED])
    upload = read_upload(encode(image, "PNG", transparency=0), "sticker.png")
    assert upload.image.mode == "RGB"
    assert upload.image.getpixel((5, 10)) == (255, 255, 255) and upload.image.getpixel((35, 10)) == RED
    assert upload.notes == ["transparent pixels laid on white, as a browser shows them"]


def test_palette_of_greys_becomes_greyscale():
    image = halves(0, 1, mode="P")
    image.putpalette([30, 30, 30, 200, 200, 200])
    upload = read_upload(encode(image, "GIF"), "grey.gif")
    assert upload.image.mode == "L"
    assert upload.image.getpixel((5, 10)) == 30 and upload.image.getpixel((35, 10)) == 200


def test_cmyk_jpeg_becomes_rgb():
    upload = read_upload(encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG"), "print.jpg")
    assert upload.image.mode == "RGB"
    assert np.abs(np.asarray(upload.image).astype(int) - RED).max() < 10
    assert upload.notes == ["CMYK converted to RGB"]


def test_rgba_transparent_region_becomes_white():
    image = halves((0, 0, 255, 0), (0, 0, 255, 255), mode="RGBA")
    upload = read_upload(encode(image, "PNG"), "logo.png")
    assert upload.image.getpixel((5, 10)) == (255, 255, 255) and upload.image.getpixel((35, 10)) == BLUE
    assert upload.notes == ["transparent pixels laid on white, as a browser shows them"]


def test_opaque_rgba_needs_no_note():
    upload = read_upload(encode(Image.new("RGBA", (8, 8), (*GREEN, 255)), "PNG"), "opaque.png")
    assert upload.image.mode == "RGB" and upload.image.getpixel((0, 0)) == GREEN
    assert upload.notes == []


def test_la_becomes_greyscale_on_white():
    upload = read_upload(encode(halves((0, 0), (0, 255), mode="LA"), "PNG"), "ink.png")
    assert upload.image.mode == "L"
    assert upload.image.getpixel((5, 10)) == 255 and upload.image.getpixel((35, 10)) == 0
    assert upload.notes == ["transparent pixels laid on white, as a browser shows them"]


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the stored picture must be turned 90 degrees clockwise to be upright
    upload = read_upload(encode(halves(0, 255, mode="L"), "JPEG", exif=exif), "phone.jpg")
    assert upload.image.size == (20, 40)
    # Turned clockwise, the stored left (black) half is on top.
    assert upload.image.getpixel((10, 5)) < 30 and upload.image.getpixel((10, 35)) > 225
    assert upload.notes == ["rotated upright as its EXIF orientation asks"]


@pytest.mark.parametrize("orientation", [0, 9, 65535])
def test_damaged_exif_orientation_is_ignored(orientation):
    """Found by tests/test_upload_fuzz.py: a value outside 1-8 left the picture as it was but noted a rotation."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    upload = read_upload(encode(halves(0, 255, mode="L"), "JPEG", exif=exif), "odd.jpg")
    assert upload.image.size == (40, 20) and upload.notes == []


def test_palette_with_an_index_past_its_end_is_read_as_colour():
    image = Image.new("P", (4, 4), 5)
    image.putpalette([*RED, *GREEN])  # two entries; index 5 has none
    upload = read_upload(encode(image, "PNG"), "short.png")
    assert upload.image.mode == "RGB" and upload.image.size == (4, 4)


# read_upload: refusals


def test_too_many_pixels_is_refused_from_the_header():
    """Pillow's limit is genviz's (set at import): Image.open itself refuses the 48 megapixels."""
    assert Image.MAX_IMAGE_PIXELS == uploads.MAX_PIXELS
    data = encode(Image.new("1", (8000, 6000)), "PNG")
    assert len(data) < 100_000
    with pytest.raises(UploadError, match=r"^bomb\.png: the image has more than the 40 megapixels genviz accepts"):
        read_upload(data, "bomb.png")


def test_header_check_holds_where_pillows_limit_is_lifted(monkeypatch):
    """Other code in the process may set Pillow's limit to None; genviz's own check of the header still refuses."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    data = encode(Image.new("1", (8000, 6000)), "PNG")
    with pytest.raises(UploadError, match=r"bomb\.png: at 8000x6000 pixels, the image has more than the 40 megapixels"):
        read_upload(data, "bomb.png")


@pytest.mark.parametrize("size", [(20_000, 20_000), (12_000, 10_000), (7_000, 6_000)])
def test_decompression_bombs_are_refused_before_decoding(size):
    """The files hold one pixel: had they been decoded, the error would say they are cut short, not too big.
    Pillow itself raises above 2x its limit and warns above it; both become the same refusal, and the warning
    filter is changed only for the call."""
    filters = list(warnings.filters)
    with pytest.raises(UploadError, match="more than the 40 megapixels genviz accepts"):
        read_upload(png_with_size(*size), "bomb.png")
    assert warnings.filters == filters


def test_side_longer_than_max_side_is_refused():
    """Found by tests/test_upload_fuzz.py: a picture 1 pixel wide and 39 million tall has fewer than 40 megapixels but
    took 641 MiB to read, Pillow keeping 8 bytes per row beside its 1 byte of pixels."""
    data = encode(Image.new("L", (1, MAX_SIDE + 1)), "PNG")
    with pytest.raises(
        UploadError, match=r"^tall\.png: at 1x65536 pixels, the image is longer on one side than the 65,535"
    ):
        read_upload(data, "tall.png")
    assert read_upload(encode(Image.new("L", (1, MAX_SIDE)), "PNG"), "tall.png").image.size == (1, MAX_SIDE)


def test_oversize_file_is_refused():
    with pytest.raises(UploadError, match=r"big\.png: the file is 20\.0 MiB, more than the 20 MiB"):
        read_upload(b"\0" * (MAX_UPLOAD_BYTES + 1), "big.png")


def test_empty_file_is_refused():
    with pytest.raises(UploadError, match=r"empty\.png: the file is empty"):
        read_upload(b"", "empty.png")


@pytest.mark.parametrize(
    "data",
    [
        random.Random(0).randbytes(5000),
        b"These are not the pixels you are looking for.\n" * 20,
        encode(Image.new("RGB", (32, 32)), "ICO"),
        encode(Image.new("RGB", (32, 32)), "PDF"),
        png_with_size(0, 1),
    ],
    ids=["random", "text", "ico", "pdf", "zero-width"],
)
def test_unreadable_or_unsupported_files_are_refused(data):
    with pytest.raises(UploadError, match=r"^file: not an image genviz can read \(PNG, JPEG, BMP, GIF, WebP or TIFF\)"):
        read_upload(data, "file")


def test_truncated_png_is_refused():
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    data = encode(noise, "PNG")
    with pytest.raises(UploadError, match=r"cut\.png: the file is damaged or cut short"):
        read_upload(data[: len(data) // 2], "cut.png")


@pytest.mark.filterwarnings("ignore:.*:UserWarning:PIL")  # Pillow's TIFF reader warns about the damage it skips
def test_any_bytes_give_an_upload_or_an_upload_error():
    rng = random.Random(1)
    noise = Image.fromarray(np.random.default_rng(1).integers(0, 256, (24, 24, 3), dtype=np.uint8))
    seeds = [encode(noise, fmt) for fmt in ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF")]
    seeds.append(encode(noise, "GIF", save_all=True, append_images=[noise.rotate(90)]))
    outcomes = {Upload: 0, UploadError: 0}
    for _ in range(400):
        data = bytearray(rng.choice(seeds) if rng.random() < 0.9 else rng.randbytes(rng.randrange(1, 3000)))
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            data = data[: rng.randrange(1, len(data))]
        try:
            upload = read_upload(bytes(data), "fuzz")
        except UploadError:
            outcomes[UploadError] += 1
        else:
            assert upload.image.mode in ("L", "RGB")
            upload.image.tobytes()  # the pixels are really there
            outcomes[Upload] += 1
    assert outcomes[Upload] > 0 and outcomes[UploadError] > 0


# to_model_input


def test_dark_on_light_digit_is_inverted_and_padded():
    assert is_dark_on_light(stroke()) and not is_dark_on_light(Image.new("L", (10, 10), 0))
    tensor, notes = to_model_input(stroke(), (1, 28, 28))
    assert tensor.shape == (1, 28, 28) and tensor.dtype == torch.float32
    assert 0 <= tensor.min() and tensor.max() <= 1
    # Border black (padding included: it was taken after inverting), stroke bright.
    border = torch.cat([tensor[0, 0], tensor[0, -1], tensor[0, :, 0], tensor[0, :, -1]])
    assert border.max() < 0.02 and tensor.max() > 0.9
    # 120x20 scaled by 28/200 is about 17x3: the aspect ratio kept (stretching would give about 17x6).
    width, height = bright_box(tensor)
    assert 16 <= width <= 18 and 2 <= height <= 4
    assert notes == [
        "inverted: the model was trained on light-on-dark images and this one is dark-on-light",
        "resized from 200x100 to 28x28, keeping the aspect ratio and padding the top and bottom",
    ]


def test_invert_false_keeps_dark_on_light():
    tensor, notes = to_model_input(stroke(), (1, 28, 28), invert=False)
    assert tensor[0, 0].min() > 0.98 and tensor[0, 14].min() < 0.1  # white padding, dark stroke
    assert notes == ["resized from 200x100 to 28x28, keeping the aspect ratio and padding the top and bottom"]


def test_invert_true_is_forced_and_said():
    tensor, notes = to_model_input(Image.new("L", (28, 28), 0), (1, 28, 28), invert=True)
    assert torch.equal(tensor, torch.ones(1, 28, 28)) and notes == ["inverted, as asked"]


def test_crop_fills_the_square():
    tensor, notes = to_model_input(stroke(), (1, 28, 28), fit="crop")
    assert tensor.shape == (1, 28, 28)
    # Scaled by 0.28 to 56x28 and the centre 28 columns kept: the 120-wide bar spans them all, 20 * 0.28 rows tall.
    width, height = bright_box(tensor)
    assert width == 28 and 5 <= height <= 7
    assert notes[-1] == "resized from 200x100 to 28x28, keeping the aspect ratio and cropping the sides"


def test_stretch_ignores_the_aspect_ratio():
    tensor, notes = to_model_input(stroke(), (1, 28, 28), fit="stretch")
    width, height = bright_box(tensor)
    assert tensor.shape == (1, 28, 28) and 16 <= width <= 18 and 5 <= height <= 7
    assert notes[-1] == "stretched from 200x100 to 28x28, ignoring the aspect ratio"


def test_padding_a_tall_image_pads_the_sides_with_its_border_colour():
    image = Image.new("RGB", (50, 100), (10, 20, 30))
    tensor, notes = to_model_input(image, (3, 32, 32))
    assert torch.allclose(tensor[:, :, 0], torch.tensor([10, 20, 30]).div(255)[:, None])
    assert notes == ["resized from 50x100 to 32x32, keeping the aspect ratio and padding the sides"]


def test_rgb_on_white_is_not_inverted_for_a_colour_model():
    image = Image.new("RGB", (64, 64), (255, 255, 255))
    image.paste(RED, (16, 16, 48, 48))
    tensor, notes = to_model_input(image, (3, 32, 32))
    assert tensor.shape == (3, 32, 32)
    assert tensor[:, 0, 0].tolist() == [1, 1, 1] and tensor[:, 16, 16].tolist() == [1, 0, 0]
    assert notes == ["resized from 64x64 to 32x32"]


def test_greyscale_for_a_colour_model_gets_three_equal_channels():
    image = Image.fromarray(np.arange(32 * 32, dtype=np.uint8).reshape(32, 32) % 251)
    tensor, notes = to_model_input(image, (3, 32, 32))
    assert tensor.shape == (3, 32, 32) and torch.equal(tensor[0], tensor[1]) and torch.equal(tensor[1], tensor[2])
    assert torch.equal(tensor[0], torch.tensor(np.asarray(image)).float() / 255)
    assert notes == ["greyscale copied into the 3 colour channels"]


def test_colour_for_a_greyscale_model_is_converted():
    tensor, notes = to_model_input(Image.new("RGB", (28, 28), BLUE), (1, 28, 28))
    assert tensor.shape == (1, 28, 28) and notes == ["converted to greyscale"]
    assert torch.allclose(tensor, torch.full((1, 28, 28), 29 / 255))  # ITU-R 601 luma of pure blue


def test_right_sized_input_is_untouched():
    image = Image.fromarray(np.random.default_rng(2).integers(0, 80, (28, 28), dtype=np.uint8))
    tensor, notes = to_model_input(image, (1, 28, 28))
    assert notes == [] and torch.equal(tensor[0], torch.tensor(np.asarray(image)).float() / 255)


@pytest.mark.parametrize("size", [(1, 1), (2, 1), (1, 2), (3, 7), (1, 40_000), (40_000, 1), (29, 27)])
@pytest.mark.parametrize("fit", FITS)
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 5, 60)])
def test_any_size_fits_any_shape(size, fit, shape):
    """1-pixel images and extreme aspect ratios give the full shape; a white source gives white everywhere, so no
    part of the output was left black (a crop box past the edge, a paste that missed)."""
    tensor, _ = to_model_input(Image.new("L", size, 255), shape, fit, invert=False)
    assert tensor.shape == shape and tensor.dtype == torch.float32
    assert torch.equal(tensor, torch.ones(shape))


def test_crop_resizes_straight_to_the_target(monkeypatch):
    """Found by tests/test_upload_fuzz.py: cropping a 1x40,000 image first scaled all of it to 28x1,120,000 pixels
    (31 megapixels, built in full) and then cut the centre out. The centre is now cut out while resizing."""
    sizes = []
    resize = preparation._resize
    monkeypatch.setattr(
        preparation, "_resize", lambda image, size, box=None: sizes.append(size) or resize(image, size, box)
    )
    column = Image.fromarray((np.arange(40_000) * 255 // 39_999).astype(np.uint8).reshape(40_000, 1))  # a ramp
    tensor, notes = to_model_input(column, (1, 28, 28), "crop", invert=False)
    assert sizes == [(28, 28)]
    assert notes == ["resized from 1x40000 to 28x28, keeping the aspect ratio and cropping the top and bottom"]
    assert torch.allclose(tensor, torch.full_like(tensor, 0.5), atol=2 / 255)  # the middle 1x1 of a 0-to-255 ramp


# upload_to_input


def test_upload_to_input_reads_then_prepares():
    result = upload_to_input(encode(stroke(), "PNG"), "digit.png", (1, 28, 28))
    assert isinstance(result, ModelInput) and result.name == "digit.png"
    tensor, notes = prepare(stroke(), (1, 28, 28), MNIST)  # one channel at 28x28: prepared as MNIST was
    assert torch.equal(result.image, tensor) and result.notes == notes
    # A plain fit by name, as before: to_model_input's.
    padded = upload_to_input(encode(stroke(), "PNG"), "digit.png", (1, 28, 28), "pad")
    tensor, notes = to_model_input(stroke(), (1, 28, 28))
    assert torch.equal(padded.image, tensor) and padded.notes == notes
    assert upload_to_input(encode(stroke(), "PNG"), "d.png", (1, 28, 28), preparation=Preparation("pad")).notes == notes


def test_upload_to_input_keeps_both_steps_notes():
    image = halves((0, 0), (0, 255), size=(40, 20), mode="LA")
    result = upload_to_input(encode(image, "PNG"), "ink.png", (3, 32, 32))  # colour: cropped, as natural images
    assert result.image.shape == (3, 32, 32)
    assert result.notes == [
        "transparent pixels laid on white, as a browser shows them",
        "greyscale copied into the 3 colour channels",
        "resized from 40x20 to 32x32, keeping the aspect ratio and cropping the sides",
    ]


def test_upload_to_input_keeps_the_upload_as_received_small():
    result = upload_to_input(encode(stroke(1000, 500), "PNG"), "digit.png", (1, 28, 28))
    assert result.received.size == (RECEIVED_SIDE, RECEIVED_SIDE // 2) and result.received.mode == "L"
    small = upload_to_input(encode(halves(RED, GREEN), "PNG"), "small.png", (3, 32, 32))
    assert np.array_equal(np.asarray(small.received), np.asarray(halves(RED, GREEN)))  # as it was, not scaled up


def test_upload_to_input_refuses_bad_files_and_bad_arguments_apart():
    with pytest.raises(UploadError, match=r"^notes\.png: not an image"):
        upload_to_input(b"just text", "notes.png", (1, 28, 28))
    # A wrong shape or fit is the caller's mistake, said as such whatever the file.
    with pytest.raises(ValueError, match="fit must be one of") as raised:
        upload_to_input(b"just text", "notes.png", (1, 28, 28), fit="zoom")
    assert not isinstance(raised.value, UploadError)
    for shape in [(2, 28, 28), (1, 0, 28), (28, 28)]:
        with pytest.raises(ValueError, match="shape must be"):
            upload_to_input(encode(stroke(), "PNG"), "digit.png", shape)
    with pytest.raises(ValueError, match="not both"):
        upload_to_input(b"just text", "notes.png", (1, 28, 28), "pad", preparation=MNIST)
    with pytest.raises(ValueError, match="one-channel models"):
        upload_to_input(b"just text", "notes.png", (3, 32, 32), preparation=MNIST)
    with pytest.raises(ValueError, match="does not fit"):
        upload_to_input(b"just text", "notes.png", (1, 16, 16), preparation=MNIST)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="fit must be one of"):
        to_model_input(stroke(), (1, 28, 28), fit="zoom")
    with pytest.raises(ValueError, match="not RGBA"):
        to_model_input(Image.new("RGBA", (4, 4)), (3, 32, 32))


# Preparing an upload as the training images were


def photo(
    size=(640, 480), at=(380, 150), height=160, paper=170, ink=40, light=30, noise=5, specks=0, seed=0
) -> Image.Image:
    """A phone-photo-like digit: a dark '7' (two strokes) `height` pixels tall with its top left at `at`, on grey
    paper under uneven light (`light` levels across the picture), blurred, with noise and black specks."""
    rng = np.random.default_rng(seed)
    mask = Image.new("L", size, 0)
    x, y = at
    w = height * 3 // 4
    ImageDraw.Draw(mask).line([(x, y), (x + w, y), (x + w // 3, y + height)], fill=255, width=max(2, height // 9))
    alpha = np.asarray(mask.rotate(8, center=(x, y), resample=Image.Resampling.BILINEAR), dtype=np.float32) / 255
    ramp = np.linspace(-light / 2, light / 2, size[0], dtype=np.float32)[None]
    values = (paper + ramp) * (1 - alpha) + ink * alpha
    blurred = Image.fromarray(values.clip(0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.2))
    values = np.asarray(blurred, dtype=np.float32) + rng.normal(0, noise, (size[1], size[0]))
    for sx, sy in rng.integers(0, min(size), (specks, 2)):
        values[sy : sy + 4, sx : sx + 4] = ink
    return Image.fromarray(values.clip(0, 255).astype(np.uint8))


def centre_of_mass(tensor: torch.Tensor) -> tuple[float, float]:
    """(row, column) of an image's (1, H, W) centre of mass, pixel centres counted from 0."""
    image = tensor[0].double()
    rows, cols = torch.arange(image.shape[0]).double(), torch.arange(image.shape[1]).double()
    return float(image.sum(1) @ rows / image.sum()), float(image.sum(0) @ cols / image.sum())


def ink_box(tensor: torch.Tensor) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the box around every pixel that is not the background (0)."""
    rows, cols = torch.nonzero(tensor[0] > 0, as_tuple=True)
    return int(rows.min()), int(cols.min()), int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def test_a_photo_of_a_digit_is_prepared_as_mnist_was():
    """Dark ink on grey paper, small and off-centre: light on black, its box fitting 20x20 (the longer side 20),
    its centre of mass at (14, 14) within a pixel, the background the model's (0) exactly, its strokes at full
    strength."""
    tensor, notes = prepare(photo(), (1, 28, 28), MNIST)
    assert tensor.shape == (1, 28, 28) and tensor.dtype == torch.float32
    top, left, height, width = ink_box(tensor)
    assert max(height, width) == 20 and min(height, width) >= 10
    row, col = centre_of_mass(tensor)
    assert abs(row - 14) <= 1 and abs(col - 14) <= 1
    assert (tensor[0, :top] == 0).all() and (tensor[0, top + height :] == 0).all()  # a clean background
    assert (tensor[0, :, :left] == 0).all() and (tensor[0, :, left + width :] == 0).all()
    on = tensor[tensor > 0.05]
    assert 0.25 <= float((on >= 0.99).float().mean()) <= 0.55  # about 0.4 of the strokes at full strength, as MNIST
    assert notes[0] == "inverted: the model was trained on light-on-dark images and this one is dark-on-light"
    paper = re.match(r"background levelled: the paper \(about (\d+) of 255, from (\d+) to (\d+) across", notes[1])
    assert paper and abs(int(paper[1]) - 170) <= 3 and int(paper[3]) - int(paper[2]) >= 20  # the light's ramp
    (crop,) = [n for n in notes if n.startswith("cropped to the subject")]
    x, y = (int(v) for v in crop.split("at (")[1].rstrip(")").split(", "))
    assert 360 <= x <= 390 and 110 <= y <= 150  # where the '7' is (its top right turned up), in pixels
    assert notes[-1].endswith("placed in 28x28 by its centre of mass, as the training images were")


def test_a_large_photo_is_searched_reduced_and_gives_the_same_digit():
    small, _ = prepare(photo(), (1, 28, 28), MNIST)
    large = photo(size=(2560, 1920), at=(1520, 600), height=640, noise=2).resize((2560, 1920))
    tensor, notes = prepare(large, (1, 28, 28), MNIST)
    assert ink_box(tensor)[2:] == ink_box(small)[2:]
    assert float((tensor - small).abs().mean()) < 0.05
    (crop,) = [n for n in notes if n.startswith("cropped to the subject")]
    assert "at (15" in crop  # in the large picture's own pixels


def test_uneven_light_and_specks_leave_a_clean_background():
    tensor, notes = prepare(photo(light=80, noise=8, specks=40, seed=3), (1, 28, 28), MNIST)
    top, left, height, width = ink_box(tensor)
    assert max(height, width) == 20  # no speck widened the box
    assert any(n.endswith("specks left out") for n in notes)
    assert "from 1" in notes[1]  # the paper's range across the picture is said


def test_the_box_centring_and_full_strength_of_fashion_mnist():
    tensor, notes = prepare(photo(), (1, 28, 28), FASHION_MNIST)
    top, left, height, width = ink_box(tensor)
    assert max(height, width) == 28 and abs((left + width / 2) - 14) <= 1 and abs((top + height / 2) - 14) <= 1
    mnist, _ = prepare(photo(), (1, 28, 28), MNIST)
    assert float(tensor.max()) == 1 and float((tensor >= 0.99).sum()) < float((mnist >= 0.99).sum()) * (28 / 20) ** 2
    assert notes[-1].endswith("placed in 28x28 by its box, as the training images were")


def test_an_image_already_as_the_training_images_is_used_as_it_is(mnist_test):
    digit = mnist_test.images[1, 0].numpy()
    tensor, notes = prepare(Image.fromarray(digit), (1, 28, 28), MNIST)
    assert torch.equal((tensor[0] * 255).round().byte(), torch.from_numpy(digit))
    assert notes == [
        "already as the training images are (a clean background, the subject within 20x20 and centred): used as it is"
    ]
    # Off-centre, it is prepared: moved back to the centre, its box fitting 20x20.
    shifted = np.roll(digit, (5, -4), axis=(0, 1))
    tensor, notes = prepare(Image.fromarray(shifted), (1, 28, 28), MNIST)
    row, col = centre_of_mass(tensor)
    assert abs(row - 14) <= 1 and abs(col - 14) <= 1 and max(ink_box(tensor)[2:]) == 20


BLANKS = {
    "white": Image.new("L", (300, 200), 255),
    "black, all ink": Image.new("L", (300, 200), 0),
    "grey noise": Image.fromarray(np.random.default_rng(0).normal(150, 8, (200, 300)).clip(0, 255).astype(np.uint8)),
    "too faint": Image.fromarray(np.full((200, 300), 150, np.uint8)).point(lambda v: v),
    "a colour": Image.new("RGB", (300, 200), (20, 200, 30)),
}
BLANKS["too faint"].paste(160, (100, 50, 140, 150))  # 10 levels above the paper


@pytest.mark.parametrize("name", BLANKS)
def test_blank_pictures_say_so_and_are_padded(name):
    image = BLANKS[name]
    tensor, notes = prepare(image, (1, 28, 28), MNIST)
    padded, padding_notes = to_model_input(image, (1, 28, 28), "pad")
    assert torch.equal(tensor, padded)
    (reason,) = [n for n in notes if n.endswith("the whole picture is padded instead")]
    assert reason.startswith("nothing stands out")
    assert notes[-1] == padding_notes[-1]


def test_a_tiny_picture_is_padded_and_says_why():
    tensor, notes = prepare(Image.new("L", (7, 30), 255), (1, 28, 28), MNIST)
    assert tensor.shape == (1, 28, 28)
    assert (
        notes[0] == "at 7x30 pixels the picture is too small to find a subject in; the whole picture is padded instead"
    )
    assert notes[1:] == to_model_input(Image.new("L", (7, 30), 255), (1, 28, 28), "pad")[1]


def test_a_speck_alone_is_nearly_blank():
    image = Image.new("L", (400, 300), 0)
    image.paste(255, (200, 150, 202, 152))  # 4 pixels
    tensor, notes = prepare(image, (1, 28, 28), MNIST)
    assert notes[0].startswith("nearly blank: the largest mark covers 0.003% of the picture")  # 4 of 120,000
    assert torch.equal(tensor, to_model_input(image, (1, 28, 28), "pad")[0])


def test_two_digits_keep_the_larger_and_say_the_other_was_left_out():
    image = Image.new("L", (600, 300), 220)
    draw = ImageDraw.Draw(image)
    draw.line([(100, 60), (100, 240)], fill=20, width=14)  # a '1', 180 tall
    draw.ellipse([330, 40, 480, 260], outline=20, width=14)  # a '0', 220 tall: more ink
    tensor, notes = prepare(image, (1, 28, 28), MNIST)
    assert "1 other mark of a size with the subject left out" in notes[2]
    (crop,) = [n for n in notes if n.startswith("cropped to the subject")]
    assert "at (32" in crop  # the '0', from x = 330 less its anti-aliased edge
    assert ink_box(tensor)[2] == 20 and ink_box(tensor)[3] >= 12  # the '0': wide, not a '1'


def test_a_shadow_along_the_edge_is_left_out():
    image = Image.new("L", (400, 300), 200)
    image.paste(40, (0, 0, 400, 60))  # the table beyond the paper's edge
    ImageDraw.Draw(image).line([(200, 100), (200, 260)], fill=30, width=12)
    tensor, notes = prepare(image, (1, 28, 28), MNIST)
    assert "1 mark along the picture's edge left out" in notes
    assert ink_box(tensor)[2] == 20 and ink_box(tensor)[3] <= 4  # the stroke alone, 20 tall


@pytest.mark.parametrize("size", [(4000, 9), (9, 4000), (8, 8), (65_535, 8)])
def test_extreme_aspect_ratios_are_prepared_or_padded_with_a_note(size):
    image = Image.new("L", size, 255)
    ImageDraw.Draw(image).line([(0, 0), size], fill=0, width=3)
    tensor, notes = prepare(image, (1, 28, 28), MNIST)
    assert tensor.shape == (1, 28, 28) and 0 <= tensor.min() and tensor.max() <= 1 and notes
    assert any(n.startswith(("cropped to the subject", "nothing stands out", "nearly blank")) for n in notes)


def test_invert_can_be_forced_either_way():
    image = photo()
    _, notes = prepare(image, (1, 28, 28), MNIST, invert=False)  # the ink is then darker than the background
    assert not any("inverted" in n for n in notes) and "nothing stands out" in notes[0]
    _, notes = prepare(image, (1, 28, 28), MNIST, invert=True)
    assert notes[0] == "inverted, as asked" and any(n.startswith("cropped to the subject") for n in notes)
    # Light ink on dark paper needs no inversion: found as it is.
    tensor, notes = prepare(ImageOps.invert(image), (1, 28, 28), MNIST)
    assert not any("inverted" in n for n in notes) and torch.equal(tensor, prepare(image, (1, 28, 28), MNIST)[0])


def test_colour_pictures_are_made_grey_for_the_subject():
    tensor, notes = prepare(photo().convert("RGB"), (1, 28, 28), MNIST)
    assert notes[0] == "converted to greyscale" and max(ink_box(tensor)[2:]) == 20


def components(mask: np.ndarray) -> np.ndarray:
    """8-connected components by flood fill, the slow and obvious way: labels numbered in scan order."""
    labels, count = np.zeros(mask.shape, dtype=int), 0
    for start in zip(*np.nonzero(mask), strict=True):
        if labels[start]:
            continue
        count += 1
        labels[start], stack = count, [start]
        while stack:
            y, x = stack.pop()
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    ny, nx = y + dy, x + dx
                    if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not labels[ny, nx]:
                        labels[ny, nx] = count
                        stack.append((ny, nx))
    return labels


@pytest.mark.parametrize("density", [0.1, 0.4, 0.6])
def test_components_are_the_flood_fills(density):
    rng = np.random.default_rng(int(density * 10))
    for _ in range(20):
        mask = rng.random(tuple(rng.integers(1, 40, 2))) < density
        labels, count = preparation._components(mask)
        expected = components(mask)
        assert count == expected.max() and np.array_equal(labels > 0, mask)
        assert len(set(zip(labels[mask].tolist(), expected[mask].tolist(), strict=True))) == count  # one to one


def test_preparations_record_and_check_themselves():
    assert MNIST.as_dict() == {"fit": "subject", "box": 20, "centre": "mass", "full": 0.4}
    assert Preparation("crop").as_dict() == {"fit": "crop"}
    for each in (MNIST, FASHION_MNIST, *(Preparation(f) for f in FITS)):
        assert Preparation.from_dict(each.as_dict()) == each
    bad = [
        ({"fit": "zoom"}, "fit must be one of"),
        ({"fit": "subject", "box": 0}, "box must be"),
        ({"fit": "subject", "box": 20.0}, "box must be"),
        ({"fit": "subject", "box": True}, "box must be"),
        ({"fit": "subject", "centre": "middle"}, "centre must be"),
        ({"fit": "subject", "full": 1}, "full must be"),
        ({"fit": "subject", "full": "0.4"}, "full must be"),
        ({"fit": "subject", "colour": "red"}, "unknown keys: colour"),
        ({"fit": "pad", "box": 20}, "takes no other settings"),
        ({"box": 20}, "with a 'fit'"),
        (["subject"], "JSON object"),
    ]
    for values, message in bad:
        with pytest.raises(ValueError, match=message):
            Preparation.from_dict(values)
    MNIST.check((1, 28, 28))
    Preparation("crop").check((3, 32, 32))
    with pytest.raises(ValueError, match="one-channel"):
        MNIST.check((3, 32, 32))


def test_the_default_preparation_by_dataset_and_shape():
    assert default_preparation((1, 28, 28), "mnist") == MNIST
    assert default_preparation((1, 28, 28), "fashion-mnist") == FASHION_MNIST
    assert default_preparation((1, 28, 28), "my-digits") == MNIST  # any one-channel 28x28 model
    assert default_preparation((1, 28, 28)) == MNIST
    assert default_preparation((3, 32, 32), "cifar10-jpg") == Preparation("crop")  # natural images: a centre crop
    assert default_preparation((1, 64, 64), "faces") == Preparation("crop")
    assert default_preparation((1, 16, 16), "mnist") == Preparation("crop")  # MNIST's box cannot fit


# Export


def test_png_bytes_round_trip():
    image = halves(RED, GREEN)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png_bytes(image)))), np.asarray(image))


def test_gif_keeps_every_frame_even_repeated_ones_and_loops():
    values = [0, 0, 90, 90, 90, 255]  # Image.save(save_all=True) would write 3 frames
    frames = [Image.new("L", (8, 8), value) for value in values]
    gif = Image.open(io.BytesIO(gif_bytes(frames, fps=8, scale_to=32)))
    assert gif.n_frames == len(values) and gif.info["loop"] == 0 and gif.size == (32, 32)
    for index, value in enumerate(values):
        gif.seek(index)
        assert gif.info["duration"] == 120  # 1000 / 8 ms to GIF's 1/100 s
        assert set(np.asarray(gif.convert("L")).ravel().tolist()) == {value}


def test_gif_colours_survive():
    frames = [halves(RED, BLUE), halves(GREEN, RED)]
    gif = Image.open(io.BytesIO(gif_bytes(frames)))
    assert gif.size == (40, 20)
    gif.seek(1)
    rgb = gif.convert("RGB")
    assert rgb.getpixel((5, 10)) == GREEN and rgb.getpixel((35, 10)) == RED


@pytest.mark.parametrize(("size", "scale_to", "expected"), [((28, 28), 100, (112, 112)), ((15, 9), 40, (60, 36))])
def test_mp4_has_every_frame_in_order_at_even_size(size, scale_to, expected):
    av = pytest.importorskip("av")
    colours = [RED, RED, GREEN, BLUE, BLUE, (255, 255, 255)]
    data = mp4_bytes([Image.new("RGB", size, colour) for colour in colours], fps=8, scale_to=scale_to)
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.average_rate == 8
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    assert len(decoded) == len(colours)
    for frame, colour in zip(decoded, colours, strict=True):
        assert frame.shape[1::-1] == expected
        assert np.abs(frame.reshape(-1, 3).mean(0) - colour).max() < 12


def test_mp4_without_pyav_says_how_to_get_it(monkeypatch):
    monkeypatch.setattr(pictures, "MP4_AVAILABLE", False)
    with pytest.raises(RuntimeError, match="pip install av"):
        mp4_bytes([Image.new("RGB", (8, 8))])


def test_animations_need_frames_of_one_size():
    with pytest.raises(ValueError, match="at least one frame"):
        gif_bytes([])
    with pytest.raises(ValueError, match="one size"):
        gif_bytes([Image.new("L", (8, 8)), Image.new("L", (9, 8))])


def test_heatmap_runs_from_black_to_pale_yellow_and_clips_above_top():
    values = torch.tensor([[0.0, 0.5, 1.0, 3.0]])
    rgb = np.asarray(heatmap(values, top=1.0))
    assert rgb.shape == (1, 4, 3)
    assert rgb[0, 0].tolist() == [0, 0, 4] and rgb[0, 2].tolist() == [252, 255, 164]
    assert rgb[0, 3].tolist() == rgb[0, 2].tolist()  # above the top: the top colour
    assert rgb[0, 1].tolist() == [188, 55, 84]  # the middle anchor
    brightness = np.asarray(heatmap(torch.linspace(0, 1, 50)[None], 1.0).convert("L"))[0].astype(int)
    assert (np.diff(brightness) >= 0).all()  # brighter means larger


def test_zip_holds_every_file_under_a_safe_name():
    files = {"a/b.png": b"1", "metrics.csv": b"x,y\n", "../../etc/x y.png": b"2", "test-0 (7)/input.png": b"3"}
    archive = zipfile.ZipFile(io.BytesIO(zip_bytes(files)))
    assert archive.namelist() == ["a/b.png", "metrics.csv", "_/_/etc/x_y.png", "test-0_7_/input.png"]
    assert archive.read("metrics.csv") == b"x,y\n" and archive.read("_/_/etc/x_y.png") == b"2"


def test_grid_lays_images_out_as_torchvision_does():
    from torchvision.utils import make_grid

    batch = torch.rand(11, 3, 5, 7, generator=torch.Generator().manual_seed(0))
    ours = np.asarray(pictures.grid(batch, nrow=4))
    theirs = make_grid(batch, nrow=4, padding=2, pad_value=1.0).mul(255).round().byte().permute(1, 2, 0).numpy()
    assert np.array_equal(ours, theirs)
    grey = np.asarray(pictures.grid(batch[:3, :1], nrow=8))  # one channel stays one channel
    assert grey.shape == (5 + 4, 3 * 9 + 2) and (grey[0] == 255).all()
    assert np.array_equal(np.asarray(pictures.grid(batch[:1])), np.asarray(pictures.to_pil(batch[0])))
