"""Convolutional autoencoder; with a corruption option it is a denoising autoencoder."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from genviz.metrics import mse, psnr
from genviz.models.base import GenerativeModel, ModelConfig, conv_decoder, conv_encoder
from genviz.noise import NOISE_KINDS, corrupt

# Noise the evaluator measures a denoising AE against: PSNR of the noisy input and of the output.
DENOISING = (("gaussian", 0.3), ("gaussian", 0.5), ("gaussian", 0.7), ("salt-pepper", 0.2))


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

    @property
    def kind(self) -> str:
        return "ae" if self.corruption == "none" else "dae"

    @property
    def display_name(self) -> str:
        return "convolutional autoencoder" if self.corruption == "none" else "denoising convolutional autoencoder"


class AutoEncoder(GenerativeModel):
    family = "ae"
    fit_images = 10_000  # training images whose latents fit the sampling distribution
    prior_name = "a Gaussian fitted to its training latents"

    def __init__(self, config: AEConfig):
        super().__init__()
        self.config = config
        self.encoder = conv_encoder(config, config.latent_dim)
        self.decoder = conv_decoder(config)
        # An AE has no prior; sampling uses a diagonal Gaussian fitted to the training latents.
        self.register_buffer("latent_mean", torch.zeros(config.latent_dim))
        self.register_buffer("latent_std", torch.ones(config.latent_dim))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)  # (B, latent_dim)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))  # (B, C, H, W) in [0, 1]

    def latent_scale(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.latent_mean.float().cpu(), self.latent_std.float().cpu()

    @torch.no_grad()
    def fit_prior(self, images: torch.Tensor, batch_size: int = 1000) -> None:
        """Fit latent_mean and latent_std to the latents of clean images (N, C, H, W) in [0, 1]."""
        z = torch.cat([self.encode(images[i : i + batch_size]) for i in range(0, len(images), batch_size)])
        self.latent_mean.copy_(z.mean(0))
        self.latent_std.copy_(z.std(0))

    def fit_to_data(self, images: torch.Tensor) -> None:
        self.fit_prior(images)

    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The corruption this model was trained to remove (identity for a plain AE)."""
        if self.config.corruption == "none":
            return x
        return corrupt(x, self.config.corruption, self.config.noise_level, generator)

    def loss(self, batch: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        logits = self.decoder(self.encode(self.corrupt(batch)))
        if self.config.reconstruction == "bce":
            loss = F.binary_cross_entropy_with_logits(logits, batch, reduction="sum") / batch.shape[0]
        else:
            loss = F.mse_loss(torch.sigmoid(logits), batch)
        return {"loss": loss}

    @torch.no_grad()
    def preview(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Inputs (as corrupted for a DAE) over their reconstructions."""
        shown = self.corrupt(x)
        return torch.cat([shown, self.reconstruct(shown)])

    @torch.no_grad()
    def test_figures(self, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> dict:
        recon = self.reconstruct(x)
        figures = {"test_mse": mse(recon, x), "test_psnr_db": psnr(recon, x)}
        if self.config.corruption != "none":
            for noise, level in DENOISING:
                noisy = corrupt(x, noise, level, generator)
                before, after = psnr(noisy, x), psnr(self.reconstruct(noisy), x)
                where = f"denoising_psnr_db/{noise} {level:g}"
                figures |= {f"{where}/noisy_input": before, f"{where}/denoised": after, f"{where}/gain": after - before}
        return figures
