"""Small synthetic images the detector tests share."""

import torch


def ramps(n: int, size: int = 16, seed: int = 0) -> torch.Tensor:
    """Smooth normal images [n, 1, size, size]: a horizontal ramp of random slope and offset."""
    g = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0, 1, size)[None, None, None, :]
    a = torch.rand(n, 1, 1, 1, generator=g) * 0.4 + 0.1
    b = torch.rand(n, 1, 1, 1, generator=g) * 0.3 + 0.2
    return (b + a * ramp).expand(n, 1, size, size).clone()


def with_square(x: torch.Tensor) -> torch.Tensor:
    """The same images with a bright square at rows 4-9, columns 5-10 (a defect no ramp has)."""
    y = x.clone()
    y[:, :, 4:10, 5:11] = 1.0
    return y
