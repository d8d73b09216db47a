import numpy as np
import pytest

from anotutor import theory as T


def rand_dist(rng, n, zeros=0):
    p = rng.random(n)
    p[rng.choice(n, zeros, replace=False)] = 0
    return p / p.sum()


@pytest.mark.parametrize("seed", range(10))
def test_value_at_optimal_discriminator_is_2jsd_minus_2log2(seed):
    rng = np.random.default_rng(seed)
    p_d, p_g = rand_dist(rng, 12, zeros=seed % 3), rand_dist(rng, 12, zeros=(seed + 1) % 3)
    d = T.optimal_discriminator(p_d, p_g)
    assert T.gan_value(d, p_d, p_g) == pytest.approx(2 * T.jsd(p_d, p_g) - 2 * np.log(2), abs=1e-6)
    # D* is a maximiser: random feasible perturbations never raise V
    for _ in range(20):
        d2 = np.clip(d + rng.normal(0, 0.05, d.size), 1e-9, 1 - 1e-9)
        assert T.gan_value(d2, p_d, p_g) <= T.gan_value(d, p_d, p_g) + 1e-12


@pytest.mark.parametrize("gamma", [0.1, 0.5, 0.9, 1.0])
def test_noisy_optimal_discriminator_maximises_v_prime(gamma):
    rng = np.random.default_rng(1)
    p_d, p_g, p_an = (rand_dist(rng, 10) for _ in range(3))
    d = T.noisy_optimal_discriminator(p_d, p_g, p_an, gamma)
    best = T.noisy_value(d, p_d, p_g, p_an, gamma)
    for _ in range(30):
        d2 = np.clip(d + rng.normal(0, 0.05, d.size), 1e-9, 1 - 1e-9)
        assert T.noisy_value(d2, p_d, p_g, p_an, gamma) <= best + 1e-12
    same = np.allclose(d, T.optimal_discriminator(p_d, p_g))
    assert same == (gamma == 1.0)  # eq. 10's D* is the optimum of V' only without the penalty


def test_jsd_and_kl_bounds():
    p, q = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    assert T.jsd(p, q) == pytest.approx(np.log(2))
    assert T.jsd(p, p) == 0.0 and T.kl(p, q) == np.inf


def test_distorted_optimum_closed_form():
    p_d = np.array([0.5, 0.3, 0.2])
    p_an = np.array([0.0, 0.2, 0.8])
    g = T.distorted_optimum(p_d, p_an, 0.9)
    assert g.sum() == pytest.approx(1.0) and (g >= 0).all()
    assert (T.distorted_optimum(p_d, p_an, 0.5) < 0).any()  # not a distribution for small gamma
    assert np.allclose(T.distorted_optimum(p_d, p_an, 1.0), p_d)


def test_theory_errors():
    with pytest.raises(ValueError, match="sum to 1"):
        T.kl([0.5, 0.4], [0.5, 0.5])
    with pytest.raises(ValueError, match="non-negative"):
        T.jsd([1.5, -0.5], [0.5, 0.5])
    for bad in (0, -0.2, 1.1):
        with pytest.raises(ValueError, match="gamma"):
            T.distorted_optimum([1.0], [1.0], bad)
    with pytest.raises(ValueError, match="D must be"):
        T.gan_value([1.5, 0.5], [0.5, 0.5], [0.5, 0.5])
