"""Device choice shared by the app, training and benchmarks."""

import torch


def best_device(requested: str | None = None) -> torch.device:
    """The requested device, else cuda, then mps, then cpu."""
    if requested:
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
