r"""A 1-D toy problem for the GAN theory: normal data contaminated by a known anomaly mode.

The normal distribution :math:`p_{normal}` is a mixture of Gaussians; the
anomalies follow their own Gaussian :math:`p_{an}`; the training data
:math:`p_d` is the normal data with a fraction ``contamination`` (:math:`\epsilon`)
of anomalies mixed in,

.. math::  p_d = (1 - \epsilon)\, p_{normal} + \epsilon\, p_{an},

which is the situation of Noisy-AnoGAN (Kimura and Yanagihara, 2018): anomalies hide in the
training data, and a few *known* anomalies are given apart. Densities come
both as functions of x and as probabilities of the bins of a grid (exact, from
the Gaussian CDF), so :mod:`anotutor.theory` can work on them as discrete
distributions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..checks import check_int, check_range
from ..runtime import as_rng

__all__ = ["Mixture1D", "Toy1D", "noisy_1d"]

_erf = np.vectorize(math.erf, otypes=[float])


@dataclass(frozen=True)
class Mixture1D:
    """A mixture of 1-D Gaussians: ``weights`` (summing to 1), ``means`` and ``stds``."""

    weights: tuple[float, ...]
    means: tuple[float, ...]
    stds: tuple[float, ...]

    def __post_init__(self):
        if not (len(self.weights) == len(self.means) == len(self.stds) >= 1):
            raise ValueError("weights, means and stds must have the same non-zero length")
        if any(w < 0 for w in self.weights) or abs(sum(self.weights) - 1) > 1e-9:
            raise ValueError(f"weights must be non-negative and sum to 1, got {self.weights}")
        if any(not s > 0 for s in self.stds):
            raise ValueError(f"stds must be positive, got {self.stds}")

    def pdf(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return sum(
            w * np.exp(-0.5 * ((x - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))
            for w, m, s in zip(self.weights, self.means, self.stds)
        )

    def cdf(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return sum(
            w * 0.5 * (1 + _erf((x - m) / (s * math.sqrt(2)))) for w, m, s in zip(self.weights, self.means, self.stds)
        )

    def bin_probs(self, edges) -> np.ndarray:
        """Probabilities of the bins between ``edges``, renormalised to sum to 1 on the grid."""
        p = np.diff(self.cdf(edges))
        return p / p.sum()

    def sample(self, n: int, seed=None) -> np.ndarray:
        """``n`` samples (float32), reproducible for a given seed."""
        n = check_int(n, "n", minimum=0)
        rng = as_rng(seed)
        k = rng.choice(len(self.weights), size=n, p=np.asarray(self.weights) / sum(self.weights))
        return (np.asarray(self.means)[k] + np.asarray(self.stds)[k] * rng.standard_normal(n)).astype(np.float32)

    def mix(self, other: Mixture1D, fraction: float) -> Mixture1D:
        """(1 - fraction) * self + fraction * other, as one mixture."""
        f = check_range(fraction, "fraction", 0.0, 1.0)
        return Mixture1D(
            tuple((1 - f) * w for w in self.weights) + tuple(f * w for w in other.weights),
            self.means + other.means,
            self.stds + other.stds,
        )


@dataclass(frozen=True)
class Toy1D:
    """The toy problem: densities on a grid, training samples and known anomalies.

    ``edges`` [B + 1] bin edges, ``x`` [B] bin centres; ``p_normal``, ``p_an``
    and ``p_d`` [B] bin probabilities; ``anomalous`` [B] the bins where the
    anomaly density exceeds the normal one (the anomaly mode); ``train``
    samples of :math:`p_d` and ``anomalies`` samples of :math:`p_{an}`.
    """

    normal: Mixture1D
    anomaly: Mixture1D
    contamination: float
    edges: np.ndarray
    train: np.ndarray
    anomalies: np.ndarray

    @property
    def data(self) -> Mixture1D:
        return self.normal.mix(self.anomaly, self.contamination)

    @property
    def x(self) -> np.ndarray:
        return (self.edges[1:] + self.edges[:-1]) / 2

    @property
    def width(self) -> float:
        return float(self.edges[1] - self.edges[0])

    @property
    def p_normal(self) -> np.ndarray:
        return self.normal.bin_probs(self.edges)

    @property
    def p_an(self) -> np.ndarray:
        return self.anomaly.bin_probs(self.edges)

    @property
    def p_d(self) -> np.ndarray:
        return (1 - self.contamination) * self.p_normal + self.contamination * self.p_an

    @property
    def anomalous(self) -> np.ndarray:
        return self.anomaly.pdf(self.x) > self.normal.pdf(self.x)

    def histogram(self, samples) -> np.ndarray:
        """Bin probabilities of ``samples`` on the grid (samples outside it are dropped)."""
        counts, _ = np.histogram(np.asarray(samples, dtype=np.float64), bins=self.edges)
        return counts / max(counts.sum(), 1)


def noisy_1d(
    contamination: float = 0.2, n_train: int = 4000, n_known: int = 200, bins: int = 180, seed: int = 0
) -> Toy1D:
    """The book's toy problem: two normal modes at -1.5 and 1, an anomaly mode at 3.

    ``contamination`` is the fraction :math:`\\epsilon` of anomalies in the
    training data; ``n_known`` known anomalies are drawn apart, from the same
    anomaly distribution. The grid spans [-4, 5] in ``bins`` bins.
    """
    contamination = check_range(contamination, "contamination", 0.0, 1.0, high_open=True)
    n_train = check_int(n_train, "n_train", minimum=1)
    n_known = check_int(n_known, "n_known", minimum=0)
    bins = check_int(bins, "bins", minimum=2)
    normal = Mixture1D((0.5, 0.5), (-1.5, 1.0), (0.5, 0.5))
    anomaly = Mixture1D((1.0,), (3.0,), (0.5,))
    rng = as_rng(seed)
    train = normal.mix(anomaly, contamination).sample(n_train, rng)
    return Toy1D(normal, anomaly, contamination, np.linspace(-4.0, 5.0, bins + 1), train, anomaly.sample(n_known, rng))
