"""Methods: training and inference behind one Detector contract (see :mod:`.base`).

Every learned model derives from :class:`Estimator` (parameters, training
log, checkpoints). :class:`GAN1D` is no detector: a tiny GAN on 1-D samples,
for the theory chapter; it shares :func:`gan_step` with the image AnoGAN.
:class:`PatchCore` and :class:`PaDiM` train no network: they remember the
features of a frozen ImageNet backbone (:mod:`.feature_memory`).
"""

from .anogan import AnoGAN
from .autoencoder import AutoEncoderDetector
from .base import Detection, Detector
from .estimator import Estimator, NotFittedError, TrainingLog, read_checkpoint
from .floor import BrightnessFloor
from .gan1d import GAN1D
from .gan_step import gan_step
from .padim import PaDiM
from .patchcore import PatchCore
from .pnunet import PNUNet
from .two_stage import TwoStage

__all__ = [
    "Estimator",
    "Detector",
    "Detection",
    "NotFittedError",
    "TrainingLog",
    "read_checkpoint",
    "AutoEncoderDetector",
    "AnoGAN",
    "BrightnessFloor",
    "PNUNet",
    "TwoStage",
    "PatchCore",
    "PaDiM",
    "GAN1D",
    "gan_step",
]
