"""genviz: explore what autoencoders, VAEs and GANs learn."""

import importlib

__version__ = "0.1.0"

# Loaded on first use, so that `import genviz` (and `genviz --help`, `genviz serve`) does not wait for torch.
_LAZY = {
    "CheckpointError": "genviz.checkpoint",
    "load_model": "genviz.checkpoint",
    "save_checkpoint": "genviz.checkpoint",
    "best_device": "genviz.device",
}
__all__ = ["CheckpointError", "best_device", "load_model", "save_checkpoint", "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'genviz' has no attribute {name!r}")
