"""AnoGAN and Noisy-AnoGAN: the networks, training with the anomaly penalty, latent search."""

import pytest
import torch

from anotutor.methods import AnoGAN
from anotutor.methods.anogan import STEP_FACTOR
from anotutor.models import Discriminator, Generator, gan_layout
from anotutor.runtime import budget
from images import inside_over_outside, ramps as _smooth


@pytest.fixture(scope="module")
def trained():
    x = _smooth(64)
    return x, AnoGAN(image_size=16, latent_size=8, width=8, steps=150, batch_size=16,
                     search_steps=40, lr=2e-3, progress=False).fit(x)


@pytest.mark.parametrize("size, base, k", [(28, 7, 2), (64, 4, 4), (16, 4, 2), (48, 6, 3), (96, 6, 4)])
def test_layout_and_shapes(size, base, k):
    assert gan_layout(size) == (base, k)
    G, D = Generator(size, 3, latent_size=5, width=4).eval(), Discriminator(size, 3, width=4).eval()
    with torch.no_grad():
        x = G(torch.rand(2, 5) * 2 - 1)
    assert x.shape == (2, 3, size, size) and 0 <= float(x.min()) and float(x.max()) <= 1
    with torch.no_grad():  # (in eval mode spectral norm does no power iteration: D is a function)
        logits, f = D.logits_and_features(x)
        assert logits.shape == (2,) and f.shape == (2, D.n_features)
        assert torch.equal(D(x), logits) and torch.equal(D.features(x), f)


@pytest.mark.parametrize("size", [8, 68, 100, 31])
def test_unsupported_sizes_name_the_nearest(size):
    with pytest.raises(ValueError, match="image_size"):
        gan_layout(size)


def test_discriminator_scores_each_image_alone():
    """No batch statistics in D: an image's logit and features do not depend on its batch."""
    D = Discriminator(16, 1, width=4).eval()
    x = torch.rand(5, 1, 16, 16)
    logits, f = D.logits_and_features(x)
    one, f1 = D.logits_and_features(x[2:3])
    assert torch.allclose(logits[2:3], one, atol=1e-6) and torch.allclose(f[2:3], f1, atol=1e-6)


def test_gamma_one_ignores_anomalies_and_needs_none():
    x = _smooth(8)
    kw = dict(image_size=16, latent_size=4, width=4, steps=4, batch_size=4, progress=False)
    a = AnoGAN(**kw).fit(x)
    b = AnoGAN(**kw).fit(x, anomalies=1 - x)
    for name in ("generator_", "discriminator_"):
        sa, sb = getattr(a, name).state_dict(), getattr(b, name).state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert torch.isnan(torch.as_tensor(a.history_["d_anomaly"])).all()
    with pytest.raises(ValueError, match="known anomalies"):
        AnoGAN(**{**kw, "gamma": 0.5}).fit(x)
    c = AnoGAN(**{**kw, "gamma": 0.5}).fit(x, anomalies=1 - x)
    assert not torch.isnan(torch.as_tensor(c.history_["d_anomaly"])).any()


def _terms_from_the_networks(det, x, z):
    """Eqs. 2-4 and the anomaly term recomputed from G and D at ``z``, not from the search's own terms."""
    with torch.no_grad():
        gz = det.generator_(z)
        logit, f_gz = det.discriminator_.logits_and_features(gz)
        residual = (x - gz).abs().flatten(1).sum(1)                                 # eq. 2
        discrimination = (det.discriminator_.features(x) - f_gz).abs().sum(1)        # eq. 3
    lam = det.params_["lam"]
    return (1 - lam) * residual + lam * discrimination, 1 - torch.sigmoid(logit).flatten()   # eq. 4, |1 - D|


def test_score_is_the_papers_weighted_sum(trained):
    """L' = gamma ((1 - lam) L_R + lam L_D) + (1 - gamma) |1 - D(G(z))|; at gamma = 1 it is L_Ano."""
    x, det = trained
    res = det.search(x[:4], steps=5)
    l_ano, anomaly = _terms_from_the_networks(det, x[:4], res.z)
    assert torch.allclose(res.score, l_ano, rtol=1e-4)
    assert torch.allclose(res.terms["anomaly"], anomaly, atol=1e-6) and ((anomaly >= 0) & (anomaly <= 1)).all()
    assert res.z.abs().max() <= 1  # kept in the prior's support
    view = det.with_params(gamma=0.25)
    assert view.params_["gamma"] == 0.25 and det.params_["gamma"] == 1.0
    with pytest.raises(ValueError, match="steps"):
        view.search(x[:4], steps=0)
    r2 = view.search(x[:4], z0=torch.zeros(4, 8), steps=1)
    l_ano, anomaly = _terms_from_the_networks(det, x[:4], r2.z)
    assert torch.allclose(r2.score, 0.25 * l_ano + 0.75 * anomaly, rtol=1e-4)


def test_batched_search_equals_one_image_at_a_time(trained):
    x, det = trained
    imgs = torch.cat([x[:3], (x[3:5] + 0.3).clamp(0, 1)])
    z0 = torch.rand(5, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1
    batched = det.search(imgs, z0=z0, steps=25)
    for i in range(5):
        alone = det.search(imgs[i:i + 1], z0=z0[i:i + 1], steps=25)
        assert torch.allclose(alone.score, batched.score[i:i + 1], rtol=1e-3, atol=1e-3)
        assert torch.allclose(alone.z, batched.z[i:i + 1], atol=1e-3)
    # and predict with batch_size=1 is the one-at-a-time search of the same starts
    a, b = det.predict(imgs, seed=3), det.predict(imgs, batch_size=1, seed=3)
    assert torch.allclose(a.scores, b.scores, rtol=1e-3, atol=1e-3)


def test_search_lowers_the_loss_and_restarts_help(trained):
    x, det = trained
    res = det.search(x[:8], steps=40)
    assert (res.curve[-1] < res.curve[0]).float().mean() >= 0.75
    one = det.predict(x[:8], seed=0).scores
    three = det.with_params(restarts=3).predict(x[:8], seed=0).scores
    assert (three <= one + 1e-4).float().mean() >= 0.75  # the best of 3 starts is rarely worse


def test_an_anomalous_image_scores_above_its_normal_counterpart(trained):
    x, det = trained
    test = _smooth(12, seed=7)
    bad = test.clone()
    bad[:, :, 4:10, 5:11] = 1.0  # a bright square no ramp has
    out_good, out_bad = det.predict(test), det.predict(bad)
    assert (out_bad.scores > out_good.scores).all()
    assert inside_over_outside(out_bad.maps, slice(4, 10), slice(5, 11)) > 2  # lights up where the square is
    assert out_bad.maps.shape == (12, 16, 16) and out_bad.extras["z"].shape == (12, 8)


def test_predict_resizes_and_returns_maps_at_input_size(trained):
    _, det = trained
    big = _smooth(3, size=40)
    out = det.predict(big)
    assert out.maps.shape == (3, 40, 40) and out.extras["reconstruction"].shape == (3, 1, 40, 40)
    with pytest.raises(ValueError, match="channels"):
        det.predict(torch.rand(2, 3, 16, 16))


def test_budget_defaults_resolve_in_fit(monkeypatch):
    det = AnoGAN(latent_size=4, width=4)
    monkeypatch.setenv("ANOTUTOR_BUDGET", "ci")
    b = budget()
    p = det.resolve_params()
    assert p["steps"] == STEP_FACTOR * b.steps and p["search_steps"] == b.search_steps
    assert p["image_size"] == b.image_size


@pytest.mark.parametrize("kwargs, field", [
    ({"gamma": 0.0}, "gamma"), ({"gamma": 1.5}, "gamma"), ({"lam": -0.1}, "lam"),
    ({"lam": 1.2}, "lam"), ({"search_steps": 0}, "search_steps"), ({"restarts": 0}, "restarts"),
    ({"latent_size": 0}, "latent_size"), ({"image_size": 30}, "image_size"),
    ({"gamma": float("nan")}, "gamma"),
])
def test_bad_parameters_are_refused(kwargs, field):
    with pytest.raises(ValueError, match=field):
        AnoGAN(**kwargs)


def test_search_views_check_their_settings(trained):
    _, det = trained
    with pytest.raises(ValueError, match="lam"):
        det.with_params(lam=2.0)
    with pytest.raises(ValueError, match="inference settings"):
        det.with_params(width=3)


def test_bad_images_are_refused():
    det = AnoGAN(image_size=16, latent_size=4, width=4, steps=2, batch_size=2, progress=False)
    with pytest.raises(ValueError):
        det.fit(torch.full((4, 1, 16, 16), float("nan")))
    with pytest.raises(ValueError):
        det.fit(torch.rand(4, 1, 16, 16) * 2)
    with pytest.raises(ValueError):
        det.fit(torch.rand(0, 1, 16, 16))
    with pytest.raises(ValueError, match="channels"):
        det.fit(torch.rand(4, 1, 16, 16), anomalies=torch.rand(2, 3, 16, 16))


def test_colour_images_of_another_size_work_end_to_end():
    """A reader's own colour photographs at 40 px: fit at 32 px, maps back at 40 px."""
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(12, 3, 1, 1, generator=g) * 0.5 + 0.2).expand(12, 3, 40, 40).clone()
    det = AnoGAN(image_size=32, latent_size=4, width=4, steps=5, batch_size=4, search_steps=3,
                 progress=False).fit(x)
    out = det.predict(x[:3])
    assert out.maps.shape == (3, 40, 40) and out.extras["reconstruction"].shape == (3, 3, 40, 40)
    assert torch.isfinite(out.scores).all() and (out.maps >= 0).all()
    assert det.generator_(torch.zeros(1, 4)).shape == (1, 3, 32, 32)
