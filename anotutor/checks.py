"""Input validation shared by data, metrics, losses and detectors.

One place for the rules of DESIGN.md: images are float tensors in [0, 1] of
shape [N, C, H, W] with C = 1 or 3; masks are binary; hyper-parameters lie in
their ranges. Each check raises a ``ValueError`` that names the argument,
says what was expected and what came, and never modifies its input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["as_images", "as_masks", "as_scores", "as_labels", "check_range", "check_int"]


def _to_tensor(x, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, np.ndarray):
        if x.dtype == object:
            raise ValueError(f"{name} must be a numeric array, got dtype object")
        return torch.from_numpy(np.ascontiguousarray(x))
    if isinstance(x, (list, tuple)) and len(x) == 0:
        raise ValueError(f"{name} is empty: expected at least one item")
    raise ValueError(f"{name} must be a torch.Tensor or numpy array, got {type(x).__name__}")


RANGE_SLACK = 1e-6  # images off [0, 1] by at most this much are clipped (float rounding), larger is an error


def as_images(
    x, name: str = "images", channels: Sequence[int] | int | None = (1, 3), min_size: int = 1
) -> torch.Tensor:
    """Validate a batch of images and return it as a float32 tensor.

    Expects shape [N, C, H, W] with N >= 1, C in ``channels``, H and W at
    least ``min_size``, finite values in [0, 1]. A single image [C, H, W] is
    refused rather than guessed at: add the batch axis with ``x[None]``.
    """
    t = _to_tensor(x, name)
    if t.dim() != 4:
        hint = " (a single image? add the batch axis with x[None])" if t.dim() == 3 else ""
        raise ValueError(f"{name} must have shape [N, C, H, W], got {t.dim()} dimensions {tuple(t.shape)}{hint}")
    if t.shape[0] == 0:
        raise ValueError(f"{name} is empty: expected at least one image, got shape {tuple(t.shape)}")
    if channels is not None:
        allowed = (channels,) if isinstance(channels, int) else tuple(channels)
        if t.shape[1] not in allowed:
            raise ValueError(
                f"{name} must have {' or '.join(map(str, allowed))} channels "
                f"(axis 1 of [N, C, H, W]), got {t.shape[1]} in shape {tuple(t.shape)}"
            )
    if t.shape[2] < min_size or t.shape[3] < min_size:
        raise ValueError(f"{name} must be at least {min_size}x{min_size} pixels, got {t.shape[2]}x{t.shape[3]}")
    if not (t.is_floating_point()):
        raise ValueError(
            f"{name} must be floating point in [0, 1], got dtype {t.dtype} (for uint8 images divide by 255)"
        )
    t = t.float()
    if torch.isnan(t).any():
        raise ValueError(f"{name} contains NaN ({int(torch.isnan(t).sum())} values)")
    if torch.isinf(t).any():
        raise ValueError(f"{name} contains infinite values")
    lo, hi = float(t.min()), float(t.max())
    if lo < 0.0 or hi > 1.0:
        if lo >= -RANGE_SLACK and hi <= 1.0 + RANGE_SLACK:  # float rounding, e.g. of an antialiased resize
            return t.clamp(0.0, 1.0)
        worst = int(torch.argmax(torch.maximum(-t, t - 1.0).flatten()))
        where = tuple(int(i) for i in np.unravel_index(worst, tuple(t.shape)))
        raise ValueError(
            f"{name} must lie in [0, 1], got values in [{lo:.7g}, {hi:.7g}]; the farthest, "
            f"{float(t.flatten()[worst]):.7g}, at index {where} of [N, C, H, W] (image "
            f"{where[0]}); values off by at most {RANGE_SLACK:g} are clipped as rounding"
        )
    return t


def as_masks(m, name: str = "masks", like: torch.Tensor | None = None) -> torch.Tensor:
    """Validate binary masks [N, H, W] (or [N, 1, H, W]) and return them as float {0, 1}.

    ``like`` is a map or image batch whose N, H, W the masks must match.
    """
    t = _to_tensor(m, name)
    if t.dim() == 4 and t.shape[1] == 1:
        t = t[:, 0]
    if t.dim() != 3:
        raise ValueError(f"{name} must have shape [N, H, W], got {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"{name} is empty: expected at least one mask")
    if t.dtype == torch.bool:
        t = t.float()
    t = t.float()
    if torch.isnan(t).any():
        raise ValueError(f"{name} contains NaN")
    bad = ~((t == 0) | (t == 1))
    if bad.any():
        raise ValueError(
            f"{name} must be binary (0 or 1), got {int(bad.sum())} other values such as {float(t[bad][0]):.4g}"
        )
    if like is not None:
        shape = (like.shape[0],) + tuple(like.shape[-2:])
        if tuple(t.shape) != shape:
            raise ValueError(f"{name} of shape {tuple(t.shape)} do not match the [N, H, W] = {shape} they belong to")
    return t


def as_scores(s, name: str = "scores") -> np.ndarray:
    """Validate scores of any shape; return them flattened as float64 NumPy."""
    if isinstance(s, torch.Tensor):
        s = s.detach().cpu().numpy()
    s = np.asarray(s)
    if s.dtype == object or not (np.issubdtype(s.dtype, np.number) or s.dtype == bool):
        raise ValueError(f"{name} must be numeric, got dtype {s.dtype}")
    s = s.astype(np.float64).ravel()
    if s.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.isfinite(s).all():
        raise ValueError(f"{name} contains NaN or infinite values ({int((~np.isfinite(s)).sum())} of them)")
    return s


def as_labels(y, n: int, name: str = "labels") -> np.ndarray:
    """Validate binary labels (0 = normal, 1 = anomalous) of length ``n``; return a bool array."""
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    y = np.asarray(y).ravel()
    if y.size != n:
        raise ValueError(f"{name} has {y.size} entries but the scores have {n}")
    if y.dtype == bool:
        return y
    if not np.issubdtype(y.dtype, np.number):
        raise ValueError(f"{name} must be numeric 0/1 or boolean, got dtype {y.dtype}")
    bad = ~np.isin(y, (0, 1))
    if bad.any():
        raise ValueError(f"{name} must be binary (0 = normal, 1 = anomalous), got values such as {y[bad][0]!r}")
    return y.astype(bool)


def check_range(value, name: str, low: float, high: float, low_open: bool = False, high_open: bool = False) -> float:
    """Check that a number lies in an interval, e.g. gamma in (0, 1]; return it as float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    v = float(value)
    ok = not math.isnan(v) and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name} must lie in {interval}, got {value!r}")
    return v


def check_int(value, name: str, minimum: int = 1, maximum: int | None = None) -> int:
    """Check that ``value`` is an integer of at least ``minimum`` (and at most ``maximum``)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    v = int(value)
    if v < minimum or (maximum is not None and v > maximum):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be an integer {bound}, got {v}")
    return v
