"""Bring a model genviz did not train: write it as an ONNX model folder (`genviz.models.onnx`), check it against its
source, and build its explore bundle where the dataset can be read.

Three routes, one folder format:

- `from_onnx(decoder, encoder, ...)`, or `genviz bring --decoder D.onnx [--encoder E.onnx] ...`: ONNX
  files from any framework (PyTorch, Keras through tf2onnx, JAX through jax2onnx);
- `from_torch(decoder, encoder, ...)`: `torch.nn.Module`s, exported with torch.onnx; the call a researcher adds at
  the end of a training script;
- `from_diffusers(folder, ...)`, or `genviz bring --diffusers FOLDER ...`: a diffusers `AutoencoderKL` as
  `save_pretrained` writes it (safetensors only: pickled `.bin` weights are refused). Its genviz latent is the one
  its decoder takes, the unscaled posterior mean; its pixels are [-1, 1].

Every route decodes CHECK_LATENTS latents (and encodes CHECK_IMAGES images) with the brought folder and with the
source, and refuses a folder whose largest difference per pixel (per latent entry) is above TOLERANCE.
"""

import argparse
import json
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
from torch import nn

from genviz.checkpoint import CARD_FILE, METRICS_FILE, CheckpointError, dataset_info, load_model, model_card
from genviz.data import DatasetError, load_dataset, to_float
from genviz.export import ExportError, module_onnx
from genviz.files import first_line, replace_folder
from genviz.models.onnx import DECODER_FILE, ENCODER_FILE, ENCODER_OUTPUTS, PRIOR_FILE, ONNXConfig, sha256
from genviz.onnxfile import ONNXFileError, graph_io, read_onnx
from genviz.onnxwrap import session as session_of
from genviz.onnxwrap import wrap_encoder, wrapped

TOLERANCE = 1e-3  # largest difference from the source a brought model may show, per pixel in [0, 1] or latent entry
CHECK_LATENTS = 16  # prior latents (seed 0) decoded by both
CHECK_IMAGES = 16  # test images (random ones without the dataset) encoded by both
FIT_IMAGES = 10_000  # encoded test images a fitted prior is fitted to


class BringError(Exception):
    """A model that cannot be brought; the message says what is wrong and what to do."""


Source = Callable[[torch.Tensor], tuple[torch.Tensor, ...]]  # the source model: a batch in, its outputs


def from_torch(
    decoder: nn.Module,
    encoder: nn.Module | None = None,
    *,
    latent_shape: tuple[int, ...],
    image_shape: tuple[int, int, int],
    dataset: str,
    out: str | Path,
    encoder_outputs: str = "code",
    pixel_range: tuple[float, float] = (0, 1),
    prior: str | None = None,
    likelihood: str = "none",
    class_names: list[str] | None = None,
    origin: str | None = None,
    bundle: bool = True,
    overwrite: bool = False,
    say: Callable[[str], None] = print,
) -> Path:
    """Bring torch modules: `decoder` maps latents (B, *latent_shape) to images (B, *image_shape) in `pixel_range`;
    `encoder` (optional) maps such images to a code (B, *latent_shape) (`encoder_outputs="code"`) or to a tuple
    (mean, logvar) of a Gaussian posterior (`"mean-logvar"`). Both are exported with torch.onnx (float32, on the
    CPU, a dynamic batch) and checked against the modules. `prior`: "standard-normal" or "fitted" (a diagonal
    Gaussian fitted to the encoded test set; the default for a `code` encoder). `likelihood="bernoulli"` declares the
    decoder's pixels the probabilities of p(x|z), which gives an ELBO. Returns the folder; BringError says why not."""
    decoder = _frozen(decoder)
    encoder = _frozen(encoder) if encoder is not None else None
    low, high = pixel_range
    say(f"Exporting {type(decoder).__name__} to ONNX")
    graphs = {DECODER_FILE: _export(decoder, torch.randn(2, *latent_shape), "z", ["images"], "the decoder")}
    if encoder is not None:
        say(f"Exporting {type(encoder).__name__} to ONNX")
        names = ["code"] if encoder_outputs == "code" else ["mean", "logvar"]
        x = low + (high - low) * torch.rand(2, *image_shape)
        graphs[ENCODER_FILE] = _export(encoder, x, "images", names, "the encoder")
    origin = origin or f"torch modules {type(decoder).__name__}" + (f" and {type(encoder).__name__}" if encoder else "")
    return _bring(
        graphs,
        _torch_source(decoder),
        _torch_source(encoder) if encoder is not None else None,
        latent_shape=latent_shape, image_shape=image_shape, dataset=dataset, out=out, encoder_outputs=encoder_outputs,
        pixel_range=pixel_range, prior=prior, likelihood=likelihood, class_names=class_names, origin=origin,
        source="torch (genviz.bring.from_torch)", bundle=bundle, overwrite=overwrite, say=say,
    )  # fmt: skip


def from_onnx(
    decoder: str | Path,
    encoder: str | Path | None = None,
    *,
    dataset: str,
    out: str | Path,
    latent_shape: tuple[int, ...] | None = None,
    image_shape: tuple[int, int, int] | None = None,
    encoder_outputs: str = "code",
    pixel_range: tuple[float, float] = (0, 1),
    prior: str | None = None,
    likelihood: str = "none",
    class_names: list[str] | None = None,
    origin: str | None = None,
    bundle: bool = True,
    overwrite: bool = False,
    say: Callable[[str], None] = print,
) -> Path:
    """Bring ONNX files: `decoder` takes latents (B, *latent_shape) and gives images (B, *image_shape) in
    `pixel_range`; `encoder` as in `from_torch`. The shapes are read from the graphs where they are declared. Files
    are checked (`genviz.onnxfile.read_onnx`) before anything runs them; the source they are checked against is
    the file itself, run in onnxruntime as given."""
    paths = {DECODER_FILE: Path(decoder), **({ENCODER_FILE: Path(encoder)} if encoder else {})}
    try:
        models = {name: read_onnx(path) for name, path in paths.items()}
    except ONNXFileError as e:
        raise BringError(str(e)) from None
    inputs, outputs = graph_io(models[DECODER_FILE])
    latent_shape = latent_shape or _declared(paths[DECODER_FILE], "input", inputs, "--latent-shape")
    image_shape = image_shape or _declared(paths[DECODER_FILE], "output", outputs, "--image-shape")
    return _bring(
        {name: m.SerializeToString() for name, m in models.items()},
        _onnx_source(models[DECODER_FILE], paths[DECODER_FILE]),
        _onnx_source(models[ENCODER_FILE], paths[ENCODER_FILE]) if encoder else None,
        latent_shape=latent_shape, image_shape=image_shape, dataset=dataset, out=out, encoder_outputs=encoder_outputs,
        pixel_range=pixel_range, prior=prior, likelihood=likelihood, class_names=class_names,
        origin=origin or f"ONNX files {paths[DECODER_FILE].name}" + (f" and {Path(encoder).name}" if encoder else ""),
        source="ONNX (genviz.bring.from_onnx)", bundle=bundle, overwrite=overwrite, say=say,
    )  # fmt: skip


def from_diffusers(
    folder: str | Path,
    *,
    dataset: str,
    out: str | Path,
    prior: str = "fitted",
    class_names: list[str] | None = None,
    origin: str | None = None,
    bundle: bool = True,
    overwrite: bool = False,
    say: Callable[[str], None] = print,
) -> Path:
    """Bring a diffusers `AutoencoderKL` folder (`save_pretrained`'s config.json and
    diffusion_pytorch_model.safetensors): its decoder, and its encoder's Gaussian posterior, in pixels [-1, 1];
    by default the prior a Gaussian fitted to the encoded test set (its latents are not N(0, I))."""
    folder = Path(folder)
    weights = folder / "diffusion_pytorch_model.safetensors"
    if not (folder / "config.json").is_file():
        raise BringError(f"{folder}: not a diffusers model folder (no config.json); give the folder save_pretrained "
                         "wrote")  # fmt: skip
    if not weights.is_file():
        pickled = sorted(p.name for p in folder.glob("*.bin"))
        raise BringError(
            f"{folder}: has no diffusion_pytorch_model.safetensors"
            + (f", only pickled weights ({', '.join(pickled)}), which genviz never opens: a pickle can run any code"
               if pickled else "")
            + "; save the model with save_pretrained(folder, safe_serialization=True)"
        )  # fmt: skip
    try:
        from diffusers import AutoencoderKL
    except ImportError:
        raise BringError("diffusers is not installed: pip install 'genviz[diffusers]'") from None
    try:
        vae = AutoencoderKL.from_pretrained(
            folder, use_safetensors=True, local_files_only=True, low_cpu_mem_usage=False
        )
    except Exception as e:  # diffusers raises many types for a folder it cannot read
        raise BringError(f"{folder}: diffusers cannot open it as an AutoencoderKL ({first_line(e)})") from None
    c = vae.config
    size = c.sample_size if isinstance(c.sample_size, int) else c.sample_size[0]
    factor = 2 ** (len(c.block_out_channels) - 1)  # each encoder block but the last halves the image
    return from_torch(
        _DiffusersDecoder(vae), _DiffusersEncoder(vae),
        latent_shape=(c.latent_channels, size // factor, size // factor), image_shape=(c.in_channels, size, size),
        dataset=dataset, out=out, encoder_outputs="mean-logvar", pixel_range=(-1, 1), prior=prior,
        class_names=class_names, origin=origin or f"diffusers AutoencoderKL from {folder}", bundle=bundle,
        overwrite=overwrite, say=say,
    )  # fmt: skip


class _DiffusersDecoder(nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z).sample  # (B, latent_channels, h, w) -> (B, C, H, W) in about [-1, 1]


class _DiffusersEncoder(nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        posterior = self.vae.encode(x).latent_dist  # x in [-1, 1]
        return posterior.mean, posterior.logvar


def _frozen(module: nn.Module) -> nn.Module:
    return module.float().cpu().eval().requires_grad_(False)


def _export(module: nn.Module, example: torch.Tensor, name: str, outputs: list[str], what: str) -> bytes:
    try:
        return module_onnx(module, example, name, outputs, what)
    except ExportError as e:
        raise BringError(str(e)) from None


def _torch_source(module: nn.Module) -> Source:
    def run(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        with torch.no_grad():
            out = module(x)
        return tuple(out) if isinstance(out, tuple | list) else (out,)

    return run


def _onnx_source(model, path: Path) -> Source:
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime's errors: a graph it cannot build
        raise BringError(f"{path}: does not run in onnxruntime ({first_line(e)})") from None
    name = session.get_inputs()[0].name
    return lambda x: tuple(torch.from_numpy(y) for y in session.run(None, {name: x.numpy()}))


def _declared(path: Path, what: str, io: dict, flag: str) -> tuple[int, ...]:
    (dims, *rest) = io.values()
    if rest or dims is None or not all(isinstance(d, int) for d in dims[1:]):
        raise BringError(f"{path}: its {what}'s shape is not declared in the graph; give it with {flag}")
    return tuple(dims[1:])


def _test_set(dataset: str, size: int, say):
    try:
        return load_dataset(dataset, "test", download=False, image_size=size)
    except DatasetError as e:
        say(f"The {dataset} test set cannot be read ({first_line(e)}): no fitted prior, bundle or image check")
        return None


def _bring(
    graphs: dict[str, bytes],
    decode_source: Source,
    encode_source: Source | None,
    *,
    latent_shape, image_shape, dataset, out, encoder_outputs, pixel_range, prior, likelihood, class_names, origin,
    source: str, bundle: bool, overwrite: bool, say,
) -> Path:  # fmt: skip
    """Write the folder beside `out`, check it against the source, then move it into place."""
    out = Path(out)
    if encoder_outputs not in ENCODER_OUTPUTS[1:]:
        raise BringError(f"encoder_outputs must be code or mean-logvar, got {encoder_outputs!r}")
    encoder_outputs = encoder_outputs if ENCODER_FILE in graphs else "none"
    prior = prior or ("fitted" if encoder_outputs == "code" else "standard-normal")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise BringError(f"{out}: exists and is not empty; choose another folder, or pass overwrite (--overwrite)")
    test = _test_set(dataset, int(image_shape[1]), say)
    if class_names is None:
        if test is None:
            raise BringError(f"the {dataset} dataset cannot be read: give its class names (--class-names)")
        class_names = list(test.class_names)
    settings = dict(
        image_shape=list(image_shape), latent_dim=int(np.prod(latent_shape)), latent_shape=list(latent_shape),
        pixel_range=[float(p) for p in pixel_range], encoder_outputs=encoder_outputs, prior="standard-normal",
        likelihood=likelihood,
    )  # fmt: skip
    try:
        ONNXConfig(**settings)
    except ValueError as e:
        raise BringError(f"these settings cannot describe a model: {e}") from None
    if prior == "fitted" and test is None:
        raise BringError(f"a fitted prior is fitted to the encoded {dataset} test set, which cannot be read: make it "
                         "readable, or bring the model with the prior standard-normal")  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.bring-"))
    try:
        for name, data in graphs.items():
            (temp / name).write_bytes(data)
        settings |= {
            "decoder_sha256": sha256(temp / DECODER_FILE),
            "encoder_sha256": sha256(temp / ENCODER_FILE) if ENCODER_FILE in graphs else "",
        }
        config = {"genviz_version": _version(), "family": "onnx", "model": settings,
                  "dataset": dataset_info(dataset, class_names), "training": {}}  # fmt: skip
        _write_config(temp, config)
        if prior == "fitted":
            say(f"Fitting the prior to {min(FIT_IMAGES, len(test)):,} encoded test images")
            _fit_prior(temp, out, config, test)
            config["model"]["prior"] = "fitted"
            _write_config(temp, config)
        model = _open(temp, out)
        checks = _check(model, decode_source, encode_source, test)
        say("Checked against the source: " + ", ".join(f"{k} {v:.2g}" for k, v in checks.items()))
        config["training"] = {
            "origin": origin,
            "command": _command(),
            "brought_from": source,
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            **{f"check_{k}": float(f"{v:.3g}") for k, v in checks.items()},
            "check_inputs": f"{CHECK_LATENTS} prior latents (seed 0)"
            + (f", {CHECK_IMAGES} {'test' if test is not None else 'random'} images" if encode_source else ""),
        }
        _write_config(temp, config)
        (temp / METRICS_FILE).write_text("{}\n", encoding="utf-8")
        (temp / CARD_FILE).write_text(model_card(config, {}, name=out.name), encoding="utf-8")
        _open(temp, out)
        replace_folder(temp, out)  # an older folder is replaced whole, or kept if this fails
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    say(f"Brought into {out}")
    if bundle and test is not None:
        from genviz.explore import ensure_bundles

        ensure_bundles(out, say=say)
    return out


def _command() -> str:
    """The command line that is running, as a user would type it again."""
    if sys.argv and Path(sys.argv[0]).name == "genviz":  # the `genviz` command (genviz.cli)
        return shlex.join(["genviz", *sys.argv[1:]])
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    if spec is not None and spec.name != "__main__":
        return shlex.join(["python", "-m", spec.name.removesuffix(".__main__"), *sys.argv[1:]])
    return shlex.join(["python", *sys.argv]) if sys.argv and sys.argv[0] else ""


def _version() -> str:
    from genviz import __version__

    return __version__


def _write_config(folder: Path, config: dict) -> None:
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _open(folder: Path, out: Path):
    """The model of the folder being written (`folder`, which becomes `out`); errors name `out`."""
    try:
        return load_model(folder, device="cpu")
    except CheckpointError as e:
        raise BringError(str(e).replace(str(folder), str(out))) from None


def _fit_prior(folder: Path, out: Path, config: dict, test) -> None:
    """prior.safetensors: the mean and standard deviation of each latent entry over the encoded test images. Only
    the encoder runs: the model's opening check decodes prior latents, which need the prior first."""
    path = folder / ENCODER_FILE
    try:
        session = session_of(wrapped(wrap_encoder, read_onnx(path), ONNXConfig(**config["model"]), path))
    except ONNXFileError as e:
        raise BringError(str(e).replace(str(folder), str(out))) from None
    images = to_float(test.sample(min(FIT_IMAGES, len(test)), 0).images)
    z = torch.cat([torch.from_numpy(session.run(None, {"images": x.numpy()})[0]) for x in images.split(500)])
    tensors = {"mean": z.mean(0).contiguous(), "std": z.std(0).clamp_min(1e-6).contiguous()}
    (folder / PRIOR_FILE).write_bytes(safetensors.torch.save(tensors))


def _check(model, decode_source: Source, encode_source: Source | None, test) -> dict[str, float]:
    """The largest differences between the brought model and its source: decoded pixels (in [0, 1]) of prior
    latents, and the encoded latents (each output) of test images; BringError above TOLERANCE."""
    c = model.config
    low, high = c.pixel_range
    z = model.prior(CHECK_LATENTS, torch.Generator().manual_seed(0))
    want = ((decode_source(z.reshape(-1, *c.latent_shape))[0] - low) / (high - low)).clamp(0, 1)
    checks = {"decoder_max_abs_diff": _largest(model.decode(z), want, "decoder")}
    if encode_source is not None:
        if test is not None:
            x = to_float(test.sample(CHECK_IMAGES, 0).images)
        else:
            x = torch.rand(CHECK_IMAGES, *c.image_shape, generator=torch.Generator().manual_seed(0))
        got = model.encode_dist(x) if model.has_posterior else (model.encode(x),)
        want = encode_source(low + (high - low) * x)
        for name, a, b in zip(("encoder", "encoder_logvar"), got, want, strict=False):
            checks[f"{name}_max_abs_diff"] = _largest(a, b.reshape(len(b), -1), name)
    return checks


def _largest(got: torch.Tensor, want: torch.Tensor, what: str) -> float:
    if got.shape != want.shape:
        raise BringError(f"the brought {what} gives shape {tuple(got.shape)}, the source {tuple(want.shape)}")
    diff = (got.float() - want.float()).abs().max().item()
    if not diff <= TOLERANCE:  # NaN fails too
        raise BringError(f"the brought {what} differs from its source by {diff:.3g} (at most {TOLERANCE:g} allowed)")
    return diff


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a shape like 4,8,8") from None
    return shape


def _pixel_range(text: str) -> tuple[float, float]:
    if text not in ("0,1", "-1,1"):
        raise argparse.ArgumentTypeError(f"the pixel range is 0,1 or -1,1, not {text!r}")
    return (0.0, 1.0) if text == "0,1" else (-1.0, 1.0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genviz bring",
        description="Bring a model genviz did not train (ONNX files, or a diffusers AutoencoderKL) into a checkpoint "
        "folder the app opens, checked against its source, with its explore bundle.",
    )
    route = parser.add_mutually_exclusive_group(required=True)
    route.add_argument("--decoder", type=Path, help="the decoder as ONNX: latents in, images out")
    route.add_argument("--diffusers", type=Path, help="a diffusers AutoencoderKL folder (save_pretrained's)")
    parser.add_argument("--encoder", type=Path, help="the encoder as ONNX: images in, a code or mean and logvar out")
    parser.add_argument(
        "--encoder-outputs",
        choices=ENCODER_OUTPUTS[1:],
        default="code",
        help="what the encoder gives: one tensor (code), or a Gaussian posterior (mean-logvar)",
    )
    parser.add_argument(
        "--pixel-range",
        type=_pixel_range,
        default=(0.0, 1.0),
        help="pixels of the encoder's input and the decoder's output: 0,1 (default) or -1,1",
    )
    parser.add_argument("--latent-shape", type=_shape, help="one latent's shape, e.g. 4,8,8 (default: the graph's)")
    parser.add_argument("--image-shape", type=_shape, help="one image's shape C,H,W (default: the graph's)")
    parser.add_argument(
        "--prior",
        choices=("standard-normal", "fitted"),
        help="where samples come from (default: fitted for a code encoder and for diffusers, else standard-normal)",
    )
    parser.add_argument(
        "--likelihood",
        choices=("none", "bernoulli"),
        default="none",
        help="bernoulli: the decoded pixels are probabilities (an ELBO, with a mean-logvar encoder)",
    )
    parser.add_argument("--dataset", required=True, help="the dataset genviz reads its test images from, e.g. mnist")
    parser.add_argument("--class-names", help="comma-separated, where the dataset cannot be read")
    parser.add_argument("--origin", help="where the model came from, for its card")
    parser.add_argument("--out", type=Path, required=True, help="the checkpoint folder to write")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it holds files")
    parser.add_argument("--no-bundle", action="store_true", help="skip the explore bundle")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    for i, arg in enumerate(argv[:-1]):  # "-1,1" reads as an option to argparse: take it as the flag's value
        if arg == "--pixel-range":
            argv[i : i + 2] = [f"--pixel-range={argv[i + 1]}"]
            break
    args = parser.parse_args(argv)  # fmt: skip
    common = {
        "dataset": args.dataset, "out": args.out, "origin": args.origin, "bundle": not args.no_bundle,
        "overwrite": args.overwrite, "class_names": args.class_names.split(",") if args.class_names else None,
    }  # fmt: skip
    start = time.perf_counter()
    try:
        if args.diffusers:
            from_diffusers(args.diffusers, prior=args.prior or "fitted", **common)
        else:
            from_onnx(
                args.decoder, args.encoder, latent_shape=args.latent_shape, image_shape=args.image_shape,
                encoder_outputs=args.encoder_outputs, pixel_range=args.pixel_range, prior=args.prior,
                likelihood=args.likelihood, **common,
            )  # fmt: skip
    except BringError as e:
        print(f"genviz.bring: {e}", file=sys.stderr)
        return 1
    print(f"Done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
