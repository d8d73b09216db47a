"""Residual maps, their smoothing, and from a per-pixel anomaly map to one score per image."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..losses import gaussian_window

__all__ = ["residual_map", "smooth_maps", "top_fraction_score"]


def top_fraction_score(maps: torch.Tensor, fraction: float = 0.01) -> torch.Tensor:
    """Per image, the mean of the largest ``fraction`` of map values (at least one).

    Like the maximum it fires on a small defect, but a single noisy pixel does
    not decide it.
    """
    flat = maps.flatten(1)
    k = max(1, int(round(flat.shape[1] * fraction)))
    return flat.topk(k, dim=1).values.mean(dim=1)


def residual_map(x: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    """The auto-encoder's residual (Fadaeinejad 2021, Algorithm 1; the book's ``eq-ae-residual``): per pixel, the largest absolute difference over channels, [N, H, W]."""
    return (x - reconstruction).abs().amax(dim=1)


def smooth_maps(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian smoothing of maps [N, H, W] with ``sigma`` px (identity for 0); borders reflected.

    The kernel is ``2 round(3 sigma) + 1`` wide, the window of the SSIM
    (:func:`anotutor.losses.gaussian_window`). Up to 13 taps (sigma <= 2) it
    is applied as one 2-D kernel and equals torchvision's ``gaussian_blur``
    bit for bit (not imported: it costs seconds); wider kernels (PatchCore's
    sigma = 4 has 25 taps) run as two 1-D passes, the same up to float
    rounding and a dozen times cheaper. A map smaller than the kernel's
    half-width is padded by replication instead.
    """
    if sigma <= 0:
        return maps
    k = 2 * int(round(3 * sigma)) + 1
    g = gaussian_window(k, float(sigma), dtype=maps.dtype).to(maps.device)
    p = k // 2
    mode = "reflect" if min(maps.shape[-2:]) > p else "replicate"
    x = F.pad(maps[:, None], (p, p, p, p), mode=mode)
    if k <= 13:
        return F.conv2d(x, torch.outer(g, g)[None, None])[:, 0]
    return F.conv2d(F.conv2d(x, g.view(1, 1, 1, k)), g.view(1, 1, k, 1))[:, 0]
