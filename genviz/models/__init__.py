"""Model families by name: one class and one config dataclass each."""

from genviz.models.ae import AEConfig, AutoEncoder
from genviz.models.base import GenerativeModel, Model, ModelConfig
from genviz.models.classifier import Classifier, ClassifierConfig
from genviz.models.gan import GAN, GANConfig
from genviz.models.vae import VAE, VAEConfig

# family name -> (model class, config class)
REGISTRY: dict[str, tuple[type[Model], type[ModelConfig]]] = {
    "ae": (AutoEncoder, AEConfig),
    "vae": (VAE, VAEConfig),
    "gan": (GAN, GANConfig),
    "classifier": (Classifier, ClassifierConfig),
}
GENERATIVE = ("ae", "vae", "gan")  # the families the app explores; a classifier only measures them


def build_model(family: str, config: ModelConfig) -> Model:
    if family not in REGISTRY:
        raise ValueError(f"unknown model family {family!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[family][0](config)


__all__ = [
    "GAN",
    "VAE",
    "AEConfig",
    "AutoEncoder",
    "Classifier",
    "ClassifierConfig",
    "GANConfig",
    "GENERATIVE",
    "GenerativeModel",
    "Model",
    "ModelConfig",
    "REGISTRY",
    "VAEConfig",
    "build_model",
]
