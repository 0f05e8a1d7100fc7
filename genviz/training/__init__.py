"""Training as a library: one run is a `TrainConfig`, and `train_model` trains it into a checkpoint folder.

    from genviz.training import TrainConfig, train_model

    train_model(TrainConfig(model="vae", dataset="mnist", out=Path("checkpoints/mnist-vae"), epochs=10))

`train_run` does the same and returns the finished `Run`, its model still in memory. The command
line, `genviz train`, builds a TrainConfig from its flags and calls train_model; so does
every process torchrun starts. The trainer asks the model what to train (`objectives`,
`make_optimizers`, `train_step`), so a family registered in `genviz.models` trains with no edit here,
its own config fields set through `TrainConfig.settings`.

Modules, one job each: config (TrainConfig and its checks), loop (setup and epochs), distributed
(torchrun's processes and DDP), speed (bf16, channels-last, torch.compile), state (Run and the
resume state), saving (checkpoint, previews, disk errors), train (the command line).

The step and its speed settings are public too, for a caller that times the trainer's own step:
`model_config` builds a model's config as the trainer does, `prepare_model` places it,
`mixed_precision` and `autocast_for` give its autocast, and `training_losses(model, device)` the
losses `model.train_step(losses, model.make_optimizers(lr), x, labels, autocast)` steps on.
"""

from genviz.training.config import TrainConfig, TrainingError, model_config
from genviz.training.distributed import training_losses
from genviz.training.loop import train_model, train_run
from genviz.training.speed import autocast_for, mixed_precision, native_bf16, prepare_model
from genviz.training.state import STATE_FILE, Run

__all__ = [
    "STATE_FILE",
    "Run",
    "TrainConfig",
    "TrainingError",
    "autocast_for",
    "mixed_precision",
    "model_config",
    "native_bf16",
    "prepare_model",
    "train_model",
    "train_run",
    "training_losses",
]
