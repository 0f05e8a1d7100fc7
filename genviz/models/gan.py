"""DCGAN-style GAN (Radford et al. 2016) with a non-saturating or hinge objective."""

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from genviz.models.base import GenerativeModel, ModelConfig, conv_decoder, conv_encoder, fused_adam

MAX_INVERSION_STEPS = 5000


@dataclass
class GANConfig(ModelConfig):
    objective: str = "nonsaturating"  # "nonsaturating" (Goodfellow et al. 2014) or "hinge" (Lim & Ye 2017)
    inversion_steps: int = 200  # gradient steps on z when encoding an image by inversion
    inversion_lr: float = 0.05  # Adam learning rate for that search
    objectives: ClassVar[tuple[str, ...]] = ("nonsaturating", "hinge")  # the objectives this family trains

    def __post_init__(self):
        super().__post_init__()
        if self.objective not in self.objectives:
            raise ValueError(f"unknown {self.kind} objective {self.objective!r}; known: {', '.join(self.objectives)}")
        # Bounded: each encode of an image in the app runs this many generator passes.
        if not 1 <= self.inversion_steps <= MAX_INVERSION_STEPS:
            raise ValueError(f"inversion_steps must be 1 to {MAX_INVERSION_STEPS}, got {self.inversion_steps}")
        if not 0 < self.inversion_lr <= 1:
            raise ValueError(f"inversion_lr must be above 0 and at most 1, got {self.inversion_lr}")

    @property
    def kind(self) -> str:
        return "gan"

    @property
    def display_name(self) -> str:
        return "DCGAN-style generative adversarial network"


class GAN(GenerativeModel):
    family = "gan"
    has_exact_encoder = False  # encode inverts the generator by a search
    default_lr = 2e-4  # DCGAN's
    divergence_check = False  # the players' losses trade places; only a NaN stops a GAN
    directions_name = "the generator's first-layer activations (GANSpace)"

    def __init__(self, config: GANConfig):
        super().__init__()
        self.config = config
        self.generator = conv_decoder(config)
        self.discriminator = conv_encoder(config, 1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.generator(z))

    def encode(self, x: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """Approximate z with decode(z) close to x: Adam on the pixel MSE, starting from z = 0.

        GANs have no encoder, so this is a search, not an inference: it costs `steps`
        generator passes and may land on a near miss for images the generator cannot make.
        """
        steps = self.config.inversion_steps if steps is None else steps
        z = torch.zeros(x.shape[0], self.latent_dim, device=x.device, requires_grad=True)
        optimizer = torch.optim.Adam([z], lr=self.config.inversion_lr)
        with torch.enable_grad():
            for _ in range(steps):
                # Per-image MSE summed over the batch, plus a weak pull towards the prior.
                err = (self.decode(z) - x).pow(2).flatten(1).mean(1).sum() + 1e-4 * z.pow(2).sum()
                (z.grad,) = torch.autograd.grad(err, z)  # grads of z only: weights stay untouched
                optimizer.step()
        return z.detach()

    def discriminator_loss(self, real: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        fake = self.decode(z).detach()
        d_real, d_fake = self.discriminator(real), self.discriminator(fake)
        if self.config.objective == "hinge":
            return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
        return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()  # -log D(x) - log(1 - D(G(z)))

    def generator_loss(self, z: torch.Tensor) -> torch.Tensor:
        d_fake = self.discriminator(self.decode(z))
        if self.config.objective == "hinge":
            return -d_fake.mean()
        return F.softplus(-d_fake).mean()  # non-saturating: -log D(G(z))

    def loss(self, batch: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Both players' losses at the current weights (for logging; training steps them in turn)."""
        z = torch.randn(batch.shape[0], self.latent_dim, device=batch.device)
        d_loss, g_loss = self.discriminator_loss(batch, z), self.generator_loss(z)
        return {"loss": d_loss + g_loss, "d_loss": d_loss, "g_loss": g_loss}

    def objectives(self):
        """One per player: the discriminator's loss trains the discriminator only (the fakes are
        detached), the generator's the generator only (train_step freezes the discriminator)."""
        return {
            "discriminator": (self.discriminator_loss, self.discriminator),
            "generator": (self.generator_loss, self.generator),
        }

    def make_optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        # DCGAN's Adam settings (Radford et al. 2016, section 4)
        return {
            name: fused_adam(part.parameters(), lr, self.device, betas=(0.5, 0.999))
            for name, (_, part) in self.objectives().items()
        }

    def train_step(self, losses, optimizers, x, labels, autocast) -> torch.Tensor:
        """One discriminator step, then one generator step on the same z."""
        z = torch.randn(x.shape[0], self.latent_dim, device=x.device)
        with autocast:
            d_loss = losses["discriminator"](x, z)
        optimizers["discriminator"].zero_grad(set_to_none=True)
        d_loss.backward()
        optimizers["discriminator"].step()
        self.discriminator.requires_grad_(False)  # the generator step needs no discriminator grads
        with autocast:
            g_loss = losses["generator"](z)
        optimizers["generator"].zero_grad(set_to_none=True)
        g_loss.backward()
        optimizers["generator"].step()
        self.discriminator.requires_grad_(True)
        return (d_loss + g_loss).detach()

    @torch.no_grad()
    def preview(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Samples from the fixed z."""
        return self.decode(z)

    def first_layer_weight(self) -> torch.Tensor:
        """The weight (features, D) of the generator's first layer, the linear map of z that `directions` reads."""
        return self.generator[0].weight

    def directions(self, k: int, latents=None) -> tuple[torch.Tensor, torch.Tensor]:
        """GANSpace (Harkonen et al. 2020): principal directions of the generator's first-layer
        activations, carried back to z. That layer is linear, h = W z + b, so for z ~ N(0, I) the
        activations' covariance is W W^T and the answer is exact without sampling: the directions are
        W's right singular vectors, (k, D) unit rows, each with a spread of 1 in z. (Sampling 4,096
        activations of 8,192 features and their SVD cost the app 300 MiB for the same answer.) No data
        needed: `latents` is not asked."""
        weight = self.first_layer_weight().detach().float().cpu()  # (features, D)
        _, _, vh = torch.linalg.svd(weight, full_matrices=False)
        k = min(k, self.latent_dim)
        return vh[:k], torch.ones(k)
