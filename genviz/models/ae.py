"""Convolutional autoencoder. Its options make the regularised variants: a corruption, a denoising autoencoder;
a sparsity weight, a sparse autoencoder; a contraction weight, a contractive autoencoder."""

import math
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from genviz.metrics import mse, psnr
from genviz.models.base import GenerativeModel, ModelConfig, conv_decoder, conv_encoder
from genviz.noise import NOISE_KINDS, corrupt

# The sparse and contractive variants' weights unless --sparsity or --contraction say otherwise.
SPARSITY = 1.5e-4
CONTRACTION = 0.03
# Gaussian noise (sigma) whose effect on the code the evaluator measures, relative to the code's spread.
NOISE_PROBE = 0.05
# Noise the evaluator measures a denoising AE against: PSNR of the noisy input and of the output.
DENOISING = (("gaussian", 0.3), ("gaussian", 0.5), ("gaussian", 0.7), ("salt-pepper", 0.2))


@dataclass
class AEConfig(ModelConfig):
    corruption: str = "none"  # "none", or a noise kind from genviz.noise: trains a denoising AE
    noise_level: float = 0.5  # sigma for gaussian, fraction of pixels for salt-pepper and mask
    reconstruction: str = "mse"  # "mse" or "bce" (pixels as Bernoulli probabilities)
    sparsity: float = 0.0  # > 0: weight of an L1 penalty on the code, made non-negative (ReLU): a sparse AE
    contraction: float = 0.0  # > 0: weight of the encoder Jacobian's squared norm over the code's variance: a CAE

    def __post_init__(self):
        super().__post_init__()
        if self.corruption not in ("none", *NOISE_KINDS):
            raise ValueError(f"unknown corruption {self.corruption!r}")
        if self.reconstruction not in ("mse", "bce"):
            raise ValueError(f"unknown reconstruction loss {self.reconstruction!r}")
        if not (self.sparsity >= 0 and self.contraction >= 0):  # NaN too
            raise ValueError("sparsity and contraction are weights: zero or positive")
        chosen = [name for name, on in self._regularisers().items() if on]
        if len(chosen) > 1:
            raise ValueError(f"one regulariser at a time: {' and '.join(chosen)} were both set")
        pixels = math.prod(self.image_shape)
        if self.latent_dim > pixels and not chosen:
            warnings.warn(
                f"a plain autoencoder with a code of {self.latent_dim} numbers for {pixels} pixels is overcomplete: "
                "it can learn the identity and nothing about the data; add a corruption, sparsity or contraction",
                stacklevel=2,
            )

    def _regularisers(self) -> dict[str, bool]:
        return {
            "corruption": self.corruption != "none",
            "sparsity": self.sparsity > 0,
            "contraction": self.contraction > 0,
        }

    @property
    def kind(self) -> str:
        on = self._regularisers()
        return "dae" if on["corruption"] else "sparse-ae" if on["sparsity"] else "cae" if on["contraction"] else "ae"

    @property
    def display_name(self) -> str:
        return {
            "ae": "convolutional autoencoder",
            "dae": "denoising convolutional autoencoder",
            "sparse-ae": "sparse convolutional autoencoder",
            "cae": "contractive convolutional autoencoder",
        }[self.kind]


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
        z = self.encoder(x)  # (B, latent_dim)
        return F.relu(z) if self.config.sparsity > 0 else z  # a sparse code is non-negative, so L1 counts activity

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))  # (B, C, H, W) in [0, 1]

    def latent_scale(self, label: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        self.unconditional(label)
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
        x = self.corrupt(batch)
        if self.config.contraction > 0:
            x = x.detach().requires_grad_(True)
        z = self.encode(x)
        logits = self.decoder(z)
        if self.config.reconstruction == "bce":
            loss = F.binary_cross_entropy_with_logits(logits, batch, reduction="sum") / batch.shape[0]
        else:
            loss = F.mse_loss(torch.sigmoid(logits), batch)
        out = {}
        if self.config.sparsity > 0:
            # L1 on the non-negative code (Goodfellow et al. 2016, 14.2.1): cheap, and it drives units to exact zeros,
            # where the KL penalty towards a target rate (Ng's notes) needs sigmoid units and a rate to choose.
            out["code_l1"] = z.abs().sum(1).mean()
            loss = loss + self.config.sparsity * out["code_l1"]
        if self.config.contraction > 0:
            # Relative to the code's spread: |J|^2 alone is met by shrinking the code (the decoder scales it back),
            # which contracts nothing; divided by the code's variance it is the same for any scale of the code.
            out["jacobian_sq"] = jacobian_sq(z, x)
            out["jacobian_sq_relative"] = out["jacobian_sq"] / z.var(0).sum().clamp_min(1e-8)
            loss = loss + self.config.contraction * out["jacobian_sq_relative"]
        return {"loss": loss, **out}

    @torch.no_grad()
    def preview(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Inputs (as corrupted for a DAE) over their reconstructions."""
        shown = self.corrupt(x)
        return torch.cat([shown, self.reconstruct(shown)])

    def test_figures(self, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> dict:
        with torch.no_grad():
            z = self.encode(x)
            recon = self.decode(z)
            spread = z.std(0).norm().clamp_min(1e-12)  # (): the code's spread over the batch, the scale of its changes
            noisy = (x + NOISE_PROBE * torch.randn(x.shape, generator=generator).to(x.device)).clamp(0, 1)
            shift = (self.encode(noisy) - z).norm(dim=1) / spread
        figures = {
            "test_mse": mse(recon, x),
            "test_psnr_db": psnr(recon, x),
            "code/hoyer_sparsity": hoyer(z),
            "code/near_zero_share": (z.abs() < 0.01 * z.abs().amax(1, keepdim=True)).float().mean(1),
            "code/jacobian_norm_relative": jacobian_norm(self, x) / spread,
            f"code/shift_under_noise {NOISE_PROBE:g}": shift,
        }
        if self.config.corruption != "none":
            for noise, level in DENOISING:
                noisy = corrupt(x, noise, level, generator)
                before, after = psnr(noisy, x), psnr(self.reconstruct(noisy), x)
                where = f"denoising_psnr_db/{noise} {level:g}"
                figures |= {f"{where}/noisy_input": before, f"{where}/denoised": after, f"{where}/gain": after - before}
        return figures


def hoyer(z: torch.Tensor) -> torch.Tensor:
    """Hoyer's sparsity of each code (B, D) -> (B,): (sqrt(D) - |z|_1 / |z|_2) / (sqrt(D) - 1), 0 when every entry
    is equal in size, 1 when one is non-zero (Hoyer 2004); an all-zero code counts as 1."""
    root = math.sqrt(z.shape[1])
    ratio = z.abs().sum(1) / z.norm(dim=1).clamp_min(1e-12)
    return torch.where(z.norm(dim=1) > 0, (root - ratio) / (root - 1), torch.ones_like(ratio))


def jacobian_sq(z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The mean over the batch of the encoder Jacobian's squared Frobenius norm |dz/dx|_F^2, estimated without bias
    by one random projection per image: E_v |v^T J|^2 = |J|_F^2 for v ~ N(0, I) (Hutchinson's estimator). One extra
    backward pass (kept in the graph, so the penalty trains): about twice a plain step's cost, where the exact norm
    takes latent_dim backward passes. z (B, D) must come from x (B, C, H, W), which requires grad."""
    v = torch.randn_like(z)
    (grad,) = torch.autograd.grad(z, x, v, create_graph=True)  # (B, C, H, W): v^T J per image
    return grad.pow(2).flatten(1).sum(1).mean()


def jacobian_norm(model: AutoEncoder, x: torch.Tensor) -> torch.Tensor:
    """Each image's exact encoder Jacobian Frobenius norm |dz/dx|_F (B,), by one backward pass per code unit."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        z = model.encode(x)
        total = torch.zeros(len(x), device=x.device)
        for d in range(z.shape[1]):
            (grad,) = torch.autograd.grad(z[:, d].sum(), x, retain_graph=d + 1 < z.shape[1])
            total += grad.pow(2).flatten(1).sum(1)
    return total.sqrt()
