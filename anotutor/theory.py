r"""Numerics for the GAN theory of seeds 001 and 003, on discrete distributions.

A discrete distribution is a 1-D array of non-negative numbers summing to 1
(a histogram over bins of x). With :math:`0 \log 0 = 0`:

* :func:`kl`, :func:`jsd` -- Kullback-Leibler and Jensen-Shannon divergences;
* :func:`gan_value` -- :math:`V(D, G) = \sum_x p_d \log D + p_g \log(1 - D)`
  (seed 001, eq. 5);
* :func:`optimal_discriminator` -- :math:`D^* = p_d / (p_d + p_g)` (eq. 10);
* :func:`noisy_value` -- :math:`V' = \gamma V + (1 - \gamma) \sum_x p_{an} \log(1 - D)`
  (eqs. 15 to 17);
* :func:`noisy_optimal_discriminator` -- the pointwise maximiser of
  :math:`V'`, :math:`\gamma p_d / (\gamma p_d + \gamma p_g + (1 - \gamma) p_{an})`,
  which is *not* eq. 10's :math:`D^*` unless :math:`\gamma = 1`;
* :func:`distorted_optimum` -- eq. 23's closed form
  :math:`p_g^* = (p_d - (1 - \gamma) p_{an}) / \gamma`, which can be negative.
"""

from __future__ import annotations

import numpy as np

from .checks import check_range

__all__ = ["as_distribution", "kl", "jsd", "gan_value", "optimal_discriminator", "noisy_value",
           "noisy_optimal_discriminator", "distorted_optimum"]


def as_distribution(p, name: str = "p", atol: float = 1e-9) -> np.ndarray:
    """Validate a discrete distribution: 1-D, finite, non-negative, summing to 1."""
    a = np.asarray(p, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {a.shape}")
    if not np.isfinite(a).all() or (a < 0).any():
        raise ValueError(f"{name} must be finite and non-negative")
    if abs(a.sum() - 1.0) > atol:
        raise ValueError(f"{name} must sum to 1, got {a.sum():.6g}")
    return a


def _xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x * log(y) with 0 * log(anything) = 0."""
    out = np.zeros_like(x)
    nz = x > 0
    with np.errstate(divide="ignore"):
        out[nz] = x[nz] * np.log(y[nz])
    return out


def kl(p, q) -> float:
    """KL(p || q); infinite where q has no mass under p."""
    p, q = as_distribution(p, "p"), as_distribution(q, "q")
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same length, got {p.size} and {q.size}")
    return float(np.sum(_xlogy(p, p)) - np.sum(_xlogy(p, q)))


def jsd(p, q) -> float:
    """JSD(p || q) = (KL(p || m) + KL(q || m)) / 2 with m = (p + q) / 2; in [0, log 2]."""
    p, q = as_distribution(p, "p"), as_distribution(q, "q")
    m = (p + q) / 2
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def _check_d(d, n: int) -> np.ndarray:
    d = np.asarray(d, dtype=np.float64)
    if d.shape != (n,) or not np.isfinite(d).all() or (d < 0).any() or (d > 1).any():
        raise ValueError(f"D must be {n} values in [0, 1]")
    return d


def gan_value(d, p_d, p_g) -> float:
    """V(D, G) of seed 001 eq. 5 for a discriminator given by its values ``d`` on the bins."""
    p_d, p_g = as_distribution(p_d, "p_d"), as_distribution(p_g, "p_g")
    d = _check_d(d, p_d.size)
    return float(np.sum(_xlogy(p_d, d)) + np.sum(_xlogy(p_g, 1 - d)))


def _share(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / (a + b), the maximiser of a log y + b log(1 - y); 1/2 where a + b = 0 (any y is optimal)."""
    s = a + b
    return np.where(s > 0, a / np.where(s > 0, s, 1), 0.5)


def optimal_discriminator(p_d, p_g) -> np.ndarray:
    """D*(x) = p_d / (p_d + p_g) (eq. 10); 1/2 where neither has mass."""
    return _share(as_distribution(p_d, "p_d"), as_distribution(p_g, "p_g"))


def noisy_value(d, p_d, p_g, p_an, gamma: float) -> float:
    """V'(D, G) = gamma V(D, G) + (1 - gamma) E_{p_an}[log(1 - D)] (eqs. 15 to 17)."""
    gamma = check_range(gamma, "gamma", 0.0, 1.0, low_open=True)
    p_an = as_distribution(p_an, "p_an")
    d = _check_d(d, p_an.size)
    return gamma * gan_value(d, p_d, p_g) + (1 - gamma) * float(np.sum(_xlogy(p_an, 1 - d)))


def noisy_optimal_discriminator(p_d, p_g, p_an, gamma: float) -> np.ndarray:
    """The pointwise maximiser of V': gamma p_d / (gamma p_d + gamma p_g + (1 - gamma) p_an)."""
    gamma = check_range(gamma, "gamma", 0.0, 1.0, low_open=True)
    p_d, p_g, p_an = (as_distribution(p, n) for p, n in ((p_d, "p_d"), (p_g, "p_g"), (p_an, "p_an")))
    return _share(gamma * p_d, gamma * p_g + (1 - gamma) * p_an)


def distorted_optimum(p_d, p_an, gamma: float) -> np.ndarray:
    """Eq. 23 as printed: (p_d - (1 - gamma) p_an) / gamma. Sums to 1, but may be negative."""
    gamma = check_range(gamma, "gamma", 0.0, 1.0, low_open=True)
    p_d, p_an = as_distribution(p_d, "p_d"), as_distribution(p_an, "p_an")
    return (p_d - (1 - gamma) * p_an) / gamma
