"""Score a fitted detector the way the book reports every method.

The pixel threshold :math:`\\tau` is the one with the best pixel F1 on the
**validation** split; it is then applied, unchanged, to the **test** split.
The image threshold is chosen the same way on the validation image scores
(best image F1), and the test images are counted at it (flagged or passed,
the confusion counts). Nothing is chosen on test. AUROC and AUPRO need no
threshold.

Without pixel masks (the ELPV solar cells, a reader's folder without
``ground_truth``) the pixel fields are ``None``, never zero: tables print
"no masks" there, and the image fields carry the report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .. import metrics
from ..data.splits import Split
from .base import Detection, Detector

__all__ = ["Report", "evaluate", "choose_tau", "per_kind", "on_kinds"]


@dataclass(frozen=True)
class Report:
    """One method's numbers on the test split (pixel ones are ``None`` without masks).

    ``image_*`` and the counts ``tp, fp, fn, tn`` are taken at the image
    threshold ``image_tau`` chosen on validation (``None`` when validation
    lacks normal or defective images).

    ``val_pixel_auroc`` and ``val_f1`` are measured on the validation split,
    for choosing settings without looking at test; ``fit_seconds`` comes from
    the detector's training log, ``n_parameters`` counts its learned
    parameters, ``ms_per_image`` is the test inference time.
    """

    name: str
    image_auroc: float
    pixel_auroc: float | None
    aupro: float | None
    tau: float | None  # chosen on validation
    val_f1: float | None  # best pixel F1 on validation, at tau
    val_pixel_auroc: float | None  # on validation: for choosing settings
    precision: float | None  # on test, at tau
    recall: float | None
    f1: float | None
    ms_per_image: float
    fit_seconds: float
    n_parameters: int
    image_tau: float | None = None  # best image F1 on validation
    val_image_f1: float | None = None
    image_precision: float | None = None  # on test, at image_tau
    image_recall: float | None = None
    image_f1: float | None = None
    tp: int | None = None  # test images: defective flagged
    fp: int | None = None  # normal flagged
    fn: int | None = None  # defective passed
    tn: int | None = None  # normal passed

    def row(self) -> dict:
        return asdict(self)


def _check_split(split: Split, name: str) -> None:
    if not isinstance(split, Split):
        raise TypeError(f"{name} must be an anotutor Split, got {type(split).__name__}")
    if len(split) == 0:
        raise ValueError(f"{name} split is empty")


def choose_tau(val_detection: Detection, val: Split) -> metrics.PRF:
    """The pixel threshold with the best F1 on the validation split."""
    if val.masks is None:
        raise ValueError("choosing a pixel threshold needs validation masks")
    return metrics.best_f1(val_detection.maps, val.masks)


def evaluate(
    detector: Detector,
    val: Split,
    test: Split,
    name: str | None = None,
    val_detection: Detection | None = None,
    progress: bool = False,
) -> tuple[Report, Detection]:
    """Predict on ``test`` (and ``val``, unless given) and return the report and the test detection."""
    _check_split(val, "val")
    _check_split(test, "test")
    out = detector.predict(test.images, progress=progress)
    pix = aupro = tau = val_f1 = val_pix = p = r = f = None
    vd = val_detection if val_detection is not None else detector.predict(val.images, progress=progress)
    image = _image_level(vd, val, out, test)
    if test.masks is not None and val.masks is not None:
        best = choose_tau(vd, val)
        tau, val_f1 = best.tau, best.f1
        val_pix = metrics.pixel_auroc(vd.maps, val.masks)
        at = metrics.precision_recall_f1(out.maps, test.masks, tau)
        p, r, f = at.precision, at.recall, at.f1
        pix = metrics.pixel_auroc(out.maps, test.masks)
        aupro = metrics.aupro(out.maps, test.masks)
    report = Report(
        name or type(detector).__name__,
        metrics.image_auroc(out.scores, test.labels),
        pix,
        aupro,
        tau,
        val_f1,
        val_pix,
        p,
        r,
        f,
        out.ms_per_image,
        detector.log_.fit_seconds,
        detector.n_parameters(),
        **image,
    )
    return report, out


def _image_level(val_detection: Detection, val: Split, test_detection: Detection, test: Split) -> dict:
    """The image threshold with the best F1 on validation, and the test images counted at it."""
    if len(set(val.labels.tolist())) < 2:
        return {}
    best = metrics.best_f1(val_detection.scores, val.labels)
    at = metrics.precision_recall_f1(test_detection.scores, test.labels, best.tau)
    c = metrics.confusion(test_detection.scores, test.labels, best.tau)
    return {
        "image_tau": best.tau,
        "val_image_f1": best.f1,
        "image_precision": at.precision,
        "image_recall": at.recall,
        "image_f1": at.f1,
        "tp": c.tp,
        "fp": c.fp,
        "fn": c.fn,
        "tn": c.tn,
    }


def per_kind(detection: Detection, split: Split, tau: float) -> dict[str, metrics.PRF]:
    """Pixel precision, recall and F1 at ``tau`` over the images of each defect kind (Fadaeinejad 2021, Table 3)."""
    if split.masks is None:
        raise ValueError("per-kind pixel scores need masks")
    out = {}
    for kind in sorted(set(split.kinds) - {"good"}):
        idx = split.index_of(kind)
        out[kind] = metrics.precision_recall_f1(detection.maps[idx], split.masks[idx], tau)
    return out


def on_kinds(detection: Detection, split: Split, kinds) -> dict[str, float]:
    """Pixel AUROC and AUPRO over the good images and those of ``kinds`` only.

    For a method that trains on some known defect kinds: its numbers on the
    kinds it never saw tell whether it learned anomalies or those kinds.
    """
    if split.masks is None:
        raise ValueError("pixel scores need masks")
    idx = split.index_of("good", *kinds)
    return {
        "pixel_auroc": metrics.pixel_auroc(detection.maps[idx], split.masks[idx]),
        "aupro": metrics.aupro(detection.maps[idx], split.masks[idx]),
    }
