"""How fast a step runs: bf16 mixed precision, channels-last conv weights, torch.compile's checks.

Adam runs fused (one kernel over all parameters) on the CPU and CUDA (the models' `make_optimizers`),
and the conv weights are kept channels-last on the CPU and CUDA; both change nothing but float
rounding. bf16 mixed precision changes the numerics more and is on by default only on a CUDA GPU.
"""

import os
import subprocess
import sys
from contextlib import AbstractContextManager, nullcontext

import torch

from genviz.models import Model
from genviz.training.config import TrainingError


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


def autocast_for(device: torch.device, amp: bool) -> AbstractContextManager:
    """The context a step computes its losses in: bf16 autocast when `amp`, else nothing."""
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
