"""Corruptions for denoising: training a DAE, and the app's denoising lab."""

import torch

NOISE_KINDS = ("gaussian", "salt-pepper", "mask")


def corrupt(x: torch.Tensor, kind: str, level: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Corrupt images in [0, 1]; the result is clipped to [0, 1].

    gaussian: add N(0, level^2) per pixel. salt-pepper: a fraction `level` of pixels set to
    0 or 1 with equal odds. mask: a fraction `level` of pixels set to 0.
    """
    if kind not in NOISE_KINDS:
        raise ValueError(f"unknown noise kind {kind!r}; choose one of {', '.join(NOISE_KINDS)}")
    if level < 0:
        raise ValueError(f"noise level must be at least 0, got {level}")
    if kind == "gaussian":
        return (x + level * _draw(torch.randn, x, generator)).clamp(0, 1)
    hit = _draw(torch.rand, x, generator) < level
    if kind == "mask":
        return x.masked_fill(hit, 0.0)
    salt = (_draw(torch.rand, x, generator) < 0.5).to(x.dtype)
    return torch.where(hit, salt, x)


def _draw(fn, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Random numbers shaped like x: on x's device when unseeded (fast in training), else on the
    generator's device and moved, so a seed gives the same noise everywhere."""
    if generator is None:
        return fn(x.shape, device=x.device, dtype=x.dtype)
    return fn(x.shape, generator=generator, device=generator.device).to(x.device, x.dtype)
