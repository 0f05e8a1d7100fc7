"""Progressive growing of GANs (Karras et al. 2018, "Progressive Growing of GANs for Improved Quality, Stability,
and Variation"): a generator and a critic grown from 4x4 by doubling, each new block faded in, trained with the
WGAN-GP loss and the paper's drift term, equalised learning rate, pixelwise feature normalisation and the
minibatch standard deviation. Each trick is an option with the paper's default, so that an ablation can switch
one off.

Image sizes that are not a power of two (MNIST's 28x28) are grown to the next one (32x32): the real images are
padded with black to that canvas, the generator draws on all of it, and `decode` crops the canvas's centre back
to the image size. The paper's 4 -> 8 -> 16 -> 32 schedule thus holds for MNIST as for CIFAR-10, and every page
sees (1, 28, 28) images like the other MNIST models'.

The schedule counts the real images the critic has seen (`images_seen`, a buffer: the checkpoint and the resume
state hold it, so a run resumed mid-stage continues at the same stage and alpha): `stage_images` at 4x4, then
for each doubling `stage_images` of fade-in (alpha from 0 to 1) and, but for the last, `stage_images` of
stabilisation; the full size trains on for as long as the run goes. At the end of each phase but that last one,
the generator's images of 8 fixed latents, at the phase's resolution, are kept in the checkpoint (`growth`).
"""

import math
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from genviz.models.base import GenerativeModel, fused_adam
from genviz.models.wgan import WGANGP, WGANConfig

GROWTH_SAMPLES = 8  # fixed latents whose images the growth record keeps at the end of each phase
GROWTH_SEED = 0  # their seed, the same for every model


@dataclass
class ProGANConfig(WGANConfig):
    critic_steps: int = 1  # the paper alternates the players per minibatch (section A.1)
    stage_images: int = 800_000  # real images per fade-in and per stabilisation (section A.1: 800k)
    drift: float = 0.001  # weight of E[critic(real)^2], which keeps the critic's output near 0 (epsilon_drift, A.1)
    equalized_lr: bool = True  # weights drawn from N(0, 1), scaled by He's constant at run time (section 4.1)
    pixel_norm: bool = True  # each pixel's feature vector normalised to unit length in the generator (section 4.2)
    minibatch_stddev: bool = True  # the critic's last block sees its batch's feature spread (section 3)
    stddev_group: int = 4  # images per group whose spread is measured (the paper's code: 4)

    def __post_init__(self):
        super().__post_init__()
        if self.stage_images < 1:
            raise ValueError(f"stage_images must be at least 1, got {self.stage_images}")
        if self.drift < 0:
            raise ValueError(f"drift must be 0 or more, got {self.drift}")
        if self.stddev_group < 1:
            raise ValueError(f"stddev_group must be at least 1, got {self.stddev_group}")

    @property
    def kind(self) -> str:
        return "progan"

    @property
    def display_name(self) -> str:
        return "progressively grown GAN (ProGAN)"

    @property
    def canvas(self) -> int:
        """The power of two the networks grow to: the image size, or the next one up (28 -> 32)."""
        return 2 ** math.ceil(math.log2(self.image_shape[1]))

    @property
    def resolutions(self) -> list[int]:
        """The resolution of each stage: [4, 8, 16, 32] for a 32x32 canvas."""
        return [2**k for k in range(2, int(math.log2(self.canvas)) + 1)]

    def channels(self, resolution: int) -> int:
        """Feature maps at a resolution: `width` at the canvas's, doubling at each halving, at most 8 * width."""
        return min(self.width * self.canvas // resolution, 8 * self.width)


def schedule(images_seen: int, stage_images: int, stages: int) -> tuple[int, int, float]:
    """(phase, stage, alpha) after `images_seen` real images. Phase 0 trains stage 0 (4x4); phase 2s - 1 fades stage
    s in, alpha rising from 0 to 1 over it; phase 2s stabilises it. The last stage's stabilisation, phase
    2 * stages - 2, never ends."""
    phase = min(images_seen // stage_images, 2 * stages - 2)
    stage = (phase + 1) // 2
    fading = phase % 2 == 1
    alpha = (images_seen - phase * stage_images) / stage_images if fading else 1.0
    return phase, stage, alpha


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Each pixel's feature vector scaled to unit root mean square over the channels (section 4.2), (B, C, ...)."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


def minibatch_stddev(x: torch.Tensor, group: int = 4, eps: float = 1e-8) -> torch.Tensor:
    """x (B, C, H, W) with one more feature map: the standard deviation of each feature at each pixel over a group
    of images, averaged over features and pixels, one number per group, repeated over its images' pixels (section
    3; groups as the paper's code makes them). The group is the largest divisor of B up to `group`."""
    b, c, h, w = x.shape
    g = next(n for n in range(min(group, b), 0, -1) if b % n == 0)
    y = x.reshape(g, b // g, c, h, w)  # image i is in group i % (B / g), as in the paper's code
    std = (y.var(dim=0, unbiased=False) + eps).sqrt()  # (B / g, C, H, W): over each group's g images
    spread = std.mean(dim=(1, 2, 3)).repeat(g)  # (B,): image i gets its group's
    return torch.cat([x, spread.view(b, 1, 1, 1).expand(b, 1, h, w).to(x.dtype)], dim=1)


class Scaled(nn.Module):
    """A conv (kernel > 0) or linear layer (kernel 0) with He's initialisation gain / sqrt(fan_in). With `equalized`,
    the weights are drawn from N(0, 1) and multiplied by that constant at every call (the equalised learning rate,
    section 4.1): Adam's steps, which are about the same size for every weight, then move every layer's outputs at
    the same rate. Without, the constant is in the initial weights (He et al. 2015), as a plain layer's."""

    def __init__(self, in_features: int, out_features: int, kernel: int, gain: float, equalized: bool):
        super().__init__()
        shape = (out_features, in_features, kernel, kernel) if kernel else (out_features, in_features)
        fan_in = in_features * max(kernel, 1) ** 2
        he = gain / math.sqrt(fan_in)
        self.scale = he if equalized else 1.0  # a plain float: no state, the config says which
        self.weight = nn.Parameter(torch.randn(shape) * (1.0 if equalized else he))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.padding = kernel // 2  # 'same' for 1x1 and 3x3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight.dim() == 2:
            return F.linear(x, self.weight * self.scale, self.bias)
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pixel_norm(x)


def _block(*layers: nn.Module, norm: bool) -> nn.Sequential:
    """Each layer followed by a leaky ReLU (0.2), and in the generator by pixel norm."""
    parts: list[nn.Module] = []
    for layer in layers:
        parts += [layer, nn.LeakyReLU(0.2)] + ([PixelNorm()] if norm else [])
    return nn.Sequential(*parts)


def _upsample(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    return F.interpolate(x, scale_factor=factor, mode="nearest") if factor > 1 else x


def _downsample(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    return F.avg_pool2d(x, factor) if factor > 1 else x


class Generator(nn.Module):
    """z (B, D) -> images (B, C, r, r) in about [-1, 1] at the resolution r of `stage` (the paper's table 2)."""

    def __init__(self, config: ProGANConfig):
        super().__init__()
        eq, norm, res = config.equalized_lr, config.pixel_norm, config.resolutions
        self.normalise_latent = norm  # z is pixel-normalised too: onto the sphere of radius sqrt(D)
        c4, relu_gain = config.channels(4), math.sqrt(2)
        # 4x4: a dense layer to 16 pixels (the paper's 4x4 "conv" from a 1x1 latent), then a 3x3 conv.
        # The dense layer's gain is sqrt(2) / 4, as in the paper's code: its fan-in is that of one pixel.
        self.dense = Scaled(config.latent_dim, c4 * 16, 0, relu_gain / 4, eq)
        self.first = nn.Sequential(
            nn.Unflatten(1, (c4, 4, 4)), nn.LeakyReLU(0.2), *([PixelNorm()] if norm else []),
            _block(Scaled(c4, c4, 3, relu_gain, eq), norm=norm),
        )  # fmt: skip
        # Stage s > 0: upsample (nearest), two 3x3 convs.
        self.blocks = nn.ModuleList(
            [nn.Identity()]
            + [
                _block(
                    Scaled(config.channels(r // 2), config.channels(r), 3, relu_gain, eq),
                    Scaled(config.channels(r), config.channels(r), 3, relu_gain, eq),
                    norm=norm,
                )
                for r in res[1:]
            ]
        )
        # toRGB: a linear 1x1 conv per stage, gain 1.
        self.to_rgb = nn.ModuleList([Scaled(config.channels(r), config.image_shape[0], 1, 1.0, eq) for r in res])

    def forward(self, z: torch.Tensor, stage: int, alpha: float) -> torch.Tensor:
        """Images at stage `stage`; while alpha < 1, the new block's toRGB blended with the previous stage's,
        upsampled: lerp(old, new, alpha), which is the old path exactly at alpha 0 (section 3, figure 2)."""
        h = self.first(self.dense(pixel_norm(z) if self.normalise_latent else z))  # (B, C4, 4, 4)
        for s in range(1, stage):
            h = self.blocks[s](_upsample(h))
        if stage == 0:
            return self.to_rgb[0](h)
        new = self.to_rgb[stage](self.blocks[stage](_upsample(h)))
        if alpha >= 1:
            return new
        return torch.lerp(_upsample(self.to_rgb[stage - 1](h)), new, alpha)


class Critic(nn.Module):
    """Images (B, C, r, r) at the resolution r of `stage` -> scores (B, 1): the generator's mirror, no
    normalisation (the gradient penalty is per image), the minibatch stddev before its last block."""

    def __init__(self, config: ProGANConfig):
        super().__init__()
        eq, res, relu_gain = config.equalized_lr, config.resolutions, math.sqrt(2)
        self.group = config.stddev_group if config.minibatch_stddev else 0
        # fromRGB: a 1x1 conv per stage.
        self.from_rgb = nn.ModuleList(
            [_block(Scaled(config.image_shape[0], config.channels(r), 1, relu_gain, eq), norm=False) for r in res]
        )
        # Stage s > 0: two 3x3 convs, then average pooling to half the resolution.
        self.blocks = nn.ModuleList(
            [nn.Identity()]
            + [
                nn.Sequential(
                    _block(
                        Scaled(config.channels(r), config.channels(r), 3, relu_gain, eq),
                        Scaled(config.channels(r), config.channels(r // 2), 3, relu_gain, eq),
                        norm=False,
                    ),
                    nn.AvgPool2d(2),
                )
                for r in res[1:]
            ]
        )
        c4 = config.channels(4)
        # 4x4: (stddev), a 3x3 conv, a dense layer over the 4x4 pixels, a linear dense layer to the score.
        self.last = nn.Sequential(
            _block(Scaled(c4 + (1 if self.group else 0), c4, 3, relu_gain, eq), norm=False),
            nn.Flatten(),
            _block(Scaled(c4 * 16, c4, 0, relu_gain, eq), norm=False),
            Scaled(c4, 1, 0, 1.0, eq),
        )

    def forward(self, x: torch.Tensor, stage: int, alpha: float) -> torch.Tensor:
        """Scores of images at stage `stage`; while alpha < 1, the new block's features blended with those the
        previous stage's fromRGB makes of the images halved: lerp(old, new, alpha)."""
        h = self.from_rgb[stage](x)
        if stage > 0:
            h = self.blocks[stage](h)
            if alpha < 1:
                h = torch.lerp(self.from_rgb[stage - 1](_downsample(x)), h, alpha)
        for s in range(stage - 1, 0, -1):
            h = self.blocks[s](h)
        if self.group:
            h = minibatch_stddev(h, self.group)
        return self.last(h)


class ProGAN(WGANGP):
    """A WGAN-GP whose generator and critic grow; inversion and GANSpace directions are the GAN's."""

    family = "progan"
    default_lr = 1e-3  # section A.1
    unused_parameters = True  # the blocks of stages not reached, and a faded-out toRGB and fromRGB, sit idle

    def __init__(self, config: ProGANConfig):
        GenerativeModel.__init__(self)  # not the GAN's, whose networks these replace
        self.config = config
        self.generator = Generator(config)
        self.discriminator = Critic(config)
        self.critic_steps_done = 0
        self.last_estimate = torch.zeros(())
        self.register_buffer("images_seen", torch.zeros((), dtype=torch.long))
        seed = torch.Generator().manual_seed(GROWTH_SEED)
        noise = torch.randn(GROWTH_SAMPLES, config.latent_dim, generator=seed, device="cpu")
        self.register_buffer("growth_noise", noise)
        for phase in range(self.phases - 1):  # each phase's images, uint8 at its resolution; zeros until reached
            r = config.resolutions[(phase + 1) // 2]
            self.register_buffer(f"growth_{phase}", torch.zeros(GROWTH_SAMPLES, config.image_shape[0], r, r).byte())
        self.phase, self.stage, self.alpha = 0, 0, 1.0
        self.register_load_state_dict_post_hook(lambda module, keys: module.follow_schedule())

    @property
    def phases(self) -> int:
        return 2 * len(self.config.resolutions) - 1

    def follow_schedule(self) -> None:
        """Set phase, stage and alpha from `images_seen`: plain numbers, so that the graphs that export and
        compile trace see constants."""
        self.phase, self.stage, self.alpha = schedule(
            int(self.images_seen), self.config.stage_images, len(self.config.resolutions)
        )

    @property
    def ignores_latent_length(self) -> bool:
        return self.config.pixel_norm  # the generator pixel-normalises z first

    @property
    def resolution(self) -> int:
        return self.config.resolutions[self.stage]

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """The generator's images (B, C, r, r) in about [-1, 1] at the current stage and alpha."""
        return self.generator(z, self.stage, self.alpha)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) in [0, 1]: the current resolution's, upsampled (nearest) to the canvas and cropped to
        the image size."""
        return self.to_image(self.generate(z))

    def to_image(self, y: torch.Tensor) -> torch.Tensor:
        """Generator output (B, C, r, r) in [-1, 1] -> images (B, C, H, W) in [0, 1]."""
        canvas, size = self.config.canvas, self.image_shape[1]
        y = _upsample(y, canvas // y.shape[-1])
        top = (canvas - size) // 2
        return ((y[..., top : top + size, top : top + size] + 1) / 2).clamp(0, 1)

    def to_critic(self, x: torch.Tensor) -> torch.Tensor:
        """Real images (B, C, H, W) in [0, 1] as the critic sees them at the current stage: on the canvas (black
        around), in [-1, 1], average-pooled to the stage's resolution, and while a stage fades in, blended with
        their previous resolution's upsampled, as the generator's images are (the paper's code)."""
        canvas, size = self.config.canvas, self.image_shape[1]
        top = (canvas - size) // 2
        x = F.pad(x, (top, canvas - size - top, top, canvas - size - top))  # 0: black
        x = _downsample(x * 2 - 1, canvas // self.resolution)
        if self.alpha < 1:
            x = torch.lerp(_upsample(_downsample(x)), x, self.alpha)
        return x

    def critic(self, x: torch.Tensor) -> torch.Tensor:
        """Scores (B, 1) of critic inputs: `to_critic`'s reals or `generate`'s fakes."""
        return self.discriminator(x, self.stage, self.alpha)

    def discriminator_loss(self, real: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The WGAN-GP critic loss (Gulrajani et al. 2017) plus the drift term, drift * E[critic(real)^2]
        (section A.1), at the current stage; keeps the Wasserstein estimate in `last_estimate`."""
        real, fake = self.to_critic(real), self.generate(z).detach()
        real_score = self.critic(real)
        estimate = real_score.mean() - self.critic(fake).mean()
        self.last_estimate = estimate.detach()
        loss = -estimate + self.config.drift * real_score.pow(2).mean()
        if self.config.gradient_penalty:
            loss = loss + self.config.gradient_penalty * self.gradient_penalty(real, fake)
        return loss

    def generator_loss(self, z: torch.Tensor) -> torch.Tensor:
        return -self.critic(self.generate(z)).mean()

    def make_optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        # Adam with beta1 = 0, beta2 = 0.99, eps = 1e-8 for both players (section A.1)
        return {
            name: fused_adam(part.parameters(), lr, self.device, betas=(0.0, 0.99), eps=1e-8)
            for name, (_, part) in self.objectives().items()
        }

    def train_step(self, losses, optimizers, x, labels, autocast) -> torch.Tensor:
        """The WGAN-GP's step at the current stage and alpha; then the schedule moves on by the batch's images (of
        every process under torchrun), and a phase that ended leaves its images in the growth record."""
        estimate = super().train_step(losses, optimizers, x, labels, autocast)
        ended = self.phase
        self.images_seen += len(x) * (dist.get_world_size() if dist.is_initialized() else 1)
        self.follow_schedule()
        for phase in range(ended, self.phase):  # one, unless a batch outran a whole phase
            self.record(phase)
        return estimate

    @torch.no_grad()
    def record(self, phase: int) -> None:
        """Keep the growth noise's images at the end of `phase`: at its stage with alpha 1 (a fade-in's end is its
        new resolution alone), in [0, 255]."""
        images = self.generator(self.growth_noise, (phase + 1) // 2, 1.0)
        getattr(self, f"growth_{phase}").copy_(((images + 1) * 127.5).round().clamp(0, 255).byte())

    @torch.no_grad()
    def growth(self) -> list[tuple[str, torch.Tensor]]:
        """The growth record: (what, images (8, C, r, r) in [0, 1]) at the end of each phase reached, from 4x4
        up, then the model as it is now, all from the same 8 latents."""
        named = []
        for phase in range(min(self.phase, self.phases - 1)):
            r = self.config.resolutions[(phase + 1) // 2]
            what = "faded in" if phase % 2 else ("trained" if phase == 0 else "stabilised")
            named.append((f"{r}x{r} {what}", getattr(self, f"growth_{phase}").float().cpu() / 255))
        r = self.resolution
        now = f"{r}x{r} now" + (f" (fading in, alpha {self.alpha:.2f})" if self.alpha < 1 else "")
        named.append((now, ((self.generate(self.growth_noise) + 1) / 2).clamp(0, 1).float().cpu()))
        return named

    def first_layer_weight(self) -> torch.Tensor:
        """The dense layer z feeds, (features, D). z is pixel-normalised first, onto the sphere of radius sqrt(D),
        which keeps the identity covariance of z ~ N(0, I), so GANSpace's answer is still W's right singular
        vectors."""
        return self.generator.dense.weight
