"""Model families by name: one class and one config dataclass each."""

from genviz.models.ae import AEConfig, AutoEncoder
from genviz.models.base import GenerativeModel, ModelConfig
from genviz.models.gan import GAN, GANConfig
from genviz.models.vae import VAE, VAEConfig

# family name -> (model class, config class)
REGISTRY: dict[str, tuple[type[GenerativeModel], type[ModelConfig]]] = {
    "ae": (AutoEncoder, AEConfig),
    "vae": (VAE, VAEConfig),
    "gan": (GAN, GANConfig),
}


def build_model(family: str, config: ModelConfig) -> GenerativeModel:
    if family not in REGISTRY:
        raise ValueError(f"unknown model family {family!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[family][0](config)


__all__ = [
    "GAN",
    "VAE",
    "AEConfig",
    "AutoEncoder",
    "GANConfig",
    "GenerativeModel",
    "ModelConfig",
    "REGISTRY",
    "VAEConfig",
    "build_model",
]
