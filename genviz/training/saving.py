"""What a run writes: after every epoch the checkpoint folder holds that epoch's model, and the run
folder the resume state and a preview grid. Every file is written atomically, so killing the run
loses at most the epoch in progress, and a disk that fills up stops the run with the last saved
epoch intact and a message saying how to continue.
"""

import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import torch
from PIL import Image

from genviz import save_checkpoint
from genviz.checkpoint import dataset_info
from genviz.data import StreamedImageFolder
from genviz.files import write_torch
from genviz.models import Model
from genviz.pictures import grid, save_png
from genviz.training.config import TrainingError
from genviz.training.state import STATE_FILE, Run

MIN_FREE_BYTES = 200 << 20


def check_writable(folder: Path) -> None:
    """Fail before training when the output cannot be written, not after the first epoch; then clear
    the temp files a writer killed mid-write left there."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise TrainingError(
            f"cannot write to {folder}: {e.strerror or e}. Choose another folder or fix its permissions."
        ) from None
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_BYTES:
        raise TrainingError(
            f"only {free >> 20} MiB free on the disk holding {folder}; training needs at least "
            f"{MIN_FREE_BYTES >> 20} MiB. Free some space or choose another folder."
        )
    for stale in folder.glob(".*.tmp"):  # left by a writer killed mid-write; never a real file
        stale.unlink()


@torch.no_grad()
def preview(model: Model, fixed_x: torch.Tensor, fixed_z: torch.Tensor) -> Image.Image | None:
    """The epoch's preview grid of what `model.preview` shows, in rows of len(fixed_x): a GAN's
    samples from a fixed z; other models' inputs (as corrupted for a DAE) over reconstructions,
    plus prior samples for a VAE. None for a model with nothing to show (a classifier)."""
    model.eval()
    images = model.preview(fixed_x, fixed_z)
    return None if images is None else grid(images, nrow=len(fixed_x))


def save_epoch(run: Run, device: torch.device, amp: bool, loss: float, picture: Image.Image | None) -> None:
    """Write epoch run.epoch: the checkpoint, then the preview and the resume state."""
    config = run.config
    training = {
        "command": run.command,
        "epochs": run.epoch,
        "seconds": round(run.seconds, 1),
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "mixed_precision": "bf16" if amp else "off",
        **({"data": "streamed from disk"} if isinstance(run.data, StreamedImageFolder) else {}),
        **({"compiled": True} if config.compile else {}),
        "train_images": len(run.data),
        "batch_size": config.batch_size,
        **(
            {"processes": run.world_size, "global_batch_size": config.batch_size * run.world_size}
            if run.world_size > 1
            else {}
        ),
        "lr": config.lr,
        "lr_schedule": config.lr_schedule,
        "seed": config.seed,
        f"final_{run.model.loss_name}": round(loss, 6),
        f"{run.model.loss_name}_by_epoch": [float(f"{value:.4g}") for value in run.history],
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    try:
        save_checkpoint(run.model, config.out, dataset_info(run.data.name, run.data.class_names), training)
    except OSError as e:
        raise not_saved(run, e) from None
    try:
        if picture is not None:
            save_png(picture, config.run_dir / f"epoch-{run.epoch:03d}.png")
        write_torch(config.run_dir / STATE_FILE, run.state())  # last, so a resume never skips a saved epoch
    except OSError as e:
        raise state_not_saved(run, e) from None


def _fix(error: OSError) -> str:
    return "Make the folder writable" if isinstance(error, PermissionError) else "Free some disk space"


def not_saved(run: Run, error: OSError) -> TrainingError:
    """Epoch run.epoch could not be written to the checkpoint folder, which keeps the epoch before it:
    save_checkpoint renames its files into place only once all are written."""
    out, kept = run.config.out, run.epoch - 1
    if kept:
        held = f"{out} still holds epoch {kept}, whole. {_fix(error)}, then continue with --resume."
    else:
        held = f"Nothing of this run was saved. {_fix(error)}, then run the same command again."
    return TrainingError(f"could not save epoch {run.epoch} to {out}: {error.strerror or error}. {held}")


def state_not_saved(run: Run, error: OSError) -> TrainingError:
    """The checkpoint holds epoch run.epoch, but the run folder's state (and preview) could not be
    written: --resume would start from the state of the epoch before and train this one again."""
    out, run_dir, kept = run.config.out, run.config.run_dir, run.epoch - 1
    then = (
        f"--resume would continue from epoch {kept} and train epoch {run.epoch} again. "
        f"{_fix(error)}, then continue with --resume."
        if kept
        else f"{_fix(error)}, then run the same command again with --overwrite."
    )
    return TrainingError(
        f"saved epoch {run.epoch} to {out}, but could not write the resume state in {run_dir}: "
        f"{error.strerror or error}. {then}"
    )
