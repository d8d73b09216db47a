r"""Metrics of anomaly detection, at image and at pixel level.

Conventions: a larger score means "more anomalous"; a label or mask value of
1 means anomalous. A pixel (or image) is *predicted* anomalous at threshold
:math:`\tau` when its score is **at least** :math:`\tau`.

* :func:`auroc` -- area under the ROC curve, computed exactly from ranks (the
  Mann-Whitney statistic; tied scores count one half), so it equals the
  trapezoid area under the ROC curve with tied thresholds grouped.
* :func:`auroc_interval` -- the mean AUROC over several runs with a
  bootstrap interval over their test items; :func:`rank_correlation` --
  Spearman's rho between two rankings (of methods, of scores).
* :func:`image_auroc` / :func:`pixel_auroc` -- the same over image scores, or
  over all pixels of all test images pooled.
* :func:`aupro` -- the MVTec AD area under the per-region-overlap curve:
  every connected ground-truth region counts equally, whatever its size; the
  curve is integrated over false-positive rates from 0 to 0.3 and divided by
  0.3, so a perfect detector scores 1.
* :func:`precision_recall_f1` at a threshold, :func:`prf_curve` at many
  given thresholds, and :func:`best_f1` over all thresholds.
* :func:`map_contrast` -- a map's mean inside the defects against its mean
  on the good images, and their ratio: how much brighter a defect is drawn
  than normal texture, whatever the map's scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .checks import as_labels, as_masks, as_scores

__all__ = [
    "auroc",
    "auroc_interval",
    "auroc_replicates",
    "image_replicates",
    "pixel_replicates",
    "N_BOOT",
    "rank_correlation",
    "image_auroc",
    "pixel_auroc",
    "roc_curve",
    "aupro",
    "pro_curve",
    "PRF",
    "precision_recall_f1",
    "best_f1",
    "prf_curve",
    "Rates",
    "classification_rates",
    "balanced_threshold",
    "Confusion",
    "confusion",
    "Contrast",
    "map_contrast",
]


def _scores_labels(scores, labels, name_s="scores", name_l="labels"):
    s = as_scores(scores, name_s)
    y = as_labels(labels, s.size, name_l)
    return s, y


def _need_both_classes(y: np.ndarray, what: str) -> tuple[int, int]:
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"{what} needs both normal and anomalous examples, got {n_pos} anomalous and {n_neg} normal")
    return n_pos, n_neg


def _average_ranks(s: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``s``, tied values sharing the mean of their ranks (scipy's ``rankdata``,
    which costs a second to import)."""
    order = np.argsort(s, kind="mergesort")
    v = s[order]
    first = np.r_[True, v[1:] != v[:-1]]  # where each group of equal values starts
    starts = np.flatnonzero(first)
    sizes = np.diff(np.r_[starts, s.size])
    ranks = np.empty(s.size)
    ranks[order] = np.repeat(starts + (sizes + 1) / 2.0, sizes)
    return ranks


def auroc(scores, labels) -> float:
    """Area under the ROC curve of ``scores`` against binary ``labels``."""
    s, y = _scores_labels(scores, labels)
    n_pos, n_neg = _need_both_classes(y, "AUROC")
    ranks = _average_ranks(s)  # ties count one half
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


N_BOOT = 300  # bootstrap replicates stored per benchmark run (see :func:`auroc_replicates`)


def auroc_replicates(scores, labels, groups=None, n_boot: int = N_BOOT, seed=0) -> tuple[float, np.ndarray]:
    r"""The AUROC of ``scores`` against ``labels`` and ``n_boot`` bootstrap replicates of it.

    A replicate redraws the test *items* with replacement, stratified: the
    items holding an anomalous entry and the others are drawn apart, so each
    replicate keeps both counts. Without ``groups`` an item is one score (an
    image); with ``groups`` (an integer per score, e.g. the image each pixel
    belongs to) an item is a whole group, as a pixel AUROC's images are.
    The replicate's AUROC is exact, with no resampled copy made: with
    :math:`H_{ij}` the pairs (anomalous entry of item i, normal entry of
    item j) ranked right (1/2 on a tie) and draw counts :math:`w`, it is
    :math:`w^\top H w / ((w \cdot P)(w \cdot N))`, P and N the anomalous and
    normal entries per item.

    The draws depend only on ``seed`` and the two item counts, so two
    detectors scored on the same test set get the same resamples: their
    replicates are paired, and their difference has an interval too
    (:func:`anotutor.results.difference`). ``seed`` may also be a
    ``numpy.random.Generator``, drawn from in place.
    """
    if int(n_boot) < 10:
        raise ValueError(f"n_boot must be at least 10, got {n_boot!r}")
    s, y = _scores_labels(scores, labels)
    n_pos, n_neg = _need_both_classes(y, "AUROC")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if groups is None:
        pos, neg = s[y], s[~y]
        h = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        w_pos, w_neg = _resample_counts(rng, n_pos, int(n_boot)), _resample_counts(rng, n_neg, int(n_boot))
        return auroc(s, y), ((w_pos @ h) * w_neg).sum(1) / (n_pos * n_neg)
    g = np.asarray(groups).reshape(-1)
    if g.size != s.size or not np.issubdtype(g.dtype, np.integer):
        raise ValueError(f"groups must hold one integer per score ({s.size}), got {g.size} of dtype {g.dtype}")
    _, g = np.unique(g, return_inverse=True)
    n_groups = int(g.max()) + 1
    n_p = np.bincount(g, weights=y, minlength=n_groups)
    n_n = np.bincount(g, weights=~y, minlength=n_groups)
    bad, good = np.flatnonzero(n_p > 0), np.flatnonzero(n_p == 0)
    order = np.r_[bad, good]  # drawn apart: the items with anomalous entries, then the others
    negs = [np.sort(s[(g == j) & ~y]) for j in order]
    h = np.zeros((bad.size, order.size))
    for a, i in enumerate(bad):
        p = s[(g == i) & y]
        for b, n in enumerate(negs):
            lo, hi = np.searchsorted(n, p, "left"), np.searchsorted(n, p, "right")
            h[a, b] = lo.sum() + 0.5 * (hi - lo).sum()
    w_bad = _resample_counts(rng, bad.size, int(n_boot))
    w = np.concatenate([w_bad, _resample_counts(rng, good.size, int(n_boot))], axis=1)
    reps = ((w_bad @ h) * w).sum(1) / ((w_bad @ n_p[bad]) * (w @ n_n[order]))
    return auroc(s, y), reps


def image_replicates(scores, labels, n_boot: int = N_BOOT, seed=0) -> tuple[float, np.ndarray]:
    """:func:`auroc_replicates` of image scores, the images redrawn."""
    return auroc_replicates(scores, labels, None, n_boot, seed)


def pixel_replicates(maps, masks, n_boot: int = N_BOOT, seed=0) -> tuple[float, np.ndarray]:
    """:func:`auroc_replicates` of the pooled pixel AUROC, whole images redrawn (maps, masks [N, H, W])."""
    m = as_masks(masks, "masks")
    s = as_scores(maps, "maps")
    if s.size != m.numel() or m.dim() < 2:
        raise ValueError(f"maps have {s.size} values but masks {m.numel()}: shapes must match")
    groups = np.repeat(np.arange(m.shape[0]), m[0].numel())
    return auroc_replicates(s, m.numpy().ravel(), groups, n_boot, seed)


def auroc_interval(runs, level: float = 0.95, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean AUROC over ``runs`` (pairs ``(scores, labels)``, e.g. one per seed) and its bootstrap interval.

    Each replicate resamples every run's normal and anomalous items
    (:func:`auroc_replicates`), and averages the runs' AUROCs; the interval
    is the central ``level`` share of the ``n_boot`` replicates (percentile
    bootstrap). It covers the sampling of the test items, not the variation
    between seeds, which the runs show. Returns ``(mean, low, high)``.
    """
    if not (0.0 < float(level) < 1.0):
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    runs = list(runs)
    if not runs:
        raise ValueError("auroc_interval needs at least one run (scores, labels)")
    rng = np.random.default_rng(seed)
    point, reps = zip(*(auroc_replicates(s, y, None, n_boot, rng) for s, y in runs))
    lo, hi = np.quantile(np.mean(reps, axis=0), [(1 - level) / 2, (1 + level) / 2])
    return float(np.mean(point)), float(lo), float(hi)


def _resample_counts(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    """[n_boot, n]: how often each of n items is drawn in each of n_boot resamples with replacement."""
    drawn = rng.integers(0, n, (n_boot, n)) + n * np.arange(n_boot)[:, None]
    return np.bincount(drawn.ravel(), minlength=n_boot * n).reshape(n_boot, n).astype(np.float64)


def rank_correlation(a, b) -> float:
    """Spearman's rho of two equally long sequences (ties get their mean rank); 1 = the same order."""
    x, y = np.asarray(a, dtype=np.float64).reshape(-1), np.asarray(b, dtype=np.float64).reshape(-1)
    if x.size != y.size or x.size < 3:
        raise ValueError(
            f"rank_correlation needs two sequences of the same length, at least 3; got {x.size} and {y.size}"
        )
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("rank_correlation needs finite numbers")
    rx, ry = _average_ranks(x), _average_ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        raise ValueError("rank_correlation is undefined when one sequence is constant")
    return float(np.corrcoef(rx, ry)[0, 1])


def image_auroc(scores, labels) -> float:
    """AUROC of one score per image against image labels (1 = defective)."""
    return auroc(scores, labels)


def pixel_auroc(maps, masks) -> float:
    """AUROC over all pixels of all images pooled: ``maps`` [N, H, W] against binary ``masks``."""
    m = as_masks(masks, "masks")
    s = as_scores(maps, "maps")
    if s.size != m.numel():
        raise ValueError(f"maps have {s.size} values but masks {m.numel()}: shapes must match")
    return auroc(s, m.numpy().ravel())


def _tie_groups(s: np.ndarray, y_or_w: np.ndarray):
    """Sort by score, descending; return distinct thresholds and cumulative sums at each."""
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    cum = np.cumsum(y_or_w[order], axis=0)
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), s.size - 1]
    return s_sorted[last], cum[last]


def _tp_fp(s: np.ndarray, y: np.ndarray):
    """Distinct thresholds (descending) and the true/false positives at each (score >= threshold)."""
    thr, cum = _tie_groups(s, np.stack([y, ~y], axis=1).astype(np.int64))
    return thr, cum[:, 0].astype(np.float64), cum[:, 1].astype(np.float64)


def roc_curve(scores, labels):
    """False-positive rate, true-positive rate and thresholds (descending), starting at (0, 0)."""
    s, y = _scores_labels(scores, labels)
    n_pos, n_neg = _need_both_classes(y, "the ROC curve")
    thr, tp, fp = _tp_fp(s, y)
    return np.r_[0.0, fp / n_neg], np.r_[0.0, tp / n_pos], np.r_[np.inf, thr]


def _regions(masks: np.ndarray) -> np.ndarray:
    """Label connected anomalous regions (8-connectivity), with ids unique across images."""
    labels = np.zeros(masks.shape, dtype=np.int64)
    offset = 0
    structure = np.ones((3, 3), dtype=bool)
    for i in range(masks.shape[0]):
        lab, n = ndimage.label(masks[i], structure=structure)
        labels[i] = np.where(lab > 0, lab + offset, 0)
        offset += n
    return labels


def pro_curve(maps, masks):
    """The per-region-overlap curve: (fpr, pro) over all thresholds, starting at (0, 0).

    PRO at a threshold is the mean, over connected ground-truth regions, of the
    fraction of the region's pixels predicted anomalous; FPR is the fraction of
    normal pixels predicted anomalous.
    """
    m = as_masks(masks, "masks").numpy().astype(bool)
    s = as_scores(maps, "maps")
    if s.size != m.size:
        raise ValueError(f"maps have {s.size} values but masks {m.size}: shapes must match")
    regions = _regions(m).ravel()
    n_regions = int(regions.max())
    n_neg = int((~m).sum())
    if n_regions == 0 or n_neg == 0:
        raise ValueError(
            f"AUPRO needs anomalous regions and normal pixels, got {n_regions} regions and {n_neg} normal pixels"
        )
    sizes = np.bincount(regions, minlength=n_regions + 1).astype(np.float64)
    w_pro = np.zeros(s.size)
    anomalous = regions > 0
    w_pro[anomalous] = 1.0 / (n_regions * sizes[regions[anomalous]])
    w_fpr = (~anomalous).astype(np.float64) / n_neg
    _, cum = _tie_groups(s, np.stack([w_fpr, w_pro], axis=1))
    fpr = np.r_[0.0, np.minimum(cum[:, 0], 1.0)]
    pro = np.r_[0.0, np.minimum(cum[:, 1], 1.0)]
    return fpr, pro


def _area_up_to(x: np.ndarray, y: np.ndarray, x_max: float) -> float:
    """Trapezoid area under the piecewise-linear curve (x, y), x non-decreasing, from 0 to x_max."""
    keep = x <= x_max
    xs, ys = x[keep], y[keep]
    if xs[-1] < x_max and keep.sum() < x.size:
        j = int(np.argmax(~keep))  # first point past x_max
        x0, x1, y0, y1 = x[j - 1], x[j], y[j - 1], y[j]
        y_at = y0 + (y1 - y0) * (x_max - x0) / (x1 - x0)
        xs, ys = np.r_[xs, x_max], np.r_[ys, y_at]
    return float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1]) / 2.0))


def aupro(maps, masks, fpr_limit: float = 0.3) -> float:
    """Normalised area under the PRO curve up to ``fpr_limit`` (MVTec AD: 0.3); 1 is perfect."""
    if not (0.0 < float(fpr_limit) <= 1.0):
        raise ValueError(f"fpr_limit must lie in (0, 1], got {fpr_limit!r}")
    fpr, pro = pro_curve(maps, masks)
    return _area_up_to(fpr, pro, float(fpr_limit)) / float(fpr_limit)


@dataclass(frozen=True)
class PRF:
    """Precision, recall and F1 at one threshold ``tau``."""

    precision: float
    recall: float
    f1: float
    tau: float


def _prf(tp: float, fp: float, n_pos: int, tau: float) -> PRF:
    precision = tp / (tp + fp) if tp + fp > 0 else 0.0
    recall = tp / n_pos if n_pos > 0 else 0.0
    f1 = 2 * tp / (tp + fp + n_pos) if tp + fp + n_pos > 0 else 0.0
    return PRF(float(precision), float(recall), float(f1), float(tau))


def precision_recall_f1(scores, labels, tau: float) -> PRF:
    """Precision, recall and F1 when ``scores >= tau`` is predicted anomalous.

    Works on image scores with labels, or on maps [N, H, W] with masks (pixel
    level). With no predicted positives, precision is 0 (scikit-learn's
    ``zero_division=0``).
    """
    s, y = _scores_labels(scores, labels)
    tau_f = float(tau)
    if not np.isfinite(tau_f):
        raise ValueError(f"tau must be a finite number, got {tau!r}")
    pred = s >= tau_f
    tp = float((pred & y).sum())
    fp = float((pred & ~y).sum())
    return _prf(tp, fp, int(y.sum()), tau_f)


def best_f1(scores, labels) -> PRF:
    """The threshold with the highest F1, searched over every distinct score exactly."""
    s, y = _scores_labels(scores, labels)
    n_pos, _ = _need_both_classes(y, "best F1")
    thr, tp, fp = _tp_fp(s, y)
    f1 = 2 * tp / (tp + fp + n_pos)
    k = int(np.argmax(f1))
    return _prf(tp[k], fp[k], n_pos, thr[k])


def prf_curve(scores, labels, taus):
    """Precision, recall and F1 at each threshold of ``taus`` (arrays of ``len(taus)``).

    The same numbers as :func:`precision_recall_f1` called once per threshold,
    computed with one sort, so a slider or a sweep over many thresholds is cheap.
    """
    s, y = _scores_labels(scores, labels)
    t = np.asarray(taus, dtype=np.float64).reshape(-1)
    if t.size == 0 or not np.isfinite(t).all():
        raise ValueError("taus must be a non-empty array of finite numbers")
    n_pos = int(y.sum())
    pos, neg = np.sort(s[y]), np.sort(s[~y])
    tp = (pos.size - np.searchsorted(pos, t, side="left")).astype(np.float64)  # scores >= tau
    fp = (neg.size - np.searchsorted(neg, t, side="left")).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = tp / n_pos if n_pos > 0 else np.zeros_like(tp)
        f1 = np.where(tp + fp + n_pos > 0, 2 * tp / (tp + fp + n_pos), 0.0)
    return precision, recall, f1


@dataclass(frozen=True)
class Rates:
    """Shares of correctly classified images at one threshold (the MVTec AD paper's table form).

    ``normal``: normal images scored below ``tau`` (true-negative rate);
    ``anomalous``: anomalous images scored at or above it (true-positive rate,
    i.e. recall).
    """

    normal: float
    anomalous: float
    tau: float


def classification_rates(scores, labels, tau: float) -> Rates:
    """The share of normal and of anomalous items classified correctly when ``scores >= tau`` means anomalous."""
    s, y = _scores_labels(scores, labels)
    _need_both_classes(y, "classification rates")
    tau_f = float(tau)
    if not np.isfinite(tau_f):
        raise ValueError(f"tau must be a finite number, got {tau!r}")
    pred = s >= tau_f
    return Rates(float((~pred[~y]).mean()), float(pred[y].mean()), tau_f)


def balanced_threshold(scores, labels) -> Rates:
    """The image threshold with the best mean of the two rates (balanced accuracy), and its rates.

    For choosing an image-level threshold on a validation split; every distinct
    score is tried, in one pass over the sorted scores (ties broken towards the
    lower threshold).
    """
    s, y = _scores_labels(scores, labels)
    n_pos, n_neg = _need_both_classes(y, "a balanced threshold")
    thr, tp, fp = _tp_fp(s, y)  # descending thresholds
    balanced = tp / n_pos + 1.0 - fp / n_neg
    best = len(thr) - 1 - int(np.argmax(balanced[::-1]))  # the lowest of the tied best
    return classification_rates(s, y, float(thr[best]))


@dataclass(frozen=True)
class Confusion:
    """The four counts at one threshold: anomalous items flagged (``tp``) or missed (``fn``),
    normal items flagged (``fp``) or passed (``tn``)."""

    tp: int
    fp: int
    fn: int
    tn: int
    tau: float


def confusion(scores, labels, tau: float) -> Confusion:
    """The confusion counts when ``scores >= tau`` is predicted anomalous."""
    s, y = _scores_labels(scores, labels)
    tau_f = float(tau)
    if not np.isfinite(tau_f):
        raise ValueError(f"tau must be a finite number, got {tau!r}")
    pred = s >= tau_f
    return Confusion(
        int((pred & y).sum()), int((pred & ~y).sum()), int((~pred & y).sum()), int((~pred & ~y).sum()), tau_f
    )


@dataclass(frozen=True)
class Contrast:
    """A map's mean over the defect pixels (``inside``) and over the good images (``good``).

    ``ratio`` is ``inside / good``: 1 when the map draws defects no brighter
    than normal texture, infinite when it is exactly 0 on every good image.
    """

    inside: float
    good: float

    @property
    def ratio(self) -> float:
        return self.inside / self.good if self.good > 0 else float("inf")


def map_contrast(maps, masks, labels) -> Contrast:
    """The mean of ``maps`` [N, H, W] inside the defects of ``masks``, and over the images labelled good.

    Maps are expected non-negative (anomaly maps are); ``labels`` has one entry
    per image, 0 for good.
    """
    m = as_masks(masks, "masks").numpy() > 0.5
    s = as_scores(maps, "maps")
    if s.size != m.size:
        raise ValueError(f"maps have {s.size} values but masks {m.size}: shapes must match")
    s = s.reshape(m.shape)
    y = as_labels(labels, m.shape[0], "labels")
    if (s < 0).any():
        raise ValueError(f"map contrast needs non-negative maps, got a minimum of {s.min():.3g}")
    if not m.any():
        raise ValueError("map contrast needs at least one defect pixel in masks")
    if y.all():
        raise ValueError("map contrast needs at least one good image (label 0)")
    return Contrast(float(s[m].mean()), float(s[~y].mean()))
