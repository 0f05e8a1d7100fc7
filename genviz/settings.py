"""Where the app finds its checkpoints, from the environment; imports nothing heavy, so that `genviz serve` reads
it before torch is loaded."""

import os
from pathlib import Path

CHECKPOINTS_ENV = "GENVIZ_CHECKPOINTS"


def checkpoint_roots() -> list[Path]:
    """The folders the app lists checkpoints from: $GENVIZ_CHECKPOINTS (folders joined by os.pathsep, each a
    checkpoint folder or a folder of them; `genviz serve` sets it), else ./checkpoints."""
    return [Path(p) for p in os.environ.get(CHECKPOINTS_ENV, "checkpoints").split(os.pathsep) if p]
