r"""A DCGAN generator and discriminator for images of any supported size (Radford et al., 2016).

AnoGAN (Schlegl et al., 2017) and Noisy-AnoGAN (Kimura and Yanagihara, 2018)
need two things of their networks: a generator :math:`G(z)` from a latent code
to an image, and a discriminator whose *intermediate features* :math:`f(x)`
enter the discrimination loss of latent search (the paper's eq. 3). The
Noisy-AnoGAN paper trains Karras et al.'s progressive growing, a network of
tens of millions of parameters trained for days; on a CPU in minutes the book
uses the DCGAN layout instead, at a fixed resolution:

* **generator**: the code :math:`z` [N, nz, 1, 1] is mapped by a transposed
  convolution to ``base`` x ``base`` (4 to 15 px), then each block doubles
  the size (transposed convolution, kernel 4, stride 2, BatchNorm, ReLU) and
  halves the channels; the last block gives the image's channels and a
  sigmoid, so images lie in [0, 1] like the data;
* **discriminator**: the mirror, convolutions of kernel 4 and stride 2 with
  LeakyReLU (slope 0.2) and *spectral normalisation* (Miyato et al., 2018)
  in place of BatchNorm (``spectral=False`` leaves it out, for comparison); :meth:`Discriminator.features` is
  :math:`f(x)`, the
  last convolutional block, and the output is one logit per image,
  :math:`D(x) = \sigma(\text{logit})`.

Spectral normalisation keeps D's features per image (no batch statistics),
so a batch of images is scored exactly as each image alone: the batched
latent search relies on that.

Sizes: ``image_size`` = ``base`` x 2^k with ``base`` from 4 to 15 and k >= 2
(28 = 7 x 4, 32, 48, 64 = 4 x 16, 96, 128, ...). Channels: 1 or 3 (or any).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..checks import check_int

__all__ = ["Generator", "Discriminator", "gan_layout"]

MAX_BASE = 15


def gan_layout(image_size: int) -> tuple[int, int]:
    """``(base, k)`` with ``image_size = base * 2**k``, ``4 <= base <= 15`` and ``k >= 2``; ValueError otherwise."""
    s = check_int(image_size, "image_size", minimum=16)
    k = 0
    while s % 2 == 0 and s // 2 >= 4:
        s //= 2
        k += 1
    if k < 2 or s > MAX_BASE:
        ok = sorted({b * 2**j for b in range(4, MAX_BASE + 1) for j in range(2, 6) if 16 <= b * 2**j <= 256})
        near = sorted(ok, key=lambda v: abs(v - image_size))[:3]
        raise ValueError(
            f"image_size {image_size} is not a DCGAN size (base 4 to {MAX_BASE} "
            f"times a power of two, at least 4); nearest: {sorted(near)}"
        )
    return s, k


def _widths(k: int, width: int, max_width: int) -> list[int]:
    """Channels from the smallest map to the largest hidden one: width * 2**(k-1), ..., width."""
    return [min(width * 2**i, max_width) for i in reversed(range(k))]


class Generator(nn.Module):
    """``G(z)``: latent codes [N, latent_size, 1, 1] (or [N, latent_size]) to images [N, channels, S, S] in [0, 1]."""

    def __init__(
        self, image_size: int = 64, channels: int = 1, latent_size: int = 100, width: int = 32, max_width: int = 256
    ):
        super().__init__()
        base, k = gan_layout(image_size)
        self.latent_size = check_int(latent_size, "latent_size")
        channels = check_int(channels, "channels")
        w = _widths(k, check_int(width, "width"), check_int(max_width, "max_width"))
        layers = [
            nn.ConvTranspose2d(self.latent_size, w[0], base, 1, 0, bias=False),
            nn.BatchNorm2d(w[0]),
            nn.ReLU(True),
        ]
        for c_in, c_out in zip(w[:-1], w[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(w[-1], channels, 4, 2, 1), nn.Sigmoid()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() == 2:
            z = z[:, :, None, None]
        return self.net(z)


class Discriminator(nn.Module):
    """``D``: images [N, channels, S, S] to one logit each; :meth:`features` gives f(x) [N, F]."""

    def __init__(
        self, image_size: int = 64, channels: int = 1, width: int = 32, max_width: int = 256, spectral: bool = True
    ):
        super().__init__()
        base, k = gan_layout(image_size)
        channels = check_int(channels, "channels")
        w = list(reversed(_widths(k, check_int(width, "width"), check_int(max_width, "max_width"))))
        norm = spectral_norm if spectral else (lambda m: m)
        layers, c_in = [], channels
        for c_out in w:  # k stride-2 blocks: S -> base
            layers += [norm(nn.Conv2d(c_in, c_out, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.head = norm(nn.Conv2d(c_in, 1, base, 1, 0))
        self.n_features = c_in * base * base

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """f(x): the last convolutional block's activations, flattened [N, n_features]."""
        return self.body(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).flatten()

    def logits_and_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both in one pass: logits [N] and f(x) [N, n_features]."""
        h = self.body(x)
        return self.head(h).flatten(), h.flatten(1)
