"""Datasets by name, read from one data root into uint8 tensors held in memory, or streamed from disk.

`mnist`, `fashion-mnist` and `cifar10` come through torchvision, which downloads them into
the data root when they are missing and the machine is online. Any other name is an image
folder `<root>/<name>/{train,test}/<class>/*`, decoded once and cached under the cache folder
(`cache_dir()`: the user's cache, never the data root, which may be a shared dataset folder), or,
with `stream`, read from disk batch by batch and decoded in DataLoader worker processes.
"""

import copy
import hashlib
import math
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from genviz.files import write_torch

SPLITS = ("train", "test")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


class DatasetError(Exception):
    """A dataset that cannot be found, downloaded or read; the message says what to do."""


def data_root() -> Path:
    """The folder datasets live in: $GENVIZ_DATA_DIR, default ./data."""
    return Path(os.environ.get("GENVIZ_DATA_DIR", "data"))


def cache_dir() -> Path:
    """Where decoded image folders and latent maps are cached: $GENVIZ_CACHE_DIR, else
    $XDG_CACHE_HOME/genviz when XDG_CACHE_HOME is an absolute path (the XDG base directory spec
    ignores a relative one), else ~/.cache/genviz. Never under the data root: that is the user's
    dataset folder, perhaps shared with other checkouts or read-only."""
    if env := os.environ.get("GENVIZ_CACHE_DIR"):
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "genviz"
    return Path.home() / ".cache" / "genviz"


@dataclass
class ImageDataset:
    name: str
    split: str
    images: torch.Tensor  # (N, C, H, W) uint8
    labels: torch.Tensor  # (N,) int64
    class_names: list[str]
    # (N,) int64 on the labels' device: where each image is in the dataset as loaded, for a subset
    # (take, of_classes, sample), whatever subsets it went through; None for the dataset as loaded.
    index: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def positions(self) -> torch.Tensor:
        """(N,) int64: where each image is in the dataset as loaded (0 to N-1 for that dataset itself)."""
        return torch.arange(len(self), device=self.labels.device) if self.index is None else self.index

    def _subset(self, keep: torch.Tensor | slice) -> "ImageDataset":
        """The images at `keep` (positions in this dataset, or a mask), their `index` in the dataset as loaded."""
        return ImageDataset(
            self.name, self.split, self.images[keep], self.labels[keep], self.class_names, self.positions()[keep]
        )

    def take(self, n: int | None) -> "ImageDataset":
        """The first n images (all when n is None)."""
        if n is None or n >= len(self):
            return self
        return self._subset(slice(0, n))

    def sample(self, n: int | None, seed: int = 0) -> "ImageDataset":
        """n images drawn without replacement, stratified by class (see `stratified`) with a generator
        seeded by `seed`, in this dataset's order; `index` says where they are in the dataset as loaded.
        All images when n is None or at least len(self). The same seed draws the same images."""
        if n is None or n >= len(self):
            return self._subset(slice(None))
        return self._subset(stratified(self.labels, n, seed).to(self.labels.device))

    def of_classes(self, classes: list[int]) -> "ImageDataset":
        """Only the images whose label is in `classes`; labels and class names are kept."""
        if unknown := [c for c in classes if not 0 <= c < len(self.class_names)]:
            raise DatasetError(f"{self.name} has classes 0 to {len(self.class_names) - 1}; no class {unknown[0]}")
        return self._subset(torch.isin(self.labels, torch.tensor(classes, device=self.labels.device)))

    def to(self, device: str | torch.device) -> "ImageDataset":
        """The same data on `device`, still uint8 (a quarter of float32's memory)."""
        index = None if self.index is None else self.index.to(device)
        return ImageDataset(
            self.name, self.split, self.images.to(device), self.labels.to(device), self.class_names, index
        )

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


def stratified(labels: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """(n,) int64 positions in `labels` (0 <= n <= len(labels)), ascending: a seeded stratified sample.

    Each class present gets a share of n proportional to its size, rounded by largest remainder so
    the shares add up to n, and at least one image while n is at least the number of classes present
    (taken from the classes most over their proportion). Within each class, in class order, the images
    are the first of a torch.randperm drawn by one generator seeded with `seed`."""
    labels = labels.cpu()
    total = len(labels)
    if not 0 <= n <= total:
        raise ValueError(f"cannot sample {n} of {total} images")
    sizes = torch.bincount(labels).tolist() if total else []
    present = [k for k, size in enumerate(sizes) if size]
    floor = 1 if n >= len(present) else 0
    # Share of class k: n * size_k / total; compared as integers (share * total) so that ties are exact.
    shares = {k: max(floor, n * sizes[k] // total) for k in present}
    while (excess := sum(shares.values()) - n) != 0:
        if excess > 0:  # one less for the class most over its proportion that can spare one
            k = max((k for k in present if shares[k] > floor), key=lambda k: shares[k] * total - n * sizes[k])
            shares[k] -= 1
        else:  # one more for the class most under its proportion that has one left
            k = max((k for k in present if shares[k] < sizes[k]), key=lambda k: n * sizes[k] - shares[k] * total)
            shares[k] += 1
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for k in present:
        members = (labels == k).nonzero().flatten()
        chosen.append(members[torch.randperm(len(members), generator=generator)[: shares[k]]])
    return torch.cat(chosen).sort().values if chosen else torch.zeros(0, dtype=torch.long)


def load_dataset(
    name: str,
    split: str = "train",
    download: bool = True,
    image_size: int | None = None,
    stream: bool | None = False,
) -> "ImageDataset | StreamedImageFolder":
    """A dataset by name: mnist, fashion-mnist, cifar10, or an image folder under the data root.

    An image folder is decoded into memory (stream=False), read from disk batch by batch
    (stream=True, a StreamedImageFolder), or streamed only when its decoded uint8 images would
    take more than stream_budget() bytes (stream=None)."""
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; choose 'train' or 'test'")
    if name in TORCHVISION:
        if stream:
            raise DatasetError(f"{name} is held in memory; --stream applies to image folders")
        data = _torchvision(name, split, download)
        if image_size is not None and image_size != data.image_shape[1]:
            raise DatasetError(f"{name} images are {data.image_shape[1]} pixels; --image-size applies to image folders")
        return data
    folder = _split_folder(name, split)
    files, labels, class_names = _image_files(folder)
    mode = _folder_mode(files[0])
    if stream is None:
        streamed = StreamedImageFolder(name, split, files, labels, class_names, mode, image_size)
        stream = streamed.nbytes > stream_budget()
    if stream:
        return StreamedImageFolder(name, split, files, labels, class_names, mode, image_size)
    return _image_folder(name, split, image_size, folder, files, labels, class_names, mode)


def stream_budget() -> int:
    """Bytes of decoded uint8 images above which an image folder streams when streaming is left to
    the size: a quarter of the machine's memory (decoding into memory briefly holds two copies)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows): a fixed 4 GiB
        return 4 << 30


def to_float(images: torch.Tensor) -> torch.Tensor:
    """Images as float32 in [0, 1]: uint8 is read as 0 to 255, floats are taken as they are."""
    return images.float() if images.is_floating_point() else images.float().div_(255)


class StreamedImageFolder(torch.utils.data.Dataset):
    """An image folder read from disk: item i is file i decoded, (uint8 (C, H, W), label, error),
    error "" or what was wrong with the file (an exception would reach the trainer wrapped in the
    worker's traceback; as data it comes back as the file's own message).

    Files and labels are in the in-memory loader's order (classes sorted by folder name, files by
    name), and the images decode with the same code, so a streamed batch equals the in-memory one
    of the same indices. Nothing but the file list is held in memory."""

    def __init__(self, name, split, files, labels, class_names, mode, image_size):
        self.name, self.split, self.class_names = name, split, class_names
        self.files, self.labels, self.mode, self.image_size = list(files), torch.tensor(labels), mode, image_size
        self.index: torch.Tensor | None = None  # as ImageDataset.index: positions in the folder as listed
        if image_size is None:
            height, width = _decode(self.files[0], mode, None).shape[:2]
        else:
            height = width = image_size
        self._shape = (1 if mode == "L" else 3, height, width)

    def __len__(self) -> int:
        return len(self.files)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self._shape

    @property
    def nbytes(self) -> int:
        """The size of these images decoded to uint8."""
        return len(self) * math.prod(self._shape)

    def positions(self) -> torch.Tensor:
        """(N,) int64: where each image is in the folder as listed (0 to N-1 for the folder itself)."""
        return torch.arange(len(self)) if self.index is None else self.index

    def _like(self, keep: list[int]) -> "StreamedImageFolder":
        other = copy.copy(self)
        other.files, other.labels = [self.files[i] for i in keep], self.labels[keep]
        other.index = self.positions()[keep]
        return other

    def take(self, n: int | None) -> "StreamedImageFolder":
        """The first n images (all when n is None)."""
        return self if n is None or n >= len(self) else self._like(list(range(n)))

    def sample(self, n: int | None, seed: int = 0) -> "StreamedImageFolder":
        """As ImageDataset.sample: n images stratified by class, seeded, in this folder's order."""
        if n is None or n >= len(self):
            return self._like(list(range(len(self))))
        return self._like(stratified(self.labels, n, seed).tolist())

    def of_classes(self, classes: list[int]) -> "StreamedImageFolder":
        """Only the images whose label is in `classes`; labels and class names are kept."""
        if unknown := [c for c in classes if not 0 <= c < len(self.class_names)]:
            raise DatasetError(f"{self.name} has classes 0 to {len(self.class_names) - 1}; no class {unknown[0]}")
        return self._like(torch.isin(self.labels, torch.tensor(classes)).nonzero().flatten().tolist())

    def to(self, device: str | torch.device) -> "StreamedImageFolder":
        """Itself: streamed images stay on disk, and batches move to the device as they come."""
        return self

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, str]:
        try:
            pixels = _decode(self.files[i], self.mode, self.image_size)
        except DatasetError as e:
            return torch.zeros(self._shape, dtype=torch.uint8), int(self.labels[i]), str(e)
        pixels = pixels[None] if self.mode == "L" else pixels.transpose(2, 0, 1)  # (H, W, C) -> (C, H, W)
        image = torch.from_numpy(pixels.copy())  # PIL's array is read-only
        if tuple(image.shape) != self._shape:
            size = f"{image.shape[2]}x{image.shape[1]}"
            return (
                torch.zeros(self._shape, dtype=torch.uint8),
                int(self.labels[i]),
                f"{self.files[i]}: {size} pixels where the folder's first image is "
                f"{self._shape[2]}x{self._shape[1]}; pass an image size to resize them",
            )
        return image, int(self.labels[i]), ""

    def float_images(self, index: slice) -> torch.Tensor:
        """Images at `index` as float (B, C, H, W) in [0, 1], decoded here in threads."""
        with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:  # PIL decodes outside the GIL
            images, labels, errors = zip(*pool.map(self.__getitem__, range(len(self))[index]), strict=True)
        return to_float(checked((torch.stack(images), torch.tensor(labels), list(errors)))[0])

    def loader(
        self,
        batch_size: int,
        generator: torch.Generator,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        workers: int = 0,
        pin_memory: bool = False,
    ) -> torch.utils.data.DataLoader:
        """A DataLoader whose every iteration is one epoch of uint8 (images, labels, errors) batches
        in the order ImageDataset.batches(shuffle=True) gives with `generator` in the same state:
        each epoch draws one permutation from `generator` in this process, and process `rank` takes
        every world_size-th index of it. Pass the batches through checked(). Worker processes decode
        (persistent across epochs); with workers=0 this process does."""
        sampler = EpochBatches(len(self), batch_size, generator, drop_last, rank, world_size)
        return torch.utils.data.DataLoader(
            self,
            batch_sampler=sampler,
            num_workers=workers,
            pin_memory=pin_memory,
            persistent_workers=workers > 0,
            prefetch_factor=4 if workers > 0 else None,
            # The loader draws its workers' base seed from this, not from the global generator, whose
            # state (the model's noise) must be the in-memory path's; the workers draw no random numbers.
            generator=torch.Generator().manual_seed(0),
        )


class EpochBatches(torch.utils.data.Sampler):
    """Batches of indices of one epoch per iteration, drawn as ImageDataset.batches draws them."""

    def __init__(self, n, batch_size, generator, drop_last, rank, world_size):
        self.n, self.batch_size, self.generator = n, batch_size, generator
        self.drop_last, self.rank, self.world_size = drop_last, rank, world_size

    def _shard(self) -> int:
        return (self.n - self.n % self.world_size) // self.world_size if self.world_size > 1 else self.n

    def __len__(self) -> int:
        shard = self._shard()
        return shard // self.batch_size if self.drop_last else -(-shard // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        # A generator, so the permutation is drawn at the first batch asked for, in the main process:
        # a DataLoader calls iter() twice on its first epoch and advances only the second iterator.
        order = torch.randperm(self.n, generator=self.generator)
        if self.world_size > 1:
            order = order[self.rank : self.n - self.n % self.world_size : self.world_size]
        order = order.tolist()
        stop = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
        for start in range(0, stop, self.batch_size):
            yield order[start : start + self.batch_size]


def checked(batch: tuple[torch.Tensor, torch.Tensor, list[str]]) -> tuple[torch.Tensor, torch.Tensor]:
    """A streamed batch's (images, labels); DatasetError naming the first file in it that could not be read."""
    images, labels, errors = batch
    if bad := [error for error in errors if error]:
        raise DatasetError(bad[0] + (f" (and {len(bad) - 1} more in this batch)" if len(bad) > 1 else ""))
    return images, labels


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


def _split_folder(name: str, split: str) -> Path:
    folder = data_root() / name / split
    if not folder.is_dir():
        raise DatasetError(
            f"unknown dataset {name!r}: it is not one of {', '.join(TORCHVISION)} and {folder.resolve()} "
            f"does not exist. An image-folder dataset lives in $GENVIZ_DATA_DIR/<name>/{{train,test}}/<class>/."
        )
    return folder


def _folder_mode(first: Path) -> str:
    """L when the folder's first image is greyscale, else RGB: every image is converted to it."""
    try:
        with Image.open(first) as image:
            return "L" if image.mode in ("1", "L", "I;16", "I") else "RGB"
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise DatasetError(f"{first}: cannot be read as an image ({e})") from None


def _image_folder(name, split, image_size, folder, files, labels, class_names, mode) -> ImageDataset:

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


def parse_indices(text: str, count: int) -> list[int]:
    """Image numbers typed as '0, 5, 10-15' (commas or semicolons; ranges inclusive), each from 0 to
    count - 1, in the order typed; ValueError naming the bad part."""
    index = []
    for part in (p.strip() for p in text.replace(";", ",").split(",")):
        if not part:
            continue
        low, _, high = part.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise ValueError(f"{part!r} is not a number or a range such as 10-15") from None
        if not 0 <= first <= last < count:
            raise ValueError(f"{part!r} is outside 0 to {count - 1}")
        index += range(first, last + 1)
    if not index:
        raise ValueError("no image numbers given")
    return index


def class_members(labels: torch.Tensor, label: int | None) -> torch.Tensor:
    """Positions (M,) of the images of class `label` in `labels` (N,), ascending; every position with None."""
    return torch.arange(len(labels)) if label is None else (labels.cpu() == label).nonzero().flatten()
