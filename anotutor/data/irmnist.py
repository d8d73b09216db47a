"""IR-MNIST: puzzles of MNIST digits in which one digit class is the anomaly (Sabokrou et al., 2018).

The Noisy-AnoGAN paper (Kimura and Yanagihara, 2018a, section 4.1) uses
puzzles of 11 x 11 digits of 28 px (308 px images), made without any 3 for
training: 3 is the anomalous class. It trains on "5000 normal class data and
50 abnormal class data"; its Table 1 gives the data set 6,051 images in all,
which 5,000 + 50 training puzzles plus any test set cannot make (5,050 plus
one test image?), so the table's count is not a guide.

Here a puzzle is ``grid`` x ``grid`` cells of ``cell`` px (the digits are
shrunk from 28 px by area averaging); the book's ``ci`` budget uses 4 x 4
cells of 16 px (64 px puzzles), a fraction of the paper's size, so that a GAN
learns them on a CPU. Digits are drawn from disjoint pools: training puzzles
from one part of the normal digits, validation and test puzzles from the
rest, and the known anomalous puzzles from other 3s than the test ones.
An anomalous puzzle holds between 1 and ``max(1, grid**2 // 8)`` 3s at random
cells; its pixel mask is the union of those cells (the whole cell, since the
question the paper asks is *which digit is wrong*).
"""

from __future__ import annotations

import numpy as np
import torch

from ..checks import check_int, check_range
from ..runtime import as_rng
from .mnist import as_float, check_digits, load_mnist
from .splits import AnomalyDataset, Split

__all__ = ["ir_mnist", "ir_setup"]


def ir_mnist(
    images: torch.Tensor,
    labels: torch.Tensor,
    grid: int = 4,
    cell: int = 16,
    anomaly_digit: int = 3,
    n_train: int = 500,
    n_known: int = 10,
    n_val: int = 40,
    n_test: int = 80,
    held_out: float = 0.3,
    seed: int = 0,
) -> AnomalyDataset:
    """Puzzles [N, 1, grid * cell, grid * cell] with masks: ``train`` (no ``anomaly_digit`` anywhere),
    ``anomalies`` (``n_known`` puzzles with some), ``val`` and ``test`` (half normal, half anomalous).

    ``held_out``: the share of each digit pool kept for validation and test puzzles.
    """
    labels = check_digits(images, labels)
    grid = check_int(grid, "grid", minimum=2)
    cell = check_int(cell, "cell", minimum=4)
    n_train = check_int(n_train, "n_train")
    n_known = check_int(n_known, "n_known", minimum=0)
    n_val = check_int(n_val, "n_val", minimum=2)
    n_test = check_int(n_test, "n_test", minimum=2)
    held_out = check_range(held_out, "held_out", 0.0, 1.0, True, True)
    if anomaly_digit not in set(labels.tolist()):
        raise ValueError(f"anomaly_digit {anomaly_digit!r} does not occur in labels")
    rng = as_rng(seed)
    digits = as_float(images, cell, mode="area")[:, 0]
    is_bad = (labels == anomaly_digit).numpy()
    pools = {}
    for name, idx in (("normal", np.flatnonzero(~is_bad)), ("bad", np.flatnonzero(is_bad))):
        idx = rng.permutation(idx)
        k = max(1, int(round(len(idx) * held_out)))
        if len(idx) - k < 1:
            raise ValueError(f"too few {name} digits ({len(idx)}) to hold some out")
        pools[name] = (idx[k:], idx[:k])  # (for training, held out)
    max_bad = max(1, grid * grid // 8)

    def puzzles(n: int, normal_pool, bad_pool, anomalous: bool):
        out = torch.zeros(n, 1, grid * cell, grid * cell)
        masks = torch.zeros(n, grid * cell, grid * cell)
        for i in range(n):
            picks = rng.choice(normal_pool, grid * grid)
            bad_cells: np.ndarray | list[int] = []
            if anomalous:
                bad_cells = rng.choice(grid * grid, int(rng.integers(1, max_bad + 1)), replace=False)
                picks[bad_cells] = rng.choice(bad_pool, len(bad_cells))
            for c, d in enumerate(picks):
                r, q = divmod(c, grid)
                out[i, 0, r * cell : (r + 1) * cell, q * cell : (q + 1) * cell] = digits[d]
            for c in bad_cells:
                r, q = divmod(int(c), grid)
                masks[i, r * cell : (r + 1) * cell, q * cell : (q + 1) * cell] = 1.0
        return out, masks

    def split(n: int, normal_pool, bad_pool, share_bad: float | None) -> Split:
        n_bad = n if share_bad is None else int(round(n * share_bad))
        good_x, good_m = puzzles(n - n_bad, normal_pool, bad_pool, False)
        bad_x, bad_m = puzzles(n_bad, normal_pool, bad_pool, True)
        y = torch.cat([torch.zeros(n - n_bad), torch.ones(n_bad)]).long()
        kinds = ["good"] * (n - n_bad) + [f"digit_{anomaly_digit}"] * n_bad
        return Split(torch.cat([good_x, bad_x]), y, kinds, torch.cat([good_m, bad_m]))

    train_normal, test_normal = pools["normal"]
    train_bad, test_bad = pools["bad"]
    train = split(n_train, train_normal, train_bad, 0.0)
    known = (
        split(n_known, train_normal, train_bad, None)
        if n_known
        else Split(torch.zeros(0, 1, grid * cell, grid * cell), torch.zeros(0), [], None)
    )
    val = split(n_val, test_normal, test_bad, 0.5)
    test = split(n_test, test_normal, test_bad, 0.5)
    return AnomalyDataset(
        f"ir-mnist/{grid}x{grid}x{cell}px/anomaly={anomaly_digit}",
        train,
        known,
        val,
        test,
        info={"grid": grid, "cell": cell, "anomaly_digit": anomaly_digit, "seed": seed},
    )


def ir_setup(seed: int = 0):
    """The IR-MNIST puzzles of the book: 4 x 4 digits of 16 px (64 px), no 3 in training."""
    images, labels = load_mnist()
    ds = ir_mnist(images, labels, grid=4, cell=16, n_train=800, n_known=40, n_val=40, n_test=80, seed=seed)
    return ds, ds.train.images, ds.anomalies.images
