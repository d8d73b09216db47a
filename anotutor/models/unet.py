"""A U-Net (Ronneberger et al., 2015) of any depth and width, for grayscale or colour images.

Encoder: ``depth`` blocks of two 3 x 3 convolutions (BatchNorm, ReLU), each
followed by a 2 x 2 max-pool, then a bottleneck block; decoder: bilinear
upsampling, concatenation with the encoder block of the same size (the skip
connection), two convolutions. Channels double with every level from
``width``. A final 1 x 1 convolution gives ``out_channels``, through a
sigmoid (``out="sigmoid"``: images in [0, 1], PNUNet's reconstructor) or as
logits (``out="logits"``: segmentation, the two-stage model).

Sizes: height and width must be multiples of 2^depth.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_int

__all__ = ["UNet", "unet_size_ok"]


def unet_size_ok(size: int, depth: int) -> int:
    """``size`` if a U-Net of ``depth`` levels takes it (a multiple of 2^depth, at least that), else ValueError."""
    size, depth = check_int(size, "image_size", minimum=1), check_int(depth, "depth")
    step = 2**depth
    if size % step or size < step:
        raise ValueError(
            f"image_size {size} must be a multiple of 2^depth = {step} for a U-Net of depth "
            f"{depth}; e.g. {max(step, size // step * step)} or {(size // step + 1) * step}"
        )
    return size


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(True),
    )


class UNet(nn.Module):
    """``in_channels`` -> ``out_channels`` at the same size; ``depth`` poolings, ``width`` channels at the top."""

    def __init__(
        self, in_channels: int = 1, out_channels: int = 1, width: int = 16, depth: int = 3, out: str = "sigmoid"
    ):
        super().__init__()
        in_channels = check_int(in_channels, "in_channels")
        out_channels = check_int(out_channels, "out_channels")
        width, self.depth = check_int(width, "width"), check_int(depth, "depth")
        if out not in ("sigmoid", "logits"):
            raise ValueError(f"out must be 'sigmoid' or 'logits', got {out!r}")
        self.out = out
        widths = [width * 2**i for i in range(self.depth + 1)]
        self.down = nn.ModuleList()
        c = in_channels
        for w in widths[:-1]:
            self.down.append(_block(c, w))
            c = w
        self.bottom = _block(c, widths[-1])
        self.up = nn.ModuleList(_block(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(self.depth)))
        self.head = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        step = 2**self.depth
        if x.shape[-1] % step or x.shape[-2] % step:
            raise ValueError(
                f"U-Net of depth {self.depth} needs sizes that are multiples of {step}, got {tuple(x.shape[-2:])}"
            )
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottom(x)
        for block, skip in zip(self.up, reversed(skips)):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        y = self.head(x)
        return torch.sigmoid(y) if self.out == "sigmoid" else y
