"""What every detector's inference is: one ``nn.Module``, images in, scores and maps out.

A fitted detector (:class:`anotutor.methods.base.Detector`) keeps training,
input checks, resizing, batching and persistence; its inference is a
:class:`ScoringModule` holding its networks and learned buffers (PatchCore's
memory bank, PaDiM's Gaussians, the two U-Nets of the two-stage model)::

    module = det.torch_model()              # eval mode, on the detector's device, tensors shared
    scores, maps = module(x)                # x [N, C, s, s] in [0, 1] at the working size s

``forward`` is what an exporter traces; :meth:`ScoringModule.explain` also
returns the method's extras (a reconstruction, a per-stage map) and takes
the random generator of an inference that draws numbers (a latent search's
starts). A module that cannot be traced says why in ``not_exportable``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ScoringModule"]


class ScoringModule(nn.Module):
    """A detector's inference: ``forward(x) -> (scores [N], maps [N, s, s])`` at the working size ``s``."""

    # None when forward is plain tensor arithmetic (ONNX can trace it); else why not, in a sentence
    not_exportable: str | None = None

    def explain(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Scores [N], maps [N, s, s] and the method's extras (a dict of tensors)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scores, maps, _ = self.explain(x)
        return scores, maps
