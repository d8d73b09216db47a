"""Methods: training and inference behind one Detector contract (see :mod:`.base`).

:class:`GAN1D` is no detector: a tiny GAN on 1-D samples, for the theory chapter.
"""

from .autoencoder import AutoEncoderDetector
from .floor import BrightnessFloor
from .base import Detection, Detector, NotFittedError
from .gan1d import GAN1D

__all__ = ["Detector", "Detection", "NotFittedError", "AutoEncoderDetector", "BrightnessFloor", "GAN1D"]
