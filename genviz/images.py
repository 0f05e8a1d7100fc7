"""Image tensors to pictures: grids and PNG files."""

import os

import torch
from PIL import Image
from torchvision.utils import make_grid

from genviz.checkpoint import atomic_path


def to_pil(image: torch.Tensor) -> Image.Image:
    """One (C, H, W) image in [0, 1] to a PIL image (L for one channel, RGB for three)."""
    array = image.detach().clamp(0, 1).mul(255).round().byte().cpu()
    if array.shape[0] == 1:
        return Image.fromarray(array[0].numpy(), mode="L")
    return Image.fromarray(array.permute(1, 2, 0).numpy(), mode="RGB")


def grid(images: torch.Tensor, nrow: int = 8, padding: int = 2) -> Image.Image:
    """(B, C, H, W) images in [0, 1] tiled into one picture, nrow per row."""
    return to_pil(make_grid(images.detach().float().cpu(), nrow=nrow, padding=padding, pad_value=1.0))


def save_png(image: Image.Image, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def enlarge(image: Image.Image, size: int) -> Image.Image:
    """Scale a small image up to `size` pixels wide with crisp (nearest-neighbour) pixels."""
    factor = max(1, size // image.width)
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
