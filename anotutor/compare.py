"""Run several methods on one data set under the same rules, and say why one could not run.

What ``anotutor run`` / ``compare``, ``benchmarks/methods.py`` and the
benchmark chapter share: each method (:mod:`.catalog`) is built with the same
working size and seed, fitted on the same normal images (and the same known
anomalies, for the methods that use them), and scored by
:func:`~.evaluate.evaluate` (tau chosen on validation, applied to test).

A method that cannot run on the data (it needs known anomalies and there are
none, or the working size does not suit its network) is not an error of the
comparison: its :class:`Outcome` carries the reason, and tables show it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .catalog import METHODS, resolve
from .data.splits import AnomalyDataset, Split
from .methods.base import Detection, Detector
from .methods.evaluate import evaluate, on_kinds
from .runtime import budget

__all__ = ["Outcome", "plan", "run_method", "run_methods", "MEASURES"]

# the columns every comparison reports, in order
MEASURES = ("image_auroc", "pixel_auroc", "aupro", "f1", "ms_per_image", "n_parameters", "fit_seconds")


@dataclass
class Outcome:
    """One method on one data set: ``row`` (the report's numbers) or ``skipped`` (why not)."""

    method: str
    title: str
    row: dict | None = None
    detection: Detection | None = None
    detector: Detector | None = None
    skipped: str | None = None
    test: Split | None = None  # the split it was scored on (at its working size)

    @property
    def ran(self) -> bool:
        return self.skipped is None


def _build(
    name: str, anomalies: Split | None, image_size: int | None, steps, seed, device, progress: bool = False
) -> tuple[Detector | None, str | None]:
    """The detector ``name`` with these settings and None, or None and why it cannot run.

    The working size defaults to the budget's, given explicitly so that the
    constructor checks it (the two-stage model needs a multiple of its patch)."""
    m = METHODS[name]
    if m.needs_anomalies and (anomalies is None or len(anomalies) == 0):
        return None, "needs a few known anomalies, and the data gave none (anotutor run/compare: --known N)"
    size = image_size or budget().image_size
    if not m.own_size:  # the feature memories enlarge every image to their own size
        why = m.make(progress=False).supports_size(size)
        if why is not None:
            return None, f"cannot run at the working size {size}: {why}"
    try:
        return m.make(image_size=size, steps=steps, seed=seed, device=device, progress=progress), None
    except ValueError as err:
        return None, f"cannot be built with these settings: {err}"


def plan(
    methods,
    anomalies: Split | None = None,
    image_size: int | None = None,
    steps: int | None = None,
    seed: int = 0,
    device: str | None = None,
) -> dict[str, str | None]:
    """``{method: None or the reason it cannot run}``, checked before anything trains."""
    return {n: _build(n, anomalies, image_size, steps, seed, device)[1] for n in resolve(methods)}


def run_method(
    name: str,
    ds: AnomalyDataset,
    anomalies: Split | None = None,
    image_size: int | None = None,
    steps: int | None = None,
    seed: int = 0,
    device: str | None = None,
    progress: bool = True,
    unseen_kinds=None,
    detector: Detector | None = None,
) -> Outcome:
    """Fit method ``name`` on ``ds.train`` (and ``anomalies`` where it uses them), score it on ``ds.test``.

    ``anomalies`` defaults to ``ds.anomalies``. ``unseen_kinds``: defect
    kinds no method saw in training; the row then also holds the pixel AUROC
    and AUPRO over the good images and those kinds only (``unseen_*``).
    ``detector``: this method already fitted (e.g. shipped weights,
    :func:`anotutor.pretrained.fitted`); it is scored as it is, not fitted.
    """
    m = METHODS[resolve([name])[0]]
    anomalies = ds.anomalies if anomalies is None else anomalies
    if detector is not None:
        if not isinstance(detector, m.cls):
            raise ValueError(f"detector is a {type(detector).__name__}, not the {m.cls.__name__} of {m.name!r}")
        det = detector  # an unfitted one fails in evaluate with NotFittedError
    else:
        built, reason = _build(m.name, anomalies, image_size, steps, seed, device, progress)
        if built is None:
            return Outcome(m.name, m.title, skipped=reason)
        det = built
        known = anomalies.images if m.needs_anomalies else None
        det.fit(ds.train.images, anomalies=known)
    report, out = evaluate(det, ds.val, ds.test, name=m.title, progress=progress)
    row = {"method": m.name, **report.row()}
    if unseen_kinds and ds.test.masks is not None:
        row.update({f"unseen_{k}": v for k, v in on_kinds(out, ds.test, list(unseen_kinds)).items()})
    return Outcome(m.name, m.title, row, out, det, test=ds.test)


def run_methods(methods, ds: AnomalyDataset, **kwargs) -> list[Outcome]:
    """:func:`run_method` for each of ``methods`` ("all", a comma list or a list of names)."""
    return [run_method(n, ds, **kwargs) for n in resolve(methods)]
