"""Models genviz did not train, brought as ONNX graphs from any framework (`genviz.bring` writes their folders).

A folder holds `decoder.onnx`, optionally `encoder.onnx` (and `prior.safetensors` for a fitted prior) beside its
config.json. Each graph is checked before anything runs it (`genviz.onnxfile.read_onnx`), then wrapped into
genviz's tensor contract, so that the server (onnxruntime) and the browser (onnxruntime-web) run the same graph:

- decoder: "z" (B, D) float32, the flat C-order view of the decoder's latent (B, *latent_shape), reshaped back
  inside the graph, -> "images" (B, C, H, W) in [0, 1], the decoder's pixel range mapped to [0, 1] and clipped;
- encoder: "images" (B, C, H, W) in [0, 1], mapped to the encoder's pixel range, -> "z" (B, D) for a `code`
  encoder, or "mean" and "logvar" (B, D) each for a Gaussian posterior (`mean-logvar`).

Capabilities follow what the folder holds (`ONNXModel.for_config`): an exact encoder only with `encoder.onnx`, a
posterior only for `mean-logvar`, an ELBO and a likelihood only where the config declares one.
"""

import functools
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from genviz.files import first_line
from genviz.metrics import mse, negative_elbo, psnr
from genviz.models.base import GenerativeModel, ModelConfig

DECODER_FILE, ENCODER_FILE, PRIOR_FILE = "decoder.onnx", "encoder.onnx", "prior.safetensors"
ENCODER_OUTPUTS = ("none", "code", "mean-logvar")
PRIORS = ("standard-normal", "fitted")
LIKELIHOODS = ("none", "bernoulli")
RANGE_TOLERANCE = 0.5  # a test decode may leave the declared pixel range by this share of its width (a decoder
# of [-1, 1] declared [0, 1] leaves it by all of it; prior samples of a trained one overshoot by up to a third)
CHECK_LATENTS = 8  # prior latents the test decode draws (seed 0)
SEARCH_CANDIDATES, SEARCH_ROUNDS, SEARCH_STEPS = 512, 3, 32  # encode without an encoder: see `ONNXModel._search`


@dataclass
class ONNXConfig(ModelConfig):
    width: int = field(default=0, metadata={"card": False})  # unused: the graphs hold the architecture
    latent_shape: tuple[int, ...] = (16,)  # one latent as the decoder takes it; genviz's z is its flat C-order view
    pixel_range: tuple[float, float] = (0.0, 1.0)  # the encoder's input and the decoder's output; genviz shows [0, 1]
    encoder_outputs: str = "none"  # "none": no encoder.onnx; "code": one tensor; "mean-logvar": a Gaussian posterior
    prior: str = (
        "standard-normal"  # or "fitted": a diagonal Gaussian fitted to the encoded test set (prior.safetensors)
    )
    likelihood: str = "none"  # "bernoulli": the decoded pixels are the probabilities of p(x|z) (an ELBO, an NLL)
    decoder_sha256: str = ""  # of decoder.onnx, checked when the folder is opened
    encoder_sha256: str = ""  # of encoder.onnx ("" without one)

    def __post_init__(self):
        self.latent_shape = tuple(int(s) for s in self.latent_shape)
        self.pixel_range = tuple(float(p) for p in self.pixel_range)
        self.check_image_shape()
        if not self.latent_shape or min(self.latent_shape) < 1:
            raise ValueError(f"latent_shape needs positive sizes, got {list(self.latent_shape)}")
        if self.latent_dim != math.prod(self.latent_shape):
            raise ValueError(f"latent_dim must be the size of latent_shape {list(self.latent_shape)}, "
                             f"{math.prod(self.latent_shape)}; got {self.latent_dim}")  # fmt: skip
        if not self.pixel_range[0] < self.pixel_range[1]:
            raise ValueError(f"pixel_range must be (low, high) with low < high, got {list(self.pixel_range)}")
        for name, value, allowed in (
            ("encoder_outputs", self.encoder_outputs, ENCODER_OUTPUTS),
            ("prior", self.prior, PRIORS),
            ("likelihood", self.likelihood, LIKELIHOODS),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
        if self.prior == "fitted" and self.encoder_outputs == "none":
            raise ValueError("a fitted prior needs an encoder to fit it to encoded images")
        if self.likelihood != "none" and self.encoder_outputs != "mean-logvar":
            raise ValueError("a likelihood needs a Gaussian posterior (encoder_outputs mean-logvar) for its ELBO")

    @property
    def kind(self) -> str:
        return {"none": "onnx-generator", "code": "onnx-ae", "mean-logvar": "onnx-vae"}[self.encoder_outputs]

    @property
    def display_name(self) -> str:
        parts = {"none": "decoder", "code": "encoder and decoder", "mean-logvar": "Gaussian encoder and decoder"}
        return f"model brought as ONNX ({parts[self.encoder_outputs]})"

    @property
    def files(self) -> tuple[str, ...]:
        """The folder's files that hold the model, besides config.json."""
        return (
            DECODER_FILE,
            *((ENCODER_FILE,) if self.encoder_outputs != "none" else ()),
            *((PRIOR_FILE,) if self.prior == "fitted" else ()),
        )


def sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class ONNXModel(GenerativeModel):
    """A decoder (and encoder) run by onnxruntime on the server; the same decoder graph runs in the browser."""

    family = "onnx"
    config: ONNXConfig

    def __init__(self, config: ONNXConfig):
        super().__init__()
        self.config = config
        self.decoder_graph = self.encoder_graph = None  # the wrapped graphs (onnx.ModelProto), set by `open`
        self._decoder = self._encoder = None  # their sessions
        self.prior_mean, self.prior_std = torch.zeros(config.latent_dim), torch.ones(config.latent_dim)

    @classmethod
    @functools.cache
    def _with(cls, encoder_outputs: str, prior: str, likelihood: str) -> type["ONNXModel"]:
        encodes, posterior = encoder_outputs != "none", encoder_outputs == "mean-logvar"
        likely = likelihood != "none"
        capabilities = {
            "has_exact_encoder": encodes,
            "has_posterior": posterior,
            "has_likelihood": likely,
            "score_kinds": ("reconstruction", "elbo") if likely else ("reconstruction",),
            "prior_name": "a Gaussian fitted to its encoded test images" if prior == "fitted" else "N(0, I)",
            "dimension_order_name": (
                "most active first (posterior variance furthest from the prior's)" if posterior
                else "widest spread over the encoded test images first" if encodes
                else "in order"
            ),
            "directions_name": "the encoded test images" if encodes else "its prior samples",
        }  # fmt: skip
        return type(f"{cls.__name__}[{encoder_outputs}, {prior}, {likelihood}]", (cls,), capabilities)

    @classmethod
    def for_config(cls, config: ONNXConfig) -> type["ONNXModel"]:
        """The class of a folder of this config: its capabilities are what the folder holds."""
        return cls._with(config.encoder_outputs, config.prior, config.likelihood)

    @classmethod
    def weight_files(cls, config: ONNXConfig) -> tuple[str, ...]:
        return config.files

    def open(self, folder: Path) -> "ONNXModel":
        """Read, check and wrap the folder's graphs (ONNXFileError or ValueError name the file and the problem),
        then decode a few prior latents, which must stay within the declared pixel range. onnx is imported here, not
        with genviz.models: every process that trains or serves genviz imports the registry."""
        from genviz.onnxfile import ONNXFileError, read_onnx
        from genviz.onnxwrap import session, wrap_decoder, wrap_encoder, wrapped

        c = self.config
        for file, digest in ((DECODER_FILE, c.decoder_sha256), (ENCODER_FILE, c.encoder_sha256)):
            path = folder / file
            if file in c.files and digest and path.is_file() and sha256(path) != digest:
                raise ONNXFileError(f"{path}: its SHA-256 is not the one config.json records; the file was changed")
        decoder = read_onnx(folder / DECODER_FILE)
        self.decoder_graph = wrapped(wrap_decoder, decoder, c, folder / DECODER_FILE)
        if c.encoder_outputs != "none":
            path = folder / ENCODER_FILE
            self.encoder_graph = wrapped(wrap_encoder, read_onnx(path), c, path)
        if c.prior == "fitted":
            from safetensors.torch import load_file

            try:
                fitted = load_file(folder / PRIOR_FILE)
                self.set_prior(fitted["mean"], fitted["std"])
            except Exception as e:  # missing, corrupt, wrong keys or shapes: one message
                raise ValueError(f"{folder / PRIOR_FILE}: not a readable fitted prior ({first_line(e)})") from None
        try:
            self._decoder = session(self.decoder_graph)
            raw = session(decoder)
            z = self.prior(CHECK_LATENTS, torch.Generator().manual_seed(0))
            (pixels,) = raw.run(None, {raw.get_inputs()[0].name: z.reshape(-1, *c.latent_shape).numpy()})
        except Exception as e:  # onnxruntime's errors: a graph it cannot build or run
            raise ONNXFileError(f"{folder / DECODER_FILE}: does not run in onnxruntime ({first_line(e)})") from None
        self._check_decode(folder / DECODER_FILE, pixels)
        if self.encoder_graph is not None:
            try:
                self._encoder = session(self.encoder_graph)
                codes = self._run(self._encoder, "images", torch.rand(2, *c.image_shape))  # a test encode
            except Exception as e:
                raise ONNXFileError(f"{folder / ENCODER_FILE}: does not run in onnxruntime ({first_line(e)})") from None
            if any(code.shape != (2, c.latent_dim) or not np.isfinite(code).all() for code in codes):
                raise ONNXFileError(f"{folder / ENCODER_FILE}: a test encode gives {[x.shape[1:] for x in codes]} "
                                    f"or non-finite values, not {c.latent_dim} finite numbers an image")  # fmt: skip
        return self

    def _check_decode(self, path: Path, pixels: np.ndarray) -> None:
        from genviz.onnxfile import ONNXFileError

        c = self.config
        if tuple(pixels.shape[1:]) != tuple(c.image_shape):
            raise ONNXFileError(f"{path}: decodes images of shape {tuple(pixels.shape[1:])}, config.json says "
                                f"{tuple(c.image_shape)}")  # fmt: skip
        low, high = c.pixel_range
        slack = RANGE_TOLERANCE * (high - low)
        if not np.isfinite(pixels).all() or pixels.min() < low - slack or pixels.max() > high + slack:
            raise ONNXFileError(
                f"{path}: a test decode of prior latents gives pixels from {pixels.min():.3g} to {pixels.max():.3g}, "
                f"outside the declared pixel range {low:g} to {high:g}; is the range (--pixel-range) right?"
            )

    def set_prior(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        d = self.config.latent_dim
        mean, std = mean.float().reshape(-1), std.float().reshape(-1)
        if mean.shape != (d,) or std.shape != (d,) or not (torch.isfinite(mean).all() and (std > 0).all()):
            raise ValueError(f"a fitted prior needs a finite mean and positive std of {d} values each")
        self.prior_mean, self.prior_std = mean, std

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")  # onnxruntime takes and gives NumPy arrays on the host

    def _run(self, runner, name: str, x: torch.Tensor) -> list[np.ndarray]:
        return runner.run(None, {name: np.ascontiguousarray(x.detach().float().cpu().numpy())})

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, latent_dim) -> images (B, C, H, W) in [0, 1]."""
        return torch.from_numpy(self._run(self._decoder, "z", z.reshape(len(z), -1))[0])

    def encode_dist(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance (B, latent_dim) each, of a `mean-logvar` encoder."""
        mean, logvar = self._run(self._encoder, "images", x)
        return torch.from_numpy(mean), torch.from_numpy(logvar)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1] -> z (B, latent_dim): the code, or the posterior mean; without an encoder, the
        best decode a search finds (`_search`)."""
        if self._encoder is None:
            return self._search(x)
        return torch.from_numpy(self._run(self._encoder, "images", x)[0])

    @torch.no_grad()
    def _search(self, x: torch.Tensor) -> torch.Tensor:
        """The prior latent of SEARCH_CANDIDATES (seed 0) whose decode is closest to each image, refined over
        SEARCH_ROUNDS rounds of SEARCH_STEPS random steps of shrinking size around it: approximate, gradient-free
        (onnxruntime gives no gradients)."""
        x = x.float().cpu()
        generator = torch.Generator().manual_seed(0)
        candidates = self.prior(SEARCH_CANDIDATES, generator)
        pixels = torch.cat([self.decode(c) for c in candidates.split(128)])
        errors = (pixels.flatten(1)[None] - x.flatten(1)[:, None]).pow(2).mean(2)  # (B, K)
        best, error = candidates[errors.argmin(1)], errors.min(1).values
        _, std = self.latent_scale()
        for step in (0.5, 0.2, 0.05)[:SEARCH_ROUNDS]:
            for i in range(len(x)):
                tries = best[i] + step * std * torch.randn(SEARCH_STEPS, self.latent_dim, generator=generator)
                got = (self.decode(tries) - x[i]).pow(2).flatten(1).mean(1)
                if got.min() < error[i]:
                    best[i], error[i] = tries[got.argmin()], got.min()
        return best

    def latent_scale(self, label: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        self.unconditional(label)
        return self.prior_mean, self.prior_std

    def onnx_decoder(self) -> bytes:
        """The wrapped decoder graph, as the browser runs it."""
        return self.decoder_graph.SerializeToString(deterministic=True)

    # A Gaussian posterior: the KL from N(0, I) per dimension (Kingma & Welling 2014, appendix B).
    def kl_dims(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())

    @torch.no_grad()
    def latent_usage(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        mu, logvar = self.encode_dist(x)
        return {"mean": mu, "kl": self.kl_dims(mu, logvar)}

    # A Bernoulli likelihood: the decoded pixels are probabilities; `decoder` gives their logits, which the ELBO and
    # genviz.metrics.iwae_nll read, as they read a VAE's.
    def decoder(self, z: torch.Tensor) -> torch.Tensor:
        return torch.logit(self.decode(z), eps=1e-6)

    def reconstruction_nll(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x|z) in nats per image (B,): summed binary cross-entropy, as pytorch/examples' VAE."""
        return F.binary_cross_entropy_with_logits(logits, x.float().cpu(), reduction="none").flatten(1).sum(1)

    def elbo_terms(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        mu, logvar = self.encode_dist(x)
        eps = torch.randn(mu.shape, generator=generator)
        z = mu + eps * torch.exp(0.5 * logvar)
        kl_dims = self.kl_dims(mu, logvar)
        return {"recon": self.reconstruction_nll(self.decoder(z), x), "kl": kl_dims.sum(1), "kl_dims": kl_dims}

    def dimension_order(self, images) -> torch.Tensor:
        """A posterior's dimensions by how far their mean posterior variance is from the prior's 1, a code's by
        its spread over the images, widest first; without an encoder, in order."""
        if self._encoder is None:
            return torch.arange(self.latent_dim)
        x = images()
        if self.has_posterior:
            variance = torch.cat([self.encode_dist(b)[1].exp() for b in x.split(500)]).mean(0)
            return variance.log().abs().argsort(descending=True)
        return torch.cat([self.encode(b) for b in x.split(500)]).std(0).argsort(descending=True)

    @torch.no_grad()
    def anomaly_score(self, x: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
        if kind == "elbo" and self.has_likelihood:
            return negative_elbo(self, x, generator)
        return super().anomaly_score(x, kind, generator)

    @torch.no_grad()
    def test_figures(self, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> dict:
        if self._encoder is None:
            return {}
        recon = self.reconstruct(x).to(x.device)
        figures = {"test_mse": mse(recon, x), "test_psnr_db": psnr(recon, x)}
        if self.has_likelihood:
            figures["test_negative_elbo_nats"] = negative_elbo(self, x, generator)
        return figures
