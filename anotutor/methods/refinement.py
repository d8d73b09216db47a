r"""The two-stage model's refinement: a probability map completed or dropped superpixel by superpixel.

**Refinement** (:func:`refine`). The input image is cut into SLIC
superpixels (:func:`~anotutor.data.synth.superpixels`, ``n_segments`` of
them, on the image as it comes, anomaly included). A pixel is *marked* when
its stage-1 probability is at least ``mark``; a superpixel becomes a whole
patch of the refined map (value 1) when at least a share ``cover`` of its
pixels is marked, and is dropped (value 0) otherwise. A partly found anomaly
that follows the image's edges is thereby completed, and an isolated speck
that marks a small part of its superpixel disappears.

The *patches* reading of stage 2 (``stage2="patches"``) trains and infers on
square windows over the refined map's marked regions
(:func:`windows`, of side :func:`patch_size`), instead of the whole image.
"""

from __future__ import annotations

import numpy as np
import torch

from ..checks import check_range

__all__ = ["refine", "windows", "patch_size", "cut_windows", "MAX_WINDOWS"]

MAX_WINDOWS = 4  # patches reading: at most this many windows per image, the largest marked regions first


def refine(prob: torch.Tensor, segments, mark: float = 0.5, cover: float = 0.25) -> torch.Tensor:
    """The refined map [H, W] of one stage-1 probability map ``prob`` [H, W] and
    its superpixels.

    ``segments`` [H, W] holds integer superpixel labels (any non-negative
    integers, e.g. from :func:`anotutor.data.synth.superpixels`). A pixel is
    marked when ``prob >= mark``; every pixel of a superpixel of which at
    least a share ``cover`` is marked gets 1, every other pixel 0. So a mark
    on part of a superpixel grows into the whole superpixel, and a speck
    covering less than ``cover`` of its superpixel is dropped.
    """
    seg, mark, cover = _checked_refine(prob, segments, mark, cover)  # seg: flat labels
    marked = (prob.flatten() >= mark).float()  # 1 where stage 1 marks a pixel
    counts = torch.bincount(seg).clamp_min(1)  # pixels per superpixel
    share = torch.bincount(seg, weights=marked, minlength=counts.numel()) / counts
    return (share >= cover).float()[seg].view_as(prob)  # each superpixel: all or none


def _checked_refine(prob, segments, mark, cover) -> tuple[torch.Tensor, float, float]:
    """:func:`refine`'s arguments checked: the labels as a flat long tensor on ``prob``'s device."""
    if not isinstance(prob, torch.Tensor) or prob.dim() != 2:
        raise ValueError(f"prob must be a tensor [H, W], got {getattr(prob, 'shape', type(prob).__name__)}")
    seg = torch.as_tensor(np.asarray(segments) if not isinstance(segments, torch.Tensor) else segments)
    if tuple(seg.shape) != tuple(prob.shape):
        raise ValueError(f"segments of shape {tuple(seg.shape)} do not match prob of shape {tuple(prob.shape)}")
    if seg.is_floating_point() or seg.dtype == torch.bool:
        raise ValueError(f"segments must hold integer labels, got dtype {seg.dtype}")
    if bool(torch.isnan(prob).any()):
        raise ValueError("prob contains NaN")
    mark = check_range(mark, "mark", 0.0, 1.0, low_open=True)
    cover = check_range(cover, "cover", 0.0, 1.0, low_open=True)
    seg = seg.long().flatten().to(prob.device)
    if bool((seg < 0).any()):
        raise ValueError("segments must hold non-negative labels")
    return seg, mark, cover


def patch_size(image_size: int, depth: int) -> int:
    """The patches reading's window: half the image, down to a multiple of 2^``depth``, at least 16
    (the SSIM window) and at most the image."""
    unit = 2**depth
    side = max(16, (image_size // 2) // unit * unit)
    return min(image_size, -(-side // unit) * unit)


def windows(refined: torch.Tensor, size: int, most: int = MAX_WINDOWS) -> list[tuple[int, int]]:
    """Top-left corners of square windows of side ``size`` over the marked regions
    of one refined map [H, W]: each connected region (the largest first, ``most``
    windows in all) is tiled by windows that cover its bounding box, each kept
    inside the image."""
    from scipy import ndimage

    h, w = refined.shape
    labels, n = ndimage.label(refined.detach().cpu().numpy() > 0.5)
    if n == 0:
        return []
    sizes = np.bincount(labels.ravel())[1:]
    boxes = ndimage.find_objects(labels)
    out = []
    for k in np.argsort(-sizes, kind="stable"):
        ys, xs = boxes[k]
        for y in _starts(ys.start, ys.stop, size, h):
            for x in _starts(xs.start, xs.stop, size, w):
                if (y, x) not in out:
                    out.append((y, x))
                if len(out) == most:
                    return out
    return out


def _starts(start: int, stop: int, size: int, length: int) -> list[int]:
    """Window starts that cover [start, stop) with windows of ``size``, kept inside [0, length)."""
    if stop - start <= size:
        first = [(start + stop - size) // 2]
    else:
        first = list(range(start, stop - size, size)) + [stop - size]
    return [min(max(v, 0), length - size) for v in first]


def cut_windows(t: torch.Tensor, where: list[tuple[int, int, int]], side: int) -> torch.Tensor:
    """The windows ``(image, top, left)`` of side ``side`` cut from ``t`` [N, C, H, W], stacked."""
    return torch.stack([t[n, :, y : y + side, x : x + side] for n, y, x in where])
