"""Per-image quality figures. Images are (B, C, H, W) in [0, 1]; each function returns (B,)."""

import torch

from genviz.models.vae import VAE


def mse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x - y).pow(2).flatten(1).mean(1)


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB for a peak of 1; identical images are capped at 100 dB."""
    return 10 * torch.log10(1 / mse(x, y).clamp_min(1e-10))


@torch.no_grad()
def negative_elbo(model: VAE, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """-ELBO in nats per image with one posterior sample, as pytorch/examples' VAE test loss
    (reconstruction NLL summed over pixels, plus KL)."""
    terms = model.elbo_terms(x, generator)
    return terms["recon"] + terms["kl"]
