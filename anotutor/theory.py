r"""Numerics for the GAN theory of Noisy-AnoGAN, on discrete distributions.

"The paper's eq. N" is Kimura and Yanagihara's (2018) numbering; the plain
GAN is Goodfellow et al. (2014). Numbers (3.N) are the book's, in the chapter
"GAN theory" (``book/03_gan_theory.md``, where each identity is derived and
labelled ``eq-name``); (3.12) is in its reproducibility notes.

A discrete distribution is a 1-D array of non-negative numbers summing to 1
(a histogram over bins of x). With :math:`0 \log 0 = 0`:

* :func:`kl`, :func:`jsd` -- Kullback-Leibler and Jensen-Shannon divergences;
* :func:`gan_value` -- :math:`V(D, G) = \sum_x p_d \log D + p_g \log(1 - D)`
  (the paper's eq. 5; the book's (3.2));
* :func:`optimal_discriminator` -- :math:`D^* = p_d / (p_d + p_g)` (the paper's eq. 10; (3.4));
* :func:`noisy_value` -- :math:`V' = \gamma V + (1 - \gamma) \sum_x p_{an} \log(1 - D)`
  (the paper's eqs. 15 to 17; (3.6));
* :func:`noisy_optimal_discriminator` -- the pointwise maximiser of
  :math:`V'`, :math:`\gamma p_d / (\gamma p_d + \gamma p_g + (1 - \gamma) p_{an})`,
  which is *not* the paper's eq. 10 unless :math:`\gamma = 1` ((3.8));
* :func:`distorted_optimum` -- the paper's eq. 23, a closed form
  :math:`p_g^* = (p_d - (1 - \gamma) p_{an}) / \gamma`, which can be negative ((3.10));
* :func:`distorted_objective` -- what the generator minimises,
  :math:`C(G) = \max_D V'(D, G)`;
* :func:`skewed_jsd_value` -- the same :math:`\max_D V'` written as a skewed
  Jensen-Shannon divergence (the book's (3.9)), not the paper's eq. 18;
* :func:`constrained_optimum` -- the minimiser of :math:`C` over distributions
  :math:`p_g \ge 0`: :math:`p_g = \max(k\,p_d - (1 - \gamma) p_{an}, 0) / \gamma`
  with the level :math:`k \le 1` that makes it sum to 1 (water-filling; equal
  to the paper's eq. 23 where that is non-negative; (3.11));
* :func:`clipped_optimum` -- the paper's eq. 23 clipped at zero and renormalised, a
  tempting repair that is *not* the minimiser;
* :func:`minimise_distorted` -- the minimiser of :math:`C` found numerically
  (exponentiated gradient on the simplex), to check the two above;
* :func:`distortion` -- all of it for one :math:`\gamma`, with the mass moved
  off the anomaly mode (the pure function under the gamma widget);
* :func:`random_distribution` -- a random distribution with some empty bins,
  to check the identities above beyond the toy data;
* :func:`fake_weighted_value`, :func:`fake_weighted_optimal_discriminator`,
  :func:`fake_weighted_objective` -- the reading of the paper's eq. 15 in which
  :math:`\gamma` weights only the generator's fakes ((3.12)), under
  which the paper's eq. 18 is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checks import check_int, check_range
from .runtime import as_rng

__all__ = [
    "as_distribution",
    "kl",
    "jsd",
    "gan_value",
    "optimal_discriminator",
    "noisy_value",
    "noisy_optimal_discriminator",
    "distorted_optimum",
    "noisy_mixture",
    "distorted_objective",
    "skewed_jsd_value",
    "constrained_optimum",
    "clipped_optimum",
    "minimise_distorted",
    "Distortion",
    "distortion",
    "random_distribution",
    "fake_weighted_value",
    "fake_weighted_optimal_discriminator",
    "fake_weighted_objective",
]


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


def jsd(p, q, pi: float = 0.5) -> float:
    """JSD(p || q) = (KL(p || m) + KL(q || m)) / 2 with m = (p + q) / 2; in [0, log 2].

    With a weight ``pi`` in (0, 1), the skewed divergence
    pi KL(p || m) + (1 - pi) KL(q || m) with m = pi p + (1 - pi) q; zero iff p = q.
    """
    p, q = as_distribution(p, "p"), as_distribution(q, "q")
    pi = check_range(pi, "pi", 0.0, 1.0, low_open=True, high_open=True)
    m = pi * p + (1 - pi) * q
    return pi * kl(p, m) + (1 - pi) * kl(q, m)


def _check_d(d, n: int) -> np.ndarray:
    d = np.asarray(d, dtype=np.float64)
    if d.shape != (n,) or not np.isfinite(d).all() or (d < 0).any() or (d > 1).any():
        raise ValueError(f"D must be {n} values in [0, 1]")
    return d


def gan_value(d, p_d, p_g) -> float:
    """V(D, G) summed over the bins: the paper's eq. 5, the book's (3.2).

    ``d`` holds the discriminator's values on the bins.
    """
    p_d, p_g = as_distribution(p_d, "p_d"), as_distribution(p_g, "p_g")
    d = _check_d(d, p_d.size)
    return float(np.sum(_xlogy(p_d, d)) + np.sum(_xlogy(p_g, 1 - d)))


def _share(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / (a + b), the maximiser of a log y + b log(1 - y) (the book's (3.3)).

    Where a + b = 0 every y is optimal; we return 1/2.
    """
    s = a + b
    return np.where(s > 0, a / np.where(s > 0, s, 1), 0.5)


def optimal_discriminator(p_d, p_g) -> np.ndarray:
    """D*(x) = p_d / (p_d + p_g): the paper's eq. 10, the book's (3.4).

    1/2 where neither has mass.
    """
    return _share(as_distribution(p_d, "p_d"), as_distribution(p_g, "p_g"))


def noisy_value(d, p_d, p_g, p_an, gamma: float) -> float:
    """V'(D, G) = gamma V(D, G) + (1 - gamma) E_{p_an}[log(1 - D)].

    The paper's eqs. 15 to 17, the book's (3.6).
    """
    gamma = check_range(gamma, "gamma", 0.0, 1.0, low_open=True)
    p_an = as_distribution(p_an, "p_an")
    d = _check_d(d, p_an.size)
    penalty = 0.0 if gamma == 1 else (1 - gamma) * float(np.sum(_xlogy(p_an, 1 - d)))  # 0 * log 0 = 0
    return gamma * gan_value(d, p_d, p_g) + penalty


def noisy_optimal_discriminator(p_d, p_g, p_an, gamma: float) -> np.ndarray:
    """The pointwise maximiser of V', the book's (3.8).

    gamma p_d / (gamma p_d + p_N), p_N = gamma p_g + (1 - gamma) p_an.
    """
    p_n = noisy_mixture(p_g, p_an, gamma)  # validates p_g, p_an and gamma
    return _share(gamma * as_distribution(p_d, "p_d"), p_n)


def distorted_optimum(p_d, p_an, gamma: float) -> np.ndarray:
    """The paper's eq. 23 as printed, the book's (3.10).

    (p_d - (1 - gamma) p_an) / gamma: it sums to 1, but may be negative.
    """
    p_d, p_an, gamma = _inputs(p_d, p_an, gamma)
    return (p_d - (1 - gamma) * p_an) / gamma


FEASIBLE_TOL = 1e-12  # the paper's eq. 23 counts as non-negative above -FEASIBLE_TOL


def _inputs(p_d, p_an, gamma, first: str = "p_d"):
    """Validate gamma in (0, 1] and two distributions of one length; ``first`` names the first one."""
    gamma = check_range(gamma, "gamma", 0.0, 1.0, low_open=True)
    p_d, p_an = as_distribution(p_d, first), as_distribution(p_an, "p_an")
    if p_d.shape != p_an.shape:
        raise ValueError(f"{first} and p_an must have the same length, got {p_d.size} and {p_an.size}")
    return p_d, p_an, gamma


def noisy_mixture(p_g, p_an, gamma: float) -> np.ndarray:
    """p_N = gamma p_g + (1 - gamma) p_an (the paper's eq. 19, the book's (3.7)).

    Everything the discriminator is taught to call fake.
    """
    p_g, p_an, gamma = _inputs(p_g, p_an, gamma, first="p_g")
    return gamma * p_g + (1 - gamma) * p_an


def distorted_objective(p_g, p_d, p_an, gamma: float) -> float:
    """C(G) = max_D V'(D, G): V' at its optimal discriminator (3.8)."""
    d = noisy_optimal_discriminator(p_d, p_g, p_an, gamma)
    return noisy_value(d, p_d, p_g, p_an, gamma)


def skewed_jsd_value(p_d, p_g, p_an, gamma: float) -> float:
    r""":math:`\max_D V'(D, G)` as a skewed Jensen-Shannon divergence (the book's (3.9)).

    .. math::  \max_D V'(D, G) = (1 + \gamma)\, \mathrm{JSD}_\pi(p_d \,\|\, p_N)
               + \gamma \log \gamma - (1 + \gamma) \log(1 + \gamma),
               \qquad \pi = \frac{\gamma}{1 + \gamma},

    with :math:`p_N = \gamma p_g + (1 - \gamma) p_{an}` (:func:`noisy_mixture`) and
    :math:`\mathrm{JSD}_\pi` the skewed divergence of :func:`jsd` (Lin 1991). It is
    the value of Noisy-AnoGAN's :math:`V'` (Kimura and Yanagihara 2018, eqs. 15
    to 17) at its optimal discriminator, derived in closed form;
    :func:`distorted_objective` computes the same number by evaluating
    :math:`V'` there. For :math:`\gamma = 1` it is :math:`2\,\mathrm{JSD} - 2 \log 2`
    (Goodfellow et al. 2014); for :math:`\gamma < 1` it is *not* the paper's
    eq. 18, :math:`2\,\mathrm{JSD}(p_d \,\|\, p_N) - 2 \log 2`.
    """
    p_d, p_an, gamma = _inputs(p_d, p_an, gamma)
    p_n = noisy_mixture(p_g, p_an, gamma)  # validates p_g against p_an
    pi = gamma / (1 + gamma)
    return float((1 + gamma) * jsd(p_d, p_n, pi) + gamma * np.log(gamma) - (1 + gamma) * np.log(1 + gamma))


def constrained_optimum(p_d, p_an, gamma: float, return_level: bool = False):
    """The minimiser of C(G) = max_D V' over distributions p_g >= 0, the book's (3.11).

    C depends on p_g only through p_N = gamma p_g + (1 - gamma) p_an, is
    convex in it, and its gradient log(p_N / (gamma p_d + p_N)) grows with
    p_N / p_d alone. The KKT conditions for p_N >= (1 - gamma) p_an and
    sum p_N = 1 give p_N = max(k p_d, (1 - gamma) p_an): where the bound is
    slack, p_N / p_d is one constant k. Hence

        p_g = max(k p_d - (1 - gamma) p_an, 0) / gamma,

    with the level k in (0, 1] solved exactly here (the sum is piecewise
    linear in k). k = 1, and this is the paper's eq. 23, when
    p_d >= (1 - gamma) p_an everywhere; otherwise k < 1.
    ``return_level=True`` returns ``(p_g, k)``.
    """
    p_d, p_an, gamma = _inputs(p_d, p_an, gamma)
    c = (1 - gamma) * p_an
    closed = (p_d - c) / gamma
    if closed.min() >= -FEASIBLE_TOL:  # the paper's eq. 23 is a distribution
        p_g = np.maximum(closed, 0.0)
        p_g /= p_g.sum()
        return (p_g, 1.0) if return_level else p_g
    # bins become active (p_g > 0) in the order of the ratio c / p_d that k passes
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(p_d > 0, c / np.where(p_d > 0, p_d, 1.0), np.inf)
    order = np.argsort(ratio, kind="stable")
    r = ratio[order]
    # k if the first j + 1 bins in that order are active: sum (k p_d - c) / gamma = 1
    levels = (gamma + np.cumsum(c[order])) / np.cumsum(p_d[order])
    upper = np.append(r[1:], np.inf)
    j = int(np.argmax((r < levels) & (levels <= upper)))
    k = float(levels[j])
    p_g = np.maximum(k * p_d - c, 0.0) / gamma
    p_g /= p_g.sum()  # removes rounding only
    return (p_g, k) if return_level else p_g


def clipped_optimum(p_d, p_an, gamma: float) -> np.ndarray:
    """The paper's eq. 23 clipped at zero and renormalised: not the minimiser of C."""
    p_d, p_an, gamma = _inputs(p_d, p_an, gamma)
    q = np.maximum(p_d - (1 - gamma) * p_an, 0.0)
    if q.sum() <= 0:
        raise ValueError(f"p_d - (1 - gamma) p_an has no positive part for gamma = {gamma}")
    return q / q.sum()


def minimise_distorted(p_d, p_an, gamma: float, steps: int = 20000, lr: float = 1.0, tol: float = 1e-13) -> np.ndarray:
    r"""Minimise :math:`C(G) = \max_D V'(D, G)` over the simplex, numerically.

    Exponentiated gradient (mirror descent with the entropy): the softmax
    logits of :math:`p_g` move against the gradient of :math:`C` in :math:`p_g`,
    :math:`\gamma \log(p_N / (\gamma p_d + p_N))`. It knows nothing of the
    closed forms and stops when no probability moves by more than ``tol``.
    """
    p_d, p_an, gamma = _inputs(p_d, p_an, gamma)
    steps = check_int(steps, "steps")
    lr = check_range(lr, "lr", 0.0, float("inf"), low_open=True, high_open=True)
    a, c = gamma * p_d, (1 - gamma) * p_an
    logits = np.zeros_like(p_d)
    p = np.full_like(p_d, 1.0 / p_d.size)
    for _ in range(steps):
        b = gamma * p + c
        # gradient of C in p_g; 0 where p_d = 0 (there a + b = b), whatever b is
        grad = np.log(np.where(a > 0, b / (a + b), 1.0))
        logits -= lr * grad
        new = np.exp(logits - logits.max())
        new /= new.sum()
        done = np.abs(new - p).max() < tol
        p = new
        if done:
            break
    return p


@dataclass(frozen=True)
class Distortion:
    """The paper's eq. 23 and its repairs for one gamma, and what happens to the anomaly mode.

    ``p_d``, ``p_an`` and ``region`` are the inputs (``region`` the anomaly
    mode's bins); ``closed`` the paper's eq. 23 (may be negative), ``constrained`` the true minimiser
    over distributions, ``clipped`` clip-and-renormalise; ``feasible`` whether
    the paper's eq. 23 is a distribution; ``level`` the k of :func:`constrained_optimum`;
    ``negative_mass`` the mass it puts below zero; ``mass_data`` and
    ``mass_constrained`` the probability of the anomaly ``region`` under
    p_d and under the constrained p_g*; ``removed`` their difference.
    """

    gamma: float
    p_d: np.ndarray
    p_an: np.ndarray
    region: np.ndarray
    closed: np.ndarray
    constrained: np.ndarray
    clipped: np.ndarray
    feasible: bool
    level: float
    negative_mass: float
    mass_data: float
    mass_constrained: float

    @property
    def removed(self) -> float:
        return self.mass_data - self.mass_constrained


def distortion(p_d, p_an, gamma: float, region=None) -> Distortion:
    """Everything the gamma widget draws, for one gamma in (0, 1].

    ``region`` is a boolean mask of the anomaly mode's bins; by default the
    bins where p_an exceeds p_d.
    """
    p_d, p_an, gamma = _inputs(p_d, p_an, gamma)
    region = p_an > p_d if region is None else np.asarray(region, dtype=bool)
    if region.shape != p_d.shape:
        raise ValueError(f"region must be a boolean mask of {p_d.size} bins, got shape {region.shape}")
    closed = distorted_optimum(p_d, p_an, gamma)
    constrained, k = constrained_optimum(p_d, p_an, gamma, return_level=True)
    return Distortion(
        gamma=gamma,
        p_d=p_d,
        p_an=p_an,
        region=region,
        closed=closed,
        constrained=constrained,
        clipped=clipped_optimum(p_d, p_an, gamma),
        feasible=bool(closed.min() >= -FEASIBLE_TOL),
        level=k,
        negative_mass=float(-closed[closed < -FEASIBLE_TOL].sum()),
        mass_data=float(p_d[region].sum()),
        mass_constrained=float(constrained[region].sum()),
    )


def random_distribution(n: int, zeros: int = 0, seed=None) -> np.ndarray:
    """A random distribution over ``n`` bins, ``zeros`` of them (chosen at random) empty.

    The masses are uniform draws, normalised; ``seed`` is an integer, a NumPy
    ``Generator`` (whose stream it continues, so that successive calls differ)
    or ``None``. Empty bins are the edge case of every ``0 log 0`` above.
    """
    n = check_int(n, "n", minimum=1)
    zeros = check_int(zeros, "zeros", minimum=0)
    if zeros >= n:
        raise ValueError(f"zeros must be less than n = {n}, so that some bin has mass; got {zeros}")
    rng = as_rng(seed)
    p = rng.random(n)
    p[rng.choice(n, zeros, replace=False)] = 0.0
    return p / p.sum()


# ------------------------------------------------------------- the paper's eq. 18's own reading
def fake_weighted_value(d, p_d, p_g, p_an, gamma: float) -> float:
    r"""V'' with :math:`\gamma` weighting only the fakes: the paper's eq. 18 is exact then.

    .. math::  V''(D, G) = \mathbb{E}_{p_d}[\log D] + \gamma\, \mathbb{E}_{p_g}[\log(1 - D)]
               + (1 - \gamma)\, \mathbb{E}_{p_{an}}[\log(1 - D)]
               = \sum_x p_d \log D + p_N \log(1 - D),

    with :math:`p_N` of :func:`noisy_mixture` (the book's (3.12)). It
    differs from :func:`noisy_value` (eqs. 15 to 17 as printed) only in the
    weight of the real term, 1 instead of :math:`\gamma`:
    :math:`V'' = V' + (1 - \gamma)\, \mathbb{E}_{p_d}[\log D]`.
    """
    p_n = noisy_mixture(p_g, p_an, gamma)  # validates p_g, p_an and gamma
    return gan_value(d, p_d, p_n)


def fake_weighted_optimal_discriminator(p_d, p_g, p_an, gamma: float) -> np.ndarray:
    """The pointwise maximiser of :func:`fake_weighted_value`: p_d / (p_d + p_N)."""
    return optimal_discriminator(p_d, noisy_mixture(p_g, p_an, gamma))


def fake_weighted_objective(p_g, p_d, p_an, gamma: float) -> float:
    r""":math:`\max_D V''(D, G)`, evaluated at :func:`fake_weighted_optimal_discriminator`.

    Equal to the paper's eq. 18, :math:`2\,\mathrm{JSD}(p_d \,\|\, p_N) - 2 \log 2`, since
    :math:`p_d` and :math:`p_N` are both distributions.
    """
    d = fake_weighted_optimal_discriminator(p_d, p_g, p_an, gamma)
    return fake_weighted_value(d, p_d, p_g, p_an, gamma)
