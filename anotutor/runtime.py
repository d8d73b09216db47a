"""Where the code runs and how much work it may do.

The ground layer of the package: every other module may import from here,
this module imports nothing from the rest of ``anotutor``.

* :func:`device` picks the accelerator (CUDA, then Apple's MPS, then the CPU).
* :func:`seed_everything` makes a CPU run repeatable; :func:`isolated_seed`
  does the same inside a block and leaves the global random state as it was.
* :class:`Timer` measures wall time, e.g. inference milliseconds per image.
* :func:`cpu_threads` limits PyTorch's CPU threads inside a block (tiny
  networks run faster on one thread than on several busy cores).
* :func:`progress` is every training loop's progress bar (a widget in a
  notebook, text in a terminal), refreshed at most every two seconds.
* :func:`budget` returns the preset (``ci`` or ``full``) that chapters read for
  image size and training steps, so one environment variable scales the whole
  book from a laptop CPU to a GPU without editing a chapter.
"""

from __future__ import annotations

import os
import random
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import torch

__all__ = [
    "device",
    "seed_everything",
    "isolated_seed",
    "as_rng",
    "Timer",
    "Budget",
    "budget",
    "budget_scope",
    "BUDGETS",
    "cpu_threads",
    "progress",
]


def device(prefer: str | None = None) -> torch.device:
    """Return the best available device: ``cuda`` > ``mps`` > ``cpu``.

    ``prefer`` (or the environment variable ``ANOTUTOR_DEVICE``) forces one,
    e.g. ``device("cpu")`` to compare timings. Asking for an accelerator that
    is not there raises a ``ValueError`` instead of silently using the CPU.
    """
    choice = prefer or os.environ.get("ANOTUTOR_DEVICE") or None
    if choice is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    choice = str(choice).lower()
    if choice.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {choice!r} was asked for, but CUDA is not available here")
    if choice == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError("device 'mps' was asked for, but MPS is not available here")
    if not (choice == "cpu" or choice == "mps" or choice.startswith("cuda")):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'mps', got {choice!r}")
    try:
        dev = torch.device(choice)
    except RuntimeError as err:
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'mps', got {choice!r}") from err
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(
            f"device {choice!r} was asked for, but GPU {dev.index} is not available here "
            f"({torch.cuda.device_count()} GPU(s): cuda:0 to cuda:{torch.cuda.device_count() - 1})"
        )
    return dev


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch; return a CPU ``torch.Generator`` seeded alike.

    On the CPU, PyTorch's kernels are deterministic for a fixed number of
    threads, so two runs with the same seed give the same numbers. On a GPU
    cuDNN is asked for deterministic algorithms too (slower, but repeatable).
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    return torch.Generator().manual_seed(seed)


@contextmanager
def isolated_seed(seed: int = 0):
    """Seed PyTorch inside the block and yield a CPU ``torch.Generator`` seeded alike.

    The global random state (CPU and CUDA) is saved on entry and restored on
    exit (``torch.random.fork_rng``), so a training run that draws its weights
    inside the block is repeatable and leaves the caller's random stream alone.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(int(seed))
        yield torch.Generator().manual_seed(int(seed))


class Timer:
    """Context manager measuring wall time; synchronises CUDA so GPU work counts.

    >>> with Timer() as t:
    ...     _ = sum(range(1000))
    >>> t.seconds >= 0
    True
    """

    def __init__(self, sync: torch.device | str | None = None):
        self.sync = torch.device(sync) if sync is not None else None
        self.seconds = float("nan")
        self._start = 0.0

    def _synchronise(self) -> None:
        if self.sync is not None and self.sync.type == "cuda":
            torch.cuda.synchronize(self.sync)

    def __enter__(self) -> Timer:
        self._synchronise()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self._synchronise()
        self.seconds = time.perf_counter() - self._start

    def ms_per(self, n: int) -> float:
        """Milliseconds per item when ``n`` items were processed inside the block."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        return 1000.0 * self.seconds / n


@dataclass(frozen=True)
class Budget:
    """How much work a chapter may do.

    Chapters never hard-code sizes or step counts: they read them from here.
    ``image_size`` is the side of the square images; ``steps`` the number of
    optimiser steps of a training run; ``n_train``/``n_val``/``n_test`` the
    split sizes of the embedded texture data; ``search_steps`` the number of
    latent-search iterations of AnoGAN inference.
    """

    name: str
    image_size: int
    steps: int
    batch_size: int
    n_train: int
    n_val: int
    n_test: int
    search_steps: int


BUDGETS = {
    # 2-core CPU, no GPU: every chapter within 3 minutes.
    "ci": Budget("ci", image_size=64, steps=225, batch_size=16, n_train=200, n_val=40, n_test=80, search_steps=60),
    # One GPU (e.g. Colab): larger images, ten times the training.
    "full": Budget(
        "full", image_size=128, steps=3000, batch_size=32, n_train=1000, n_val=100, n_test=200, search_steps=500
    ),
}


def budget(name: str | None = None, **overrides) -> Budget:
    """Return the budget preset.

    ``name`` defaults to the environment variable ``ANOTUTOR_BUDGET``, and
    when that is unset to ``full`` on a GPU and ``ci`` otherwise. Keyword
    arguments override single fields, e.g. ``budget(steps=50)``.
    """
    if name is None:
        name = os.environ.get("ANOTUTOR_BUDGET") or ("full" if torch.cuda.is_available() else "ci")
    if name not in BUDGETS:
        raise ValueError(f"budget must be one of {sorted(BUDGETS)}, got {name!r}")
    preset = BUDGETS[name]
    unknown = set(overrides) - set(preset.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown budget fields {sorted(unknown)}; known: {sorted(preset.__dataclass_fields__)}")
    return replace(preset, **overrides)


@contextmanager
def budget_scope(name: str):
    """Run a block under budget ``name`` (``ANOTUTOR_BUDGET`` set, then restored)."""
    budget(name)  # checks the name
    old = os.environ.get("ANOTUTOR_BUDGET")
    os.environ["ANOTUTOR_BUDGET"] = name
    try:
        yield BUDGETS[name]
    finally:
        if old is None:
            os.environ.pop("ANOTUTOR_BUDGET", None)
        else:
            os.environ["ANOTUTOR_BUDGET"] = old


def as_rng(seed: int | np.random.Generator | None = None) -> np.random.Generator:
    """A NumPy random generator from a seed (or the generator itself, passed through)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ValueError(f"seed must be an integer, a numpy Generator or None, got {seed!r}")
    return np.random.default_rng(seed)


@contextmanager
def cpu_threads(n: int = 1):
    """Run the block with ``n`` PyTorch CPU threads, then restore the previous number.

    Tiny networks (the 1-D GAN's MLPs) spend more time synchronising threads
    than computing: on a busy 2-core machine one thread is many times faster.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


PROGRESS_INTERVAL_S = 2.0


def progress(iterable, desc: str, enabled: bool = True, leave: bool = False, total: int | None = None):
    """``iterable`` with a progress bar (``tqdm.auto``), redrawn at most every
    :data:`PROGRESS_INTERVAL_S` seconds.

    The interval matters in notebooks: each redraw of a widget bar is a few
    kernel messages, and a long training cell that sends thousands of them
    overflows the message queue of an unattended executor (nbval, Jupyter
    Book), which then loses the cell's end and fails it. ``iterable=None``
    with a ``total`` gives a bar advanced by hand (``bar.update(k)``).
    """
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, disable=not enabled, leave=leave, total=total, mininterval=PROGRESS_INTERVAL_S)
