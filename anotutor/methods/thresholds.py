"""Choosing a fitted detector's thresholds, with or without labelled defects.

A practitioner's folder may hold defects with pixel masks, defects without
masks, or no defect at all. :func:`choose` picks the rule the data allows
and says which it used:

* ``"f1-masks"``: validation defects with masks. The pixel threshold is the
  one with the best pixel F1 on validation, the image threshold the one with
  the best image F1 (as :func:`anotutor.methods.evaluate.evaluate` does).
* ``"f1-images"``: validation defects without masks. The image threshold is
  the best image F1 on validation; the pixel threshold is set by the
  false-alarm rule on the validation's normal images (no mask can say more).
* ``"fpr"``: no defect to learn from. Both thresholds are set on held-out
  normal images so that at most a share ``fpr`` of their scores (of their
  pixels, for the pixel threshold) reach it (:func:`fpr_threshold`).

Nothing is chosen on a test split. :class:`Thresholds` is what a detector
stores as ``threshold_`` and writes into its checkpoint.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from .. import metrics
from ..checks import check_range
from ..data.splits import Split

__all__ = ["Thresholds", "RULES", "VERDICTS", "fpr_threshold", "choose", "DEFAULT_FPR"]

DEFAULT_FPR = 0.01
RULES = {
    "f1-masks": "best F1 on validation defects with masks",
    "f1-images": "best image F1 on validation defects (no masks); pixel tau at the false-alarm rate",
    "fpr": "false-alarm rate on held-out normal images (no defects to learn from)",
}

# the one vocabulary of every output (run, compare, predict, the Python API): below the image
# threshold, and at or over it
VERDICTS = ("normal", "anomalous")


@dataclass(frozen=True)
class Thresholds:
    """A detector's decision thresholds and how they were chosen.

    ``pixel``: tau on the maps (a pixel is flagged when its score is at
    least tau); ``image``: the threshold on image scores; ``rule``: a key of
    :data:`RULES`; ``fpr``: the false-alarm rate asked for, where a rule used
    it; ``n_normal``, ``n_defective``: the held-out images it was chosen on.
    """

    pixel: float
    image: float
    rule: str
    fpr: float | None = None
    n_normal: int = 0
    n_defective: int = 0

    def __post_init__(self):
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {sorted(RULES)}, got {self.rule!r}")
        for name in ("pixel", "image"):
            if not np.isfinite(getattr(self, name)):
                raise ValueError(f"the {name} threshold must be finite, got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Thresholds:
        try:
            return cls(
                float(d["pixel"]),
                float(d["image"]),
                str(d["rule"]),
                None if d.get("fpr") is None else float(d["fpr"]),
                int(d.get("n_normal", 0)),
                int(d.get("n_defective", 0)),
            )
        except (KeyError, TypeError) as err:
            raise ValueError(f"not a threshold record ({err}): {d!r}") from err

    def verdict(self, score: float) -> str:
        """``"anomalous"`` when ``score`` is at or over the image threshold, else ``"normal"`` (:data:`VERDICTS`)."""
        return VERDICTS[int(float(score) >= self.image)]

    def share_over(self, anomaly_map: torch.Tensor) -> float:
        """The share of a map's pixels at or over the pixel threshold tau."""
        return float((anomaly_map >= self.pixel).float().mean())

    def describe(self) -> str:
        rate = f" (asked: at most {self.fpr:g} of normal images over tau)" if self.fpr is not None else ""
        return (
            f"tau {self.pixel:.4g} on pixels, {self.image:.4g} on image scores: {RULES[self.rule]}{rate}; "
            f"chosen on {self.n_normal} normal and {self.n_defective} defective held-out images"
        )


def fpr_threshold(normal_scores, fpr: float) -> float:
    """The lowest threshold at which at most a share ``fpr`` of ``normal_scores``
    is flagged (score >= tau).

    With n scores, at most floor(fpr n) may reach tau: tau lies just above
    the (floor(fpr n) + 1)-th largest score, so tied scores there are all
    passed.
    """
    fpr = check_range(fpr, "fpr", 0.0, 1.0, high_open=True)
    if isinstance(normal_scores, torch.Tensor):
        normal_scores = normal_scores.detach().cpu()
    s = np.asarray(normal_scores, dtype=np.float64).reshape(-1)
    if s.size == 0:
        raise ValueError("fpr_threshold needs at least one normal score")
    if not np.isfinite(s).all():
        raise ValueError("fpr_threshold needs finite scores")
    allowed = int(np.floor(fpr * s.size))
    # the (allowed + 1)-th largest score
    kth = np.partition(s, s.size - 1 - allowed)[s.size - 1 - allowed]
    # just above kth in float32 too, since maps are float32 tensors and torch
    # compares in their precision
    tau = np.nextafter(np.float32(kth), np.float32(np.inf))
    if float(tau) <= kth:
        tau = np.nextafter(tau, np.float32(np.inf))
    return float(tau)


def choose(detection, held_out: Split, fpr: float = DEFAULT_FPR) -> Thresholds:
    """Thresholds from a detection of the ``held_out`` images (validation, or normal images kept out of
    training), by the rule those images allow (see the module docstring)."""
    fpr = check_range(fpr, "fpr", 0.0, 1.0, high_open=True)
    if len(held_out) == 0:
        raise ValueError("choosing thresholds needs held-out images; none were given")
    labels = held_out.labels.bool()
    n_bad, n_good = int(labels.sum()), int((~labels).sum())
    if n_good == 0:
        raise ValueError("choosing thresholds needs normal held-out images; all of them are defective")
    normal_maps = detection.maps[~labels]
    if n_bad and held_out.masks is not None:
        pixel = metrics.best_f1(detection.maps, held_out.masks)
        image = metrics.best_f1(detection.scores, held_out.labels)
        return Thresholds(pixel.tau, image.tau, "f1-masks", None, n_good, n_bad)
    if n_bad:
        image = metrics.best_f1(detection.scores, held_out.labels)
        return Thresholds(fpr_threshold(normal_maps, fpr), image.tau, "f1-images", fpr, n_good, n_bad)
    return Thresholds(
        fpr_threshold(normal_maps, fpr), fpr_threshold(detection.scores[~labels], fpr), "fpr", fpr, n_good, 0
    )
