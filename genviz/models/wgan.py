"""Wasserstein GAN with gradient penalty (Gulrajani et al. 2017): the DCGAN generator against a critic."""

from dataclasses import dataclass
from typing import ClassVar

import torch

from genviz.models.base import conv_encoder, fused_adam
from genviz.models.gan import GAN, GANConfig


@dataclass
class WGANConfig(GANConfig):
    objective: str = "wasserstein"  # the critic's Wasserstein estimate, with a gradient penalty
    critic_steps: int = 5  # critic steps per generator step (n_critic, Gulrajani et al. 2017, Algorithm 1)
    gradient_penalty: float = 10.0  # weight of (|grad critic| - 1)^2 at points between real and fake (lambda)
    objectives: ClassVar[tuple[str, ...]] = ("wasserstein",)

    def __post_init__(self):
        super().__post_init__()
        if self.critic_steps < 1:
            raise ValueError(f"critic_steps must be at least 1, got {self.critic_steps}")
        if self.gradient_penalty < 0:
            raise ValueError(f"gradient_penalty must be 0 or more, got {self.gradient_penalty}")

    @property
    def kind(self) -> str:
        return "wgan-gp"

    @property
    def display_name(self) -> str:
        return "Wasserstein GAN with gradient penalty"


class WGANGP(GAN):
    """The critic is the DCGAN discriminator without batch norm, which would make each image's score depend
    on the rest of its batch and so the per-image gradient penalty meaningless (the paper's section 4).
    Inversion, directions and sampling are the GAN's."""

    family = "wgan-gp"
    default_lr = 1e-4  # Gulrajani et al. 2017, Algorithm 1
    loss_name = "wasserstein_estimate"  # E[critic(real)] - E[critic(fake)]: falls as the samples improve

    def __init__(self, config: WGANConfig):
        super().__init__(config)
        self.discriminator = conv_encoder(config, 1, norm=False)  # the critic
        self.critic_steps_done = 0  # in this process; a resumed run starts its count again
        self.last_estimate = torch.zeros(())

    def critic(self, x: torch.Tensor) -> torch.Tensor:
        """The critic's scores (B, 1) of images x (B, C, H, W)."""
        return self.discriminator(x)

    def gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """(|grad_x critic(x)|_2 - 1)^2 at x uniformly between each real image and a fake, averaged: the
        soft 1-Lipschitz constraint of Gulrajani et al. 2017, eq. 3. Its graph is kept for the critic's step."""
        t = torch.rand(len(real), 1, 1, 1, device=real.device, dtype=real.dtype)
        with torch.enable_grad():  # also when the losses are only logged
            between = (t * real + (1 - t) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(self.critic(between).sum(), between, create_graph=True)
            return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()

    def discriminator_loss(self, real: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The critic's loss, -(Wasserstein estimate) + lambda * penalty; keeps the estimate, detached, in
        `last_estimate` for the training log."""
        fake = self.decode(z).detach()
        estimate = self.critic(real).mean() - self.critic(fake).mean()
        self.last_estimate = estimate.detach()
        if not self.config.gradient_penalty:
            return -estimate
        return -estimate + self.config.gradient_penalty * self.gradient_penalty(real, fake)

    def generator_loss(self, z: torch.Tensor) -> torch.Tensor:
        return -self.critic(self.decode(z)).mean()

    def make_optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        # Adam with beta1 = 0 and beta2 = 0.9 for both players (Gulrajani et al. 2017, Algorithm 1)
        return {
            name: fused_adam(part.parameters(), lr, self.device, betas=(0.0, 0.9))
            for name, (_, part) in self.objectives().items()
        }

    def train_step(self, losses, optimizers, x, labels, autocast) -> torch.Tensor:
        """One critic step on the batch; every `critic_steps`-th batch, one generator step after it. Returns
        the critic's Wasserstein estimate on the batch, before its step."""
        z = torch.randn(x.shape[0], self.latent_dim, device=x.device)
        with autocast:  # the trainer's wrapped loss, so that DDP reduces the critic's gradients
            critic_loss = losses["discriminator"](x, z)
        optimizers["discriminator"].zero_grad(set_to_none=True)
        critic_loss.backward()
        optimizers["discriminator"].step()
        self.critic_steps_done += 1
        if self.critic_steps_done % self.config.critic_steps == 0:
            self.discriminator.requires_grad_(False)
            with autocast:
                g_loss = losses["generator"](torch.randn_like(z))
            optimizers["generator"].zero_grad(set_to_none=True)
            g_loss.backward()
            optimizers["generator"].step()
            self.discriminator.requires_grad_(True)
        return self.last_estimate
