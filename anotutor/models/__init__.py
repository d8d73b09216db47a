"""Plain ``nn.Module`` networks: no training loops, no data."""

from .autoencoder import ConvAutoEncoder

__all__ = ["ConvAutoEncoder"]
