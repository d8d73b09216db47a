"""Methods: training and inference behind one Detector contract (see :mod:`.base`)."""

from .autoencoder import AutoEncoderDetector
from .floor import BrightnessFloor
from .base import Detection, Detector, NotFittedError

__all__ = ["Detector", "Detection", "NotFittedError", "AutoEncoderDetector", "BrightnessFloor"]
