"""What one training run is: its settings (`TrainConfig`), their checks, and the model config they make.

The trainer knows no family: a variant name (`TrainConfig.model`) leads through
`genviz.models.variants()` to its family and the config settings it fixes, and `settings` sets any
other field of that family's config dataclass, so that a new family trains with no edit here.
"""

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from genviz.models import REGISTRY, ModelConfig, variants

# Model config fields the trainer fills itself: from the data, or from TrainConfig's own fields.
FROM_DATA = ("image_shape", "num_classes")
SHARED = ("latent_dim", "width")
# Settings that fix the model or its data; resume refuses to change them.
ARCH_FIELDS = ("model", "dataset", "latent_dim", "width", "settings", "image_size", "limit", "classes")


class TrainingError(Exception):
    """Training cannot start or go on; the message says why and what to do."""


@dataclass
class TrainConfig:
    """One training run; every field but the first three has the default of `genviz train`,
    whose flags are these fields' names (`batch_size` is `--batch-size`)."""

    model: str  # a variant name of genviz.models.variants(): ae, dae, vae, gan, classifier, ...
    dataset: str  # mnist, fashion-mnist, cifar10, or an image folder under the data root
    out: Path  # checkpoint folder to write
    epochs: int = 10  # total epochs (with resume: including those done)
    latent_dim: int | None = None  # size of z (None: the family config's default: 16; classifier features 128)
    width: int | None = None  # channels of the first conv layer (None: the family config's default, 32)
    batch_size: int = 128  # images per step and per process (under torchrun)
    lr: float | None = None  # Adam learning rate (None: the model's default_lr: 1e-3; GAN 2e-4)
    lr_schedule: str = "constant"  # "constant", or "cosine": decay to zero over the epochs (Loshchilov & Hutter 2017)
    seed: int = 0  # initial weights, shuffling order and noise
    settings: dict = field(default_factory=dict)  # other fields of the family's config, over the variant's own
    image_size: int | None = None  # resize image-folder datasets to this square size
    classes: list[int] | None = None  # train on these class indices only (one-class models)
    limit: int | None = None  # train on the first N images only
    stream: bool | None = None  # image folders: read from disk batch by batch (None: when too large for memory)
    workers: int | None = None  # with stream: DataLoader processes that decode images (None: min(4, CPUs))
    device: str | None = None  # cpu, cuda, cuda:1, mps (None: the best available)
    amp: bool | None = None  # bf16 mixed precision (None: on for a CUDA GPU with bf16, off elsewhere)
    channels_last: bool | None = None  # conv weights channels-last (None: on for the CPU and CUDA)
    compile: bool = False  # run the training losses through torch.compile
    threads: int | None = None  # CPU threads for tensor ops (None: PyTorch's, one per core)
    run_dir: Path | None = None  # optimiser state and previews (None: runs/<out name>)
    resume: bool = False  # continue the run from its last completed epoch
    overwrite: bool = False  # replace an existing checkpoint folder

    def __post_init__(self):
        self.out = Path(self.out)
        self.run_dir = None if self.run_dir is None else Path(self.run_dir)
        self.classes = None if self.classes is None else [int(c) for c in self.classes]
        self.settings = dict(self.settings)

    @property
    def family(self) -> str:
        """The registry's family of the variant `model`."""
        found = variants()
        if self.model not in found:
            raise TrainingError(f"unknown model {self.model!r}; known: {', '.join(found)}")
        return found[self.model][0]

    def record(self) -> dict:
        """The config as plain values (paths as text): what the resume state keeps."""
        return dataclasses.asdict(self) | {"out": str(self.out), "run_dir": str(self.run_dir)}

    def call(self) -> str:
        """A Python call that trains this run again: the command a checkpoint records when it was
        trained through the library (the command line records itself)."""
        defaults, given = TrainConfig(self.model, self.dataset, self.out), []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("model", "dataset", "out") or (
                f.name not in ("resume", "overwrite") and value != getattr(defaults, f.name)
            ):
                given.append(f"{f.name}={str(value) if isinstance(value, Path) else value!r}")
        return f"genviz.training.train_model(genviz.training.TrainConfig({', '.join(given)}))"


def with_defaults(config: TrainConfig) -> TrainConfig:
    """`config` with the learning rate and the run folder it leaves to defaults filled in."""
    lr = config.lr if config.lr is not None else REGISTRY[config.family].model.default_lr
    return dataclasses.replace(config, lr=lr, run_dir=config.run_dir or Path("runs") / config.out.name)


def check_config(config: TrainConfig) -> None:
    """Refuse settings that would crash training later with a traceback instead of a reason."""
    for name in ("epochs", "batch_size", "threads", "limit", "image_size"):
        value = getattr(config, name)
        if value is not None and value < 1:
            raise TrainingError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if config.workers is not None and config.workers < 0:
        raise TrainingError(f"--workers must be 0 or more, got {config.workers}")
    if config.workers is not None and config.stream is False:
        raise TrainingError("--workers decodes streamed images; it does nothing with --no-stream")
    if not config.lr > 0:
        raise TrainingError(f"--lr must be positive, got {config.lr:g}")
    if config.lr_schedule not in ("constant", "cosine"):
        raise TrainingError(f"--lr-schedule must be constant or cosine, got {config.lr_schedule!r}")
    config_fields = {f.name for f in dataclasses.fields(REGISTRY[config.family].config)}
    for name in config.settings:
        if name in FROM_DATA or name in SHARED:
            where = "the dataset" if name in FROM_DATA else f"TrainConfig.{name}"
            raise TrainingError(f"settings cannot set {name}: it comes from {where}")
        if name not in config_fields:
            raise TrainingError(
                f"a {config.model} model has no setting {name!r}; its settings: "
                f"{', '.join(sorted(config_fields - set(FROM_DATA) - set(SHARED)))}"
            )


def model_config(config: TrainConfig, image_shape: tuple[int, int, int], num_classes: int) -> tuple[str, ModelConfig]:
    """(family, its config) of the model `config` trains on images of `image_shape` in `num_classes`
    classes: the config dataclass's defaults, under the variant's settings, under `settings`.
    Raises what the config's own checks raise (ValueError) for settings that make no model."""
    family, fixed = variants()[config.model]
    config_type = REGISTRY[family].config
    names = {f.name for f in dataclasses.fields(config_type)}
    values = {"image_shape": image_shape, "num_classes": num_classes}
    values = {k: v for k, v in values.items() if k in names}
    values |= {k: getattr(config, k) for k in SHARED if getattr(config, k) is not None}
    return family, config_type(**values, **(fixed | config.settings))


def resolved(config: TrainConfig, model: ModelConfig) -> TrainConfig:
    """`config` with every default made explicit by `model`, the config it built: what a run and its
    resume state record, so that a resume compares whole models, not the flags that were typed."""
    settings = {k: v for k, v in dataclasses.asdict(model).items() if k not in FROM_DATA and k not in SHARED}
    return dataclasses.replace(config, latent_dim=model.latent_dim, width=model.width, settings=settings)
