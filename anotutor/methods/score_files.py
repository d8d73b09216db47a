"""Scoring image files one batch at a time: what ``Detector.score_files`` and ``anotutor predict`` do.

Files are decoded and resized in ``DataLoader`` workers (:func:`anotutor.data.files.stream`),
scored by the detector's inference module (:meth:`Detector.torch_model`) and yielded one by
one, each map at its file's own size; nothing is kept, so memory stays flat in the number of
files. A file that cannot be read raises a ``ValueError`` naming it, or, with ``on_error``, is
reported there and skipped. No warm-up call is made and no time is measured: this is for
throughput (``predict`` measures ``ms_per_image``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import torch
import torch.nn.functional as F

from ..checks import check_int
from ..data.files import stream
from ..data.tiles import check_tiling, cut_tiles, stitch
from ..log import LOG

if TYPE_CHECKING:
    from .base import Detector

__all__ = ["Scored", "score_files", "score_tiled"]


class Scored(NamedTuple):
    """One scored file: ``path``, image ``score``, ``verdict`` at the detector's image threshold
    (``"normal"``/``"anomalous"``; None without thresholds) and the anomaly ``map`` [H, W] at the
    file's own size."""

    path: Path
    score: float
    verdict: str | None
    map: torch.Tensor


def score_tiled(module, image: torch.Tensor, tile: int, overlap: int, size: int, device, g, batch_size: int = 16):
    """``(score, map [H, W])`` of one image [C, H, W] scored in tiles (:mod:`anotutor.data.tiles`): each
    tile at the working ``size``, the map stitched back at the image's own size; the score is the
    largest tile score, on the scale the thresholds were chosen on (tiles of the same size)."""
    tiles, boxes = cut_tiles(image, tile, overlap, size)
    scores, maps = [], []
    for i in range(0, len(tiles), batch_size):
        s, m, _ = module.explain(tiles[i : i + batch_size].to(device), g)
        scores.append(s.detach().float().cpu())
        maps.append(m.detach().float().cpu())
    return float(torch.cat(scores).max()), stitch(
        torch.cat(maps), boxes, (int(image.shape[-2]), int(image.shape[-1]))
    ).clamp_min(0)


def score_files(
    det: Detector,
    paths,
    batch_size: int = 16,
    workers: int = 0,
    on_error: Callable[[Path, str], None] | None = None,
    seed: int = 0,
    tile: int | None = None,
    overlap: int = 0,
) -> Iterator[Scored]:
    """Yield a :class:`Scored` per readable file of ``paths``, in order (see the module docstring);
    with ``tile``, each file is scored in tiles of ``tile`` px overlapping by ``overlap`` px."""
    det._check_fitted()
    batch_size = check_int(batch_size, "batch_size")
    g = torch.Generator().manual_seed(check_int(seed, "seed", minimum=0))
    module, tau = det._module(), det.threshold_
    size = det.params_["image_size"]
    if tile is not None:
        tile, overlap = check_tiling(tile, overlap)
        for batch in stream(paths, det.channels_, size, 1, workers, keep_full=True):
            for item in batch:
                if item.error is not None:
                    if on_error is None:
                        raise ValueError(item.error)
                    on_error(item.path, item.error)
                    continue
                with torch.no_grad():
                    s, m = score_tiled(module, item.full, tile, overlap, size, det.device_, g, batch_size)
                yield Scored(item.path, s, None if tau is None else tau.verdict(s), m)
        return
    enlarged = 0
    for batch in stream(paths, det.channels_, size, batch_size, workers):
        good = []
        for item in batch:
            if item.error is None:
                good.append(item)
                if 2 * min(item.size) < size:
                    enlarged += 1
                    if enlarged == 1:
                        LOG.warning(
                            f"{item.path} is {item.size[1]} x {item.size[0]} px, enlarged more than 2x to the "
                            f"working size {size} px: the detector judges detail the file does not hold"
                        )
            elif on_error is None:
                raise ValueError(item.error)
            else:
                on_error(item.path, item.error)
        if not good:
            continue
        x = torch.stack([it.image for it in good]).to(det.device_)
        with torch.no_grad():
            scores, maps, _ = module.explain(x, g)
        scores, maps = scores.detach().float().cpu(), maps.detach().float().cpu()
        for it, s, m in zip(good, scores, maps):
            if m.shape != it.size:
                m = F.interpolate(m[None, None], size=it.size, mode="bilinear", align_corners=False)[0, 0]
            yield Scored(it.path, float(s), None if tau is None else tau.verdict(float(s)), m.clamp_min(0))
    if enlarged > 1:
        LOG.warning(f"{enlarged} files were enlarged more than 2x to the working size {size} px")
