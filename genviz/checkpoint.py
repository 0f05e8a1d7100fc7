"""Checkpoint folders: config.json, model.safetensors, metrics.json and a README.md model card.

Nothing here unpickles: weights are read with safetensors, and every file is checked
against the config before a model is built, the model first built without memory (on the
meta device) so that a hostile config cannot make genviz allocate. Every write is atomic
(temp file + rename), and a full disk raises OSError.
"""

import dataclasses
import hashlib
import json
import math
import os
import re
import reprlib
import typing
from collections.abc import Callable
from pathlib import Path

import safetensors.torch
import torch
from safetensors import safe_open

from genviz.device import best_device
from genviz.files import atomic_paths, first_line, write_json, write_text
from genviz.folders import CONFIG_FILE
from genviz.models import REGISTRY, CheckpointInfo, DatasetInfo, Model, build_model, model_class
from genviz.preparation import Preparation, default_preparation

WEIGHTS_FILE, METRICS_FILE, CARD_FILE = "model.safetensors", "metrics.json", "README.md"
# metrics.json's sentence saying what its likelihood figures are (genviz.evaluation); the card shows it under them.
LIKELIHOOD_NOTE = "likelihood_note"
CONFIG_KEYS = {"genviz_version", "family", "model", "dataset", "training"}
DATASET_KEYS = {"name", "class_names", "normalization"}
# Keys 'dataset' may have besides: how uploads are prepared (genviz.preparation.Preparation), which save_checkpoint
# now always records. Folders saved before (the shipped checkpoints among them) get the default preparation's
# (genviz.preparation.default_preparation), by the dataset's name and the image shape: their config.json, which
# caches' fingerprints hash, stays as it is.
OPTIONAL_DATASET_KEYS = {"preparation"}
# Models take pixels scaled from [0, 255] to [0, 1]; no mean/std shift.
PIXELS_0_1 = {"input_range": [0.0, 1.0]}
MAX_CONFIG_BYTES = 1 << 20
# Numbers in a model's state (weights and buffers) that genviz builds: 400 MB in float32. The
# shipped models hold about 1M; a config asking for more is refused before anything is allocated.
MAX_PARAMETERS = 100_000_000
TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
FLOAT_DTYPES = {torch.float16, torch.bfloat16, torch.float32, torch.float64}


class CheckpointError(Exception):
    """A checkpoint folder that cannot be loaded; the message names the file and the problem."""


def dataset_info(name: str, class_names: list[str], preparation: Preparation | None = None) -> dict:
    """config.json's 'dataset'. save_checkpoint records the default preparation for the model's image shape
    (genviz.preparation.default_preparation) where `preparation` is None."""
    info = {"name": name, "class_names": list(class_names), "normalization": PIXELS_0_1}
    return info if preparation is None else {**info, "preparation": preparation.as_dict()}


def save_checkpoint(
    model: Model,
    folder: str | os.PathLike,
    dataset: dict,
    training: dict | None = None,
    dtype: torch.dtype = torch.float32,
    metrics: dict | None = None,
) -> Path:
    """Write `model` as a checkpoint folder; float weights are stored as `dtype`.

    metrics.json and the model card are replaced too (metrics empty by default): figures of older
    weights never survive. The four files are renamed into place only once all are written, so a
    full disk (OSError) leaves the folder as it was.
    """
    from genviz import __version__

    folder = Path(folder)
    state = {
        k: (v.to(dtype) if v.is_floating_point() else v).detach().cpu().contiguous()
        for k, v in model.state_dict().items()
    }
    if "preparation" not in dataset:  # recorded, so that a later change of the defaults leaves the model as it was
        dataset = {**dataset, "preparation": default_preparation(model.image_shape, dataset["name"]).as_dict()}
    config = {
        "genviz_version": __version__,
        "family": model.family,
        "model": dataclasses.asdict(model.config),
        "dataset": dataset,
        "training": training or {},
    }
    config_text, metrics = json.dumps(config, indent=2) + "\n", metrics or {}
    names = (WEIGHTS_FILE, CONFIG_FILE, METRICS_FILE, CARD_FILE)
    with atomic_paths(*(folder / name for name in names)) as (weights, config_tmp, metrics_tmp, card):
        # Serialised in memory, as write_torch does: safetensors' save_file hides a full disk's OSError.
        weights.write_bytes(safetensors.torch.save(state, metadata={"format": "pt"}))
        config_tmp.write_text(config_text, encoding="utf-8")
        metrics_tmp.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        card.write_text(model_card(json.loads(config_text), metrics, name=folder.name), encoding="utf-8")
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
    except (ValueError, RecursionError) as e:  # bad UTF-8 or JSON, an integer of 4,300+ digits, deep nesting
        raise _fail(folder, CONFIG_FILE, f"not valid JSON ({first_line(e)})") from None
    if not isinstance(config, dict):
        raise _fail(folder, CONFIG_FILE, "must hold a JSON object")
    if missing := CONFIG_KEYS - config.keys():
        raise _fail(folder, CONFIG_FILE, f"missing keys: {', '.join(sorted(missing))}")
    if unknown := config.keys() - CONFIG_KEYS:
        raise _fail(folder, CONFIG_FILE, f"unknown keys: {', '.join(sorted(unknown))}")
    if config["family"] not in REGISTRY:
        raise _fail(folder, CONFIG_FILE, f"unknown model family {config['family']!r}; known: {', '.join(REGISTRY)}")
    dataset = config["dataset"]
    if not isinstance(dataset, dict) or not DATASET_KEYS <= dataset.keys() <= DATASET_KEYS | OPTIONAL_DATASET_KEYS:
        raise _fail(
            folder,
            CONFIG_FILE,
            f"'dataset' must have exactly the keys {', '.join(sorted(DATASET_KEYS))}, "
            f"and may have {', '.join(sorted(OPTIONAL_DATASET_KEYS))}",
        )
    if dataset["normalization"] != PIXELS_0_1:
        raise _fail(folder, CONFIG_FILE, f"unsupported normalization {reprlib.repr(dataset['normalization'])}")
    names = dataset["class_names"]
    if not isinstance(dataset["name"], str) or not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise _fail(folder, CONFIG_FILE, "'dataset' needs a name (a string) and class_names (a list of strings)")
    if not isinstance(config["genviz_version"], str) or not isinstance(config["training"], dict):
        raise _fail(folder, CONFIG_FILE, "'genviz_version' must be a string and 'training' a JSON object")
    config["model"] = _model_settings(folder, config)
    if "preparation" in dataset:
        try:
            Preparation.from_dict(dataset["preparation"]).check(config["model"]["image_shape"])
        except (ValueError, TypeError) as e:
            raise _fail(folder, CONFIG_FILE, f"'dataset.preparation': {e}") from None
    return config


def dataset_preparation(config: dict) -> Preparation:
    """How uploads are prepared for the model of a config read_config checked: the recorded preparation, else the
    default for its dataset and image shape (checkpoints written before preparations were recorded)."""
    dataset = config["dataset"]
    if "preparation" in dataset:
        return Preparation.from_dict(dataset["preparation"])
    return default_preparation(tuple(config["model"]["image_shape"]), dataset["name"])


def _setting(name: str, kind, value):
    """`value` as the config field `name`, annotated `kind`, takes it; ValueError says what is wrong.
    Types are exact: JSON's true is not a width, 2.5 not a latent size, "8" not a number."""
    if typing.get_origin(kind) is tuple:
        kinds = typing.get_args(kind)
        if kinds[-1] is Ellipsis:  # tuple[int, ...]: a list of any length
            if not isinstance(value, list):
                raise ValueError(f"{name} must be a list, got {reprlib.repr(value)}")
            kinds = (kinds[0],) * len(value)
        if not isinstance(value, list) or len(value) != len(kinds):
            raise ValueError(f"{name} must be a list of {len(kinds)} values, got {reprlib.repr(value)}")
        return [_setting(f"{name}[{i}]", k, v) for i, (k, v) in enumerate(zip(kinds, value, strict=True))]
    if kind is float and type(value) is int:
        value = float(value)  # JSON writes 1.0 as 1 in some hands; it is the same number
    if type(value) is not kind:
        raise ValueError(f"{name} must be {TYPE_NAMES.get(kind, kind)}, got {reprlib.repr(value)}")
    if kind is float and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _model_settings(folder: Path, config: dict) -> dict:
    """The config's model settings, checked for names, types and values, with defaults for those it
    leaves out, as JSON holds them (image_shape a list)."""
    config_cls = REGISTRY[config["family"]].config
    kinds = typing.get_type_hints(config_cls)
    values = config["model"]
    if not isinstance(values, dict):
        raise _fail(folder, CONFIG_FILE, "'model' must be a JSON object")
    if unknown := values.keys() - {f.name for f in dataclasses.fields(config_cls) if f.init}:
        raise _fail(folder, CONFIG_FILE, f"unknown model settings: {', '.join(sorted(unknown))}")
    try:
        settings = config_cls(**{k: _setting(k, kinds[k], v) for k, v in values.items()})
    except Exception as e:  # ValueError from the checks above and __post_init__; anything else alike
        raise _fail(folder, CONFIG_FILE, f"invalid model settings: {first_line(e)}") from None
    return json.loads(json.dumps(dataclasses.asdict(settings)))


def model_size(family: str, config) -> int:
    """Numbers in the state (weights and buffers) of the model `config` describes, counted on the
    meta device: nothing is allocated however large it is. Raises what building it raises."""
    with torch.device("meta"):
        return sum(t.numel() for t in build_model(family, config).state_dict().values())


def _expected_state(folder: Path, family: str, config) -> dict[str, torch.Tensor]:
    """The state_dict config.json implies, as meta tensors (shapes and dtypes, no memory); refuses a
    model larger than MAX_PARAMETERS before anything is allocated."""
    try:
        with torch.device("meta"):
            expected = build_model(family, config).state_dict()
    except Exception as e:  # sizes past int64 and the like: torch's errors mean "cannot build"
        raise _fail(folder, CONFIG_FILE, f"describes a model genviz cannot build ({first_line(e)})") from None
    if (size := sum(t.numel() for t in expected.values())) > MAX_PARAMETERS:
        raise _fail(
            folder,
            CONFIG_FILE,
            f"describes a model of {size:,} parameters, larger than genviz opens ({MAX_PARAMETERS:,})",
        )
    return expected


def _unreadable(folder: Path, error: Exception) -> CheckpointError:
    return _fail(
        folder,
        WEIGHTS_FILE,
        f"not a readable safetensors file (truncated, corrupt or another format such as a pickle; "
        f"genviz never unpickles): {first_line(error)}",
    )


def _read_weights(folder: Path, expected: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors of model.safetensors, once its header's names and shapes match `expected`:
    a file of other shapes is refused before any of its data is read."""
    path = folder / WEIGHTS_FILE
    if not path.is_file():
        raise _fail(folder, WEIGHTS_FILE, "missing")
    try:
        with safe_open(str(path), framework="pt") as f:
            shapes = {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}
    except Exception as e:  # safetensors raises several types for corrupt files; all mean the same
        raise _unreadable(folder, e) from None
    _check_shapes(folder, expected, shapes)
    try:
        with safe_open(str(path), framework="pt") as f:
            return {key: f.get_tensor(key) for key in expected}
    except Exception as e:
        raise _unreadable(folder, e) from None


def _check_shapes(folder: Path, expected: dict[str, torch.Tensor], shapes: dict[str, tuple[int, ...]]) -> None:
    if missing := expected.keys() - shapes.keys():
        raise _fail(
            folder, WEIGHTS_FILE, f"does not match config.json: missing tensors {', '.join(sorted(missing)[:5])}"
        )
    if unexpected := shapes.keys() - expected.keys():
        raise _fail(
            folder, WEIGHTS_FILE, f"does not match config.json: unexpected tensors {', '.join(sorted(unexpected)[:5])}"
        )
    for key, want in expected.items():
        if shapes[key] != tuple(want.shape):
            raise _fail(
                folder, WEIGHTS_FILE, f"tensor {key} has shape {shapes[key]}, config.json implies {tuple(want.shape)}"
            )


def _check_values(folder: Path, expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> None:
    for key, want in expected.items():
        got = state[key]
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
    family, settings = config["family"], REGISTRY[config["family"]].config(**config["model"])
    if WEIGHTS_FILE in model_class(family, settings).weight_files(settings):
        model = _load_state(folder, family, settings)
    else:  # a model whose weights are not a state dict (ONNX graphs): it reads and checks its own files
        try:
            model = build_model(family, settings).open(folder)
        except ValueError as e:  # the family's refusals name the file and the problem
            raise CheckpointError(str(e)) from None
        except Exception as e:  # anything else its readers raise: still one error type
            raise CheckpointError(f"{folder}: cannot be loaded ({first_line(e)})") from None
    dataset = DatasetInfo(**{**config["dataset"], "preparation": dataset_preparation(config)})
    model.checkpoint = CheckpointInfo(str(folder), dataset, config["training"], config["genviz_version"])
    return model.to(best_device(device)).eval().requires_grad_(False)


def _load_state(folder: Path, family: str, settings) -> Model:
    """The model of a folder whose weights are a state dict in model.safetensors, checked against its config."""
    expected = _expected_state(folder, family, settings)
    state = _read_weights(folder, expected)
    _check_values(folder, expected, state)
    try:
        model = build_model(family, settings)
        model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
    except Exception as e:  # not expected after the checks above (perhaps out of memory); still one error type
        raise CheckpointError(f"{folder}: cannot be loaded ({first_line(e)})") from None
    return model


def read_metrics(folder: str | os.PathLike) -> dict:
    path = Path(folder) / METRICS_FILE
    if not path.is_file():
        return {}
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({first_line(e)})") from None
    if not isinstance(metrics, dict):
        raise CheckpointError(f"{path}: must hold a JSON object")
    return metrics


def _longest_backticks(text: str) -> int:
    return max(map(len, re.findall("`+", text)), default=0)


def code_span(text: object) -> str:
    """`text` as a Markdown inline code span, literal whatever backticks it holds."""
    text = " ".join(str(text).split())
    fence = "`" * (_longest_backticks(text) + 1)
    return f"{fence} {text} {fence}" if text.startswith("`") or text.endswith("`") else f"{fence}{text}{fence}"


def model_card(config: dict, metrics: dict, literal: Callable[[str], str] = str, name: str | None = None) -> str:
    """The README.md of a checkpoint folder, from its config and metrics, titled `name` (the folder's name; else
    `<dataset>-<kind>`). `literal` turns text taken from the files (names, values) into Markdown that shows it as
    it is: the app passes an escaper, as a folder it opens may come from anyone."""
    model, dataset, training = config["model"], config["dataset"], config["training"]
    family = REGISTRY[config["family"]]
    settings = family.config(**model)  # the card names the model as its family does
    c, h, w = model["image_shape"]
    space = "latent space" if family.model.explorable else "feature layer"
    lines = [
        f"# {literal(name or dataset['name'] + '-' + settings.kind)}",
        "",
        f"A {settings.display_name} with a {model['latent_dim']}-dimensional {space}, trained on "
        f"{code_span(dataset['name'])} ({c}x{h}x{w} images, pixels scaled to [0, 1]) "
        + ("for" if "origin" in training else "with")
        + f" genviz {literal(config['genviz_version'])}.",
    ]
    if "jpg" in dataset["name"]:
        original = "CIFAR-10" if dataset["name"].startswith("cifar10") else "the original dataset"
        lines += [
            "",
            f"**Trained on a JPEG copy of {original}**, not the original release: JPEG compression "
            "changes its pixels slightly, so its figures are not comparable with published ones.",
        ]
    if "origin" in training:  # a model genviz did not train (genviz.bring)
        lines += ["", f"**Brought into genviz, not trained by it:** {literal(str(training['origin']))}."]
    lines += ["", "## Settings", "", "| setting | value |", "| --- | --- |"]
    hidden = {f.name for f in dataclasses.fields(settings) if f.metadata.get("card") is False}  # unused by a family
    lines += [f"| {k} | {literal(str(v))} |" for k, v in model.items() if k not in hidden]
    if training:
        lines += ["", "## Training", "", "| | |", "| --- | --- |"]
        lines += [
            f"| {literal(k)} | {literal(str(v))} |" for k, v in training.items() if k not in ("command", "origin")
        ]
        if "command" in training:
            # One line, so that nothing after it is read as Markdown; as it runs today.
            command = current_command(" ".join(str(training["command"]).split()))
            fence = "`" * max(3, _longest_backticks(command) + 1)
            lines += ["", "Reproduce with:", "", fence, command, fence]
    lines += ["", "## Metrics", ""]
    if metrics:
        lines += ["| metric | value |", "| --- | --- |"]
        lines += [f"| {literal(k)} | {literal(_fmt(v))} |" for k, v in metrics.items() if k != LIKELIHOOD_NOTE]
        if isinstance(note := metrics.get(LIKELIHOOD_NOTE), str):  # a sentence: a paragraph, not a table cell
            lines += ["", f"**Likelihoods.** {literal(' '.join(note.split()))}"]
    else:
        lines += ["Not evaluated yet: run `genviz evaluate <this folder>`."]
    return "\n".join(lines) + "\n"


def current_command(command: str) -> str:
    """A recorded command line as it runs today: before genviz was a package, its command lines were modules of
    its checkout (`python -m training.train ...`, which the shipped checkpoints' config.json still records, since
    their fingerprint hashes that file); they are `genviz train ...` now."""
    return re.sub(r"^python -m training\.(train|evaluate|anomaly)\b", r"genviz \1", command)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    if isinstance(value, list):  # a curve or a value per dimension: the card counts them, metrics.json holds them
        if len(value) > 4 or any(isinstance(v, dict | list) for v in value):
            return f"({len(value)} entries)"
        return f"[{', '.join(_fmt(v) for v in value)}]"
    return str(value)


def write_card(folder: str | os.PathLike) -> None:
    folder = Path(folder)
    write_text(folder / CARD_FILE, model_card(read_config(folder), read_metrics(folder), name=folder.name))


def write_metrics(folder: str | os.PathLike, metrics: dict) -> None:
    """Replace metrics.json and regenerate the model card from it."""
    write_json(Path(folder) / METRICS_FILE, metrics)
    write_card(folder)


def find_classifier(folder: str | os.PathLike, dataset: str) -> Path | None:
    """The `<dataset>-classifier` checkpoint beside `folder`, which measures and labels its samples."""
    candidate = Path(folder).parent / f"{dataset}-classifier"
    return candidate if (candidate / CONFIG_FILE).is_file() else None


def model_files(folder: str | os.PathLike) -> list[Path]:
    """The folder's config.json and the files that hold its model (`Model.weight_files`: model.safetensors, or a
    brought model's graphs); a config that cannot be read names model.safetensors, whose absence loading reports."""
    folder = Path(folder)
    try:
        config = read_config(folder)
        settings = REGISTRY[config["family"]].config(**config["model"])
        names = model_class(config["family"], settings).weight_files(settings)
    except CheckpointError:
        names = (WEIGHTS_FILE,)
    return [folder / CONFIG_FILE, *(folder / name for name in names)]


def fingerprint(folder: str | os.PathLike) -> str:
    """A short hash of the folder's config and weights: names caches of anything derived from the model."""
    digest = hashlib.sha256()
    for path in model_files(folder):
        with open(path, "rb") as f:
            digest.update(hashlib.file_digest(f, "sha256").digest())
    return digest.hexdigest()[:16]
