"""Plain ``nn.Module`` networks: no training loops, no data."""

from .autoencoder import ConvAutoEncoder
from .dcgan import Discriminator, Generator, gan_layout
from .draem import DraemReference, draem_parameters
from .mlp import MLP
from .scoring import ScoringModule
from .unet import UNet, unet_size_ok

__all__ = [
    "ConvAutoEncoder",
    "MLP",
    "ScoringModule",
    "Generator",
    "Discriminator",
    "gan_layout",
    "UNet",
    "unet_size_ok",
    "DraemReference",
    "draem_parameters",
]
