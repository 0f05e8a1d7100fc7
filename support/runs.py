"""Tiny real training runs: the arguments of `genviz train` for a few thousand MNIST images
and small nets, seconds on a CPU, and the same run as a `training.TrainConfig`."""

from genviz.training import TrainConfig

FAMILIES = ("ae", "dae", "vae", "gan", "classifier")


def train_args(out, run_dir, model: str, epochs: int = 2, *extra: str) -> list[str]:
    """A tiny real run: a few thousand MNIST images, small nets, seconds on a CPU; without the explore bundle
    (tests/test_explore.py tests the one a finished run writes)."""
    settings = f"--model {model} --dataset mnist --epochs {epochs} --limit 2048 --batch-size 64"
    settings += " --latent-dim 8 --width 16 --device cpu --no-bundle"
    return [*settings.split(), "--out", str(out), "--run-dir", str(run_dir), *extra]


def tiny_config(out, run_dir, model: str, epochs: int = 2, **fields) -> TrainConfig:
    """train_args' run as a TrainConfig for `genviz.training.train_model`; `fields` set any other field."""
    tiny = {"limit": 2048, "batch_size": 64, "latent_dim": 8, "width": 16, "device": "cpu"}
    return TrainConfig(model=model, dataset="mnist", out=out, epochs=epochs, run_dir=run_dir, **(tiny | fields))
