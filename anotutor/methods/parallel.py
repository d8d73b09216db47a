"""Fit several detectors at once, one process each: a small network trains faster that way on a CPU.

A training step of the book's small networks is dominated by many little
operations that two threads share badly: on the book's 2-core machine two
auto-encoders trained side by side, one thread each, finish about 15 % sooner
than one after the other on two threads (measured in the auto-encoder
chapter's set-up). On a GPU, or with ``processes=1``, the detectors are simply
fitted one after the other in this process.

Each worker process fits its detector, saves a checkpoint to a temporary
folder, and the detector in this process loads it (:meth:`Estimator.load`),
so the result is the same object, fitted, as ``det.fit(images)`` would give,
down to the training log. Workers start with ``spawn`` (safe in Jupyter).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import tempfile
from pathlib import Path
from typing import Sequence

import torch

from ..checks import as_images, check_int
from ..runtime import device as pick_device
from .base import Detector

__all__ = ["fit_many"]


def _fit_and_save(det: Detector, images, anomalies, path: str, threads: int) -> str:
    torch.set_num_threads(threads)
    if hasattr(det, "progress"):
        det.progress = False  # a worker's bar would go to the parent's terminal, not the notebook
    det.fit(images, anomalies=anomalies)
    det.save(path)
    return path


def fit_many(detectors: Sequence[Detector], images, anomalies=None,
             processes: int | None = None) -> list[Detector]:
    """Fit every detector on the same ``images`` (and ``anomalies``); returns them, fitted.

    ``processes`` defaults to the number of detectors, at most the number of
    CPU cores; each worker gets an equal share of this process's threads.
    Training runs in parallel only on the CPU; when a detector would run on
    an accelerator, they are fitted one after the other here.
    """
    dets = list(detectors)
    if not dets:
        raise ValueError("fit_many needs at least one detector")
    for d in dets:
        if not isinstance(d, Detector):
            raise ValueError(f"fit_many fits Detectors, got {type(d).__name__}")
    as_images(images, "images")  # a clear error here, before any worker starts
    if anomalies is not None:
        as_images(anomalies, "anomalies")
    cores = os.cpu_count() or 1
    n = check_int(processes, "processes") if processes is not None else min(len(dets), cores)
    on_cpu = all(pick_device(getattr(d, "device", None)).type == "cpu" for d in dets)
    if n == 1 or len(dets) == 1 or not on_cpu:
        return [d.fit(images, anomalies=anomalies) for d in dets]
    threads = max(1, torch.get_num_threads() // n)
    with tempfile.TemporaryDirectory(prefix="anotutor-fit-") as tmp:
        jobs = [(d, images, anomalies, str(Path(tmp) / f"{i}.pt"), threads) for i, d in enumerate(dets)]
        with mp.get_context("spawn").Pool(n) as pool:
            paths = pool.starmap(_fit_and_save, jobs)
        for d, p in zip(dets, paths):
            d.load(p)
    return dets
