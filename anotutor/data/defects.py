"""Test-time defects: scratches, cracks, holes and stains with exact pixel masks.

These stand in for real defects (as in MVTec AD) on the embedded texture data.
They are drawn by their own geometric process -- curves, random walks,
ellipses -- and share no code with the *training-time* pseudo-anomalies of
:mod:`anotutor.data.synth` (uniform noise, Perlin noise, SLIC superpixels), so
no method is graded on the very noise it was trained to remove.

Every defect changes the pixels inside its mask and nothing outside it; the
mask is exact. Sizes scale with the image, so a 128 px crop gets the same
relative defect as a 64 px one. Everything is deterministic given the seed.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from skimage import draw

from ..checks import as_images
from ..runtime import as_rng

__all__ = ["DEFECT_KINDS", "add_defect", "add_defects"]

DEFECT_KINDS = ("scratch", "crack", "hole", "stain")


def _contrast_towards(img: np.ndarray, mask: np.ndarray, strength: float) -> np.ndarray:
    """Move masked pixels towards white on dark ground, towards black on light ground."""
    out = img.copy()
    m = mask.astype(bool)
    local = float(img[:, m].mean())
    if local < 0.5:
        out[:, m] = img[:, m] + (1.0 - img[:, m]) * strength
    else:
        out[:, m] = img[:, m] * (1.0 - strength)
    return out


def _thicken(mask: np.ndarray, width: int) -> np.ndarray:
    if width <= 1:
        return mask
    return ndimage.binary_dilation(mask, iterations=width - 1)


def _scratch(img, rng):
    """A thin, slightly curved, high-contrast line across part of the image."""
    _, h, w = img.shape
    length = rng.uniform(0.35, 0.8) * min(h, w)
    angle = rng.uniform(0, np.pi)
    cy, cx = rng.uniform(0.25, 0.75) * h, rng.uniform(0.25, 0.75) * w
    dy, dx = np.sin(angle) * length / 2, np.cos(angle) * length / 2
    bend = rng.uniform(-0.15, 0.15) * length
    r0, c0 = int(cy - dy), int(cx - dx)
    r2, c2 = int(cy + dy), int(cx + dx)
    r1, c1 = int(cy + bend * np.cos(angle)), int(cx - bend * np.sin(angle))
    rr, cc = draw.bezier_curve(r0, c0, r1, c1, r2, c2, weight=1.0, shape=(h, w))
    mask = np.zeros((h, w), bool)
    mask[rr, cc] = True
    mask = _thicken(mask, max(1, round(h / 64)))
    return _contrast_towards(img, mask, rng.uniform(0.3, 0.55)), mask


def _crack(img, rng):
    """A dark, jagged random walk with one branch."""
    _, h, w = img.shape
    mask = np.zeros((h, w), bool)
    step = max(1.5, h / 40)

    def walk(y, x, heading, n):
        for _ in range(n):
            heading += rng.normal(0, 0.45)
            y2, x2 = y + step * np.sin(heading), x + step * np.cos(heading)
            rr, cc = draw.line(int(round(y)), int(round(x)), int(round(y2)), int(round(x2)))
            ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
            mask[rr[ok], cc[ok]] = True
            y, x = y2, x2
        return y, x, heading

    n = int(rng.uniform(0.4, 0.7) * h / step)
    y0, x0 = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
    heading0 = rng.uniform(0, 2 * np.pi)
    y, x, heading = walk(y0, x0, heading0, n // 2)
    walk(y, x, heading + rng.choice([-1, 1]) * rng.uniform(0.6, 1.2), n // 3)
    walk(y, x, heading, n - n // 2)
    mask = _thicken(mask, max(1, round(h / 48)))
    out = img.copy()
    out[:, mask] = img[:, mask] * rng.uniform(0.4, 0.65)
    return out, mask


def _hole(img, rng):
    """A dark elliptical hole with a lit rim on one side."""
    _, h, w = img.shape
    ry, rx = rng.uniform(0.05, 0.11, size=2) * np.array([h, w])
    cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
    rr, cc = draw.ellipse(cy, cx, ry, rx, shape=(h, w), rotation=rng.uniform(0, np.pi))
    mask = np.zeros((h, w), bool)
    mask[rr, cc] = True
    yy, xx = np.mgrid[0:h, 0:w]
    shade = ((yy - cy) / max(ry, 1) + (xx - cx) / max(rx, 1)) * 0.08  # light from the top left
    depth = rng.uniform(0.15, 0.3)
    out = img.copy()
    out[:, mask] = np.clip(depth + shade[mask], 0.0, 1.0)
    return out, mask


def _stain(img, rng):
    """An irregular blob (a few overlapping ellipses) tinted towards a contrasting tone."""
    c, h, w = img.shape
    mask = np.zeros((h, w), bool)
    cy, cx = rng.uniform(0.25, 0.75) * h, rng.uniform(0.25, 0.75) * w
    for _ in range(rng.integers(3, 6)):
        oy, ox = rng.normal(0, 0.06, size=2) * np.array([h, w])
        ry, rx = rng.uniform(0.05, 0.12, size=2) * np.array([h, w])
        rr, cc = draw.ellipse(cy + oy, cx + ox, ry, rx, shape=(h, w), rotation=rng.uniform(0, np.pi))
        mask[rr, cc] = True
    local = float(img[:, mask].mean())
    if c == 3:
        tone = np.array([0.55, 0.32, 0.12]) if local > 0.4 else np.array([0.85, 0.7, 0.35])
    else:
        tone = np.array([0.2 if local > 0.5 else 0.8])
    alpha = rng.uniform(0.3, 0.5)
    out = img.copy()
    out[:, mask] = (1 - alpha) * img[:, mask] + alpha * tone[:, None]
    return out, mask


_DRAW = {"scratch": _scratch, "crack": _crack, "hole": _hole, "stain": _stain}


def add_defect(image: torch.Tensor, kind: str, seed=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw one defect of ``kind`` on one image [C, H, W]; return (image, mask [H, W]).

    The mask marks exactly the pixels that changed. Images must be at least
    16 x 16 so that the smallest defect still spans a few pixels.
    """
    if kind not in _DRAW:
        raise ValueError(f"kind must be one of {DEFECT_KINDS}, got {kind!r}")
    if not isinstance(image, torch.Tensor) or image.dim() != 3:
        raise ValueError(f"image must be a tensor [C, H, W], got {getattr(image, 'shape', type(image))}")
    x = as_images(image[None], "image", min_size=16)[0].numpy().astype(np.float64)
    rng = as_rng(seed)
    for _ in range(10):  # a defect must change something; redraw in the rare case it does not
        out, mask = _DRAW[kind](x, rng)
        out = np.clip(out, 0.0, 1.0)
        changed = np.abs(out - x).max(axis=0) > 1e-3
        if changed.sum() >= 4:
            break
    # exact mask: the drawn region, minus any pixel the drawing left unchanged
    mask = mask & changed
    out[:, ~mask] = x[:, ~mask]
    return torch.from_numpy(out).float(), torch.from_numpy(mask).float()


def add_defects(images: torch.Tensor, kinds: list[str], seed=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``kinds[i]`` on ``images[i]`` for a batch [N, C, H, W]; return (images, masks [N, H, W])."""
    x = as_images(images, "images", min_size=16)
    if len(kinds) != x.shape[0]:
        raise ValueError(f"got {x.shape[0]} images but {len(kinds)} kinds")
    rng = as_rng(seed)
    pairs = [add_defect(img, k, rng) for img, k in zip(x, kinds)]
    return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])
