"""Several training processes: torchrun's ranks and devices, the process group, the losses through
DistributedDataParallel (and torch.compile), and what the processes agree on.

torchrun starts the processes (WORLD_SIZE above 1) and the trainer trains with DDP, over nccl on
GPUs (each process on cuda:LOCAL_RANK) and gloo on CPUs. Each process trains on its own shard of
every epoch's shuffled order, DDP averages the gradients, and only rank 0 writes and prints.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from genviz import best_device
from genviz.models import Model
from genviz.models.base import Loss
from genviz.training.config import TrainingError


class Objective(nn.Module):
    """A training loss as a module's forward, for DistributedDataParallel, which averages the gradients
    of a module's parameters in the backward of what its forward returned. `part` is what the loss
    trains: the whole model, or one GAN player, so that each player's DDP reduces its own gradients."""

    def __init__(self, loss: Loss, part: nn.Module):
        super().__init__()
        self.part = part  # registers the parameters DDP reduces; `loss` reaches them through the model
        self.compute = loss

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.compute(*inputs)


def training_losses(
    model: Model, device: torch.device, distributed: bool = False, compile: bool = False
) -> dict[str, Loss]:
    """The losses `model.train_step` steps on, by the names of `model.objectives()`: the objectives'
    own on one process, else each as a module: through DistributedDataParallel when `distributed`, so
    that every backward of a loss averages its gradients over the processes before the optimiser
    steps, and through torch.compile when `compile` (of the DDP module, as PyTorch recommends, so
    that its DDPOptimizer splits the graph at the gradient buckets and communication overlaps the
    backward). The weights stay in `model`, which is what is saved.

    Each objective gets its own DDP over the part it trains. The GAN's discriminator loss trains the
    discriminator only (the fake images are detached), the generator's the generator only (the
    discriminator's weights are frozen during it), so every parameter a DDP holds gets a gradient in
    each of its backwards and no find_unused_parameters search is needed, but in a model that says it has
    `unused_parameters` (a growing network's blocks not yet reached). Every process takes the
    same steps in the same order (the GAN: one discriminator step, then one generator step), so the
    DDPs' collectives line up across processes.

    Buffers (BatchNorm's running statistics) are not broadcast at each forward: each process keeps
    its own, and average_buffers makes them one before each save."""
    objectives = model.objectives()
    if not distributed and not compile:
        return {name: loss for name, (loss, _) in objectives.items()}
    ids = [device.index] if device.type == "cuda" else None

    def replicate(loss: Loss, part: nn.Module) -> nn.Module:
        objective = Objective(loss, part)
        if distributed:
            objective = DistributedDataParallel(
                objective, device_ids=ids, forward_sync_buffers=False, find_unused_parameters=model.unused_parameters
            )
        return torch.compile(objective) if compile else objective

    return {name: replicate(loss, part) for name, (loss, part) in objectives.items()}


def processes() -> tuple[int, int]:
    """(rank, world size) of this process: as torchrun sets them, else (0, 1)."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def process_device(requested: str | None, world_size: int) -> torch.device:
    """The device this process trains on: under torchrun on a GPU, the one of its LOCAL_RANK."""
    device = best_device(requested)
    if world_size == 1:
        return device
    if device.type == "cuda":
        if device.index is not None:
            raise TrainingError(
                f"under torchrun each process takes the GPU of its LOCAL_RANK; pass --device cuda, not {device}"
            )
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    if device.type != "cpu":
        raise TrainingError(f"training on several processes needs CUDA GPUs (nccl) or CPUs (gloo), not {device}")
    return device


@contextmanager
def process_group(device: torch.device, world_size: int) -> Iterator[None]:
    """The default process group over torchrun's rendezvous (its MASTER_ADDR and MASTER_PORT) while
    training runs: nccl between GPUs, gloo between CPUs. Nothing for a single process."""
    if world_size == 1 or dist.is_initialized():
        yield
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield
    finally:
        dist.destroy_process_group()


def default_workers() -> int:
    """Decoding processes per training process: up to 4, sharing the CPUs with the other training
    processes on this machine (torchrun's LOCAL_WORLD_SIZE)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(4, cpus // int(os.environ.get("LOCAL_WORLD_SIZE", 1))))


def global_mean(total: torch.Tensor, steps: int, world_size: int) -> float:
    """The mean loss over `steps` steps of every process: the same number on each, so that a
    divergence stops all of them, not one while the others wait for it."""
    if world_size > 1:
        total = total.clone()
        dist.all_reduce(total)
    return total.item() / (steps * world_size)


@torch.no_grad()
def average_buffers(model: Model, world_size: int) -> None:
    """Make every process's BatchNorm running statistics their mean over the processes (as timm's
    distribute_bn does), so that all hold the same model and rank 0 saves statistics of all the data."""
    for buffer in model.buffers():
        if buffer.is_floating_point():
            dist.all_reduce(buffer)
            buffer.div_(world_size)


def noise_seed(seed: int, epoch: int, rank: int) -> int:
    """The seed of a process's noise (z, VAE samples, DAE corruption) in an epoch of a multi-process
    run: its own per process, and the same again when --resume starts that epoch."""
    return ((seed * 1_000_003 + epoch) * 65_536 + rank) % 2**63
