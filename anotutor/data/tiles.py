"""Large images as tiles: cut at the file's own resolution, each tile scored at the working size, the
maps stitched back.

A 2,000 px board with a 15 px defect cannot be judged from a copy shrunk to
a network's 224 px: the defect becomes 2 px and is averaged away. Tiling
keeps the resolution instead: :func:`tile_boxes` covers the image with
squares of ``tile`` px that overlap by ``overlap`` px (the last row and
column flush with the border), :func:`cut_tiles` resizes each to the
working size, and :func:`stitch` puts the tiles' maps back at the image's
own size, blending overlaps with a weight that falls towards each tile's
border (where a network sees least context), so no seam is drawn.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..checks import check_int
from .images import resize

__all__ = ["tile_boxes", "cut_tiles", "stitch", "check_tiling"]


def check_tiling(tile, overlap) -> tuple[int, int]:
    """``(tile, overlap)`` checked: a tile of at least 16 px, an overlap of 0 to half a tile."""
    tile = check_int(tile, "tile", minimum=16)
    overlap = check_int(overlap, "overlap", minimum=0, maximum=tile // 2)
    return tile, overlap


def _starts(length: int, tile: int, step: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]


def tile_boxes(height: int, width: int, tile: int, overlap: int = 0) -> list[tuple[int, int, int, int]]:
    """``(top, left, h, w)`` of the tiles covering a ``height`` x ``width`` image, row by row; a side
    shorter than ``tile`` is one tile of that side."""
    tile, overlap = check_tiling(tile, overlap)
    step = tile - overlap
    th, tw = min(tile, height), min(tile, width)
    return [(y, x, th, tw) for y in _starts(height, tile, step) for x in _starts(width, tile, step)]


def cut_tiles(image: torch.Tensor, tile: int, overlap: int, size: int):
    """The tiles [T, C, size, size] of ``image`` [C, H, W] at the working ``size``, and their boxes."""
    boxes = tile_boxes(image.shape[-2], image.shape[-1], tile, overlap)
    # resize gives size x size whatever the box (a side shorter than the tile is stretched to the square)
    return torch.stack([resize(image[:, y : y + h, x : x + w], size) for y, x, h, w in boxes]), boxes


def _weight(h: int, w: int) -> torch.Tensor:
    """A tile's blending weight [h, w]: 1 in the middle, falling linearly to 1/4 at the border."""

    def ramp(n):
        d = torch.minimum(torch.arange(n) + 0.5, n - torch.arange(n) - 0.5) / (n / 2)
        return 0.25 + 0.75 * d.clamp(0, 1)

    return ramp(h)[:, None] * ramp(w)[None, :]


def stitch(maps: torch.Tensor, boxes, shape: tuple[int, int]) -> torch.Tensor:
    """The map [H, W] of an image of ``shape`` from its tiles' maps [T, s, s] (in :func:`tile_boxes`'s
    order): each brought back to its box's size (bilinear), overlaps averaged by :func:`_weight`."""
    out = torch.zeros(shape, dtype=maps.dtype)
    total = torch.zeros(shape, dtype=maps.dtype)
    for m, (y, x, h, w) in zip(maps, boxes):
        if m.shape != (h, w):
            m = F.interpolate(m[None, None], size=(h, w), mode="bilinear", align_corners=False)[0, 0]
        wt = _weight(h, w).to(maps.dtype)
        out[y : y + h, x : x + w] += wt * m
        total[y : y + h, x : x + w] += wt
    return out / total.clamp_min(1e-12)
