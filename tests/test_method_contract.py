"""The Detector contract, checked on every method of the catalog (generated from ``catalog.METHODS``).

The model is scikit-learn's ``parametrize_with_checks``: each detector of
:data:`anotutor.catalog.METHODS`, built at a tiny size and length,
goes through the same checks, so a method added to the catalog is checked
without a line of test code. ``test_contract.py`` tests the machinery
(checkpoints, budgets, the views) on hand-picked cases.
"""

import copy

import pytest
import torch

from anotutor.methods import Detector
from anotutor.catalog import METHODS
from anotutor.methods.estimator import _REGISTRY
from anotutor.methods.feature_memory import FeatureMemory
from anotutor.methods.params import INFERENCE

NAMES = list(METHODS)
SIZE = 32   # the smallest working size every trained method takes
TINY = {"anogan": {"search_steps": 3}, "noisy-anogan": {"search_steps": 3},
        "patchcore": {"image_size": 64}, "padim": {"image_size": 64, "n_features": 20}}


def _images(n: int, channels: int, seed: int, size: int = 40) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, channels, size, size, generator=g) * 0.4 + 0.3
    return base.clamp(0, 1)


def build(name: str) -> Detector:
    """Method ``name`` at a tiny size, two training steps (where it trains), no progress bars."""
    m = METHODS[name]
    det = m.make(image_size=SIZE, steps=2 if m.trains else None, seed=0, progress=False)
    return det.set_params(**TINY.get(name, {}))


def fit(det: Detector, channels: int = 3, seed: int = 0) -> Detector:
    x = _images(6, channels, seed)
    anomalies = 1 - _images(2, channels, seed + 1) if det.uses_anomalies else None
    return det.fit(x, anomalies=anomalies)


@pytest.fixture(scope="module", params=NAMES)
def fitted(request):
    """``(name, detector fitted on colour images)`` for every method, fitted once per module."""
    return request.param, fit(build(request.param))


def test_every_catalog_entry_is_a_registered_estimator_with_a_full_spec():
    for name, m in METHODS.items():
        assert _REGISTRY[m.cls.__name__] is m.cls
    for cls in _REGISTRY.values():
        if cls._spec:   # every concrete model declares each constructor argument once, with its kind
            assert set(cls._spec) == set(cls.param_names()), cls.__name__


@pytest.mark.parametrize("name", NAMES)
def test_the_constructor_stores_and_learns_nothing(name):
    det = build(name)
    assert not [k for k in vars(det) if k.endswith("_")], "a learned attribute set before fit"
    params = det.get_params()
    clone = det.clone()
    assert type(clone) is type(det) and clone.get_params() == params and clone is not det


@pytest.mark.parametrize("name", NAMES)
def test_fit_returns_self_and_keeps_the_arguments(name):
    det = build(name)
    before = copy.deepcopy(det.get_params())
    assert fit(det) is det
    assert det.get_params() == before            # fit resolves into params_, never into the arguments
    assert det.log_ is not None and det.params_["image_size"] >= SIZE


def test_predictions_have_the_documented_form(fitted):
    name, det = fitted
    x = _images(3, 3, seed=5, size=48)            # another size than the training images
    out = det.predict(x)
    assert out.scores.shape == (3,) and out.maps.shape == (3, 48, 48)
    assert torch.isfinite(out.maps).all() and (out.maps >= 0).all() and torch.isfinite(out.scores).all()
    assert out.ms_per_image > 0


def test_a_checkpoint_round_trip_gives_identical_predictions(fitted, tmp_path):
    name, det = fitted
    x = _images(2, 3, seed=6)
    back = Detector.from_checkpoint(det.save(tmp_path / f"{name}.pt"))
    assert type(back) is type(det) and back.params_ == det.params_
    assert torch.equal(back.predict(x).maps, det.predict(x).maps)


@pytest.mark.parametrize("name", NAMES)
def test_grayscale_works_and_the_channel_count_is_enforced(name):
    det = fit(build(name), channels=1)
    out = det.predict(_images(2, 1, seed=7))
    assert out.maps.shape == (2, 40, 40)
    with pytest.raises(ValueError, match="channels"):
        det.predict(_images(2, 3, seed=7))


@pytest.mark.parametrize("name", NAMES)
def test_the_same_seed_gives_the_same_model_and_the_global_rng_is_untouched(name):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = fit(build(name))
    assert torch.equal(torch.rand(3), expected)
    b = fit(build(name))
    x = _images(2, 3, seed=8)
    assert torch.equal(a.predict(x).maps, b.predict(x).maps)


@pytest.mark.parametrize("bad, field", [
    (torch.full((4, 3, 40, 40), float("nan")), "NaN"),
    (torch.rand(4, 3, 40, 40) * 3, r"\[0, 1\]"),
    (torch.rand(4, 40, 40, 3, 1), "images"),
    (torch.rand(0, 3, 40, 40), "images"),
])
def test_bad_input_is_refused_naming_the_problem_and_a_fitted_model_is_kept(fitted, bad, field):
    name, det = fitted
    x = _images(2, 3, seed=9)
    before = det.predict(x).maps
    with pytest.raises(ValueError, match=field):
        det.fit(bad)
    with pytest.raises(ValueError, match=field):
        det.predict(bad)
    assert torch.equal(det.predict(x).maps, before)


def test_a_fit_that_fails_after_training_leaves_the_fitted_model_as_it_was(fitted, monkeypatch):
    """Training happens on a copy: an error at the last moment (here raised after the method's own
    ``_fit`` has trained its networks) keeps the old weights, settings and predictions."""
    name, det = fitted
    x = _images(2, 3, seed=12)
    before, params = det.predict(x).maps, dict(det.params_)
    own = type(det)._fit

    def trains_then_fails(self, *args, **kwargs):
        own(self, *args, **kwargs)
        raise RuntimeError("disk full")

    monkeypatch.setattr(type(det), "_fit", trains_then_fails)
    with pytest.raises(RuntimeError, match="disk full"):
        fit(det, seed=5)
    monkeypatch.undo()
    assert torch.equal(det.predict(x).maps, before) and det.params_ == params


def test_too_few_images_are_refused_before_anything_trains(fitted):
    name, det = fitted
    least, _ = det._min_train_images
    if least > 1:
        anomalies = _images(2, 3, seed=11) if det.uses_anomalies else None
        with pytest.raises(ValueError, match=f"at least {least} training images"):
            build(name).fit(_images(least - 1, 3, seed=10), anomalies=anomalies)
    if det.uses_anomalies:
        with pytest.raises(ValueError, match="known anomalies"):
            build(name).fit(_images(4, 3, seed=10))


@pytest.mark.parametrize("name", NAMES)
def test_set_params_checks_first_and_changes_nothing_on_error(name):
    det = build(name)
    before = det.get_params()
    with pytest.raises(ValueError, match="no parameter"):
        det.set_params(no_such_setting=1)
    field = next(k for k in ("seed", "image_size") if k in before)
    with pytest.raises(ValueError, match=field):
        det.set_params(**{field: -5})
    assert det.get_params() == before


def test_with_params_gives_a_view_of_the_inference_settings_only(fitted):
    name, det = fitted
    inference = [k for k, p in type(det)._spec.items() if p.kind == INFERENCE]
    with pytest.raises(ValueError, match="inference settings"):
        det.with_params(seed=3)
    for k in inference:
        view = det.with_params(**{k: det.params_[k]})
        assert view is not det and view.params_ == det.params_
        for net in det._networks:
            assert getattr(view, net) is getattr(det, net)   # shared weights, no retraining


def test_the_torch_module_is_the_inference_and_holds_the_learned_state(fitted):
    """``torch_model()`` (issue 40): one ``nn.Module`` per method, images at the working size in,
    ``(scores, maps)`` out, equal to ``predict``; every learned tensor is in its state dict."""
    name, det = fitted
    s = det.params_["image_size"]
    x = _images(3, 3, seed=7, size=s)
    module = det.torch_model()
    assert isinstance(module, torch.nn.Module) and not module.training
    with torch.no_grad():
        torch.manual_seed(0)
        scores, maps = module(x) if module.not_exportable is None else module.explain(
            x, torch.Generator().manual_seed(0))[:2]
    out = det.predict(x, seed=0)
    assert maps.shape == (3, s, s) and scores.shape == (3,)
    torch.testing.assert_close(scores, out.scores, rtol=0, atol=1e-6)
    torch.testing.assert_close(maps.clamp_min(0), out.maps, rtol=0, atol=1e-6)
    assert module.not_exportable is None or len(module.not_exportable) > 20   # a sentence, not a flag
    held = {id(t) for t in module.state_dict(keep_vars=True).values()}
    for net in det._networks:            # the networks' weights are the module's, not copies
        for t in getattr(det, net).state_dict(keep_vars=True).values():
            assert id(t) in held, (name, net)
    if not isinstance(det, FeatureMemory):
        return                           # PNUNet's state holds its training masks, not used in inference
    learned = [v for v in det._get_state().values() if isinstance(v, torch.Tensor) and v.is_floating_point()]
    assert learned
    for v in learned:                    # PatchCore's bank, PaDiM's Gaussians: buffers of the module
        assert any(b.data_ptr() == v.data_ptr() for b in module.buffers()), name
