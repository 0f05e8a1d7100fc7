"""Model families by name: one file, one model class and one config dataclass each.

A family registers here under the name config.json records, with its variants: the names training
offers (`genviz train --model NAME`), each with the config settings it implies.
"""

from typing import NamedTuple

from genviz.models.ae import CONTRACTION, SPARSITY, AEConfig, AutoEncoder
from genviz.models.base import CheckpointInfo, DatasetInfo, GenerativeModel, Model, ModelConfig
from genviz.models.classifier import Classifier, ClassifierConfig
from genviz.models.cvae import CVAE, CVAEConfig
from genviz.models.gan import GAN, GANConfig
from genviz.models.onnx import ONNXConfig, ONNXModel
from genviz.models.progan import ProGAN, ProGANConfig
from genviz.models.vae import VAE, VAEConfig
from genviz.models.wgan import WGANGP, WGANConfig


class Family(NamedTuple):
    model: type[Model]
    config: type[ModelConfig]
    variants: dict[str, dict]  # training's name for a variant -> config settings it fixes


# family name -> its classes and variants
REGISTRY: dict[str, Family] = {
    "ae": Family(
        AutoEncoder,
        AEConfig,
        {
            "ae": {"corruption": "none", "sparsity": 0.0, "contraction": 0.0},
            "dae": {"corruption": "gaussian", "sparsity": 0.0, "contraction": 0.0},
            "sparse-ae": {"corruption": "none", "sparsity": SPARSITY, "contraction": 0.0},
            "cae": {"corruption": "none", "sparsity": 0.0, "contraction": CONTRACTION},
        },
    ),
    "vae": Family(VAE, VAEConfig, {"vae": {}}),
    "cvae": Family(CVAE, CVAEConfig, {"cvae": {}}),
    "gan": Family(GAN, GANConfig, {"gan": {}}),
    "wgan-gp": Family(WGANGP, WGANConfig, {"wgan-gp": {}}),
    "progan": Family(ProGAN, ProGANConfig, {"progan": {}}),
    "classifier": Family(Classifier, ClassifierConfig, {"classifier": {}}),
    "onnx": Family(ONNXModel, ONNXConfig, {}),  # brought by genviz.bring, never trained here
}


def register(name: str, family: Family) -> None:
    """Add a family (a plugin, or a test's); its variant names must be new."""
    taken = {v for f in REGISTRY.values() for v in f.variants}
    if name in REGISTRY or taken & family.variants.keys():
        raise ValueError(f"model family {name!r} or one of its variants is registered already")
    REGISTRY[name] = family


def explorable_families() -> tuple[str, ...]:
    """The families the app explores (those with a latent space); a classifier only measures them."""
    return tuple(name for name, f in REGISTRY.items() if f.model.explorable)


def trained_families() -> tuple[str, ...]:
    """The families genviz's trainer makes (those with variants); a brought family (onnx) is only opened."""
    return tuple(name for name, f in REGISTRY.items() if f.variants)


def variants() -> dict[str, tuple[str, dict]]:
    """Every variant name -> (its family, the settings it fixes)."""
    return {v: (name, fixed) for name, f in REGISTRY.items() for v, fixed in f.variants.items()}


def model_class(family: str, config: ModelConfig | dict) -> type[Model]:
    """The class a folder of this family and model config (the dataclass, or config.json's dict) loads as: its
    capabilities are class attributes, asked without loading weights."""
    if family not in REGISTRY:
        raise ValueError(f"unknown model family {family!r}; known: {', '.join(REGISTRY)}")
    found = REGISTRY[family]
    return found.model.for_config(found.config(**config) if isinstance(config, dict) else config)


def build_model(family: str, config: ModelConfig) -> Model:
    return model_class(family, config)(config)


__all__ = [
    "GAN",
    "VAE",
    "AEConfig",
    "AutoEncoder",
    "CheckpointInfo",
    "CVAE",
    "CVAEConfig",
    "Classifier",
    "ClassifierConfig",
    "DatasetInfo",
    "Family",
    "GANConfig",
    "GenerativeModel",
    "Model",
    "ONNXConfig",
    "ONNXModel",
    "ProGAN",
    "ProGANConfig",
    "ModelConfig",
    "REGISTRY",
    "VAEConfig",
    "WGANConfig",
    "WGANGP",
    "build_model",
    "explorable_families",
    "model_class",
    "register",
    "trained_families",
    "variants",
]
