"""Convolutional autoencoder; with a corruption option it is a denoising autoencoder."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from genviz.models.base import GenerativeModel, ModelConfig, conv_decoder, conv_encoder
from genviz.noise import NOISE_KINDS, corrupt


@dataclass
class AEConfig(ModelConfig):
    corruption: str = "none"  # "none", or a noise kind from genviz.noise: trains a denoising AE
    noise_level: float = 0.5  # sigma for gaussian, fraction of pixels for salt-pepper and mask
    reconstruction: str = "mse"  # "mse" or "bce" (pixels as Bernoulli probabilities)

    def __post_init__(self):
        super().__post_init__()
        if self.corruption not in ("none", *NOISE_KINDS):
            raise ValueError(f"unknown corruption {self.corruption!r}")
        if self.reconstruction not in ("mse", "bce"):
            raise ValueError(f"unknown reconstruction loss {self.reconstruction!r}")


class AutoEncoder(GenerativeModel):
    family = "ae"

    def __init__(self, config: AEConfig):
        super().__init__()
        self.config = config
        self.encoder = conv_encoder(config, config.latent_dim)
        self.decoder = conv_decoder(config)
        # An AE has no prior; sampling uses a diagonal Gaussian fitted to the training latents.
        self.register_buffer("latent_mean", torch.zeros(config.latent_dim))
        self.register_buffer("latent_std", torch.ones(config.latent_dim))

    @property
    def kind(self) -> str:
        return "ae" if self.config.corruption == "none" else "dae"

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)  # (B, latent_dim)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))  # (B, C, H, W) in [0, 1]

    def prior(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        return self.latent_mean + super().prior(n, generator, temperature) * self.latent_std

    @torch.no_grad()
    def fit_prior(self, images: torch.Tensor, batch_size: int = 1000) -> None:
        """Fit latent_mean and latent_std to the latents of clean images (N, C, H, W) in [0, 1]."""
        z = torch.cat([self.encode(images[i : i + batch_size]) for i in range(0, len(images), batch_size)])
        self.latent_mean.copy_(z.mean(0))
        self.latent_std.copy_(z.std(0))

    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The corruption this model was trained to remove (identity for a plain AE)."""
        if self.config.corruption == "none":
            return x
        return corrupt(x, self.config.corruption, self.config.noise_level, generator)

    def loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.decoder(self.encode(self.corrupt(batch)))
        if self.config.reconstruction == "bce":
            loss = F.binary_cross_entropy_with_logits(logits, batch, reduction="sum") / batch.shape[0]
        else:
            loss = F.mse_loss(torch.sigmoid(logits), batch)
        return {"loss": loss}
