r"""The brightness floor: the simplest detector, and the bar every method must clear.

It "reconstructs" every image as the mean gray (per channel) of the training
pixels, and its anomaly map is the seed-004 residual against that constant,

.. math::  r(u, v) = \max_c |x_c(u, v) - \mu_c|,

so it sees brightness and nothing else: no shape, no texture. An auto-encoder
that has learned only the mean image scores exactly this; one that scores no
better has learned nothing useful.
"""

from __future__ import annotations

import torch
from torch import nn

from ..runtime import budget
from .base import Detector
from .scores import residual_map, top_fraction_score

__all__ = ["BrightnessFloor"]


class _MeanImage(nn.Module):
    """Holds the per-channel training mean as a buffer, so save/load treat it like weights."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mean.view(1, -1, 1, 1).expand_as(x)


class BrightnessFloor(Detector):
    """Residual against the training mean: ``fit`` learns one number per channel."""

    _config_keys = ("image_size",)

    def __init__(self, image_size: int | None = None, device: str | None = None):
        self.image_size = image_size if image_size is not None else budget().image_size
        self.device = device
        self.model_ = None

    def _build_model(self) -> nn.Module:
        return _MeanImage(self.channels_)

    def _fit(self, x: torch.Tensor, anomalies: torch.Tensor | None) -> None:
        self.model_ = self._build_model().to(self.device_)
        self.model_.mean.copy_(x.mean(dim=(0, 2, 3)).to(self.device_))

    def _predict(self, x: torch.Tensor):
        recon = self.model_(x)
        residual = residual_map(x, recon)
        return top_fraction_score(residual), residual, {"reconstruction": recon}
