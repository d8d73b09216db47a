r"""The brightness floor: the simplest detector, and the bar every method must clear.

It "reconstructs" every image as the mean gray (per channel) of the training
pixels, and its anomaly map is the auto-encoder's residual (Fadaeinejad, 2021,
Algorithm 1) against that constant,

.. math::  r(u, v) = \max_c |x_c(u, v) - \mu_c|,

so it sees brightness and nothing else: no shape, no texture. An auto-encoder
that has learned only the mean image scores exactly this; one that scores no
better has learned nothing useful.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Detector
from .params import working_size
from .scores import ReconstructionScorer

__all__ = ["BrightnessFloor"]


class _MeanImage(nn.Module):
    """Holds the per-channel training mean: learned (by averaging, not by gradients), so a parameter."""

    def __init__(self, channels: int):
        super().__init__()
        self.mean = nn.Parameter(torch.zeros(channels), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mean.view(1, -1, 1, 1).expand_as(x)


class BrightnessFloor(Detector):
    """Residual against the training mean: ``fit`` learns one number per channel."""

    _spec = {"image_size": working_size()}
    _min_train_images = (1, "")

    def __init__(self, image_size: int | None = None, device: str | None = None):
        self._store(locals())

    def _defaults(self, params: dict, b) -> dict:
        return {"image_size": b.image_size}

    def _build_networks(self) -> dict:
        return {"model_": _MeanImage(self.channels_)}

    def _fit(self, x: torch.Tensor, anomalies: torch.Tensor | None, g: torch.Generator) -> dict:
        self.model_ = self._build_networks()["model_"].to(self.device_)
        self.model_.mean.copy_(x.mean(dim=(0, 2, 3)).to(self.device_))
        return {}

    def _module(self) -> ReconstructionScorer:
        return ReconstructionScorer(self.model_)
