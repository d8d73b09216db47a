"""The shipped checkpoints: each fits its recipe and this package version, and a stale one is retrained."""

import pytest
import torch

from anotutor import __version__, contamination as C, pretrained as P
from anotutor.data import mnist_setup
from anotutor import protocol as E
from anotutor.methods import AnoGAN


def test_every_recipe_has_a_shipped_checkpoint_of_this_version():
    missing = {name: P._matches(P.WEIGHTS / f"{name}.pt", r) for name, r in P.RECIPES.items()}
    stale = {k: v for k, v in missing.items() if v is not None}
    assert not stale, f"run `make weights`: {stale}"


def test_shipped_checkpoints_are_small():
    sizes = {p.name: p.stat().st_size for p in P.WEIGHTS.glob("*.pt")}
    assert sizes and max(sizes.values()) < 6_000_000 and sum(sizes.values()) < 40_000_000, sizes


def test_half_precision_checkpoint_loads_as_float32_within_rounding(tmp_path):
    x = torch.rand(8, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    det = _tiny_ae().fit(x)
    full, half = det.save(tmp_path / "full.pt"), det.save(tmp_path / "half.pt", half=True)
    assert half.stat().st_size < 0.7 * full.stat().st_size
    back = type(det).from_checkpoint(half)
    for k, v in back.model_.state_dict().items():
        w = det.model_.state_dict()[k]
        assert v.dtype == w.dtype
        if w.is_floating_point():
            assert torch.allclose(v, w, rtol=2 ** -10, atol=1e-7), k


def _tiny():
    x = torch.rand(8, 1, 16, 16) * 0.5
    return P.Recipe("tiny", lambda: (None, x, None),
                    dict(image_size=16, latent_size=4, width=4, steps=3, batch_size=4, progress=False))


def test_load_recipe_uses_a_matching_file_and_retrains_a_stale_one(tmp_path):
    recipe = _tiny()
    with pytest.warns(UserWarning, match="training 'tiny' live"):
        det = P.load_recipe(recipe, weights=tmp_path)
    with pytest.raises(FileNotFoundError, match="make weights"):
        P.load_recipe(recipe, train_if_missing=False, weights=tmp_path)
    det.save(tmp_path / "tiny.pt")
    back = P.load_recipe(recipe, train_if_missing=False, weights=tmp_path)
    x = torch.rand(2, 1, 16, 16)
    assert torch.equal(back.predict(x).scores, det.predict(x).scores)
    # another recipe under the same name (more steps) does not take the file
    other = P.Recipe("tiny", recipe.data, {**recipe.params, "steps": 4})
    assert "steps" in P._matches(tmp_path / "tiny.pt", other)
    # a checkpoint of another package version is not used
    ckpt = torch.load(tmp_path / "tiny.pt", weights_only=True)
    ckpt["package"] = "0.0.0"
    torch.save(ckpt, tmp_path / "tiny.pt")
    assert "0.0.0" in P._matches(tmp_path / "tiny.pt", recipe) and __version__ in P._matches(
        tmp_path / "tiny.pt", recipe)
    (tmp_path / "tiny.pt").write_bytes(b"not a checkpoint")
    assert "cannot read" in P._matches(tmp_path / "tiny.pt", recipe)


def test_recipes_are_known_and_set_ups_checked():
    with pytest.raises(ValueError, match="no recipe"):
        P.load("mnist9-nothing")
    with pytest.raises(ValueError, match="setup"):
        mnist_setup(0, 0.1, "unknown")
    ds, x, a = mnist_setup(0, 0.1, "told")
    assert a is not None and len(x) + len(a) == len(ds.train)
    ds, x, a = mnist_setup(0, 0.1, "paper")
    assert len(x) == len(ds.train) and torch.equal(a, ds.anomalies.images)
    assert isinstance(P.RECIPES["irmnist-noisy"].detector(), AnoGAN)
    # the class nobody labelled: its known anomalies are gone, its contamination stays
    ds6, x6, a6 = mnist_setup(0, 0.1, "paper", leave_out=6)
    assert len(a6) == len(a) - len(ds.anomalies.of_kind("digit_6")) and torch.equal(x6, x)
    assert "digit_6" in ds6.train.kinds
    for bad in (dict(setup="blind", leave_out=6), dict(setup="paper", leave_out=0)):
        with pytest.raises(ValueError, match="leave_out"):
            mnist_setup(0, 0.1, **bad)


def test_mnist_names_and_the_shared_test_digits():
    from anotutor import pretrained as P

    assert E.mnist_name(5, "blind") == "mnist5-eps0.1-blind-gamma1"
    assert E.mnist_name(0, "paper") == "mnist0-eps0.1-paper-gamma0.1"
    assert all(E.mnist_name(c, s) in P.RECIPES for c in E.MNIST_CLASSES for s in E.SETUPS)
    with pytest.raises(ValueError, match="setup must be one of"):
        E.mnist_name(0, "dirty")
    test = C.mnist_test(6)
    counts = test.counts()
    assert counts.pop("good") == 100 and set(counts.values()) == {11} and len(counts) == 9


def test_contamination_reuses_given_predictions_and_checks_their_length():
    from types import SimpleNamespace

    test = C.mnist_test(0)
    y = test.labels.numpy().astype(float)
    given = {E.mnist_name(0, s): SimpleNamespace(scores=y if s != "blind" else -y) for s in E.SETUPS}
    table = C.contamination(classes=(0,), detections=given)    # nothing loaded or run
    assert C.contamination(classes=(0,), detections=given, tests={0: test}) == table
    assert table == {0: {"clean": 1.0, "blind": 0.0, "told": 1.0, "paper": 1.0}}
    given[E.mnist_name(0, "told")] = SimpleNamespace(scores=y[:-1])
    with pytest.raises(ValueError, match="has 198 scores"):
        C.contamination(classes=(0,), detections=given)


def _tiny_ae(**kw):
    from anotutor.methods import AutoEncoderDetector
    return AutoEncoderDetector(**{"image_size": 32, "latent_size": 4, "steps": 3, "batch_size": 4,
                                  "progress": False, **kw})


def test_fitted_uses_a_file_only_when_it_is_this_very_fit(tmp_path):
    x = torch.rand(8, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    with pytest.warns(UserWarning, match="training 'ae' live"):
        det = P.fitted(_tiny_ae(), x, name="ae", weights=tmp_path)
    assert det.log_.data_hash == P.data_hash(x)
    det.save(tmp_path / "ae.pt")
    back = P.fitted(_tiny_ae(), x, name="ae", weights=tmp_path)   # no warning: loaded
    probe = torch.rand(2, 1, 32, 32)
    assert torch.equal(back.predict(probe).scores, det.predict(probe).scores)
    assert back.log_.fit_seconds == det.log_.fit_seconds
    # other data, other parameters, another class: trained live, and the warning says why
    for why, make, data in [("other data", _tiny_ae, x.flip(0)),
                            ("other steps", lambda: _tiny_ae(steps=4), x),
                            ("not a AutoEncoderDetector", lambda: AnoGAN(
                                image_size=32, latent_size=4, width=4, steps=2, batch_size=4,
                                progress=False), x)]:
        with pytest.warns(UserWarning, match=why.replace("not a ", "")):
            P.fitted(make(), data, name="ae", weights=tmp_path)
    assert P.data_hash(x) != P.data_hash(x, x[:1]) != P.data_hash(x[:4])


def test_texture_recipes_follow_the_chapters_settings():
    r = P.RECIPES["brick-pnunet-both"]
    assert r.params["masks"] == "both" and r.detector().get_params()["width"] == 8
    assert {"brick-ae-l2", "brick-ae-ssim", "brick-two-stage-both"} <= set(P.TEXTURE_RECIPES)
