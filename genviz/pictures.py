"""Pictures out: tensors as PIL images, grids, growth rows and heat maps, and files to download (PNG, GIF, MP4, ZIP,
CSV)."""

import csv
import importlib.util
import io
import os
import re
import zipfile
from fractions import Fraction

import numpy as np
import torch
from PIL import GifImagePlugin, Image

from genviz.files import atomic_path

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


def growth_row(record: list[tuple[str, torch.Tensor]], columns: int = 2, gap: int = 6) -> Image.Image:
    """A growing model's record (`GenerativeModel.growth`: images (N, C, r, r) in [0, 1] at each recorded stage)
    as one row of grids, `columns` images wide each, left to right from the smallest resolution: every stage's
    images enlarged with crisp pixels to the largest's size, so that a 4x4 image shows as 4x4 blocks."""
    size = max(images.shape[-1] for _, images in record)
    grids = [
        grid(torch.nn.functional.interpolate(images.float(), size=size, mode="nearest"), nrow=columns)
        for _, images in record
    ]
    row = Image.new(grids[0].mode, (sum(g.width for g in grids) + gap * (len(grids) - 1), grids[0].height), "white")
    for k, picture in enumerate(grids):
        row.paste(picture, (sum(g.width for g in grids[:k]) + gap * k, 0))
    return row


def save_png(image: Image.Image, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def enlarge(image: Image.Image, size: int) -> Image.Image:
    """Scale a small image up to `size` pixels wide with crisp (nearest-neighbour) pixels."""
    factor = max(1, size // image.width)
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)


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
