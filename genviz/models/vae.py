"""Convolutional VAE (Kingma & Welling 2014) with beta (Higgins et al. 2017)."""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from genviz.metrics import mse, negative_elbo, psnr
from genviz.models.base import GenerativeModel, ModelConfig, conv_decoder, conv_encoder


@dataclass
class VAEConfig(ModelConfig):
    beta: float = 1.0  # weight of the KL term; 1 is the plain ELBO
    likelihood: str = "bernoulli"  # "bernoulli" (continuous pixels as probabilities) or "gaussian"
    gaussian_sigma: float = 0.1  # fixed pixel standard deviation of the gaussian likelihood
    free_bits: float = 0.0  # nats of KL per latent dimension training leaves unpenalised (free bits); 0: the ELBO

    def __post_init__(self):
        super().__post_init__()
        if self.likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"unknown likelihood {self.likelihood!r}")
        if self.beta <= 0 or self.gaussian_sigma <= 0:
            raise ValueError("beta and gaussian_sigma must be positive")
        if self.free_bits < 0:
            raise ValueError(f"free_bits must be 0 or more nats, got {self.free_bits}")

    @property
    def kind(self) -> str:
        return "vae"

    @property
    def display_name(self) -> str:
        return "convolutional variational autoencoder"


class VAE(GenerativeModel):
    family = "vae"
    has_likelihood = True
    has_posterior = True
    score_kinds = ("reconstruction", "elbo")
    dimension_order_name = "most active first (posterior variance furthest from the prior's)"

    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = config
        self.encoder = conv_encoder(config, 2 * config.latent_dim)
        self.decoder = conv_decoder(config)

    def encode_dist(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior q(z|x): mean and log-variance, each (B, latent_dim)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode_dist(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))

    def reconstruction_nll(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x|z) in nats per image, (B,)."""
        if self.config.likelihood == "bernoulli":
            # Summed binary cross-entropy, as pytorch/examples' VAE.
            return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
        sigma = self.config.gaussian_sigma
        sq = (x - torch.sigmoid(logits)).pow(2).flatten(1).sum(1)
        return 0.5 * sq / sigma**2 + x[0].numel() * math.log(sigma * math.sqrt(2 * math.pi))

    def kl_dims(self, mu: torch.Tensor, logvar: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """KL(q(z|x) || N(0, I)) per image and latent dimension, (B, D): Kingma & Welling 2014, appendix B."""
        return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())

    def elbo_terms(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Per-image reconstruction NLL and KL, (B,) each, and the KL per dimension (B, D), with one
        reparameterised sample."""
        mu, logvar = self.encode_dist(x)
        if generator is None:
            eps = torch.randn_like(mu)
        else:
            eps = torch.randn(mu.shape, generator=generator, device=generator.device).to(mu)
        z = mu + eps * torch.exp(0.5 * logvar)
        recon = self.reconstruction_nll(self.decoder(z), x)
        kl_dims = self.kl_dims(mu, logvar)
        return {"recon": recon, "kl": kl_dims.sum(1), "kl_dims": kl_dims}

    def kl_penalty(self, kl_dims: torch.Tensor) -> torch.Tensor:
        """The KL term training minimises, from the batch's KL per image and dimension (B, D): its mean over the
        batch, where with `free_bits` each dimension's mean counts as at least that many nats (Kingma et al. 2016,
        appendix C.8), so that a dimension carrying less is not pushed on to the prior: posterior collapse."""
        per_dim = kl_dims.mean(0)
        if self.config.free_bits > 0:
            per_dim = per_dim.clamp_min(self.config.free_bits)
        return per_dim.sum()

    def loss(self, batch: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        terms = self.elbo_terms(batch)
        recon, kl = terms["recon"].mean(), terms["kl"].mean()
        return {"loss": recon + self.config.beta * self.kl_penalty(terms["kl_dims"]), "recon": recon, "kl": kl}

    @torch.no_grad()
    def latent_usage(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """The posterior mean (B, D) and the KL per dimension (B, D) of images x with their labels."""
        mu, logvar = self.encode_dist(x)
        return {"mean": mu, "kl": self.kl_dims(mu, logvar)}

    @torch.no_grad()
    def posterior_variance(self, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """Mean posterior variance per latent dimension over images (N, C, H, W) in [0, 1], (latent_dim,)."""
        total = torch.zeros(self.config.latent_dim)  # z only: a conditional VAE appends its class to the latent
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size].to(self.device)
            total += self.encode_dist(x)[1].exp().float().sum(0).cpu()
        return total / len(images)

    def dimension_order(self, images) -> torch.Tensor:
        """Dimensions whose posterior variance differs most from the prior's 1 first: an unused
        dimension keeps q(z|x) = p(z)."""
        return self.posterior_variance(images()).log().abs().argsort(descending=True)

    @torch.no_grad()
    def anomaly_score(self, x: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
        """'elbo': the negative ELBO, one posterior sample drawn from `generator`; else as every model."""
        if kind == "elbo":
            return negative_elbo(self, x, generator)
        return super().anomaly_score(x, kind, generator)

    @torch.no_grad()
    def preview(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Inputs, their reconstructions, and prior samples."""
        return torch.cat([x, self.reconstruct(x), self.decode(z[: len(x)])])

    @torch.no_grad()
    def test_figures(self, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> dict:
        recon = self.reconstruct(x)
        return {
            "test_mse": mse(recon, x),
            "test_psnr_db": psnr(recon, x),
            "test_negative_elbo_nats": negative_elbo(self, x, generator),
        }
