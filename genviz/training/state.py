"""A run in progress (`Run`), and its resume state: written after each epoch, read back with weights_only."""

import pickle
from dataclasses import dataclass, field
from pathlib import Path

import torch

from genviz.checkpoint import first_line
from genviz.data import ImageDataset, StreamedImageFolder
from genviz.models import Model
from genviz.training.config import ARCH_FIELDS, TrainConfig, TrainingError

STATE_FILE = "state.pt"
STATE_KEYS = {"config", "model", "optimizers", "epoch", "seconds", "first_loss", "shuffle_rng", "torch_rng"}


@dataclass
class Run:
    """A training run: what `train_run` returns when it is done, its model trained and (by rank 0) saved."""

    config: TrainConfig  # its settings, every default made explicit
    model: Model
    optimizers: dict[str, torch.optim.Optimizer]
    data: ImageDataset | StreamedImageFolder
    shuffle: torch.Generator
    command: str  # how to run it again, as its checkpoint records
    epoch: int = 0  # epochs completed
    seconds: float = 0.0  # training time over all sessions
    first_loss: float | None = None  # mean loss of the first epoch, the yardstick for divergence
    history: list[float] = field(default_factory=list)  # mean `train_step` figure of each epoch done
    rank: int = 0  # this process's among those training together (torchrun's RANK)
    world_size: int = 1  # processes training together, each on its own shard of the data

    @property
    def out(self) -> Path:
        """The checkpoint folder."""
        return self.config.out

    def state(self) -> dict:
        return {
            "config": self.config.record(),
            "model": self.model.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "epoch": self.epoch,
            "seconds": self.seconds,
            "first_loss": self.first_loss,
            "history": self.history,
            "shuffle_rng": self.shuffle.get_state(),
            "torch_rng": torch.get_rng_state(),
        }


def restore(run: Run, state_path: Path) -> None:
    """Continue `run` from the state in `state_path`, read with weights_only: a file that holds
    anything but tensors and plain values (a pickle that would run code) is refused, never run."""
    again = "start the run again with --overwrite in place of --resume"
    try:
        state = torch.load(state_path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's message advises weights_only=False: not advice to pass on
        raise TrainingError(
            f"{state_path}: refused: it holds objects other than tensors and plain values, so genviz did not "
            f"write it, and loading it could run code. Delete it, or {again}"
        ) from None
    except Exception as e:  # truncated, empty or not a torch file: say so rather than guess
        raise TrainingError(f"{state_path}: damaged, cannot be read ({first_line(e)}); {again}") from None
    if isinstance(state, dict) and "args" in state and "config" not in state:
        raise TrainingError(f"{state_path}: written by an older genviz trainer, which kept other settings; {again}")
    if not isinstance(state, dict) or not STATE_KEYS <= state.keys() or not isinstance(state["config"], dict):
        raise TrainingError(f"{state_path}: not a genviz training state; {again}")
    saved, now = state["config"], run.config.record()
    changed = [
        f"--{k.replace('_', '-')} (was {saved.get(k)!r}, now {now[k]!r})"
        for k in ARCH_FIELDS
        if k != "settings" and saved.get(k) != now[k]
    ]
    was = saved.get("settings") if isinstance(saved.get("settings"), dict) else {}
    changed += [
        f"setting {k} (was {was.get(k)!r}, now {now['settings'].get(k)!r})"
        for k in sorted(was.keys() | now["settings"].keys(), key=str)
        if was.get(k) != now["settings"].get(k)
    ]
    if changed:
        raise TrainingError(f"--resume cannot change the model or data: {', '.join(changed)}")
    try:
        run.model.load_state_dict(state["model"])
        for name, optimizer in run.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        run.epoch, run.seconds, run.first_loss = int(state["epoch"]), float(state["seconds"]), state["first_loss"]
        run.history = [float(v) for v in state.get("history", [])][: run.epoch]  # states before it had none
        run.shuffle.set_state(state["shuffle_rng"])
        torch.set_rng_state(state["torch_rng"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:  # a state of another model, or edited
        raise TrainingError(f"{state_path}: does not fit this run ({first_line(e)}); {again}") from None
