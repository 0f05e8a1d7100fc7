"""The interface every model family shares, and the conv stacks they are built from."""

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class ModelConfig:
    image_shape: tuple[int, int, int] = (1, 28, 28)  # (C, H, W) of the training images
    latent_dim: int = 16  # size of z
    width: int = 32  # channels of the first conv layer; doubles at each downsampling

    def __post_init__(self):
        self.image_shape = tuple(int(s) for s in self.image_shape)
        channels, height, width = self.image_shape
        if channels not in (1, 3):
            raise ValueError(f"image_shape needs 1 or 3 channels, got {channels}")
        if height != width or not 8 <= height <= 256:
            raise ValueError(f"image_shape needs square images of 8 to 256 pixels, got {height}x{width}")
        if self.latent_dim < 1 or self.width < 1:
            raise ValueError("latent_dim and width must be positive")


def spatial_sizes(size: int) -> list[int]:
    """Feature-map sizes from the image down to 4x4 or smaller: 28 -> [28, 14, 7, 4]."""
    sizes = [size]
    while sizes[-1] > 4:
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


def _channels(width: int, depth: int) -> list[int]:
    return [min(width * 2**i, width * 8) for i in range(depth)]


def conv_encoder(config: ModelConfig, out_features: int) -> nn.Sequential:
    """Strided convs from (B, C, H, W) to (B, out_features)."""
    sizes = spatial_sizes(config.image_shape[1])
    channels = _channels(config.width, len(sizes) - 1)
    layers: list[nn.Module] = []
    in_ch = config.image_shape[0]
    for i, (size, out_ch) in enumerate(zip(sizes[:-1], channels, strict=True)):
        kernel = 4 if size % 2 == 0 else 3  # exact halving; odd sizes round up
        layers.append(nn.Conv2d(in_ch, out_ch, kernel, stride=2, padding=1, bias=i == 0))
        if i > 0:  # DCGAN: no normalisation on the input layer
            layers.append(nn.BatchNorm2d(out_ch))
        layers.append(nn.LeakyReLU(0.2))
        in_ch = out_ch
    layers += [nn.Flatten(), nn.Linear(in_ch * sizes[-1] ** 2, out_features)]
    return nn.Sequential(*layers)


def conv_decoder(config: ModelConfig) -> nn.Sequential:
    """Transposed convs from z (B, latent_dim) to pixel logits (B, C, H, W)."""
    sizes = spatial_sizes(config.image_shape[1])[::-1]
    channels = _channels(config.width, len(sizes) - 1)[::-1]
    layers: list[nn.Module] = [
        nn.Linear(config.latent_dim, channels[0] * sizes[0] ** 2),
        nn.Unflatten(1, (channels[0], sizes[0], sizes[0])),
        nn.BatchNorm2d(channels[0]),
        nn.ReLU(),
    ]
    for i, (size, target) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        kernel = 4 if target == 2 * size else 3  # 3 when the target is odd: 4 -> 7
        last = i == len(sizes) - 2
        out_ch = config.image_shape[0] if last else channels[i + 1]
        layers.append(nn.ConvTranspose2d(channels[i], out_ch, kernel, stride=2, padding=1, bias=last))
        if not last:
            layers += [nn.BatchNorm2d(out_ch), nn.ReLU()]
    return nn.Sequential(*layers)


class Model(nn.Module):
    """Base of every family: images are (B, C, H, W) floats in [0, 1]."""

    family: str = ""
    config: ModelConfig

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.config.image_shape

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def kind(self) -> str:
        """Short name shown to users; variants override it (a denoising AE says 'dae')."""
        return self.family


class GenerativeModel(Model):
    """An AE, VAE or GAN: maps images to latents and latents to images."""

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1] -> z (B, latent_dim)."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, latent_dim) -> images (B, C, H, W) in [0, 1]."""
        raise NotImplementedError

    def loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Training objective on a batch of images; the dict's 'loss' is what is minimised."""
        raise NotImplementedError

    def prior(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """n latents from N(0, temperature^2 I), drawn on the CPU so a seed gives the same z on any device."""
        z = torch.randn(n, self.latent_dim, generator=generator) * temperature
        return z.to(self.device)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """n images decoded from the prior."""
        return self.decode(self.prior(n, generator, temperature))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
