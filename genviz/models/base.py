"""The interface every model family shares, and the conv stacks they are built from.

Callers ask a model what it can do, never which family it is: whether it encodes exactly or by a
search (`has_exact_encoder`), how it samples (`prior`), its latent directions and dimension order,
its anomaly scores, its optimisers and one training step, its figures on a test batch, and the
name its card shows. A new family is one file here plus its entry in the registry
(`genviz.models.REGISTRY`); the pages, the trainer, the evaluator and the model card read these.
"""

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from genviz.metrics import mse
from genviz.preparation import Preparation

Loss = Callable[..., torch.Tensor]  # a training loss: the batch's tensors in, a scalar out


@dataclass
class ModelConfig:
    image_shape: tuple[int, int, int] = (1, 28, 28)  # (C, H, W) of the training images
    latent_dim: int = 16  # size of z
    width: int = 32  # channels of the first conv layer; doubles at each downsampling

    def __post_init__(self):
        self.check_image_shape()
        if self.latent_dim < 1 or self.width < 1:
            raise ValueError("latent_dim and width must be positive")

    def check_image_shape(self) -> None:
        self.image_shape = tuple(int(s) for s in self.image_shape)
        channels, height, width = self.image_shape
        if channels not in (1, 3):
            raise ValueError(f"image_shape needs 1 or 3 channels, got {channels}")
        if height != width or not 8 <= height <= 256:
            raise ValueError(f"image_shape needs square images of 8 to 256 pixels, got {height}x{width}")

    @property
    def kind(self) -> str:
        """Short name shown to users; a variant says its own (a denoising AE: 'dae')."""
        raise NotImplementedError

    @property
    def display_name(self) -> str:
        """What the model card calls the model, e.g. 'convolutional variational autoencoder'."""
        raise NotImplementedError


@dataclass(frozen=True)
class DatasetInfo:
    """What a checkpoint says of the data it was trained on."""

    name: str  # dataset name as genviz.data.load_dataset takes it
    class_names: list[str]  # label -> class name
    normalization: dict  # how pixels were scaled; genviz uses [0, 1]
    # How an upload is made to look like the training images; None: genviz.preparation.default_preparation's, by the
    # dataset's name and the image shape (checkpoints written before it was recorded).
    preparation: Preparation | None = None


@dataclass(frozen=True)
class CheckpointInfo:
    """Where a loaded model came from: set by genviz.checkpoint.load_model."""

    path: str  # the checkpoint folder
    dataset: DatasetInfo
    training: dict  # the training settings recorded in config.json
    genviz_version: str


def spatial_sizes(size: int) -> list[int]:
    """Feature-map sizes from the image down to 4x4 or smaller: 28 -> [28, 14, 7, 4]."""
    sizes = [size]
    while sizes[-1] > 4:
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


def _channels(width: int, depth: int) -> list[int]:
    return [min(width * 2**i, width * 8) for i in range(depth)]


def conv_encoder(config: ModelConfig, out_features: int, norm: bool = True) -> nn.Sequential:
    """Strided convs from (B, C, H, W) to (B, out_features); without `norm`, no batch norm (a WGAN-GP critic,
    whose gradient penalty is per image)."""
    sizes = spatial_sizes(config.image_shape[1])
    channels = _channels(config.width, len(sizes) - 1)
    layers: list[nn.Module] = []
    in_ch = config.image_shape[0]
    for i, (size, out_ch) in enumerate(zip(sizes[:-1], channels, strict=True)):
        kernel = 4 if size % 2 == 0 else 3  # exact halving; odd sizes round up
        layers.append(nn.Conv2d(in_ch, out_ch, kernel, stride=2, padding=1, bias=i == 0 or not norm))
        if i > 0 and norm:  # DCGAN: no normalisation on the input layer
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


def principal_directions(z: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k principal directions of latents z (N, D), unit rows (k, D), and the standard deviation
    of the data along each, (k,)."""
    centred = z - z.mean(0)
    _, s, v = torch.linalg.svd(centred, full_matrices=False)
    k = min(k, v.shape[0])
    return v[:k], s[:k] / max(len(z) - 1, 1) ** 0.5


def fused_adam(parameters, lr: float, device: torch.device, **options) -> torch.optim.Adam:
    """Adam, fused into one kernel over all parameters where `device` has one (the same update as
    the per-parameter loop up to rounding; 1.15x the images/s of the MLP VAE on a CPU)."""
    return torch.optim.Adam(parameters, lr=lr, fused=True if device.type in ("cpu", "cuda") else None, **options)


def descend(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> torch.Tensor:
    """One optimiser step down `loss`; returns the loss, detached."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


class Model(nn.Module):
    """Base of every family: images are (B, C, H, W) floats in [0, 1]."""

    family: ClassVar[str] = ""  # the name config.json records; the registry's key
    explorable: ClassVar[bool] = False  # has a latent space the app explores (a classifier only measures)
    has_likelihood: ClassVar[bool] = False  # bounds log p(x): the evaluator estimates its NLL
    default_lr: ClassVar[float] = 1e-3  # Adam learning rate when training is not told one
    divergence_check: ClassVar[bool] = True  # a loss 100x its first epoch's means training diverged
    loss_name: ClassVar[str] = "loss"  # what `train_step` returns, as the training log and the card name it
    fit_images: ClassVar[int] = 0  # training images `fit_to_data` wants after each epoch (0: none)
    # Some parameters get no gradient in a step (a growing network's blocks not yet reached): DDP searches for them.
    unused_parameters: ClassVar[bool] = False
    per_class_figures: ClassVar[tuple[str, ...]] = ()  # test figures the evaluator also reports per class
    config: ModelConfig
    checkpoint: CheckpointInfo | None = None  # set when loaded from a folder

    @classmethod
    def for_config(cls, config: ModelConfig) -> type["Model"]:
        """The class a folder of `config` loads as: this one, unless a family's capabilities depend on its config."""
        return cls

    @classmethod
    def weight_files(cls, config: ModelConfig) -> tuple[str, ...]:
        """The checkpoint folder's files that hold the model besides config.json; the fingerprint hashes them.
        The default, a state dict in safetensors, is what genviz.checkpoint reads for a family without `open`."""
        return ("model.safetensors",)

    def open(self, folder) -> "Model":
        """Read the model from a checkpoint folder whose weights are not a state dict (ValueError names the file
        and the problem); a family with a state dict has none, and genviz.checkpoint loads its safetensors."""
        raise NotImplementedError

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
        return self.config.kind

    @property
    def display_name(self) -> str:
        return self.config.display_name

    def loss(self, batch: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Training objective on a batch of images (and their labels); 'loss' is what is minimised."""
        raise NotImplementedError

    # Training. The trainer wraps each objective for DistributedDataParallel and torch.compile and
    # hands the wrapped losses back to train_step, so that a family's step needs no trainer edit.
    def objectives(self) -> dict[str, tuple[Loss, nn.Module]]:
        """name -> (loss, the part of the model it trains); DDP reduces each part's gradients."""
        return {"model": (lambda x, labels: self.loss(x, labels)["loss"], self)}

    def make_optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        """One optimiser per objective, by the same names."""
        return {"model": fused_adam(self.parameters(), lr, self.device)}

    def train_step(
        self,
        losses: dict[str, Loss],
        optimizers: dict[str, torch.optim.Optimizer],
        x: torch.Tensor,
        labels: torch.Tensor,
        autocast: AbstractContextManager,
    ) -> torch.Tensor:
        """One optimisation step on a batch; `losses` are `objectives()`'s, as the trainer wrapped
        them. Returns the batch's loss, detached (on the device: reading it would sync a GPU)."""
        with autocast:
            loss = losses["model"](x, labels)
        return descend(optimizers["model"], loss)

    @torch.no_grad()
    def fit_to_data(self, images: torch.Tensor) -> None:
        """After each epoch, fit what the model estimates from the data besides its weights (an
        autoencoder's sampling distribution) to `fit_images` training images (N, C, H, W) in [0, 1]."""

    @torch.no_grad()
    def preview(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor | None:
        """Images (N, C, H, W) for an epoch's preview grid, in rows of len(x): from fixed inputs x
        and latents z. None: nothing to show."""
        return None

    @torch.no_grad()
    def test_figures(
        self, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        """Per-image figures (B,) on a test batch, which the evaluator averages over the test set.
        A name with '/' nests: 'denoising_psnr_db/gaussian 0.5/gain' is metrics[a][b][c]."""
        return {}


def truncate(eps: torch.Tensor, threshold: float) -> torch.Tensor:
    """Standard normal draws mapped into (-threshold, threshold) by the normal's inverse CDF, each keeping its
    quantile: Phi^-1(Phi(-t) + Phi(eps) (1 - 2 Phi(-t))), an exact draw from the truncated normal. Unlike
    redrawing the entries outside (which this replaced), a seed's grid then changes smoothly with the threshold,
    and every entry moves towards 0 as it falls. Computed on the lower tail in float64 (the map is odd)."""
    if not threshold > 0:
        raise ValueError("the truncation threshold must be positive")
    x = eps.double()
    below = torch.special.ndtr(torch.tensor(-float(threshold), dtype=torch.float64))
    inside = -torch.special.ndtri(below + torch.special.ndtr(-x.abs()) * (1 - 2 * below))
    return (torch.sign(x) * inside.clamp(max=threshold)).to(eps.dtype)


class GenerativeModel(Model):
    """A model with a latent space: maps images to latents and latents to images."""

    explorable = True
    has_exact_encoder: ClassVar[bool] = True  # False: encode is a search (slow, approximate)
    has_posterior: ClassVar[bool] = False  # encodes to a distribution q(z|x): `latent_usage` measures it
    conditional: ClassVar[bool] = False  # draws a chosen class: `prior`, `sample` and `latent_scale` take labels
    score_kinds: ClassVar[tuple[str, ...]] = ("reconstruction",)  # anomaly scores, see `anomaly_score`
    prior_name: ClassVar[str] = "its prior"  # where `prior` draws from, as a caption says it
    directions_name: ClassVar[str] = "the encoded test images"  # what `directions` are principal directions of
    dimension_order_name: ClassVar[str] = "in order"  # how `dimension_order` ranks the dimensions

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1] -> z (B, latent_dim)."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, latent_dim) -> images (B, C, H, W) in [0, 1]."""
        raise NotImplementedError

    def onnx_decoder(self) -> bytes | None:
        """The decoder as ONNX bytes where the model is a graph already (genviz.export's contract); None: genviz.export
        exports `decode` with torch."""
        return None

    def latent_scale(self, label: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-dimension centre and spread of the latents the decoder expects, (latent_dim,) each on
        the CPU: the prior's N(0, I) unless a family says otherwise; a `conditional` model's of the class
        `label` (others take no label)."""
        self.unconditional(label)
        return torch.zeros(self.latent_dim), torch.ones(self.latent_dim)

    def unconditional(self, labels) -> None:
        """Refuse classes to draw, unless the model is `conditional`."""
        if labels is not None and not self.conditional:
            raise ValueError(f"a {self.kind} draws no chosen class; only conditional models do")

    def prior(
        self,
        n: int,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
        truncation: float | None = None,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """n latents (n, latent_dim) on the model's device from eps ~ N(0, I), drawn on the CPU so that a
        seed gives the same z on any device (`prior_from_noise`); a conditional model's of the classes
        `labels` (n,), LongTensor."""
        self.unconditional(labels)
        eps = torch.randn(n, self.latent_dim, generator=generator)
        return self.prior_from_noise(eps, temperature, truncation)

    def prior_from_noise(
        self,
        eps: torch.Tensor,
        temperature: float = 1.0,
        truncation: float | None = None,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Latents (n, latent_dim) from standard normal noise eps (n, latent_dim): centre + eps * temperature *
        spread. With `truncation`, each entry of eps is first mapped into (-truncation, truncation) keeping its
        quantile (`truncate`): the truncation trick (Brock et al. 2019), lower thresholds trading variety for
        fidelity. The browser computes the same from the same eps (component/frontend/src/prior.ts)."""
        self.unconditional(labels)
        if truncation is not None:
            eps = truncate(eps, truncation)
        centre, std = self.latent_scale()
        return (centre + eps * temperature * std).to(self.device)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """n images decoded from the prior; a conditional model's of the classes `labels` (n,), LongTensor."""
        return self.decode(self.prior(n, generator, temperature, labels=labels))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    @property
    def ignores_latent_length(self) -> bool:
        """decode(c * z) == decode(z) for every c > 0 (the generator normalises z's length): a temperature, which
        scales every latent, changes nothing, and the Sample page does not offer it."""
        return False

    @torch.no_grad()
    def growth(self) -> list[tuple[str, torch.Tensor]]:
        """The growth record of a model grown as it trained: (what, images (N, C, r, r) in [0, 1]) from the same
        fixed latents at each recorded stage, smallest first, the model as it is last. Empty: it did not grow. The
        model card shows it as a row, the Sample page as a stage control."""
        return []

    def latent_usage(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """How images x (B, C, H, W) with their labels (B,) use the latent dimensions, for a model that
        `has_posterior`: the posterior mean "mean" (B, D) and "kl" (B, D), each dimension's KL from the prior. The
        evaluator's per-dimension KL and active units read it."""
        raise NotImplementedError(f"a {self.kind} has no posterior to measure")

    def directions(self, k: int, latents: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """k principal directions of the latent space, unit rows (k, D), and the spread of the data
        along each (k,). By default of the data's latents, which `latents()` gives (N, D) when asked."""
        return principal_directions(latents(), k)

    def dimension_order(self, images: Callable[[], torch.Tensor]) -> torch.Tensor:
        """The latent dimensions in display order (latent_dim,); a family may rank them by the data,
        which `images()` gives (N, C, H, W) in [0, 1] when asked."""
        return torch.arange(self.latent_dim)

    @torch.no_grad()
    def anomaly_score(self, x: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
        """Per-image anomaly scores (B,), higher meaning more anomalous, of x in [0, 1]: one of
        `score_kinds`. 'reconstruction' is the MSE of the reconstruction."""
        if kind != "reconstruction":
            raise ValueError(f"a {self.kind} has no {kind!r} score; it has {', '.join(self.score_kinds)}")
        return mse(self.reconstruct(x), x)
