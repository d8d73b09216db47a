r"""Training-time pseudo-anomalies: uniform noise, Perlin noise, SLIC superpixels.

Methods that learn to *remove* or *segment* anomalies need anomalies to train
on; these are synthetic and are never used to grade a method (test defects
come from :mod:`anotutor.data.defects`, a different process).

* :func:`uniform_noise` -- PNUNet's noise :math:`z \sim U(-a, a)` (Kimura, 2020).
* :func:`perlin_noise`, :func:`perlin_mask`, :func:`perlin_anomaly` -- DRAEM's
  pseudo-anomalies (Zavrtanik et al. 2021), used by the two-stage model's first
  stage (Shah and Kim, 2022): a thresholded Perlin noise field is the mask, and inside it
  a foreign texture is blended in,
  :math:`x' = (1 - m) \odot x + m \odot ((1 - \beta) s + \beta x)`.
* :func:`superpixels`, :func:`slic_anomaly` -- Shah and Kim's (2022) superpixel
  pseudo-anomalies: whole SLIC superpixels of the image are replaced by the
  foreign texture, so the anomaly follows the image's own edges.

The foreign texture ``s`` is, by default, a fractal Perlin pattern made here
(no external data set needed); pass ``sources`` to use other images instead,
e.g. :func:`foreign_textures`: fractal patterns through DRAEM's kind of random
intensity augmentations.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..checks import as_images, check_int, check_range
from ..ops import uniform
from ..runtime import as_rng

__all__ = [
    "uniform_noise",
    "perlin_noise",
    "perlin_mask",
    "fractal_texture",
    "foreign_textures",
    "perlin_anomaly",
    "superpixels",
    "slic_anomaly",
]


def uniform_noise(
    images: torch.Tensor, amplitude: float = 0.5, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Noise of the images' shape, uniform in [-amplitude, amplitude]."""
    x = as_images(images, "images")
    a = check_range(amplitude, "amplitude", 0.0, 1.0, low_open=True)
    return uniform(x.shape, a, generator, x.device)


def _fade(t: np.ndarray) -> np.ndarray:
    return t * t * t * (t * (t * 6 - 15) + 10)


def perlin_noise(height: int, width: int, res: tuple[int, int] = (4, 4), seed=None) -> np.ndarray:
    """Classic 2-D Perlin gradient noise [height, width], values roughly in [-1, 1].

    ``res`` is the number of lattice cells along (rows, columns): larger means
    finer structure. Any image size works (the lattice need not divide it).
    """
    height = check_int(height, "height")
    width = check_int(width, "width")
    ry, rx = (check_int(r, "res") for r in res)
    rng = as_rng(seed)
    angles = 2 * np.pi * rng.random((ry + 1, rx + 1))
    grads = np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    ys = np.arange(height) * ry / height
    xs = np.arange(width) * rx / width
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    Y0, X0 = y0[:, None], x0[None, :]

    def corner(dy, dx):
        g = grads[Y0 + dy, X0 + dx]
        return g[..., 0] * (fy - dy) + g[..., 1] * (fx - dx)

    uy, ux = _fade(fy), _fade(fx)
    top = corner(0, 0) * (1 - ux) + corner(0, 1) * ux
    bottom = corner(1, 0) * (1 - ux) + corner(1, 1) * ux
    return np.sqrt(2.0) * (top * (1 - uy) + bottom * uy)


def perlin_mask(height: int, width: int, threshold: float = 0.5, seed=None) -> np.ndarray:
    """A boolean blob mask: Perlin noise of a random scale, thresholded; never empty."""
    rng = as_rng(seed)
    # lattice of 2 to 8 cells (fewer on small images): blobs of a few to a dozen
    # pixels at 64 px
    max_log = int(np.clip(np.log2(min(height, width) / 8), 1, 3))
    for _ in range(20):
        res = tuple(2 ** rng.integers(1, max_log + 1, size=2))
        mask = perlin_noise(height, width, res, rng) > threshold
        if mask.sum() >= max(4, height * width // 200):
            return mask
    # rare: lower the bar rather than return an empty anomaly
    noise = perlin_noise(height, width, (2, 2), rng)
    return noise >= np.quantile(noise, 0.9)


def fractal_texture(channels: int, height: int, width: int, seed=None) -> np.ndarray:
    """A foreign texture [C, H, W] in [0, 1]: four octaves of Perlin noise per channel."""
    rng = as_rng(seed)
    out = np.empty((channels, height, width))
    base = int(rng.integers(2, 5))
    for c in range(channels):
        acc = sum(perlin_noise(height, width, (base * 2**o, base * 2**o), rng) / 2**o for o in range(4))
        acc = acc - acc.min()
        out[c] = acc / max(acc.max(), 1e-8)
    return out


SOURCE_AUGMENTATIONS = ("gamma", "brightness", "invert", "solarize", "posterize", "autocontrast")


def _augment_source(t: np.ndarray, rng: np.random.Generator, k: int = 3) -> np.ndarray:
    """``k`` random intensity augmentations of a texture in [0, 1], in the spirit of DRAEM's
    (Zavrtanik et al. 2021: three of gamma, brightness, solarize, posterize, invert, autocontrast, ...)."""
    for name in rng.choice(SOURCE_AUGMENTATIONS, size=k, replace=False):
        if name == "gamma":
            t = t ** rng.uniform(0.5, 2.0)
        elif name == "brightness":
            t = t * rng.uniform(0.8, 1.2) + rng.uniform(-0.12, 0.12)
        elif name == "invert":
            t = 1.0 - t
        elif name == "solarize":
            th = rng.uniform(0.125, 0.5)
            t = np.where(t >= th, 1.0 - t, t)
        elif name == "posterize":
            levels = 2 ** int(rng.integers(1, 4))
            t = np.floor(t * levels).clip(0, levels - 1) / (levels - 1)
        else:  # autocontrast
            t = (t - t.min()) / max(float(t.max() - t.min()), 1e-8)
        t = np.clip(t, 0.0, 1.0)
    return t


def foreign_textures(n: int, channels: int, height: int, width: int, seed=None, augment: bool = True) -> torch.Tensor:
    """``n`` foreign textures [n, C, H, W] in [0, 1] to pass as ``sources``: :func:`fractal_texture`,
    each (``augment``) through three random intensity augmentations as DRAEM does with its texture
    images (gamma, brightness, invert, solarize, posterize, autocontrast) and a random quarter turn."""
    n = check_int(n, "n")
    channels, height, width = (
        check_int(v, k) for v, k in ((channels, "channels"), (height, "height"), (width, "width"))
    )
    rng = as_rng(seed)
    out = np.empty((n, channels, height, width))
    for i in range(n):
        side = max(height, width)
        t = fractal_texture(channels, side, side, rng)
        if augment:
            t = np.rot90(_augment_source(t, rng), int(rng.integers(4)), axes=(1, 2))
        out[i] = t[:, :height, :width]
    return torch.from_numpy(out).float()


def _source(sources, c, h, w, rng) -> np.ndarray:
    if sources is None:
        return fractal_texture(c, h, w, rng)
    s = sources[int(rng.integers(len(sources)))][None]
    if s.shape[1] != c:  # grayscale <-> colour
        s = s.mean(dim=1, keepdim=True) if c == 1 else s.expand(1, c, *s.shape[2:])
    s = F.interpolate(s, size=(h, w), mode="bilinear", align_corners=False)
    return s[0].numpy().astype(np.float64)


def _blend(x: np.ndarray, mask: np.ndarray, src: np.ndarray, beta: float) -> np.ndarray:
    """The pseudo-anomaly of one image ``x`` [C, H, W]: inside ``mask`` [H, W]
    the foreign texture ``src`` [C, H, W] with the image blended in at weight
    ``beta``, outside it the image unchanged."""
    m = mask.astype(np.float64)[None]
    return (1 - m) * x + m * ((1 - beta) * src + beta * x)


def _check_beta(beta):
    lo, hi = beta
    check_range(lo, "beta[0]", 0.0, 1.0, high_open=True)
    check_range(hi, "beta[1]", lo, 1.0, high_open=True)


def _prepare(images, sources):
    x = as_images(images, "images", min_size=8)
    if sources is not None:
        sources = as_images(sources, "sources")
    return x, sources


def perlin_anomaly(
    images: torch.Tensor,
    seed=None,
    sources: torch.Tensor | None = None,
    threshold: float = 0.5,
    beta: tuple[float, float] = (0.0, 0.8),
) -> tuple[torch.Tensor, torch.Tensor]:
    """DRAEM-style pseudo-anomalies on a batch; returns (images, masks [N, H, W]).

    ``beta`` is the range of the blending weight of the original image inside
    the mask (0: the foreign texture replaces it; 0.8: a faint overlay).
    """
    x, sources = _prepare(images, sources)
    _check_beta(beta)
    rng = as_rng(seed)
    n, c, h, w = x.shape
    out, masks = x.numpy().astype(np.float64).copy(), np.zeros((n, h, w), bool)
    for i in range(n):
        masks[i] = perlin_mask(h, w, threshold, rng)
        src = _source(sources, c, h, w, rng)
        out[i] = _blend(out[i], masks[i], src, rng.uniform(*beta))
    return torch.from_numpy(out).float().clamp(0, 1), torch.from_numpy(masks).float()


def superpixels(image: torch.Tensor, n_segments: int = 40, compactness: float | None = None) -> np.ndarray:
    """SLIC superpixels of one image [C, H, W]: an int label map [H, W], labels from 0.

    ``compactness`` defaults to 10 for colour (SLIC works in Lab, range ~100)
    and 0.1 for grayscale in [0, 1], so segments follow edges in both cases.
    """
    from skimage.segmentation import slic

    if not isinstance(image, torch.Tensor) or image.dim() != 3:
        raise ValueError(f"image must be a tensor [C, H, W], got {getattr(image, 'shape', type(image))}")
    x = as_images(image[None], "image")[0]
    n_segments = check_int(n_segments, "n_segments", minimum=2)
    color = x.shape[0] == 3
    if compactness is None:
        compactness = 10.0 if color else 0.1
    arr = x.permute(1, 2, 0).numpy().astype(np.float64) if color else x[0].numpy().astype(np.float64)
    for _ in range(4):
        seg = slic(
            arr, n_segments=n_segments, compactness=compactness, channel_axis=-1 if color else None, start_label=0
        )
        if seg.max() + 1 >= max(2, n_segments // 4):
            break
        compactness *= 10  # noisy images: weigh position more until segments form
    return seg


def slic_anomaly(
    images: torch.Tensor,
    seed=None,
    sources: torch.Tensor | None = None,
    n_segments: int = 40,
    regions: tuple[int, int] = (1, 3),
    beta: tuple[float, float] = (0.0, 0.5),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Shah and Kim's (2022) superpixel pseudo-anomalies: ``regions`` random SLIC
    superpixels per image get the foreign texture. Returns (images, masks [N, H, W])."""
    x, sources = _prepare(images, sources)
    _check_beta(beta)
    lo, hi = (check_int(r, "regions") for r in regions)
    if hi < lo:
        raise ValueError(f"regions must be (min, max) with min <= max, got {regions}")
    rng = as_rng(seed)
    n, c, h, w = x.shape
    out, masks = x.numpy().astype(np.float64).copy(), np.zeros((n, h, w), bool)
    for i in range(n):
        seg = superpixels(x[i], n_segments)
        labels, sizes = np.unique(seg, return_counts=True)
        small = labels[sizes <= 0.25 * h * w]  # a part of the image, never most of it
        labels = small if len(small) else labels[np.argsort(sizes)[:1]]
        k = min(len(labels), int(rng.integers(lo, hi + 1)))
        chosen = rng.choice(labels, size=k, replace=False)
        masks[i] = np.isin(seg, chosen)
        src = _source(sources, c, h, w, rng)
        out[i] = _blend(out[i], masks[i], src, rng.uniform(*beta))
    return torch.from_numpy(out).float().clamp(0, 1), torch.from_numpy(masks).float()
