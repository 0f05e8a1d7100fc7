"""genviz: explore what autoencoders, VAEs and GANs learn."""

__version__ = "0.1.0"

from genviz.checkpoint import CheckpointError, load_model, save_checkpoint  # noqa: E402
from genviz.device import best_device  # noqa: E402

__all__ = ["CheckpointError", "best_device", "load_model", "save_checkpoint", "__version__"]
