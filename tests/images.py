"""Small synthetic images the detector tests share."""

import numpy as np
import torch
from PIL import Image


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


def square_truth(maps: torch.Tensor, rows: slice, cols: slice) -> torch.Tensor:
    """The ground truth of a square defect at ``rows`` x ``cols``, shaped like ``maps`` [N, H, W]."""
    truth = torch.zeros_like(maps)
    truth[:, rows, cols] = 1
    return truth


def inside_over_outside(maps: torch.Tensor, rows: slice, cols: slice) -> float:
    """The maps' mean inside the square ``rows`` x ``cols`` over their mean everywhere else."""
    outside = maps.clone()
    outside[:, rows, cols] = float("nan")
    return float(maps[:, rows, cols].mean() / outside.nanmean())


def fake_elpv(root, counts={("mono", 0.0): 10, ("mono", 1.0): 6, ("mono", 1 / 3): 3, ("poly", 0.0): 4,
                            ("poly", 1.0): 2, ("poly", 2 / 3): 1}):
    """A small folder in the layout of the elpv-dataset package: labels.csv beside images/."""
    (root / "images").mkdir(parents=True)
    lines, k = [], 0
    rng = np.random.default_rng(0)
    for (kind, p), n in counts.items():
        for _ in range(n):
            k += 1
            name = f"images/cell{k:04d}.png"
            Image.fromarray((rng.random((30, 30)) * 255).astype(np.uint8)).save(root / name)
            lines.append(f"{name}  {p:.16f}  {kind}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root
