"""Training one model: `train_model(config)`, or `train_run(config)` to keep the finished run; its
setup, its epochs, the learning-rate schedule and the divergence checks.

The loop asks the model, never its family: `objectives()` and `make_optimizers` for what it trains,
`train_step` for one step, `divergence_check`, `fit_images` and `fit_to_data` after each epoch, and
`preview` for the epoch's picture.
"""

import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from genviz.checkpoint import MAX_PARAMETERS, first_line, model_size
from genviz.data import DatasetError, StreamedImageFolder, checked, load_dataset, to_float
from genviz.models import build_model
from genviz.training.config import TrainConfig, TrainingError, check_config, model_config, resolved, with_defaults
from genviz.training.distributed import (
    average_buffers,
    default_workers,
    global_mean,
    noise_seed,
    process_device,
    process_group,
    processes,
    training_losses,
)
from genviz.training.saving import check_writable, preview, save_epoch
from genviz.training.speed import autocast_for, check_compile, mixed_precision, prepare_model
from genviz.training.state import STATE_FILE, Run, restore


def train_model(config: TrainConfig, command: str | None = None) -> Path:
    """Train the model `config` describes; returns its checkpoint folder, which holds the last epoch.
    Under torchrun every process calls this and trains its share; rank 0 saves. `command`: how the
    checkpoint says to run it again (default: this call, `config.call()`)."""
    return train_run(config, command).out


def train_run(config: TrainConfig, command: str | None = None) -> Run:
    """As train_model, but returns the finished run: its model in memory (saved in run.out by rank 0),
    optimisers, data and epochs."""
    rank, world_size = processes()
    device = process_device(config.device, world_size)
    with process_group(device, world_size):
        try:
            run = fit(config, command or config.call(), device, rank, world_size)
        except DatasetError as e:  # a streamed file read outside the epoch loop (preview, fit_to_data)
            raise TrainingError(f"{e}. Remove or replace the file, then run again") from None
        if world_size > 1:
            dist.barrier()  # no process leaves before rank 0 has saved the last epoch
        return run


def set_lr(optimizers: dict[str, torch.optim.Optimizer], lr: float) -> None:
    for optimizer in optimizers.values():
        for group in optimizer.param_groups:
            group["lr"] = lr


def scheduled_lr(config: TrainConfig, progress: float) -> float:
    """The learning rate at `progress` (0 to 1) through the run: a function of the step alone,
    so --resume needs no scheduler state."""
    if config.lr_schedule == "cosine":
        return config.lr * 0.5 * (1 + math.cos(math.pi * progress))
    return config.lr


def start(config: TrainConfig, command: str, device: torch.device, rank: int, world_size: int) -> tuple[Run, bool]:
    """The run `config` describes, ready for its first (or, resumed, next) epoch: every setting
    checked, the data loaded, the model built on `device` with its optimisers; and whether it trains
    under bf16 autocast."""
    config = with_defaults(config)
    state_path = config.run_dir / STATE_FILE
    if config.resume and not state_path.is_file():
        raise TrainingError(f"nothing to resume: {state_path} does not exist")
    if not config.resume and (config.out / "model.safetensors").exists() and not config.overwrite:
        raise TrainingError(
            f"{config.out} already holds a checkpoint; pass --resume to continue it or --overwrite to replace it"
        )
    check_config(config)
    for folder in (config.out, config.run_dir) if rank == 0 else ():  # only rank 0 writes
        check_writable(folder)
    amp = mixed_precision(config.amp, device)
    if config.compile:
        check_compile(device)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)  # the same initial weights in every process
    try:
        data = load_dataset(config.dataset, "train", image_size=config.image_size, stream=config.stream)
        data = (data.of_classes(config.classes) if config.classes else data).take(config.limit)
    except DatasetError as e:
        raise TrainingError(str(e)) from None
    if config.workers is not None and not isinstance(data, StreamedImageFolder):
        raise TrainingError(f"--workers decodes streamed images, and {config.dataset} is held in memory; add --stream")
    try:
        family, made = model_config(config, data.image_shape, len(data.class_names))
        size = model_size(family, made)
    except (ValueError, TypeError, RuntimeError) as e:  # a config's checks, or sizes past what torch can index
        raise TrainingError(f"these settings make no model: {first_line(e)}") from None
    if size > MAX_PARAMETERS:
        raise TrainingError(
            f"--width {made.width} and --latent-dim {made.latent_dim} make a model of {size:,} parameters, "
            f"larger than genviz opens ({MAX_PARAMETERS:,}); choose smaller ones"
        )
    config = resolved(config, made)
    model = prepare_model(build_model(family, made), device, config.channels_last)
    shuffle = torch.Generator().manual_seed(config.seed)  # the same order in every process, which takes its shard
    optimizers = model.make_optimizers(config.lr)
    run = Run(config, model, optimizers, data.to(device), shuffle, command, rank=rank, world_size=world_size)
    if config.resume:
        restore(run, state_path)
        set_lr(run.optimizers, config.lr)  # --lr may change on resume, e.g. after a divergence
        if rank == 0:
            tqdm.write(f"resuming {config.out} after epoch {run.epoch} of {config.epochs}")
    return run, amp


def batches(run: Run, device: torch.device) -> Callable[[], Iterator[tuple[torch.Tensor, torch.Tensor]]]:
    """What gives an epoch's batches (images as floats in [0, 1], labels) of this process's shard:
    gathered from the data in memory, or read from disk by a DataLoader whose workers persist."""
    config, rank, world_size = run.config, run.rank, run.world_size
    if not isinstance(run.data, StreamedImageFolder):
        return lambda: run.data.batches(
            config.batch_size, shuffle=True, generator=run.shuffle, drop_last=True, rank=rank, world_size=world_size
        )
    workers = default_workers() if config.workers is None else config.workers
    loader = run.data.loader(
        config.batch_size, run.shuffle, True, rank, world_size, workers, pin_memory=device.type == "cuda"
    )
    if rank == 0:
        why = (
            f"its {run.data.nbytes / 2**30:.1f} GiB of decoded images are over a quarter of this machine's memory "
            "(--no-stream holds them in memory anyway)"
            if config.stream is None
            else "--stream"
        )
        decoders = f"{workers} worker process{'es' if workers != 1 else ''}" if workers else "this process"
        tqdm.write(f"streaming {config.dataset} from disk, decoded in {decoders}: {why}")

    def epoch() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for batch in loader:
            images, labels = checked(batch)
            yield to_float(images.to(device, non_blocking=True)), labels.to(device, non_blocking=True)

    return epoch


def fit(config: TrainConfig, command: str, device: torch.device, rank: int, world_size: int) -> Run:
    """Train the run `config` describes to its last epoch, saving each (rank 0); returns it."""
    run, amp = start(config, command, device, rank, world_size)
    config, model = run.config, run.model
    losses = training_losses(model, device, world_size > 1, config.compile)
    epoch_batches = batches(run, device)
    autocast = autocast_for(device, amp)
    fixed_x = run.data.float_images(slice(0, 8)).to(device)
    fixed_z = torch.randn(64, model.latent_dim, generator=torch.Generator().manual_seed(config.seed)).to(device)
    global_batch = config.batch_size * world_size
    steps_per_epoch = len(run.data) // global_batch
    if steps_per_epoch == 0:
        per = f" per process for {world_size} processes" if world_size > 1 else ""
        raise TrainingError(
            f"{len(run.data)} images is fewer than one batch of {config.batch_size}{per}; lower --batch-size"
        )
    total_steps = config.epochs * steps_per_epoch

    for epoch in range(run.epoch, config.epochs):
        model.train()
        if world_size > 1:
            torch.manual_seed(noise_seed(config.seed, epoch, rank))
        start_time, total = time.perf_counter(), torch.zeros((), device=device)
        bar = tqdm(
            epoch_batches(),
            total=steps_per_epoch,
            desc=f"epoch {epoch + 1}/{config.epochs}",
            unit="step",
            leave=False,
            disable=None if rank == 0 else True,
        )  # no bar when output is not a terminal; the epoch summary still prints
        try:
            for i, (x, labels) in enumerate(bar, 1):
                if config.lr_schedule != "constant":
                    set_lr(run.optimizers, scheduled_lr(config, (epoch * steps_per_epoch + i - 1) / total_steps))
                total += model.train_step(losses, run.optimizers, x, labels, autocast)
                if i % 20 == 0 or i == steps_per_epoch:  # reading the loss syncs the GPU, so not every step
                    mean = global_mean(total, i, world_size)
                    if not math.isfinite(mean):
                        raise diverged(run, epoch, f"the loss became {mean}")
                    rate = i * global_batch / (time.perf_counter() - start_time)
                    bar.set_postfix(loss=f"{mean:.4g}", img_s=f"{rate:.0f}")
        except DatasetError as e:  # a streamed file that cannot be read: the run stops at it
            kept = f"{config.out} keeps epoch {run.epoch}" if run.epoch else "nothing was saved"
            raise TrainingError(
                f"training stopped in epoch {epoch + 1}: {e}. Remove or replace the file; {kept}"
                + (", continue with --resume" if run.epoch else "")
            ) from None
        seconds = time.perf_counter() - start_time
        mean = global_mean(total, steps_per_epoch, world_size)
        if not math.isfinite(mean):
            raise diverged(run, epoch, f"the loss became {mean}")
        if model.divergence_check and run.first_loss is not None and mean > 100 * abs(run.first_loss):
            raise diverged(run, epoch, f"the loss exploded to {mean:.4g} from {run.first_loss:.4g} in the first epoch")
        run.first_loss = mean if run.first_loss is None else run.first_loss
        run.epoch, run.seconds = epoch + 1, run.seconds + seconds
        run.history.append(mean)
        if world_size > 1:
            average_buffers(model, world_size)
        model.eval()
        if model.fit_images:  # every process alike, so that all hold the same model
            model.fit_to_data(run.data.float_images(slice(0, model.fit_images)).to(device))
        if rank == 0:
            save_epoch(run, device, amp, mean, preview(model, fixed_x, fixed_z))
            tqdm.write(
                f"epoch {epoch + 1}/{config.epochs}: {model.loss_name.replace('_', ' ')} {mean:.4g}, "
                f"{steps_per_epoch * global_batch / seconds:.0f} images/s, saved {config.out}"
            )
    model.to(memory_format=torch.contiguous_format)  # as load_model builds it, so both compute alike
    return run


def diverged(run: Run, epoch: int, what: str) -> TrainingError:
    kept = f"{run.config.out} keeps epoch {run.epoch}" if run.epoch else "nothing was saved"
    return TrainingError(
        f"training stopped in epoch {epoch + 1}: {what}; {kept}. "
        f"Try a lower --lr (now {run.config.lr:g}) or another --seed."
    )
