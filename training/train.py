"""Train an AE, denoising AE, VAE, GAN or classifier and write a checkpoint folder.

    python -m training.train --model vae --dataset mnist --epochs 10 --out checkpoints/mnist-vae

After every epoch the checkpoint folder holds that epoch's model, and the run folder
(runs/<name>/ unless --run-dir says otherwise) holds the optimiser state for --resume and
a preview grid (not for a classifier). Every file is written atomically, so killing the run
loses at most the epoch in progress, and a disk that fills up stops the run with the last
saved epoch intact and a message saying how to continue.

Speed: Adam runs fused (one kernel over all parameters) on the CPU and CUDA, and the conv weights
are kept channels-last on the CPU and CUDA (--no-channels-last: not); both change nothing but float
rounding. bf16 mixed precision (--amp) changes the numerics more and is on by default only on a
CUDA GPU. --compile runs the loss through torch.compile (off by default: compiling takes tens of
seconds). --threads sets the CPU threads: on a machine shared with other busy processes, fewer
threads than cores can be several times faster, as threads wait for each other at every op.

Data: a dataset is held in memory (on the GPU when training on one) unless it is an image folder
whose decoded images would take more than a quarter of the machine's memory, or --stream says so:
then it is read from disk batch by batch, decoded in --workers DataLoader processes, in the same
seeded order as in memory.

Several processes, on one machine or several: torchrun starts them and this module notices
(WORLD_SIZE above 1) and trains with DistributedDataParallel, over nccl on GPUs (each process on
cuda:LOCAL_RANK) and gloo on CPUs:

    torchrun --nproc_per_node 4 -m training.train --model vae --dataset mnist --out checkpoints/mnist-vae

Each process trains on its own shard of every epoch's shuffled order (--batch-size images per
step, per process), DDP averages the gradients, and only rank 0 writes the checkpoint, the
previews and the resume state, and prints; --resume has every process read the same state.
"""

import argparse
import math
import os
import pickle
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from genviz import best_device, save_checkpoint
from genviz.checkpoint import MAX_PARAMETERS, dataset_info, first_line, model_size, write_torch
from genviz.data import DatasetError, ImageDataset, StreamedImageFolder, checked, load_dataset, to_float
from genviz.images import grid, save_png
from genviz.models import (
    GAN,
    AEConfig,
    AutoEncoder,
    Classifier,
    ClassifierConfig,
    GANConfig,
    Model,
    VAEConfig,
    build_model,
)
from genviz.noise import NOISE_KINDS

STATE_FILE = "state.pt"
STATE_KEYS = {"args", "model", "optimizers", "epoch", "seconds", "first_loss", "shuffle_rng", "torch_rng"}
FUSED_ADAM_DEVICES = ("cpu", "cuda")
# Settings that fix the model or its data; --resume refuses to change them.
ARCH_ARGS = (
    "model",
    "dataset",
    "latent_dim",
    "width",
    "noise",
    "noise_level",
    "beta",
    "likelihood",
    "gan_loss",
    "image_size",
    "limit",
    "classes",
    "reconstruction",
)
MIN_FREE_BYTES = 200 << 20
PRIOR_FIT_IMAGES = 10_000  # training images whose latents fit an AE's sampling distribution


class TrainingError(Exception):
    """Training cannot start or go on; the message says why and what to do."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, choices=("ae", "dae", "vae", "gan", "classifier"))
    p.add_argument(
        "--dataset", required=True, help="mnist, fashion-mnist, cifar10, or an image folder under the data root"
    )
    p.add_argument("--out", required=True, type=Path, help="checkpoint folder to write")
    p.add_argument("--epochs", type=int, default=10, help="total epochs (with --resume: including those done)")
    p.add_argument("--latent-dim", type=int, default=None, help="size of z (default 16; classifier features: 128)")
    p.add_argument("--width", type=int, default=32, help="channels of the first conv layer")
    p.add_argument("--batch-size", type=int, default=128, help="images per step and per process (under torchrun)")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (default 1e-3; GAN 2e-4)")
    p.add_argument(
        "--lr-schedule",
        choices=("constant", "cosine"),
        default="constant",
        help="cosine: decay the learning rate to zero over --epochs (Loshchilov & Hutter 2017)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--noise", choices=NOISE_KINDS, default="gaussian", help="DAE corruption")
    p.add_argument("--noise-level", type=float, default=0.5, help="DAE: gaussian sigma or pixel fraction")
    p.add_argument("--reconstruction", choices=("mse", "bce"), default="mse", help="AE/DAE reconstruction loss")
    p.add_argument("--beta", type=float, default=1.0, help="VAE: weight of the KL term")
    p.add_argument("--likelihood", choices=("bernoulli", "gaussian"), default="bernoulli", help="VAE decoder")
    p.add_argument("--gan-loss", choices=("nonsaturating", "hinge"), default="nonsaturating")
    p.add_argument("--image-size", type=int, default=None, help="resize image-folder datasets to this square size")
    p.add_argument(
        "--classes", type=int, nargs="+", default=None, help="train on these class indices only (one-class models)"
    )
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    p.add_argument(
        "--stream",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="image folders: read from disk batch by batch, decoded in --workers processes (--no-stream: "
        "decode into memory). Default: stream when the decoded images would take over a quarter of the memory",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="with --stream: DataLoader processes that decode images (default: min(4, CPUs per process); "
        "0 decodes in the training process)",
    )
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: the best available)")
    p.add_argument(
        "--amp",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bf16 mixed precision (torch.autocast). Default: on for a CUDA GPU with bf16, off on the CPU. "
        "--amp on a CPU needs native bf16 (AVX512-BF16 or AMX): about 1.9x the images/s of the conv VAE, "
        "1.2x of an MLP, with loss and test ELBO within 0.2%% of float32's after an MNIST epoch; "
        "--no-amp: float32 everywhere",
    )
    p.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="keep conv weights channels-last (NHWC). Default: on for the CPU and CUDA, off elsewhere",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="run the training loss through torch.compile (default off: the first steps wait tens of seconds "
        "for the compiler; on a CPU it needs a C++ compiler)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for tensor ops (default: PyTorch's, one per core); on a busy shared machine try 1",
    )
    p.add_argument("--run-dir", type=Path, default=None, help="optimiser state and previews (default runs/<out name>)")
    p.add_argument("--resume", action="store_true", help="continue the run from its last completed epoch")
    p.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint folder")
    return p


def model_config(args: argparse.Namespace, image_shape: tuple[int, int, int], num_classes: int):
    common = {"image_shape": image_shape, "latent_dim": args.latent_dim, "width": args.width}
    if args.model == "classifier":
        return "classifier", ClassifierConfig(**common, num_classes=num_classes)
    if args.model in ("ae", "dae"):
        corruption = args.noise if args.model == "dae" else "none"
        return "ae", AEConfig(
            **common, corruption=corruption, noise_level=args.noise_level, reconstruction=args.reconstruction
        )
    if args.model == "vae":
        return "vae", VAEConfig(**common, beta=args.beta, likelihood=args.likelihood)
    return "gan", GANConfig(**common, objective=args.gan_loss)


def make_optimizers(model: Model, lr: float) -> dict[str, torch.optim.Optimizer]:
    """Adam, fused into one kernel over all parameters where the model's device has one (the same
    update as the per-parameter loop up to rounding; 1.15x the images/s of the MLP VAE on a CPU)."""
    fused = True if next(model.parameters()).device.type in FUSED_ADAM_DEVICES else None
    if isinstance(model, GAN):  # DCGAN's Adam settings
        return {
            "generator": torch.optim.Adam(model.generator.parameters(), lr=lr, betas=(0.5, 0.999), fused=fused),
            "discriminator": torch.optim.Adam(model.discriminator.parameters(), lr=lr, betas=(0.5, 0.999), fused=fused),
        }
    return {"model": torch.optim.Adam(model.parameters(), lr=lr, fused=fused)}


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes bf16 in hardware, so that bf16 autocast speeds training up
    (elsewhere it is emulated and slower than float32)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return torch.backends.mkldnn.is_available() and (
            torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
        )
    return False


def mixed_precision(amp: bool | None, device: torch.device) -> bool:
    """Whether to train under bf16 autocast: --amp/--no-amp, else on for a CUDA GPU with bf16 only."""
    if amp is None:
        return device.type == "cuda" and native_bf16(device)
    if amp and not native_bf16(device):
        raise TrainingError(
            f"--amp needs bf16 in hardware and {device} has none (a CPU needs AVX512-BF16 or AMX, "
            "a GPU compute capability 8.0 or later); drop --amp to train in float32"
        )
    return amp


def autocast_for(device: torch.device, amp: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if amp else nullcontext()


def prepare_model(model: Model, device: torch.device, channels_last: bool | None = None) -> Model:
    """The model on `device` as training wants it: conv weights channels-last (NHWC) when
    `channels_last`, by default on the CPU, where oneDNN's convs then need no layout conversion
    (1.15x the images/s of the float32 conv VAE), and on CUDA, whose tensor-core convs run NHWC
    (PyTorch's channels-last tutorial; not measured here)."""
    model = model.to(device)
    if channels_last is None:
        channels_last = device.type in ("cpu", "cuda")
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def check_compile(device: torch.device) -> None:
    """Refuse --compile where torch.compile cannot run, before any training, not at the first step."""
    import torch._dynamo

    if not torch._dynamo.is_dynamo_supported():
        raise TrainingError(f"--compile: torch.compile does not run on this Python ({sys.version.split()[0]}); drop it")
    if device.type == "cpu":
        compiler = os.environ.get("CXX", "g++")
        try:
            subprocess.run([compiler, "--version"], capture_output=True, check=True)
        except (OSError, subprocess.CalledProcessError):
            raise TrainingError(
                f"--compile on the CPU needs a C++ compiler ({compiler}, or the one $CXX names); install one "
                "or drop --compile"
            ) from None


def set_lr(optimizers: dict[str, torch.optim.Optimizer], lr: float) -> None:
    for optimizer in optimizers.values():
        for group in optimizer.param_groups:
            group["lr"] = lr


def scheduled_lr(args: argparse.Namespace, progress: float) -> float:
    """The learning rate at `progress` (0 to 1) through the run: a function of the step alone,
    so --resume needs no scheduler state."""
    if args.lr_schedule == "cosine":
        return args.lr * 0.5 * (1 + math.cos(math.pi * progress))
    return args.lr


def descend(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> torch.Tensor:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def likelihood_step(model, optimizers, x, labels, autocast) -> torch.Tensor:
    with autocast:
        loss = model.loss(x)["loss"]
    return descend(optimizers["model"], loss)


def classifier_step(model: Classifier, optimizers, x, labels, autocast) -> torch.Tensor:
    with autocast:
        loss = model.loss(x, labels)["loss"]
    return descend(optimizers["model"], loss)


def adversarial_step(model: GAN, optimizers, x, labels, autocast) -> torch.Tensor:
    """One discriminator step, then one generator step on the same z."""
    z = torch.randn(x.shape[0], model.latent_dim, device=x.device)
    with autocast:
        d_loss = model.discriminator_loss(x, z)
    optimizers["discriminator"].zero_grad(set_to_none=True)
    d_loss.backward()
    optimizers["discriminator"].step()
    model.discriminator.requires_grad_(False)  # the generator step needs no discriminator grads
    with autocast:
        g_loss = model.generator_loss(z)
    optimizers["generator"].zero_grad(set_to_none=True)
    g_loss.backward()
    optimizers["generator"].step()
    model.discriminator.requires_grad_(True)
    return (d_loss + g_loss).detach()


STEPS = {"gan": adversarial_step, "classifier": classifier_step}  # others: likelihood_step


class Objective(nn.Module):
    """A training loss as a module's forward, for DistributedDataParallel, which averages the gradients
    of a module's parameters in the backward of what its forward returned. `part` is what the loss
    trains: the whole model, or one GAN player, so that each player's DDP reduces its own gradients."""

    def __init__(self, loss, part: nn.Module):
        super().__init__()
        self.part = part  # registers the parameters DDP reduces; `loss` reaches them through the model
        self.compute = loss

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.compute(*inputs)


class Replicas:
    """`model`'s training losses as modules: through DistributedDataParallel when `distributed`, so
    that every backward of a loss averages its gradients over the processes before the optimiser
    steps, and through torch.compile when `compile` (of the DDP module, as PyTorch recommends, so
    that its DDPOptimizer splits the graph at the gradient buckets and communication overlaps the
    backward). The steps take it in place of the model; the weights stay in `model`, which is what
    is saved.

    The GAN gets one DDP per player: the discriminator's loss trains the discriminator only (the
    fake images are detached), the generator's the generator only (the discriminator's weights are
    frozen during it), so every parameter a DDP holds gets a gradient in each of its backwards and
    no find_unused_parameters search is needed. Every process does one discriminator step, then one
    generator step, so the two DDPs' collectives line up across processes.

    Buffers (BatchNorm's running statistics) are not broadcast at each forward: each process keeps
    its own, and average_buffers makes them one before each save."""

    def __init__(self, model: Model, device: torch.device, distributed: bool = True, compile: bool = False):
        self.module = model
        ids = [device.index] if device.type == "cuda" else None

        def replicate(loss, part: nn.Module) -> nn.Module:
            objective = Objective(loss, part)
            if distributed:
                objective = DistributedDataParallel(objective, device_ids=ids, forward_sync_buffers=False)
            return torch.compile(objective) if compile else objective

        if isinstance(model, GAN):
            self.players = {
                "discriminator": replicate(model.discriminator_loss, model.discriminator),
                "generator": replicate(model.generator_loss, model.generator),
            }
        else:
            self.objective = replicate(lambda *inputs: model.loss(*inputs)["loss"], model)

    @property
    def latent_dim(self) -> int:
        return self.module.latent_dim

    @property
    def discriminator(self) -> nn.Module:
        return self.module.discriminator

    def loss(self, *inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": self.objective(*inputs)}

    def discriminator_loss(self, real: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.players["discriminator"](real, z)

    def generator_loss(self, z: torch.Tensor) -> torch.Tensor:
        return self.players["generator"](z)


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


@torch.no_grad()
def preview(model: Model, fixed_x: torch.Tensor, fixed_z: torch.Tensor):
    """GAN: samples from a fixed z. Others: inputs (as corrupted for a DAE) over reconstructions,
    plus prior samples for a VAE. None for a classifier."""
    model.eval()
    if isinstance(model, Classifier):
        return None
    if isinstance(model, GAN):
        return grid(model.decode(fixed_z))
    shown = model.corrupt(fixed_x) if hasattr(model, "corrupt") else fixed_x
    rows = [shown, model.decode(model.encode(shown))]
    if model.family == "vae":
        rows.append(model.decode(fixed_z[: len(fixed_x)]))
    return grid(torch.cat(rows), nrow=len(fixed_x))


def check_writable(folder: Path) -> None:
    """Fail before training when the output cannot be written, not after the first epoch."""
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


def command_line(argv: list[str]) -> str:
    return shlex.join(["python", "-m", "training.train", *argv])


@dataclass
class Run:
    args: argparse.Namespace
    model: Model
    optimizers: dict[str, torch.optim.Optimizer]
    data: ImageDataset | StreamedImageFolder
    shuffle: torch.Generator
    epoch: int = 0  # epochs completed
    seconds: float = 0.0  # training time over all sessions
    first_loss: float | None = None  # mean loss of the first epoch, the yardstick for divergence
    rank: int = 0  # this process's among those training together (torchrun's RANK)
    world_size: int = 1  # processes training together, each on its own shard of the data

    def state(self) -> dict:
        return {
            "args": vars(self.args) | {"out": str(self.args.out), "run_dir": str(self.args.run_dir)},
            "model": self.model.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "epoch": self.epoch,
            "seconds": self.seconds,
            "first_loss": self.first_loss,
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
    if not isinstance(state, dict) or not STATE_KEYS <= state.keys() or not isinstance(state["args"], dict):
        raise TrainingError(f"{state_path}: not a genviz training state; {again}")
    saved = state["args"]
    changed = [
        f"--{k.replace('_', '-')} (was {saved.get(k)!r}, now {getattr(run.args, k)!r})"
        for k in ARCH_ARGS
        if saved.get(k) != getattr(run.args, k)
    ]
    if changed:
        raise TrainingError(f"--resume cannot change the model or data: {', '.join(changed)}")
    try:
        run.model.load_state_dict(state["model"])
        for name, optimizer in run.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        run.epoch, run.seconds, run.first_loss = int(state["epoch"]), float(state["seconds"]), state["first_loss"]
        run.shuffle.set_state(state["shuffle_rng"])
        torch.set_rng_state(state["torch_rng"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:  # a state of another model, or edited
        raise TrainingError(f"{state_path}: does not fit this run ({first_line(e)}); {again}") from None
    set_lr(run.optimizers, run.args.lr)  # --lr may change on resume, e.g. after a divergence


def check_args(args: argparse.Namespace) -> None:
    """Refuse settings that would crash training later with a traceback instead of a reason."""
    for name in ("epochs", "batch_size", "threads", "limit", "image_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise TrainingError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.workers is not None and args.workers < 0:
        raise TrainingError(f"--workers must be 0 or more, got {args.workers}")
    if args.workers is not None and args.stream is False:
        raise TrainingError("--workers decodes streamed images; it does nothing with --no-stream")
    if not args.lr > 0:
        raise TrainingError(f"--lr must be positive, got {args.lr:g}")


def train(argv: list[str]) -> Run:
    """Run training from command-line arguments; returns the finished run (its model saved in args.out).
    Under torchrun, every process calls this and trains its share; rank 0 saves."""
    args = build_parser().parse_args(argv)
    rank, world_size = processes()
    device = process_device(args.device, world_size)
    with process_group(device, world_size):
        try:
            run = fit(args, argv, device, rank, world_size)
        except DatasetError as e:  # a streamed file read outside the epoch loop (preview, AE prior fit)
            raise TrainingError(f"{e}. Remove or replace the file, then run again") from None
        if world_size > 1:
            dist.barrier()  # no process leaves before rank 0 has saved the last epoch
        return run


def fit(args: argparse.Namespace, argv: list[str], device: torch.device, rank: int, world_size: int) -> Run:
    args.lr = args.lr if args.lr is not None else (2e-4 if args.model == "gan" else 1e-3)
    if args.latent_dim is None:
        args.latent_dim = 128 if args.model == "classifier" else 16
    args.run_dir = args.run_dir or Path("runs") / args.out.name
    state_path = args.run_dir / STATE_FILE
    if args.resume and not state_path.is_file():
        raise TrainingError(f"nothing to resume: {state_path} does not exist")
    if not args.resume and (args.out / "model.safetensors").exists() and not args.overwrite:
        raise TrainingError(
            f"{args.out} already holds a checkpoint; pass --resume to continue it or --overwrite to replace it"
        )
    check_args(args)
    for folder in (args.out, args.run_dir) if rank == 0 else ():  # only rank 0 writes
        check_writable(folder)
        for stale in folder.glob(".*.tmp"):  # left by a writer killed mid-write; never a real file
            stale.unlink()

    amp = mixed_precision(args.amp, device)
    if args.compile:
        check_compile(device)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # the same initial weights in every process
    try:
        data = load_dataset(args.dataset, "train", image_size=args.image_size, stream=args.stream)
        data = (data.of_classes(args.classes) if args.classes else data).take(args.limit)
    except DatasetError as e:
        raise TrainingError(str(e)) from None
    streamed = isinstance(data, StreamedImageFolder)
    if args.workers is not None and not streamed:
        raise TrainingError(f"--workers decodes streamed images, and {args.dataset} is held in memory; add --stream")
    workers = default_workers() if args.workers is None else args.workers
    try:
        family, config = model_config(args, data.image_shape, len(data.class_names))
        size = model_size(family, config)
    except (ValueError, RuntimeError) as e:  # a config's checks, or sizes past what torch can index
        raise TrainingError(f"these settings make no model: {first_line(e)}") from None
    if size > MAX_PARAMETERS:
        raise TrainingError(
            f"--width {args.width} and --latent-dim {args.latent_dim} make a model of {size:,} parameters, "
            f"larger than genviz opens ({MAX_PARAMETERS:,}); choose smaller ones"
        )
    model = prepare_model(build_model(family, config), device, args.channels_last)
    shuffle = torch.Generator().manual_seed(args.seed)  # the same order in every process, which takes its shard
    run = Run(args, model, make_optimizers(model, args.lr), data.to(device), shuffle, rank=rank, world_size=world_size)
    if args.resume:
        restore(run, state_path)
        if rank == 0:
            tqdm.write(f"resuming {args.out} after epoch {run.epoch} of {args.epochs}")
    trained = Replicas(model, device, world_size > 1, args.compile) if world_size > 1 or args.compile else model
    if streamed:
        loader = run.data.loader(
            args.batch_size, run.shuffle, True, rank, world_size, workers, pin_memory=device.type == "cuda"
        )
        if rank == 0:
            why = (
                f"its {data.nbytes / 2**30:.1f} GiB of decoded images are over a quarter of this machine's memory "
                "(--no-stream holds them in memory anyway)"
                if args.stream is None
                else "--stream"
            )
            decoders = f"{workers} worker process{'es' if workers != 1 else ''}" if workers else "this process"
            tqdm.write(f"streaming {args.dataset} from disk, decoded in {decoders}: {why}")

    def epoch_batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if not streamed:
            yield from run.data.batches(
                args.batch_size, shuffle=True, generator=run.shuffle, drop_last=True, rank=rank, world_size=world_size
            )
            return
        for batch in loader:
            images, labels = checked(batch)
            yield to_float(images.to(device, non_blocking=True)), labels.to(device, non_blocking=True)

    autocast = autocast_for(device, amp)
    step = STEPS.get(family, likelihood_step)
    fixed_x = run.data.float_images(slice(0, 8)).to(device)
    fixed_z = torch.randn(64, config.latent_dim, generator=torch.Generator().manual_seed(args.seed)).to(device)
    global_batch = args.batch_size * world_size
    steps_per_epoch = len(run.data) // global_batch
    if steps_per_epoch == 0:
        per = f" per process for {world_size} processes" if world_size > 1 else ""
        raise TrainingError(
            f"{len(run.data)} images is fewer than one batch of {args.batch_size}{per}; lower --batch-size"
        )
    total_steps = args.epochs * steps_per_epoch

    for epoch in range(run.epoch, args.epochs):
        model.train()
        if world_size > 1:
            torch.manual_seed(noise_seed(args.seed, epoch, rank))
        start, total = time.perf_counter(), torch.zeros((), device=device)
        bar = tqdm(
            epoch_batches(),
            total=steps_per_epoch,
            desc=f"epoch {epoch + 1}/{args.epochs}",
            unit="step",
            leave=False,
            disable=None if rank == 0 else True,
        )  # no bar when output is not a terminal; the epoch summary still prints
        try:
            for i, (x, labels) in enumerate(bar, 1):
                if args.lr_schedule != "constant":
                    set_lr(run.optimizers, scheduled_lr(args, (epoch * steps_per_epoch + i - 1) / total_steps))
                total += step(trained, run.optimizers, x, labels, autocast)
                if i % 20 == 0 or i == steps_per_epoch:  # reading the loss syncs the GPU, so not every step
                    mean = global_mean(total, i, world_size)
                    if not math.isfinite(mean):
                        raise diverged(run, epoch, f"the loss became {mean}")
                    rate = i * global_batch / (time.perf_counter() - start)
                    bar.set_postfix(loss=f"{mean:.4g}", img_s=f"{rate:.0f}")
        except DatasetError as e:  # a streamed file that cannot be read: the run stops at it
            kept = f"{args.out} keeps epoch {run.epoch}" if run.epoch else "nothing was saved"
            raise TrainingError(
                f"training stopped in epoch {epoch + 1}: {e}. Remove or replace the file; {kept}"
                + (", continue with --resume" if run.epoch else "")
            ) from None
        seconds = time.perf_counter() - start
        mean = global_mean(total, steps_per_epoch, world_size)
        if not math.isfinite(mean):
            raise diverged(run, epoch, f"the loss became {mean}")
        if family != "gan" and run.first_loss is not None and mean > 100 * abs(run.first_loss):
            raise diverged(run, epoch, f"the loss exploded to {mean:.4g} from {run.first_loss:.4g} in the first epoch")
        run.first_loss = mean if run.first_loss is None else run.first_loss
        run.epoch, run.seconds = epoch + 1, run.seconds + seconds
        if world_size > 1:
            average_buffers(model, world_size)
        if rank == 0:
            save_epoch(run, argv, device, amp, mean, preview(model, fixed_x, fixed_z))
            tqdm.write(
                f"epoch {epoch + 1}/{args.epochs}: loss {mean:.4g}, "
                f"{steps_per_epoch * global_batch / seconds:.0f} images/s, saved {args.out}"
            )
        elif isinstance(model, AutoEncoder):
            model.eval()
            model.fit_prior(run.data.float_images(slice(0, PRIOR_FIT_IMAGES)).to(device))  # as rank 0 in save_epoch
    model.to(memory_format=torch.contiguous_format)  # as load_model builds it, so both compute alike
    return run


def diverged(run: Run, epoch: int, what: str) -> TrainingError:
    kept = f"{run.args.out} keeps epoch {run.epoch}" if run.epoch else "nothing was saved"
    return TrainingError(
        f"training stopped in epoch {epoch + 1}: {what}; {kept}. "
        f"Try a lower --lr (now {run.args.lr:g}) or another --seed."
    )


def save_epoch(run: Run, argv: list[str], device: torch.device, amp: bool, loss: float, picture) -> None:
    args = run.args
    argv = [a for a in argv if a not in ("--resume", "--overwrite")]
    training = {
        "command": command_line(argv),
        "epochs": run.epoch,
        "seconds": round(run.seconds, 1),
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "mixed_precision": "bf16" if amp else "off",
        **({"data": "streamed from disk"} if isinstance(run.data, StreamedImageFolder) else {}),
        **({"compiled": True} if args.compile else {}),
        "train_images": len(run.data),
        "batch_size": args.batch_size,
        **(
            {"processes": run.world_size, "global_batch_size": args.batch_size * run.world_size}
            if run.world_size > 1
            else {}
        ),
        "lr": args.lr,
        "lr_schedule": args.lr_schedule,
        "seed": args.seed,
        "final_loss": round(loss, 6),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    run.model.eval()
    if isinstance(run.model, AutoEncoder):
        run.model.fit_prior(run.data.float_images(slice(0, PRIOR_FIT_IMAGES)).to(device))
    try:
        save_checkpoint(run.model, args.out, dataset_info(run.data.name, run.data.class_names), training)
    except OSError as e:
        raise not_saved(run, e) from None
    try:
        if picture is not None:
            save_png(picture, args.run_dir / f"epoch-{run.epoch:03d}.png")
        write_torch(args.run_dir / STATE_FILE, run.state())  # last, so a resume never skips a saved epoch
    except OSError as e:
        raise state_not_saved(run, e) from None


def _fix(error: OSError) -> str:
    return "Make the folder writable" if isinstance(error, PermissionError) else "Free some disk space"


def not_saved(run: Run, error: OSError) -> TrainingError:
    """Epoch run.epoch could not be written to the checkpoint folder, which keeps the epoch before it:
    save_checkpoint renames its files into place only once all are written."""
    out, kept = run.args.out, run.epoch - 1
    if kept:
        held = f"{out} still holds epoch {kept}, whole. {_fix(error)}, then continue with --resume."
    else:
        held = f"Nothing of this run was saved. {_fix(error)}, then run the same command again."
    return TrainingError(f"could not save epoch {run.epoch} to {out}: {error.strerror or error}. {held}")


def state_not_saved(run: Run, error: OSError) -> TrainingError:
    """The checkpoint holds epoch run.epoch, but the run folder's state (and preview) could not be
    written: --resume would start from the state of the epoch before and train this one again."""
    out, run_dir, kept = run.args.out, run.args.run_dir, run.epoch - 1
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        train(argv)
    except TrainingError as e:
        rank, world_size = processes()
        print(f"{f'rank {rank}: ' if world_size > 1 else ''}error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: the checkpoint keeps the last completed epoch; continue with --resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
