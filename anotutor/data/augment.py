"""Training-time augmentation of normal images: small rotations, flips, noise.

Fadaeinejad (2021) augments its 390 hazelnut images by rotation, flipping and added
noise; :func:`augment` does the three on a batch, on the batch's device.
Rotation uses reflection at the borders, so no black corners appear that a
model would learn as "normal".
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["augment"]


def augment(
    x: torch.Tensor,
    generator: torch.Generator | None = None,
    max_degrees: float = 15.0,
    flips: bool = True,
    noise_std: float = 0.02,
) -> torch.Tensor:
    """A randomly rotated (up to ``max_degrees``), flipped and noised copy of ``x`` [N, C, H, W]."""
    n = x.shape[0]

    def rand(*shape):
        return torch.rand(*shape, generator=generator).to(x.device)

    out = x
    if max_degrees > 0:
        angle = (rand(n) * 2 - 1) * math.radians(max_degrees)
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
        theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        out = F.grid_sample(out, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if flips:
        h = rand(n) < 0.5
        v = rand(n) < 0.5
        out = torch.where(h[:, None, None, None], out.flip(-1), out)
        out = torch.where(v[:, None, None, None], out.flip(-2), out)
    if noise_std > 0:
        noise = torch.randn(out.shape, generator=generator).to(x.device) * noise_std
        out = out + noise
    return out.clamp(0.0, 1.0)
