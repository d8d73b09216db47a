"""The AnoGAN chapter's contamination experiment: the shipped MNIST runs scored on held-out digits.

Does Noisy-AnoGAN win back what unlabelled anomalies in the training data
cost AnoGAN? Every run of one normal class (:data:`~anotutor.protocol.SETUPS`)
is scored on the same test digits (:func:`mnist_test`), drawn from a split
no shipped run trained on (:func:`held_out_digits`). The runs come from
:mod:`anotutor.pretrained` (``benchmarks/contamination.py`` commits the table).
"""

from __future__ import annotations

from .data.mnist import mnist_setup
from .pretrained import load
from .protocol import EPSILONS, MNIST_CLASSES, SETUPS, mnist_name

__all__ = ["held_out_digits", "mnist_test", "contamination"]


def held_out_digits(cls: int):
    """The test split of class ``cls`` at the largest contamination, which no shipped run trained on."""
    return mnist_setup(cls, max(EPSILONS), "clean")[0].test


def mnist_test(cls: int, n_normal: int = 100, n_other: int = 11, held_out=None):
    """The test digits of normal class ``cls``: ``n_normal`` normal, ``n_other`` of each other digit.

    Drawn from :func:`held_out_digits` (or the ``held_out`` split given), so
    every run of one class meets the same images.
    """
    held_out = held_out_digits(cls) if held_out is None else held_out
    counts = {k: n_other for k in held_out.counts() if k != "good"}
    return held_out.per_kind({"good": n_normal, **counts}, seed=0)


def contamination(
    classes=MNIST_CLASSES, search_steps: int | None = None, detections: dict | None = None, tests: dict | None = None
) -> dict:
    """Image AUROC of the shipped runs: ``{cls: {setup: auroc}}`` for every setup of :data:`SETUPS`.

    The check of Noisy-AnoGAN's claim: with anomalies hidden in the training
    data ("blind"), does penalising known ones ("paper") win back what the
    contamination cost against clean training? Each run is scored on
    :func:`mnist_test` of its class; ``detections`` (run name -> its
    ``predict`` output on those digits) reuses predictions already made, and
    only the runs it lacks are loaded and run; ``tests`` (class -> its
    :func:`mnist_test` split) reuses the test digits already drawn.
    """
    from .metrics import image_auroc

    out: dict[int, dict] = {}
    for cls in classes:
        test = tests[cls] if tests and cls in tests else mnist_test(cls)
        out[cls] = {}
        for setup in SETUPS:
            name = mnist_name(cls, setup)
            found = (detections or {}).get(name)
            if found is None:
                det = load(name)
                if search_steps is not None:
                    det = det.with_params(search_steps=search_steps)
                found = det.predict(test.images)
            if len(found.scores) != len(test.labels):
                raise ValueError(
                    f"detections[{name!r}] has {len(found.scores)} scores, but the "
                    f"test digits of class {cls} are {len(test.labels)}"
                )
            out[cls][setup] = image_auroc(found.scores, test.labels)
    return out
