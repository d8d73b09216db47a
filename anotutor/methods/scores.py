"""Residual maps, their smoothing, from a per-pixel anomaly map to one score per image, and the
inference module of the methods that score a reconstruction (the floor, the auto-encoder, PNUNet)."""

from __future__ import annotations

import torch
from torch import nn

from ..models.scoring import ScoringModule
from ..ops import gaussian_blur

__all__ = ["residual_map", "smooth_maps", "top_fraction_score", "ReconstructionScorer"]


def top_fraction_score(maps: torch.Tensor, fraction: float = 0.01) -> torch.Tensor:
    """Per image, the mean of the largest ``fraction`` of map values (at least one).

    Like the maximum it fires on a small defect, but a single noisy pixel does
    not decide it.
    """
    flat = maps.flatten(1)
    k = max(1, int(round(flat.shape[1] * fraction)))
    return flat.topk(k, dim=1).values.mean(dim=1)


def residual_map(x: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    """The auto-encoder's residual (Fadaeinejad 2021, Algorithm 1; the book's ``eq-ae-residual``): per pixel,
    the largest absolute difference over channels, [N, H, W]."""
    return (x - reconstruction).abs().amax(dim=1)


def smooth_maps(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian smoothing of maps [N, H, W] with ``sigma`` px (identity for 0); borders reflected.

    :func:`anotutor.ops.gaussian_blur` with its default window (``2 round(3 sigma) + 1`` taps): up
    to 13 taps (sigma <= 2) one 2-D kernel that equals torchvision's ``gaussian_blur`` bit for bit
    (not imported: it costs seconds), wider kernels (PatchCore's sigma = 4) two 1-D passes.
    """
    if sigma <= 0:
        return maps
    return gaussian_blur(maps[:, None], float(sigma))[:, 0]


class ReconstructionScorer(ScoringModule):
    """Inference by reconstruction: the residual map of ``net``'s reconstruction
    (:func:`residual_map`), smoothed by ``sigma`` px (:func:`smooth_maps`; 0: not at all), and the mean
    of its top 1 % as the image score (:func:`top_fraction_score`).

    ``keep``: decode from the first ``keep`` latent numbers (``net(x, keep)``; the auto-encoder's
    nested sizes), ``None``: ``net(x)``. ``explain``'s extras hold the ``reconstruction``.
    """

    def __init__(self, net: nn.Module, keep: int | None = None, sigma: float = 0.0):
        super().__init__()
        self.net, self.keep, self.sigma = net, keep, float(sigma)

    def explain(self, x: torch.Tensor, generator: torch.Generator | None = None):
        recon = self.net(x) if self.keep is None else self.net(x, self.keep)
        maps = smooth_maps(residual_map(x, recon), self.sigma)
        return top_fraction_score(maps), maps, {"reconstruction": recon}
