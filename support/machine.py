"""The machine a figure was measured on, as every benchmark records it beside its results."""

import os
import platform

import torch
import torchvision


def machine(device: torch.device) -> dict:
    """Platform, processor, cores, PyTorch's threads, versions, and `device` (a GPU by its name)."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else str(device),
    }
