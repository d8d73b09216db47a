import numpy as np
import pytest
import torch

from anotutor import losses, runtime
from anotutor.data.toy1d import Mixture1D, noisy_1d
from anotutor.methods import NotFittedError
from anotutor.methods.gan1d import GAN1D


@pytest.fixture(scope="module")
def toy():
    return noisy_1d(n_train=1000, n_known=100, seed=0)


def test_toy_problem(toy):
    assert toy.p_d.sum() == pytest.approx(1.0) and toy.p_an.sum() == pytest.approx(1.0)
    assert np.allclose(toy.p_d, 0.8 * toy.p_normal + 0.2 * toy.p_an)
    assert toy.data.bin_probs(toy.edges) == pytest.approx(toy.p_d, abs=1e-6)  # tails off the grid
    x_an = toy.x[toy.anomalous]
    assert x_an.min() > 1.5 and x_an.max() == toy.x[-1]  # the mode around 3, up to the grid's end
    assert toy.train.shape == (1000,) and toy.anomalies.shape == (100,)
    assert np.array_equal(noisy_1d(n_train=1000, n_known=100, seed=0).train, toy.train)
    # about a fifth of the training samples lie in the anomaly mode
    assert 0.15 < toy.histogram(toy.train)[toy.anomalous].sum() < 0.28
    with pytest.raises(ValueError, match="contamination"):
        noisy_1d(contamination=1.0)
    with pytest.raises(ValueError, match="weights"):
        Mixture1D((0.5, 0.6), (0.0, 1.0), (1.0, 1.0))


def test_noisy_d_loss_is_minus_v_prime():
    g = torch.Generator().manual_seed(0)
    r, f, a = (torch.randn(64, 1, generator=g) for _ in range(3))
    log_d, log_1md = torch.nn.functional.logsigmoid, lambda t: torch.nn.functional.logsigmoid(-t)
    for gamma in (1.0, 0.3):
        v_prime = gamma * (log_d(r).mean() + log_1md(f).mean()) + (1 - gamma) * log_1md(a).mean()
        assert losses.noisy_gan_d_loss(r, f, a, gamma).item() == pytest.approx(-v_prime.item(), rel=1e-6)
    assert losses.gan_g_loss(f).item() == pytest.approx(-log_d(f).mean().item(), rel=1e-6)
    with pytest.raises(ValueError, match="anomaly_logits"):
        losses.noisy_gan_d_loss(r, f, None, 0.5)
    with pytest.raises(ValueError, match="gamma"):
        losses.noisy_gan_d_loss(r, f, a, 0.0)


def test_gan1d_shapes_and_reproducibility(toy):
    kw = dict(gamma=0.7, steps=30, batch_size=32, progress=False)
    a = GAN1D(seed=3, **kw).fit(toy.train, anomalies=toy.anomalies)
    b = GAN1D(seed=3, **kw).fit(toy.train, anomalies=toy.anomalies)
    c = GAN1D(seed=4, **kw).fit(toy.train, anomalies=toy.anomalies)
    s = a.sample(100)
    assert s.shape == (100,) and s.dtype == np.float32
    assert np.array_equal(s, b.sample(100)) and not np.array_equal(s, c.sample(100))
    d = a.discriminate(np.linspace(-3, 3, 7))
    assert d.shape == (7,) and ((d > 0) & (d < 1)).all()
    assert set(a.history_) == {"loss_d", "loss_g", "d_real", "d_fake", "d_anomaly"}
    assert a.history_["loss_d"].shape == (30,)


def test_gan1d_penalty_moves_mass_off_the_anomaly_mode(toy):
    """A short run: the plain GAN keeps the anomaly mode, gamma = 0.5 empties it (seeded, CPU)."""
    mass = {}
    for gamma in (1.0, 0.5):
        m = GAN1D(gamma=gamma, steps=300, batch_size=128, progress=False, seed=0).fit(toy.train, toy.anomalies)
        mass[gamma] = toy.histogram(m.sample(5000))[toy.anomalous].sum()
    assert mass[1.0] > 0.1 and mass[0.5] < 0.05


def test_gan1d_errors(toy):
    with pytest.raises(ValueError, match="gamma"):
        GAN1D(gamma=0.0)
    with pytest.raises(ValueError, match="gamma"):
        GAN1D(gamma=float("nan"))
    with pytest.raises(ValueError, match="anomalies"):
        GAN1D(gamma=0.5, steps=1).fit(toy.train)
    with pytest.raises(ValueError, match="NaN"):
        GAN1D(steps=1).fit(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="1-D"):
        GAN1D(steps=1).fit(np.zeros((3, 2)))
    with pytest.raises(NotFittedError):
        GAN1D().sample(3)


def test_cpu_threads_restores():
    before = torch.get_num_threads()
    with runtime.cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="n must be"):
        with runtime.cpu_threads(0):
            pass


def _one_step(gamma, anomalies, seed=0):
    from anotutor.methods import gan_step
    from anotutor.models import MLP
    torch.manual_seed(seed)
    G, D = MLP(2, 1, 8, 1), MLP(1, 1, 8, 1)
    og, od = (torch.optim.SGD(m.parameters(), lr=0.1) for m in (G, D))
    g = torch.Generator().manual_seed(1)
    real, z = torch.randn(16, 1, generator=g), torch.randn(16, 2, generator=g)
    out = gan_step(G, D, og, od, real, z, gamma, anomalies)
    return out, torch.cat([p.detach().flatten() for p in (*G.parameters(), *D.parameters())]), D


def test_gan_step_gamma_one_switches_the_penalty_off_exactly():
    anomalies = torch.full((16, 1), 3.0)
    out_none, params_none, _ = _one_step(1.0, None)
    out_anom, params_anom, _ = _one_step(1.0, anomalies)
    assert torch.equal(params_none, params_anom) and np.isnan(out_anom["d_anomaly"])
    # below 1 the known anomalies are a second kind of fake: D's value on them drops further
    _, params_pen, d_pen = _one_step(0.5, anomalies)
    _, _, d_plain = _one_step(1.0, None)
    assert not torch.equal(params_pen, params_none)
    with torch.no_grad():
        assert d_pen(anomalies).mean() < d_plain(anomalies).mean()
    with pytest.raises(ValueError, match="pass anomalies"):
        _one_step(0.5, None)
    with pytest.raises(ValueError, match="gamma"):
        _one_step(0.0, anomalies)
