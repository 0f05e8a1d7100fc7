"""Brought models for the tests (genviz.bring): the shipped checkpoints/mnist-pytorch-vae and
checkpoints/cifar10-diffusers-vae copied beside the classifiers that label their samples."""

import shutil
from pathlib import Path

from genviz.explore import ensure_bundles

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "checkpoints"
MLP_VAE, DIFFUSERS_VAE = "mnist-pytorch-vae", "cifar10-diffusers-vae"
DATASETS = {MLP_VAE: "mnist", DIFFUSERS_VAE: "cifar10-jpg"}
CLASSIFIERS = ("mnist-classifier", "cifar10-jpg-classifier")  # `<dataset>-classifier`, beside the models


def brought_checkpoints(root: Path) -> Path:
    """root/checkpoints holding both brought models with their explore bundles (and the thumbnails those use), and
    the classifiers that label samples."""
    checkpoints = root / "checkpoints"
    checkpoints.mkdir(parents=True)
    for name in (*DATASETS, *CLASSIFIERS):
        shutil.copytree(SHIPPED / name, checkpoints / name)
    shutil.copytree(SHIPPED / "thumbnails", checkpoints / "thumbnails")  # the bundles' test images
    assert ensure_bundles([checkpoints / name for name in DATASETS]) == 0  # whole as shipped: checked
    return checkpoints
