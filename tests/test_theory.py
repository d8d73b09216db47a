import numpy as np
import pytest

from anotutor import theory as T


@pytest.mark.parametrize("seed", range(10))
def test_value_at_optimal_discriminator_is_2jsd_minus_2log2(seed):
    rng = np.random.default_rng(seed)
    p_d, p_g = T.random_distribution(12, seed % 3, rng), T.random_distribution(12, (seed + 1) % 3, rng)
    d = T.optimal_discriminator(p_d, p_g)
    assert T.gan_value(d, p_d, p_g) == pytest.approx(2 * T.jsd(p_d, p_g) - 2 * np.log(2), abs=1e-6)
    # D* is a maximiser: random feasible perturbations never raise V
    for _ in range(20):
        d2 = np.clip(d + rng.normal(0, 0.05, d.size), 1e-9, 1 - 1e-9)
        assert T.gan_value(d2, p_d, p_g) <= T.gan_value(d, p_d, p_g) + 1e-12


@pytest.mark.parametrize("gamma", [0.1, 0.5, 0.9, 1.0])
def test_noisy_optimal_discriminator_maximises_v_prime(gamma):
    rng = np.random.default_rng(1)
    p_d, p_g, p_an = (T.random_distribution(10, seed=rng) for _ in range(3))
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


# --------------------------------------------------------------------------- the distorted optimum
LOG2 = np.log(2)


def toy_pair():
    from anotutor.data.toy1d import noisy_1d
    toy = noisy_1d(n_train=10, n_known=1)
    return toy.p_d, toy.p_an, toy.anomalous


@pytest.mark.parametrize("gamma", [0.1, 0.37, 0.8, 1.0])
def test_max_d_of_v_prime_is_a_skewed_jsd_not_eq_18(gamma):
    rng = np.random.default_rng(3)
    p_d, p_g, p_an = (T.random_distribution(15, 2, rng) for _ in range(3))
    p_n = T.noisy_mixture(p_g, p_an, gamma)
    c = T.distorted_objective(p_g, p_d, p_an, gamma)
    assert c == pytest.approx(T.skewed_jsd_value(p_d, p_g, p_an, gamma), abs=1e-9)
    seed_eq18 = 2 * T.jsd(p_d, p_n) - 2 * LOG2
    assert (abs(c - seed_eq18) < 1e-9) == (gamma == 1.0)


def test_weighted_jsd():
    p, q = np.array([0.2, 0.8]), np.array([0.6, 0.4])
    assert T.jsd(p, q, 0.5) == T.jsd(p, q)
    assert T.jsd(p, p, 0.3) == pytest.approx(0.0, abs=1e-15) and T.jsd(p, q, 0.3) > 0
    for bad in (0.0, 1.0, float("nan")):
        with pytest.raises(ValueError, match="pi"):
            T.jsd(p, q, bad)


@pytest.mark.parametrize("gamma", [1.0, 0.9, 0.8, 0.6, 0.3, 0.1, 0.02])
def test_numerical_minimiser_matches_closed_or_constrained_form(gamma):
    p_d, p_an, _ = toy_pair()
    closed = T.distorted_optimum(p_d, p_an, gamma)
    con, k = T.constrained_optimum(p_d, p_an, gamma, return_level=True)
    num = T.minimise_distorted(p_d, p_an, gamma)
    assert con.min() >= 0 and con.sum() == pytest.approx(1.0, abs=1e-12) and 0 < k <= 1
    assert np.abs(num - con).max() < 1e-5
    c = lambda p: T.distorted_objective(p, p_d, p_an, gamma)  # noqa: E731
    assert c(con) <= c(num) + 1e-10
    if closed.min() >= 0:  # eq. 23 valid: it is the minimiser, and the constrained form is eq. 23
        assert k == 1.0 and np.abs(con - closed).max() < 1e-12
        assert c(con) == pytest.approx(gamma * np.log(gamma) - (1 + gamma) * np.log(1 + gamma), abs=1e-9)
    else:  # eq. 23 negative: clip-and-renormalise is a distribution but worse than the constrained form
        assert k < 1
        clip = T.clipped_optimum(p_d, p_an, gamma)
        assert c(clip) > c(con) + 1e-6
        assert np.abs(num - clip).max() > 100 * np.abs(num - con).max()


@pytest.mark.parametrize("seed", range(6))
def test_constrained_optimum_on_random_distributions(seed):
    rng = np.random.default_rng(seed)
    p_d, p_an = T.random_distribution(20, seed % 4, rng), T.random_distribution(20, (seed + 2) % 4, rng)
    for gamma in (0.95, 0.5, 0.2):
        con = T.constrained_optimum(p_d, p_an, gamma)
        num = T.minimise_distorted(p_d, p_an, gamma)
        assert np.abs(num - con).max() < 1e-4  # slowest where a bin sits right at the threshold
        assert T.distorted_objective(con, p_d, p_an, gamma) <= T.distorted_objective(num, p_d, p_an, gamma) + 1e-12
        # KKT: where p_g* > 0, p_N / p_d is one constant k; elsewhere p_N / p_d is at least k
        p_n = T.noisy_mixture(con, p_an, gamma)
        on = (con > 1e-12) & (p_d > 0)
        ratio = p_n[on] / p_d[on]
        assert ratio.max() - ratio.min() < 1e-9
        off = (con <= 1e-12) & (p_d > 0)
        assert (p_n[off] / p_d[off] >= ratio.min() - 1e-9).all()


def test_distortion_sweep():
    p_d, p_an, region = toy_pair()
    ds = [T.distortion(p_d, p_an, g, region) for g in (1.0, 0.9, 0.8, 0.7, 0.5, 0.2)]
    assert ds[0].removed == pytest.approx(0.0, abs=1e-12) and ds[0].feasible
    removed = [d.removed for d in ds]
    assert all(b >= a - 1e-12 for a, b in zip(removed, removed[1:]))  # smaller gamma removes more
    assert [d.feasible for d in ds] == [True, True, True, False, False, False]
    assert all(d.negative_mass == 0 for d in ds[:3]) and all(d.negative_mass > 0 for d in ds[3:])
    assert ds[-1].mass_constrained < 1e-3 < ds[-1].mass_data
    default = T.distortion(p_d, p_an, 0.5)  # default region: where p_an > p_d
    assert default.region.any() and not default.region.all()
    with pytest.raises(ValueError, match="region"):
        T.distortion(p_d, p_an, 0.5, region[:-1])


@pytest.mark.parametrize("bad", [0, 0.0, -0.2, 1.0000001, 2, float("nan"), float("inf"), "0.5", None])
def test_bad_gamma_is_a_value_error_naming_gamma(bad):
    p_d, p_an, _ = toy_pair()
    for f in (T.distorted_optimum, T.constrained_optimum, T.clipped_optimum, T.minimise_distorted,
              T.distortion):
        with pytest.raises(ValueError, match="gamma"):
            f(p_d, p_an, bad)
    with pytest.raises(ValueError, match="gamma"):
        T.distorted_objective(p_d, p_d, p_an, bad)
    with pytest.raises(ValueError, match="gamma"):
        T.noisy_mixture(p_d, p_an, bad)


def test_shape_mismatch():
    with pytest.raises(ValueError, match="same length"):
        T.constrained_optimum([0.5, 0.5], [1.0, 0.0, 0.0], 0.5)


def test_skewed_jsd_value_at_its_extremes():
    p = T.random_distribution(8, 2, seed=0)
    q = np.array([0, 0, 0, 0, 0, 0, 0.5, 0.5])
    a = np.array([0.25, 0.25, 0.25, 0.25, 0, 0, 0, 0])
    # gamma = 1: the plain GAN's 2 JSD - 2 log 2 (eq-v-jsd)
    assert T.skewed_jsd_value(p, q, a, 1.0) == pytest.approx(2 * T.jsd(p, q) - 2 * LOG2, abs=1e-12)
    for gamma in (0.1, 0.5, 0.9):
        low = gamma * np.log(gamma) - (1 + gamma) * np.log(1 + gamma)
        # p_N = p_d: the minimum; p_N disjoint from p_d: the maximum, 0 (a perfect D, log 1 = 0)
        assert T.skewed_jsd_value(T.noisy_mixture(p, a, gamma), p, a, gamma) == pytest.approx(low, abs=1e-12)
        assert T.skewed_jsd_value(a, q, q, gamma) == pytest.approx(0.0, abs=1e-12)
        assert T.skewed_jsd_value(p, q, a, gamma) > low


def test_skewed_jsd_value_errors_name_the_argument():
    p = np.array([0.5, 0.5])
    with pytest.raises(ValueError, match="gamma"):
        T.skewed_jsd_value(p, p, p, 0.0)
    with pytest.raises(ValueError, match="p_g and p_an must have the same length"):
        T.skewed_jsd_value(p, [1.0, 0.0, 0.0], p, 0.5)
    with pytest.raises(ValueError, match="p_d and p_an must have the same length"):
        T.skewed_jsd_value([1.0], p, p, 0.5)
    with pytest.raises(ValueError, match="p_an must sum to 1"):
        T.skewed_jsd_value(p, p, [0.5, 0.6], 0.5)


@pytest.mark.parametrize("n,zeros", [(1, 0), (5, 0), (5, 4), (30, 7)])
def test_random_distribution(n, zeros):
    p = T.random_distribution(n, zeros, seed=3)
    assert p.shape == (n,) and (p >= 0).all() and p.sum() == pytest.approx(1.0, abs=1e-12)
    assert int((p == 0).sum()) == zeros
    assert np.array_equal(p, T.random_distribution(n, zeros, seed=3))  # an int seed repeats
    rng = np.random.default_rng(3)
    first = T.random_distribution(n, zeros, rng)
    assert np.array_equal(first, p)  # a Generator gives the same stream as its seed ...
    if n > 1:
        assert not np.array_equal(T.random_distribution(n, zeros, rng), first)  # ... and moves on


@pytest.mark.parametrize("kwargs,match", [
    (dict(n=3, zeros=3), "zeros must be less than n = 3"), (dict(n=0), "n must be"),
    (dict(n=2.5), "n must be an integer"), (dict(n=4, zeros=-1), "zeros must be"),
    (dict(n=4, zeros=True), "zeros must be an integer"), (dict(n=4, seed=1.5), "seed must be"),
])
def test_random_distribution_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        T.random_distribution(**kwargs)


# --------------------------------------------------------------------------- eq. 18's own reading
@pytest.mark.parametrize("gamma", [1.0, 0.8, 0.37, 0.1])
def test_eq_18_is_exact_when_gamma_weights_only_the_fakes(gamma):
    rng = np.random.default_rng(5)
    p_d, p_g, p_an = (T.random_distribution(15, 2, rng) for _ in range(3))
    p_n = T.noisy_mixture(p_g, p_an, gamma)
    d = T.fake_weighted_optimal_discriminator(p_d, p_g, p_an, gamma)
    assert np.allclose(d, T.optimal_discriminator(p_d, p_n))
    best = T.fake_weighted_objective(p_g, p_d, p_an, gamma)
    assert best == T.fake_weighted_value(d, p_d, p_g, p_an, gamma)
    assert best == pytest.approx(2 * T.jsd(p_d, p_n) - 2 * LOG2, abs=1e-12)  # the paper's eq. 18
    for _ in range(30):  # and d is its maximiser
        d2 = np.clip(d + rng.normal(0, 0.05, d.size), 1e-9, 1 - 1e-9)
        assert T.fake_weighted_value(d2, p_d, p_g, p_an, gamma) <= best + 1e-12
    # V'' = V' + (1 - gamma) E_pd[log D]: the readings differ in the real term's weight only
    d2 = np.clip(d, 1e-6, 1 - 1e-6)
    gap = T.fake_weighted_value(d2, p_d, p_g, p_an, gamma) - T.noisy_value(d2, p_d, p_g, p_an, gamma)
    assert gap == pytest.approx((1 - gamma) * float(np.sum(p_d * np.log(d2))), abs=1e-12)
    if gamma == 1.0:
        assert best == pytest.approx(T.distorted_objective(p_g, p_d, p_an, gamma), abs=1e-12)


@pytest.mark.parametrize("gamma", [0.9, 0.5, 0.1])
def test_both_readings_share_the_generator_optimum(gamma):
    p_d, p_an, _ = toy_pair()
    con = T.constrained_optimum(p_d, p_an, gamma)
    c2 = lambda p: T.fake_weighted_objective(p, p_d, p_an, gamma)  # noqa: E731
    rng = np.random.default_rng(0)
    for _ in range(20):  # no other distribution does better under V'' either
        q = np.abs(con + rng.normal(0, 1e-3, con.size) * (con > 0))
        assert c2(q / q.sum()) >= c2(con) - 1e-12
    if gamma == 0.9:  # eq. 23 is a distribution: it reaches eq. 18's floor, -2 log 2
        assert c2(T.distorted_optimum(p_d, p_an, gamma)) == pytest.approx(-2 * LOG2, abs=1e-12)


def test_fake_weighted_errors_name_the_argument():
    p = np.array([0.5, 0.5])
    with pytest.raises(ValueError, match="gamma"):
        T.fake_weighted_objective(p, p, p, 0.0)
    with pytest.raises(ValueError, match="p_g and p_an must have the same length"):
        T.fake_weighted_value(p, p, [1.0, 0.0, 0.0], p, 0.5)
    with pytest.raises(ValueError, match="D must be"):
        T.fake_weighted_value([1.5, 0.5], p, p, p, 0.5)
