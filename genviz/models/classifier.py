"""Small CNN classifier. It labels samples and gives the features that FID, precision and
recall of samples are computed on, where Inception weights cannot be had."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genviz.models.base import Model, ModelConfig, conv_encoder


@dataclass
class ClassifierConfig(ModelConfig):
    latent_dim: int = 128  # size of the feature layer before the class scores
    num_classes: int = 10  # class scores out
    dropout: float = 0.3  # on the features, in training only

    def __post_init__(self):
        super().__post_init__()
        if self.num_classes < 2 or not 0 <= self.dropout < 1:
            raise ValueError("num_classes must be at least 2 and dropout in [0, 1)")

    @property
    def kind(self) -> str:
        return "classifier"

    @property
    def display_name(self) -> str:
        return "small convolutional classifier"


class Classifier(Model):
    family = "classifier"
    default_latent_dim = 128
    per_class_figures = ("test_accuracy",)

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        self.encoder = conv_encoder(config, config.latent_dim)
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.latent_dim, config.num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1] -> (B, latent_dim) non-negative features."""
        return F.relu(self.encoder(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, num_classes) logits

    def loss(self, batch: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if labels is None:
            raise ValueError("a classifier's loss needs the batch's labels")
        logits = self(batch)
        return {
            "loss": F.cross_entropy(logits, labels),
            "accuracy": (logits.argmax(1) == labels).float().mean(),
        }

    @torch.no_grad()
    def test_figures(self, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> dict:
        return {"test_accuracy": (self(x).argmax(1) == labels).float()}
