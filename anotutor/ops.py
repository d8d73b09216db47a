"""Generic tensor operations every layer above may use: the Gaussian blur, uniform noise, a
parameter count.

One piece of code for each: the SSIM's window (:mod:`anotutor.losses`), the
smoothing of anomaly maps (:mod:`anotutor.methods.scores`), PNUNet's and the
synthetic-noise module's uniform noise, AnoGAN's uniform prior and every
parameter count in the book come from here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_int, check_range

__all__ = ["gaussian_window", "gaussian_blur", "uniform", "count_parameters", "EXACT_2D_TAPS"]

# Up to this many taps gaussian_blur applies one 2-D kernel by default, which equals
# torchvision's gaussian_blur bit for bit; wider kernels run as two cheaper 1-D passes.
EXACT_2D_TAPS = 13


def gaussian_window(size: int = 11, sigma: float = 1.5, dtype=torch.float32) -> torch.Tensor:
    """Normalised 1-D Gaussian of ``size`` taps (odd) and standard deviation ``sigma``."""
    size = check_int(size, "window_size", minimum=1)
    if size % 2 == 0:
        raise ValueError(f"window_size must be odd, got {size}")
    check_range(sigma, "sigma", 0.0, float("inf"), low_open=True, high_open=True)
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    return (g / g.sum()).to(dtype)


def gaussian_blur(
    x: torch.Tensor, sigma: float, size: int | None = None, padding: str = "reflect", separable: bool | None = None
) -> torch.Tensor:
    """Gaussian blur of every channel of ``x`` [N, C, H, W], each channel on its own.

    ``size``: taps of the window (odd; default ``2 round(3 sigma) + 1``).
    ``padding``: ``"reflect"`` keeps H x W (borders reflected; replicated
    where the image is smaller than the window's half-width) and ``"valid"``
    keeps only the positions where the window fits (H - size + 1).
    ``separable``: two 1-D passes (True) or one 2-D kernel (False); the
    default takes the 2-D kernel up to :data:`EXACT_2D_TAPS` taps, where it
    equals torchvision's ``gaussian_blur`` bit for bit, and the dozen times
    cheaper 1-D passes beyond (the same up to float rounding).
    """
    if padding not in ("reflect", "valid"):
        raise ValueError(f"padding must be 'reflect' or 'valid', got {padding!r}")
    k = 2 * int(round(3 * sigma)) + 1 if size is None else size
    g = gaussian_window(k, float(sigma), dtype=x.dtype).to(x.device)
    c = x.shape[1]
    if padding == "reflect":
        p = k // 2
        x = F.pad(x, (p, p, p, p), mode="reflect" if min(x.shape[-2:]) > p else "replicate")
    if separable is None:
        separable = k > EXACT_2D_TAPS
    if not separable:
        return F.conv2d(x, torch.outer(g, g).expand(c, 1, k, k), groups=c)
    return F.conv2d(
        F.conv2d(x, g.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c), g.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c
    )


def uniform(
    shape, amplitude: float = 1.0, generator: torch.Generator | None = None, device: torch.device | str | None = None
) -> torch.Tensor:
    """Noise of ``shape``, uniform in [-amplitude, amplitude], drawn on the CPU from ``generator``
    (so a seed gives the same numbers on every device) and moved to ``device``."""
    u = torch.rand(tuple(shape), generator=generator) * 2 - 1
    return (u if device is None else u.to(device)) * amplitude


def count_parameters(module: nn.Module) -> int:
    """Number of learned numbers (``nn.Parameter`` entries) of a network."""
    if not isinstance(module, nn.Module):
        raise ValueError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    return int(sum(p.numel() for p in module.parameters()))
