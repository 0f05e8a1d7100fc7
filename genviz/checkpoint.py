"""Checkpoint folders: config.json, model.safetensors, metrics.json and a README.md model card.

Nothing here unpickles: weights are read with safetensors, and every file is checked
against the config before a model is built. Every write is atomic (temp file + rename).
"""

import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from genviz.device import best_device
from genviz.models import REGISTRY, Model, build_model

CONFIG_FILE, WEIGHTS_FILE, METRICS_FILE, CARD_FILE = "config.json", "model.safetensors", "metrics.json", "README.md"
CONFIG_KEYS = {"genviz_version", "family", "model", "dataset", "training"}
DATASET_KEYS = {"name", "class_names", "normalization"}
# Models take pixels scaled from [0, 255] to [0, 1]; no mean/std shift.
PIXELS_0_1 = {"input_range": [0.0, 1.0]}
MAX_CONFIG_BYTES = 1 << 20
FLOAT_DTYPES = {torch.float16, torch.bfloat16, torch.float32, torch.float64}


class CheckpointError(Exception):
    """A checkpoint folder that cannot be loaded; the message names the file and the problem."""


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success it replaces `path` in one rename, so readers
    and killed writers never see a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide checkpoints from other users
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, data: dict) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def dataset_info(name: str, class_names: list[str]) -> dict:
    return {"name": name, "class_names": list(class_names), "normalization": PIXELS_0_1}


def save_checkpoint(
    model: Model,
    folder: str | os.PathLike,
    dataset: dict,
    training: dict | None = None,
    dtype: torch.dtype = torch.float32,
    metrics: dict | None = None,
) -> Path:
    """Write `model` as a checkpoint folder; float weights are stored as `dtype`.

    metrics.json is replaced too (empty by default): figures of older weights never survive.
    """
    from genviz import __version__

    folder = Path(folder)
    state = {
        k: (v.to(dtype) if v.is_floating_point() else v).detach().cpu().contiguous()
        for k, v in model.state_dict().items()
    }
    config = {
        "genviz_version": __version__,
        "family": model.family,
        "model": dataclasses.asdict(model.config),
        "dataset": dataset,
        "training": training or {},
    }
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt"})
    write_json(folder / CONFIG_FILE, config)
    write_metrics(folder, metrics or {})
    return folder


def _fail(folder: Path, file: str, problem: str) -> CheckpointError:
    return CheckpointError(f"{folder / file}: {problem}")


def read_config(folder: str | os.PathLike) -> dict:
    """The folder's config.json, checked for its keys and model family."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: not a checkpoint folder (it does not exist or is not a directory)")
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise _fail(folder, CONFIG_FILE, "missing; a checkpoint folder needs config.json and model.safetensors")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise _fail(folder, CONFIG_FILE, f"larger than {MAX_CONFIG_BYTES} bytes; not a genviz config")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise _fail(folder, CONFIG_FILE, f"cannot be read ({e.strerror or e})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _fail(folder, CONFIG_FILE, f"not valid JSON ({e})") from None
    if not isinstance(config, dict):
        raise _fail(folder, CONFIG_FILE, "must hold a JSON object")
    if missing := CONFIG_KEYS - config.keys():
        raise _fail(folder, CONFIG_FILE, f"missing keys: {', '.join(sorted(missing))}")
    if unknown := config.keys() - CONFIG_KEYS:
        raise _fail(folder, CONFIG_FILE, f"unknown keys: {', '.join(sorted(unknown))}")
    if config["family"] not in REGISTRY:
        raise _fail(folder, CONFIG_FILE, f"unknown model family {config['family']!r}; known: {', '.join(REGISTRY)}")
    dataset = config["dataset"]
    if not isinstance(dataset, dict) or dataset.keys() != DATASET_KEYS:
        raise _fail(folder, CONFIG_FILE, f"'dataset' must have exactly the keys {', '.join(sorted(DATASET_KEYS))}")
    if dataset["normalization"] != PIXELS_0_1:
        raise _fail(folder, CONFIG_FILE, f"unsupported normalization {dataset['normalization']!r}")
    return config


def _model_config(folder: Path, config: dict):
    config_cls = REGISTRY[config["family"]][1]
    fields = {f.name for f in dataclasses.fields(config_cls)}
    values = config["model"]
    if not isinstance(values, dict):
        raise _fail(folder, CONFIG_FILE, "'model' must be a JSON object")
    if unknown := values.keys() - fields:
        raise _fail(folder, CONFIG_FILE, f"unknown model settings: {', '.join(sorted(unknown))}")
    try:
        return config_cls(**values)
    except (TypeError, ValueError) as e:
        raise _fail(folder, CONFIG_FILE, f"invalid model settings: {e}") from None


def _read_weights(folder: Path) -> dict[str, torch.Tensor]:
    path = folder / WEIGHTS_FILE
    if not path.is_file():
        raise _fail(folder, WEIGHTS_FILE, "missing")
    try:
        with safe_open(str(path), framework="pt") as f:
            return {key: f.get_tensor(key) for key in f.keys()}
    except Exception as e:  # safetensors raises several types for corrupt files; all mean the same
        raise _fail(
            folder,
            WEIGHTS_FILE,
            f"not a readable safetensors file (truncated, corrupt or another format such as a pickle; "
            f"genviz never unpickles): {e}",
        ) from None


def _check_weights(folder: Path, expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> None:
    if missing := expected.keys() - state.keys():
        raise _fail(
            folder, WEIGHTS_FILE, f"does not match config.json: missing tensors {', '.join(sorted(missing)[:5])}"
        )
    if unexpected := state.keys() - expected.keys():
        raise _fail(
            folder, WEIGHTS_FILE, f"does not match config.json: unexpected tensors {', '.join(sorted(unexpected)[:5])}"
        )
    for key, want in expected.items():
        got = state[key]
        if got.shape != want.shape:
            raise _fail(
                folder,
                WEIGHTS_FILE,
                f"tensor {key} has shape {tuple(got.shape)}, config.json implies {tuple(want.shape)}",
            )
        if want.is_floating_point():
            if got.dtype not in FLOAT_DTYPES:
                raise _fail(folder, WEIGHTS_FILE, f"tensor {key} has dtype {got.dtype}, expected a float type")
            if not torch.isfinite(got).all():
                raise _fail(folder, WEIGHTS_FILE, f"tensor {key} holds NaN or infinite values")
        elif got.dtype != want.dtype:
            raise _fail(folder, WEIGHTS_FILE, f"tensor {key} has dtype {got.dtype}, expected {want.dtype}")


def load_model(path: str | os.PathLike, device: str | torch.device | None = None) -> Model:
    """Load a checkpoint folder as a float32 model in eval mode on `device` (default: the best one).

    Raises CheckpointError, naming the file and the problem, for any folder it cannot load.
    Loaded weights do not require grad: a model shared between app sessions is never trained.
    """
    folder = Path(path)
    config = read_config(folder)
    model = build_model(config["family"], _model_config(folder, config))
    state = _read_weights(folder)
    expected = model.state_dict()
    _check_weights(folder, expected, state)
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
    model.checkpoint = {"path": str(folder), "dataset": config["dataset"], "training": config["training"]}
    return model.to(best_device(device)).eval().requires_grad_(False)


def read_metrics(folder: str | os.PathLike) -> dict:
    path = Path(folder) / METRICS_FILE
    if not path.is_file():
        return {}
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(metrics, dict):
        raise CheckpointError(f"{path}: must hold a JSON object")
    return metrics


MODEL_NAMES = {
    "ae": "convolutional autoencoder",
    "dae": "denoising convolutional autoencoder",
    "vae": "convolutional variational autoencoder",
    "gan": "DCGAN-style generative adversarial network",
    "classifier": "small convolutional classifier",
}


def model_card(config: dict, metrics: dict) -> str:
    """The README.md of a checkpoint folder, from its config and metrics."""
    model, dataset, training = config["model"], config["dataset"], config["training"]
    kind = "dae" if config["family"] == "ae" and model.get("corruption", "none") != "none" else config["family"]
    c, h, w = model["image_shape"]
    space = "feature layer" if kind == "classifier" else "latent space"
    lines = [
        f"# {dataset['name']}-{kind}",
        "",
        f"A {MODEL_NAMES[kind]} with a {model['latent_dim']}-dimensional {space}, trained on "
        f"`{dataset['name']}` ({c}x{h}x{w} images, pixels scaled to [0, 1]) with genviz "
        f"{config['genviz_version']}.",
    ]
    if "jpg" in dataset["name"]:
        original = "CIFAR-10" if dataset["name"].startswith("cifar10") else "the original dataset"
        lines += [
            "",
            f"**Trained on a JPEG copy of {original}**, not the original release: JPEG compression "
            "changes its pixels slightly, so its figures are not comparable with published ones.",
        ]
    lines += ["", "## Settings", "", "| setting | value |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in model.items()]
    if training:
        lines += ["", "## Training", "", "| | |", "| --- | --- |"]
        lines += [f"| {k} | {v} |" for k, v in training.items() if k != "command"]
        if "command" in training:
            lines += ["", "Reproduce with:", "", "```", training["command"], "```"]
    lines += ["", "## Metrics", ""]
    if metrics:
        lines += ["| metric | value |", "| --- | --- |"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in metrics.items()]
    else:
        lines += ["Not evaluated yet: run `python -m training.evaluate <this folder>`."]
    return "\n".join(lines) + "\n"


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    return str(value)


def write_card(folder: str | os.PathLike) -> None:
    folder = Path(folder)
    write_text(folder / CARD_FILE, model_card(read_config(folder), read_metrics(folder)))


def write_metrics(folder: str | os.PathLike, metrics: dict) -> None:
    """Replace metrics.json and regenerate the model card from it."""
    write_json(Path(folder) / METRICS_FILE, metrics)
    write_card(folder)


def find_checkpoints(root: str | os.PathLike) -> list[Path]:
    """Checkpoint folders directly under `root` (those holding a config.json), sorted by name."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / CONFIG_FILE).is_file())


def find_classifier(folder: str | os.PathLike, dataset: str) -> Path | None:
    """The `<dataset>-classifier` checkpoint beside `folder`, which measures and labels its samples."""
    candidate = Path(folder).parent / f"{dataset}-classifier"
    return candidate if (candidate / CONFIG_FILE).is_file() else None


def fingerprint(folder: str | os.PathLike) -> str:
    """A short hash of the folder's config and weights: names caches of anything derived from the model."""
    digest = hashlib.sha256()
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        with open(Path(folder) / name, "rb") as f:
            digest.update(hashlib.file_digest(f, "sha256").digest())
    return digest.hexdigest()[:16]
