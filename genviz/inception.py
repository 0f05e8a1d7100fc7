"""The standard Inception FID, computed only where it can be without a download: torch-fidelity
installed (`pip install torch-fidelity`) and its Inception weights already on disk, in torch's
hub cache or at $GENVIZ_INCEPTION_WEIGHTS."""

import importlib.util
import os
from pathlib import Path

import torch

WEIGHTS_NAME = "weights-inception-2015-12-05-6726825d.pth"  # what torch-fidelity downloads


def weights_path() -> Path:
    if path := os.environ.get("GENVIZ_INCEPTION_WEIGHTS"):
        return Path(path)
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_NAME


def available() -> bool:
    return importlib.util.find_spec("torch_fidelity") is not None and weights_path().is_file()


@torch.no_grad()
def fid(real: torch.Tensor, fake: torch.Tensor, batch_size: int) -> float:
    """FID on Inception pool features of two image sets (N, C, H, W) in [0, 1]; grey images are
    repeated to three channels, and torchmetrics resizes them to 299x299."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    path = weights_path()
    try:  # torch-fidelity unpickles the file; load it first as plain tensors, which runs no code
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"{path}: not a plain state dict of Inception weights ({e})") from None
    metric = FrechetInceptionDistance(feature=2048, normalize=True, feature_extractor_weights_path=str(path))
    for images, is_real in ((real, True), (fake, False)):
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size].float().cpu()
            metric.update(batch.expand(-1, 3, -1, -1) if batch.shape[1] == 1 else batch, real=is_real)
    return float(metric.compute())
