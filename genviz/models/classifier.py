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


class Classifier(Model):
    family = "classifier"

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

    def loss(self, batch: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self(batch)
        return {
            "loss": F.cross_entropy(logits, labels),
            "accuracy": (logits.argmax(1) == labels).float().mean(),
        }
