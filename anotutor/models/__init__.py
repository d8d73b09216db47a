"""Plain ``nn.Module`` networks: no training loops, no data."""

from .autoencoder import ConvAutoEncoder
from .mlp import MLP

__all__ = ["ConvAutoEncoder", "MLP"]
