r"""A DRAEM-sized reference network, built to be *counted* (Zavrtanik et al., 2021).

Shah and Kim (2022, Table I) compare their two-stage model's size with DRAEM's
(97.4 M parameters). To put our own two-stage model beside that number we
build DRAEM's two sub-networks from the paper's description and count their
parameters (:func:`anotutor.ops.count_parameters`); the book never trains this network.

* **Reconstructive sub-network**: an encoder-decoder without skip
  connections, base width :math:`w = 128`. The encoder has five blocks of two
  3 x 3 convolutions (each with BatchNorm and ReLU), widths
  :math:`w, 2w, 4w, 8w, 8w`, with a 2 x 2 max-pool between blocks; the decoder
  mirrors it: four times bilinear upsampling, one 3 x 3 convolution, then a
  block of two convolutions that halves the width (:math:`8w \to 4w \to 2w
  \to w \to w`), and a final 3 x 3 convolution to the image's channels.
* **Discriminative sub-network**: a U-Net-like segmenter, base width
  :math:`w = 64`, whose input is the image and its reconstruction stacked
  (6 channels for colour). Its encoder has six blocks (widths
  :math:`w, 2w, 4w, 8w, 8w, 8w`, max-pools between); its decoder five up-steps,
  each an upsampling and a 3 x 3 convolution to :math:`8w, 4w, 2w, w, w`,
  followed by a block of two convolutions on the concatenation with the
  encoder block of the same spatial size (the skip, of widths
  :math:`8w, 8w, 4w, 2w, w`), and a final 3 x 3 convolution to 2 channels
  (normal / anomalous logits).

Convolutions carry a bias, as PyTorch's default. With the published widths
this gives 97,422,725 parameters for colour images (69.0 M reconstructive,
28.4 M discriminative): the 97.4 M that Shah and Kim quote
(:data:`DRAEM_PAPER_PARAMETERS`). The layer layout
is our reading of the paper and of its public description; the code is ours.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_int
from ..ops import count_parameters

__all__ = [
    "DraemReference",
    "ReconstructiveSubNetwork",
    "DiscriminativeSubNetwork",
    "draem_parameters",
    "DRAEM_PAPER_PARAMETERS",
]

DRAEM_PAPER_PARAMETERS = 97.4e6  # Shah and Kim (2022), Table I


def _conv(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


def _double(c_in: int, c_mid: int, c_out: int | None = None) -> nn.Sequential:
    """Two 3 x 3 convolutions (BatchNorm, ReLU): c_in -> c_mid -> c_out (c_out defaults to c_mid)."""
    return nn.Sequential(*_conv(c_in, c_mid), *_conv(c_mid, c_out if c_out is not None else c_mid))


def _up(c_in: int, c_out: int) -> nn.Sequential:
    """Bilinear upsampling by 2, then one 3 x 3 convolution."""
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True), *_conv(c_in, c_out))


class ReconstructiveSubNetwork(nn.Module):
    """DRAEM's reconstructive encoder-decoder (no skips); sizes must be multiples of 16."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, base_width: int = 128):
        super().__init__()
        w = check_int(base_width, "base_width")
        widths = [w, 2 * w, 4 * w, 8 * w, 8 * w]
        c = check_int(in_channels, "in_channels")
        self.encoder = nn.ModuleList()
        for v in widths:
            self.encoder.append(_double(c, v))
            c = v
        # decoder: 8w -> 4w -> 2w -> w -> w
        outs = [4 * w, 2 * w, w, w]
        self.ups, self.blocks = nn.ModuleList(), nn.ModuleList()
        for v in outs:
            self.ups.append(_up(c, c))
            self.blocks.append(_double(c, c, v))
            c = v
        self.head = nn.Conv2d(c, check_int(out_channels, "out_channels"), 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.encoder):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
        for up, block in zip(self.ups, self.blocks):
            x = block(up(x))
        return self.head(x)


class DiscriminativeSubNetwork(nn.Module):
    """DRAEM's discriminative U-Net-like segmenter; sizes must be multiples of 32."""

    def __init__(self, in_channels: int = 6, out_channels: int = 2, base_width: int = 64):
        super().__init__()
        w = check_int(base_width, "base_width")
        widths = [w, 2 * w, 4 * w, 8 * w, 8 * w, 8 * w]
        c = check_int(in_channels, "in_channels")
        self.encoder = nn.ModuleList()
        for v in widths:
            self.encoder.append(_double(c, v))
            c = v
        # the up-steps give 8w, 4w, 2w, w, w channels, each then joined with the encoder block of the
        # same spatial size: (8w + 8w), (4w + 8w), (2w + 4w), (w + 2w), (w + w)
        self.ups, self.blocks = nn.ModuleList(), nn.ModuleList()
        for v, skip in zip([8 * w, 4 * w, 2 * w, w, w], reversed(widths[:-1])):
            self.ups.append(_up(c, v))
            self.blocks.append(_double(v + skip, v))
            c = v
        self.head = nn.Conv2d(c, check_int(out_channels, "out_channels"), 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.encoder):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for up, block, skip in zip(self.ups, self.blocks, reversed(skips[:-1])):
            x = block(torch.cat([up(x), skip], dim=1))
        return self.head(x)


class DraemReference(nn.Module):
    """Both sub-networks: ``forward(x)`` returns (reconstruction, segmentation logits [N, 2, H, W])."""

    def __init__(self, channels: int = 3, reconstructive_width: int = 128, discriminative_width: int = 64):
        super().__init__()
        c = check_int(channels, "channels")
        self.reconstructive = ReconstructiveSubNetwork(c, c, reconstructive_width)
        self.discriminative = DiscriminativeSubNetwork(2 * c, 2, discriminative_width)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        recon = self.reconstructive(x)
        return recon, self.discriminative(torch.cat([x, recon], dim=1))


def draem_parameters(
    channels: int = 3, reconstructive_width: int = 128, discriminative_width: int = 64
) -> dict[str, int]:
    """Parameter counts of :class:`DraemReference`: ``reconstructive``, ``discriminative``, ``total``.

    Built on PyTorch's ``meta`` device: no memory is allocated for the ~97 M weights.
    """
    with torch.device("meta"):
        net = DraemReference(channels, reconstructive_width, discriminative_width)
    r, d = count_parameters(net.reconstructive), count_parameters(net.discriminative)
    return {"reconstructive": r, "discriminative": d, "total": r + d}
