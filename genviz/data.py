"""Datasets by name, read from one data root into uint8 tensors held in memory.

`mnist`, `fashion-mnist` and `cifar10` come through torchvision, which downloads them into
the data root when they are missing and the machine is online. Any other name is an image
folder `<root>/<name>/{train,test}/<class>/*`, decoded once and cached under the cache folder.
"""

import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from genviz.checkpoint import write_torch

SPLITS = ("train", "test")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


class DatasetError(Exception):
    """A dataset that cannot be found, downloaded or read; the message says what to do."""


def data_root() -> Path:
    """The folder datasets live in: $GENVIZ_DATA_DIR, default ./data."""
    return Path(os.environ.get("GENVIZ_DATA_DIR", "data"))


def cache_dir() -> Path:
    """Where decoded image folders and latent maps are cached: $GENVIZ_CACHE_DIR, else <data root>/.genviz-cache
    when the data root is writable, else ~/.cache/genviz."""
    if env := os.environ.get("GENVIZ_CACHE_DIR"):
        return Path(env)
    root = data_root()
    if os.access(root if root.exists() else root.parent, os.W_OK):
        return root / ".genviz-cache"
    return Path.home() / ".cache" / "genviz"


@dataclass
class ImageDataset:
    name: str
    split: str
    images: torch.Tensor  # (N, C, H, W) uint8
    labels: torch.Tensor  # (N,) int64
    class_names: list[str]

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def take(self, n: int | None) -> "ImageDataset":
        """The first n images (all when n is None)."""
        if n is None or n >= len(self):
            return self
        return ImageDataset(self.name, self.split, self.images[:n], self.labels[:n], self.class_names)

    def of_classes(self, classes: list[int]) -> "ImageDataset":
        """Only the images whose label is in `classes`; labels and class names are kept."""
        if unknown := [c for c in classes if not 0 <= c < len(self.class_names)]:
            raise DatasetError(f"{self.name} has classes 0 to {len(self.class_names) - 1}; no class {unknown[0]}")
        keep = torch.isin(self.labels, torch.tensor(classes, device=self.labels.device))
        return ImageDataset(self.name, self.split, self.images[keep], self.labels[keep], self.class_names)

    def to(self, device: str | torch.device) -> "ImageDataset":
        """The same data on `device`, still uint8 (a quarter of float32's memory)."""
        return ImageDataset(self.name, self.split, self.images.to(device), self.labels.to(device), self.class_names)

    def float_images(self, index: torch.Tensor | slice) -> torch.Tensor:
        """Images at `index` as float (B, C, H, W) in [0, 1]."""
        return self.images[index].float().div_(255)

    def batches(
        self,
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(images, labels) batches, images float in [0, 1] on the dataset's device.

        Batches are gathered from the uint8 tensor: no per-item Python or PIL work. With
        world_size > 1, process `rank` takes every world_size-th image of the (shuffled) order, as
        torch's DistributedSampler does, after cutting the order to a multiple of world_size: given
        generators in the same state, the processes get disjoint shards of one size.
        """
        n = len(self)
        order = torch.randperm(n, generator=generator).to(self.images.device) if shuffle else None
        if world_size > 1:
            order = torch.arange(n, device=self.images.device) if order is None else order
            order = order[rank : n - n % world_size : world_size]
            n = len(order)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            index = slice(start, start + batch_size) if order is None else order[start : start + batch_size]
            yield self.float_images(index), self.labels[index]


def load_dataset(name: str, split: str = "train", download: bool = True, image_size: int | None = None) -> ImageDataset:
    """A dataset by name: mnist, fashion-mnist, cifar10, or an image folder under the data root."""
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; choose 'train' or 'test'")
    if name in TORCHVISION:
        data = _torchvision(name, split, download)
        if image_size is not None and image_size != data.image_shape[1]:
            raise DatasetError(f"{name} images are {data.image_shape[1]} pixels; --image-size applies to image folders")
        return data
    return _image_folder(name, split, image_size)


# Where torchvision keeps each dataset under the data root.
TORCHVISION_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "cifar10": "cifar-10-batches-py"}


def available_datasets() -> list[str]:
    """Datasets whose test split is under the data root now (no download needed)."""
    root = data_root()
    found = [name for name, folder in TORCHVISION_FOLDERS.items() if (root / folder).is_dir()]
    if root.is_dir():
        found += sorted(p.name for p in root.iterdir() if (p / "test").is_dir() and p.name not in found)
    return found


def as_shape(images: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """uint8 images (N, C, H, W) of one dataset made into another's: greyscale by luminance (ITU-R
    601) or colour by repeating the channel, then resized with antialiasing. Lets a model score
    images from a dataset it was not trained on."""
    from torchvision.transforms.v2 import functional as F

    channels, height, width = shape
    if images.shape[1] == 3 and channels == 1:
        images = F.rgb_to_grayscale(images)
    elif images.shape[1] == 1 and channels == 3:
        images = images.expand(-1, 3, -1, -1)
    if images.shape[2:] != (height, width):
        images = F.resize(images, [height, width], antialias=True)
    return images.contiguous()


def _mnist_like(cls_name: str, class_names: list[str] | None = None):
    def read(root: Path, split: str, download: bool):
        from torchvision import datasets

        ds = getattr(datasets, cls_name)(root, train=split == "train", download=download)
        names = class_names or list(ds.classes)
        return ds.data.unsqueeze(1), ds.targets.long(), names

    return read


def _cifar10(root: Path, split: str, download: bool):
    from torchvision import datasets

    ds = datasets.CIFAR10(root, train=split == "train", download=download)
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()  # (N, 32, 32, 3) -> (N, 3, 32, 32)
    return images, torch.tensor(ds.targets, dtype=torch.long), list(ds.classes)


TORCHVISION = {
    "mnist": _mnist_like("MNIST", [str(i) for i in range(10)]),
    "fashion-mnist": _mnist_like("FashionMNIST"),
    "cifar10": _cifar10,
}


def _torchvision(name: str, split: str, download: bool) -> ImageDataset:
    root = data_root()
    try:
        images, labels, class_names = TORCHVISION[name](root, split, download)
    except Exception as e:  # torchvision raises RuntimeError when missing, URLError/OSError when offline
        how = "and could not be downloaded" if download else "(downloads are off)"
        raise DatasetError(
            f"{name} is not under {root.resolve()} {how}: {e}. Put the files there or point "
            f"GENVIZ_DATA_DIR at a folder that holds them."
        ) from None
    return ImageDataset(name, split, images, labels, class_names)


def _image_files(folder: Path) -> tuple[list[Path], list[int], list[str]]:
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir())
    if not class_dirs:
        raise DatasetError(f"{folder} has no class folders; expected {folder}/<class>/<image files>")
    files, labels = [], []
    for label, class_dir in enumerate(class_dirs):
        for f in sorted(class_dir.iterdir()):
            if f.suffix.lower() in IMAGE_SUFFIXES:
                files.append(f)
                labels.append(label)
    if not files:
        raise DatasetError(f"{folder} has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files, labels, [d.name for d in class_dirs]


def _decode(path: Path, mode: str, size: int | None) -> np.ndarray:
    try:
        with Image.open(path) as img:
            img = img.convert(mode)
            if size is not None and img.size != (size, size):
                img = img.resize((size, size), Image.Resampling.BICUBIC)
            return np.asarray(img)
    except (OSError, ValueError, Image.DecompressionBombError) as e:  # Pillow's ways of refusing a file
        raise DatasetError(f"{path}: cannot be read as an image ({e})") from None


def _image_folder(name: str, split: str, image_size: int | None) -> ImageDataset:
    folder = data_root() / name / split
    if not folder.is_dir():
        raise DatasetError(
            f"unknown dataset {name!r}: it is not one of {', '.join(TORCHVISION)} and {folder.resolve()} "
            f"does not exist. An image-folder dataset lives in $GENVIZ_DATA_DIR/<name>/{{train,test}}/<class>/."
        )
    files, labels, class_names = _image_files(folder)
    with Image.open(files[0]) as first:
        mode = "L" if first.mode in ("1", "L", "I;16", "I") else "RGB"

    key = hashlib.sha256(f"{name}|{split}|{image_size}|{mode}".encode())
    for f in files:
        st = f.stat()
        key.update(f"{f.relative_to(folder)}|{st.st_size}|{st.st_mtime_ns}".encode())
    cache = cache_dir() / f"{name}-{split}-{key.hexdigest()[:16]}.pt"
    if cache.is_file():
        try:
            saved = torch.load(cache, weights_only=True)
            return ImageDataset(name, split, saved["images"], saved["labels"], class_names)
        except Exception as e:  # a damaged cache is only a cache: decode again and replace it
            tqdm.write(f"note: ignoring unreadable cache {cache} ({e})")

    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:  # PIL decodes outside the GIL
        arrays = list(
            tqdm(
                pool.map(lambda f: _decode(f, mode, image_size), files),
                total=len(files),
                desc=f"decoding {name}/{split}",
                unit="img",
                disable=None,
            )
        )
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise DatasetError(
            f"{folder} holds images of several sizes {sorted(shapes)[:3]}; pass an image size to resize them"
        )
    images = torch.from_numpy(np.stack(arrays))
    images = images.unsqueeze(1) if mode == "L" else images.permute(0, 3, 1, 2).contiguous()
    data = ImageDataset(name, split, images, torch.tensor(labels), class_names)
    try:
        write_torch(cache, {"images": data.images, "labels": data.labels})
    except OSError as e:
        tqdm.write(f"note: could not cache {name}/{split} at {cache} ({e}); it will be decoded again next time")
    return data
