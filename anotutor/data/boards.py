"""A large woven surface with one small gap: the image that shows what tiling keeps.

:func:`woven_board` draws a ``size`` px square of a fine weave (a grid of
period ``period`` px at a random phase, with a little noise) and, where
``gap`` is given, a ``gap`` x ``gap`` px square where the weave is missing,
filled with the weave's own mean brightness. Shrunk to a network's 224 px
the weave averages to that mean everywhere, so the gap vanishes; cut into
tiles it stays (chapter 9, ``tests/test_tiles.py``).
"""

from __future__ import annotations

import numpy as np

from ..checks import check_int
from ..runtime import as_rng

__all__ = ["woven_board"]


def woven_board(size: int = 1024, period: int = 6, gap: int | None = None, at=(600, 300), seed=0) -> np.ndarray:
    """A board [size, size] in [0, 1] (float64); with ``gap``, the weave is missing in the square of
    side ``gap`` whose top-left corner is ``at`` (row, column)."""
    size = check_int(size, "size", minimum=16)
    period = check_int(period, "period", minimum=2)
    rng = as_rng(seed)
    yy, xx = np.indices((size, size)) + rng.integers(0, period, 2)[:, None, None]
    weave = np.sin(2 * np.pi * yy / period) * np.sin(2 * np.pi * xx / period)
    board = np.clip(0.5 + 0.25 * weave + 0.03 * rng.standard_normal((size, size)), 0, 1)
    if gap is not None:
        gap = check_int(gap, "gap", minimum=1, maximum=size)
        y, x = (check_int(v, "at", minimum=0, maximum=size - gap) for v in at)
        board[y : y + gap, x : x + gap] = 0.5
    return board
