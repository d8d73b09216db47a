"""The two-stage model's inference module: stage 1, the superpixel refinement, stage 2 (Shah and Kim, 2022).

:class:`TwoStageScorer` holds both U-Nets and the refinement's settings and
turns images at the working size into the final probability map
(:mod:`.two_stage` trains it; :mod:`.refinement` is the refinement). Its
parts (``logits1``, ``refined``, ``logits2``, ``windows``, ``pasted``) are
also what training runs stage 2 through, and what ``TwoStage.stage_ms``
times one by one.
"""

from __future__ import annotations

import torch
from torch import nn

from ..data import synth
from ..models.scoring import ScoringModule
from .refinement import cut_windows, refine, windows
from .scores import top_fraction_score

__all__ = ["TwoStageScorer"]


class TwoStageScorer(ScoringModule):
    """The two-stage model's inference module: ``stage1`` and ``stage2`` (the U-Nets), the stage-2
    ``reading``, the number of ``stages`` to run, and the refinement's ``n_segments``, ``mark``,
    ``cover`` and window side ``patch``. The map is the stage-2 (or stage-1) probability, the image
    score the mean of its top 1 %; the extras hold ``stage1`` and, with two stages, ``refined``
    (and, in the patches reading, ``windows``)."""

    not_exportable = (
        "its refinement cuts each image into SLIC superpixels with scikit-image, outside torch, "
        "so no traced graph can hold it"
    )

    def __init__(
        self,
        stage1: nn.Module,
        stage2: nn.Module,
        reading: str,
        stages: int,
        n_segments: int,
        mark: float,
        cover: float,
        patch: int,
    ):
        super().__init__()
        self.stage1, self.stage2, self.reading, self.stages = stage1, stage2, reading, stages
        self.n_segments, self.mark, self.cover, self.patch = n_segments, mark, cover, patch

    def logits1(self, x: torch.Tensor) -> torch.Tensor:
        """Stage 1's logits [N, H, W]."""
        return self.stage1(x)[:, 0]

    def refined(self, x: torch.Tensor, p1: torch.Tensor) -> torch.Tensor:
        """The refined maps [N, H, W] of stage-1 probabilities ``p1`` over ``x``'s superpixels."""
        xc, pc = x.detach().cpu(), p1.detach().cpu()
        out = torch.stack(
            [refine(pc[i], synth.superpixels(xc[i], self.n_segments), self.mark, self.cover) for i in range(x.shape[0])]
        )
        return out.to(x.device)

    def logits2(self, x: torch.Tensor, z1: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """Stage 2's logits [N, H, W] (residual reading): stage 1's logits ``z1`` plus the learned
        correction."""
        inputs = torch.cat([x, torch.sigmoid(z1)[:, None], r[:, None]], dim=1)
        return z1 + self.stage2(inputs)[:, 0]

    def windows(self, refined: torch.Tensor) -> list[tuple[int, int, int]]:
        """``(image, top, left)`` of every window over the refined maps [N, H, W]."""
        return [(n, y, x) for n in range(refined.shape[0]) for y, x in windows(refined[n], self.patch)]

    def explain(self, x: torch.Tensor, generator: torch.Generator | None = None):
        z1 = self.logits1(x)
        p1 = torch.sigmoid(z1)
        if self.stages == 1:
            return top_fraction_score(p1), p1, {"stage1": p1}
        r = self.refined(x, p1)
        p2, extras = self.stage2_map(x, z1, r)
        return top_fraction_score(p2), p2, {"stage1": p1, "refined": r, **extras}

    def stage2_map(self, x: torch.Tensor, z1: torch.Tensor, r: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """The final probability map [N, H, W] of either reading (and, for patches, the windows)."""
        if self.reading == "residual":
            return torch.sigmoid(self.logits2(x, z1, r)), {}
        p2, inside = self.pasted(x, torch.sigmoid(z1), r)
        return p2, {"windows": inside}

    def pasted(self, x: torch.Tensor, p1: torch.Tensor, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The patches reading's map: stage 2's probability pasted into stage 1's map at every window
        (the larger where windows overlap), and the windows' union [N, H, W]."""
        out, inside, side = p1.clone(), torch.zeros_like(p1), self.patch
        where = self.windows(r)
        if where:
            p2 = torch.sigmoid(self.stage2(cut_windows(x, where, side)))[:, 0]
            first = torch.zeros_like(p1, dtype=torch.bool)
            for (n, y, x0), patch in zip(where, p2):
                region = (n, slice(y, y + side), slice(x0, x0 + side))
                fresh = ~first[region]  # a pixel's first window replaces stage 1; later ones keep the larger
                out[region] = torch.where(fresh, patch, torch.maximum(out[region], patch))
                first[region] = True
            inside = first.float()
        return out, inside
