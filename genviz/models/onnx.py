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
import onnx
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

from genviz.files import first_line
from genviz.metrics import mse, negative_elbo, psnr
from genviz.models.base import GenerativeModel, ModelConfig
from genviz.onnxfile import ONNXFileError, graph_io, read_onnx

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


def session(model: onnx.ModelProto):
    """An onnxruntime session of `model`: on the CUDA execution provider where onnxruntime's GPU build is installed
    and a GPU is present, else on the CPU with as many threads as torch uses (`torch.set_num_threads`)."""
    import onnxruntime

    providers = ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers() and torch.cuda.is_available():
        providers.insert(0, "CUDAExecutionProvider")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=providers)


def _float_input(model: onnx.ModelProto, path: Path, what: str) -> str:
    """The graph's one input's name, when it is one float32 tensor."""
    inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if len(inputs) != 1:
        raise ONNXFileError(f"{path}: {what} must take one input; it takes {len(inputs)}")
    if inputs[0].type.tensor_type.elem_type != TensorProto.FLOAT:
        raise ONNXFileError(f"{path}: {what}'s input {inputs[0].name!r} must be float32")
    return inputs[0].name


def _check_dims(path: Path, what: str, name: str, dims: tuple, want: tuple[int, ...]) -> None:
    """Refuse a graph whose declared dims (batch first) disagree with the config's shape; symbolic dims pass."""
    if len(dims) != len(want) + 1 or any(isinstance(d, int) and d != w for d, w in zip(dims[1:], want, strict=True)):
        shown = ", ".join("?" if d is None else str(d) for d in dims)
        raise ONNXFileError(
            f"{path}: {what} {name!r} is declared ({shown}), but config.json says (batch, {', '.join(map(str, want))})"
        )


def _value(name: str, dims: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def _scalar(name: str, value: float) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(value, dtype=np.float32), name)


def wrap_decoder(model: onnx.ModelProto, config: ONNXConfig, path: Path) -> onnx.ModelProto:
    """The decoder in genviz's contract: "z" (B, D) -> "images" (B, C, H, W) in [0, 1] (the module docstring)."""
    inputs, outputs = graph_io(model)
    name = _float_input(model, path, "the decoder")
    _check_dims(path, "the decoder's input", name, inputs[name], config.latent_shape)
    if len(outputs) != 1:
        raise ONNXFileError(f"{path}: the decoder must give one output, the images; it gives {len(outputs)}")
    (out,) = outputs
    _check_dims(path, "the decoder's output", out, outputs[out], config.image_shape)
    low, high = config.pixel_range
    wrapped = onnx.compose.add_prefix(model, "source/")
    graph = wrapped.graph
    nodes = list(graph.node)
    graph.initializer.extend([
        numpy_helper.from_array(np.array([-1, *config.latent_shape], dtype=np.int64), "genviz/latent_shape"),
        _scalar("genviz/low", low), _scalar("genviz/scale", 1 / (high - low)),
        _scalar("genviz/zero", 0.0), _scalar("genviz/one", 1.0),
    ])  # fmt: skip
    del graph.node[:]
    graph.node.extend([
        helper.make_node("Reshape", ["z", "genviz/latent_shape"], ["source/" + name]),
        *nodes,
        helper.make_node("Sub", ["source/" + out, "genviz/low"], ["genviz/shifted"]),
        helper.make_node("Mul", ["genviz/shifted", "genviz/scale"], ["genviz/scaled"]),
        helper.make_node("Clip", ["genviz/scaled", "genviz/zero", "genviz/one"], ["images"]),
    ])  # fmt: skip
    _replace_io(graph, [_value("z", ["batch", config.latent_dim])], [_value("images", ["batch", *config.image_shape])])
    return wrapped


def wrap_encoder(model: onnx.ModelProto, config: ONNXConfig, path: Path) -> onnx.ModelProto:
    """The encoder in genviz's contract: "images" (B, C, H, W) in [0, 1] -> "z" (B, D), or "mean" and "logvar"."""
    inputs, outputs = graph_io(model)
    name = _float_input(model, path, "the encoder")
    _check_dims(path, "the encoder's input", name, inputs[name], config.image_shape)
    names = ["z"] if config.encoder_outputs == "code" else ["mean", "logvar"]
    if len(outputs) != len(names):
        raise ONNXFileError(
            f"{path}: an encoder of {config.encoder_outputs} gives {len(names)} output(s) ({', '.join(names)}); "
            f"this one gives {len(outputs)}"
        )
    for out, dims in outputs.items():
        _check_dims(path, "the encoder's output", out, dims, config.latent_shape)
    low, high = config.pixel_range
    wrapped = onnx.compose.add_prefix(model, "source/")
    graph = wrapped.graph
    nodes = list(graph.node)
    graph.initializer.extend([_scalar("genviz/low", low), _scalar("genviz/width", high - low)])
    del graph.node[:]
    graph.node.extend([
        helper.make_node("Mul", ["images", "genviz/width"], ["genviz/stretched"]),
        helper.make_node("Add", ["genviz/stretched", "genviz/low"], ["source/" + name]),
        *nodes,
        *(helper.make_node("Flatten", ["source/" + out], [flat], axis=1)
          for out, flat in zip(outputs, names, strict=True)),
    ])  # fmt: skip
    _replace_io(
        graph,
        [_value("images", ["batch", *config.image_shape])],
        [_value(flat, ["batch", config.latent_dim]) for flat in names],
    )
    return wrapped


def wrapped(wrap, model: onnx.ModelProto, config: ONNXConfig, path: Path) -> onnx.ModelProto:
    """`wrap(model, config, path)`; what onnx raises while a strange graph is rewritten, as an ONNXFileError."""
    try:
        return wrap(model, config, path)
    except ONNXFileError:
        raise
    except Exception as e:  # onnx.compose and protobuf raise many types on graphs they cannot rename
        raise ONNXFileError(f"{path}: cannot be wrapped into genviz's tensor contract ({first_line(e)})") from None


def _replace_io(graph: onnx.GraphProto, inputs: list, outputs: list) -> None:
    initialisers = {t.name for t in graph.initializer}
    kept = [i for i in graph.input if i.name in initialisers]  # older IRs list initialisers as inputs too
    del graph.input[:]
    graph.input.extend([*inputs, *kept])
    del graph.output[:]
    graph.output.extend(outputs)


class ONNXModel(GenerativeModel):
    """A decoder (and encoder) run by onnxruntime on the server; the same decoder graph runs in the browser."""

    family = "onnx"
    config: ONNXConfig

    def __init__(self, config: ONNXConfig):
        super().__init__()
        self.config = config
        self.decoder_graph: onnx.ModelProto | None = None  # the wrapped graphs, set by `open`
        self.encoder_graph: onnx.ModelProto | None = None
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
        then decode a few prior latents, which must stay within the declared pixel range."""
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
