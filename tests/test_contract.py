"""The Detector contract: parameters, fit bookkeeping, checkpoints, predictions on any scale."""

import numpy as np
import pytest
import torch
from torch import nn

from anotutor import runtime
from anotutor.data.toy1d import noisy_1d
from anotutor.methods import (GAN1D, AnoGAN, AutoEncoderDetector, BrightnessFloor, Detector,
                              Estimator, NotFittedError, PNUNet, read_checkpoint)
from anotutor.methods.evaluate import evaluate
from anotutor.methods.params import working_size
from anotutor.models.scoring import ScoringModule


class _Latent(Detector):
    """A test detector with an unbounded map and a latent-code extra outside [0, 1].

    Its map is ``scale * |x - mean|`` (so values far above 1), its extra ``z``
    is a [N, 4, 1, 1] code of values in the hundreds, and its inference runs
    a few gradient steps on ``z`` (like a latent search), drawing the start
    from the generator it is given.
    """

    _architecture = ("image_size", "scale")
    _extras_resize: dict[str, str] = {}

    def __init__(self, image_size: int = 16, scale: float = 50.0, seed: int = 0, device=None):
        self.image_size, self.scale, self.seed, self.device = image_size, scale, seed, device

    def _build_networks(self):
        return {"model_": nn.Linear(1, 1)}

    def _fit(self, x, anomalies, g):
        self.model_ = self._build_networks()["model_"]
        with torch.no_grad():
            self.model_.bias.fill_(float(x.mean()))
        return {"loss": np.zeros(3, dtype=np.float32)}

    def _predict(self, x, g):
        m = self.params_["scale"] * (x - self.model_.bias).abs().amax(dim=1)
        z = torch.rand(x.shape[0], 4, 1, 1, generator=g).requires_grad_(True)
        with torch.enable_grad():  # the documented way to get gradients inside predict
            for _ in range(3):
                loss = ((z - 300.0) ** 2).sum()
                (grad,) = torch.autograd.grad(loss, z)
                z = (z - 0.25 * grad).detach().requires_grad_(True)
        return m.flatten(1).amax(1), m, {"z": z.detach()}


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    return torch.rand(10, 1, 24, 24, generator=g) * 0.3 + 0.3


@pytest.fixture(scope="module")
def detectors(images):
    ae = AutoEncoderDetector(image_size=32, latent_size=8, nested=[2], steps=6, batch_size=4,
                             progress=False).fit(images)
    return {"autoencoder": ae, "autoencoder at latent 2": ae.with_params(latent=2),
            "floor": BrightnessFloor(image_size=16).fit(images), "latent": _Latent().fit(images),
            "noisy-anogan": AnoGAN(image_size=16, latent_size=4, width=4, gamma=0.5, steps=3,
                                   batch_size=4, search_steps=3, restarts=2,
                                   progress=False).fit(images, anomalies=1 - images[:3]),
            "pnunet": PNUNet(masks="both", image_size=16, width=4, depth=2, steps=6, batch_size=4, mask_every=2,
                             n_masks=3, progress=False).fit(images, anomalies=1 - images[:3])}


@pytest.mark.parametrize("name", ["autoencoder", "autoencoder at latent 2", "floor", "latent",
                                  "noisy-anogan", "pnunet"])
def test_round_trip_through_from_checkpoint(detectors, images, name, tmp_path):
    det = detectors[name]
    back = type(det).from_checkpoint(det.save(tmp_path / "det.pt"))
    a, b = det.predict(images), back.predict(images)
    assert torch.equal(a.maps, b.maps) and torch.equal(a.scores, b.scores)
    for k in a.extras:
        assert torch.equal(a.extras[k], b.extras[k])
    assert back.params_ == det.params_
    assert back.log_.settings == det.log_.settings
    for k, v in det.history_.items():
        assert np.array_equal(back.history_[k], v)
    # the base class rebuilds whichever detector wrote the file
    assert type(Detector.from_checkpoint(tmp_path / "det.pt")) is type(det)
    if isinstance(det, PNUNet):  # the noise masks are learned state too
        assert torch.equal(back.positive_, det.positive_) and torch.equal(back.negative_, det.negative_)
        assert torch.equal(back.mask_history_, det.mask_history_)


def test_gan1d_round_trip(tmp_path):
    toy = noisy_1d(n_train=200, n_known=20)
    gan = GAN1D(gamma=0.5, steps=20, batch_size=32, progress=False).fit(toy.train, toy.anomalies)
    back = GAN1D.from_checkpoint(gan.save(tmp_path / "gan.pt"))
    assert np.array_equal(back.sample(50, seed=1), gan.sample(50, seed=1))
    assert np.array_equal(back.discriminate(toy.x[:40]), gan.discriminate(toy.x[:40]))
    assert back.gamma == 0.5 and np.array_equal(back.history_["loss_d"], gan.history_["loss_d"])
    assert set(gan.history_) == {"loss_d", "loss_g", "d_real", "d_fake", "d_anomaly"}
    with pytest.raises(ValueError, match="hidden: checkpoint 32 vs this GAN1D 16"):
        GAN1D(hidden=16).load(tmp_path / "gan.pt")
    with pytest.raises(ValueError, match="holds a GAN1D, not a AutoEncoderDetector"):
        AutoEncoderDetector.from_checkpoint(tmp_path / "gan.pt")


def test_params_come_from_the_signature():
    names = AutoEncoderDetector.param_names()
    assert "nested" in names and "device" not in names and "progress" not in names
    assert set(GAN1D.param_names()) == {"gamma", "steps", "batch_size", "lr", "latent_dim", "hidden",
                                        "depth", "seed"}
    assert "depth=2" in repr(GAN1D())  # the old hand-written repr left it out
    det = AutoEncoderDetector(latent_size=7, steps=None)
    assert det.get_params()["steps"] is None and det.steps is None  # stored as given, not resolved


def _small_budgets(monkeypatch):
    small = {"ci": runtime.budget("ci", image_size=32, steps=1, batch_size=4),
             "full": runtime.budget("full", image_size=48, steps=2, batch_size=4)}
    monkeypatch.setattr(runtime, "BUDGETS", {**runtime.BUDGETS, **small})


def test_budget_defaults_resolve_at_fit_time(monkeypatch, images):
    _small_budgets(monkeypatch)
    monkeypatch.setenv("ANOTUTOR_BUDGET", "ci")
    det = AutoEncoderDetector(latent_size=4, progress=False)  # built under ci ...
    monkeypatch.setenv("ANOTUTOR_BUDGET", "full")
    det.fit(images)                                           # ... fitted under full
    assert det.params_["image_size"] == 48 and det.log_.budget == "full"
    assert det.log_.settings["steps"] == 4 * 2 and det.log_.settings["batch_size"] == 4
    assert det.predict(images[:2]).extras["reconstruction"].shape == (2, 1, 24, 24)


def test_a_full_budget_checkpoint_loads_under_ci(monkeypatch, images, tmp_path):
    _small_budgets(monkeypatch)
    monkeypatch.setenv("ANOTUTOR_BUDGET", "full")
    path = AutoEncoderDetector(image_size=32, latent_size=4, progress=False).fit(images).save(tmp_path / "f.pt")
    monkeypatch.setenv("ANOTUTOR_BUDGET", "ci")
    # same architecture, other training settings (steps 8 vs ci's 4): recorded, not compared
    det = AutoEncoderDetector(image_size=32, latent_size=4, steps=3, lr=0.1).load(path)
    assert det.log_.settings["steps"] == 8 and det.log_.budget == "full"
    assert det.log_.settings["lr"] == 0.002 and "full" in det.log_.summary()
    # a changed architecture is refused, naming the field; None takes the checkpoint's
    with pytest.raises(ValueError, match="image_size: checkpoint 32 vs this AutoEncoderDetector 64"):
        AutoEncoderDetector(image_size=64, latent_size=4).load(path)
    assert AutoEncoderDetector(latent_size=4).load(path).params_["image_size"] == 32


def test_fit_leaves_global_random_state_alone(images):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = AutoEncoderDetector(image_size=32, latent_size=4, steps=2, batch_size=4, progress=False).fit(images)
    assert torch.equal(torch.rand(3), expected)
    b = AutoEncoderDetector(image_size=32, latent_size=4, steps=2, batch_size=4, progress=False).fit(images)
    assert torch.equal(a.predict(images).maps, b.predict(images).maps)  # same seed, same model


def test_unbounded_maps_take_any_tau_and_latent_extras_pass_untouched(detectors, images):
    det = detectors["latent"]
    out = det.predict(images)
    assert out.maps.max() > 1.0 and out.maps.min() >= 0
    tau = float(out.maps.median())
    assert tau > 1 and 0 < out.masks(tau).mean() < 1
    z = out.extras["z"]
    assert z.shape == (10, 4, 1, 1)  # not resized to 24 x 24
    assert z.min() > 1.0             # not clamped to [0, 1]: the search moved it towards 300
    # the random start follows predict's seed
    assert torch.equal(det.predict(images, seed=5).extras["z"], det.predict(images, seed=5).extras["z"])
    assert not torch.equal(det.predict(images, seed=5).extras["z"], z)


def test_evaluate_reports_what_the_benchmark_needs(images):
    from anotutor.data import textures
    ds = textures("brick", image_size=32, n_train=12, n_val=8, n_test=8, n_known=2)
    det = BrightnessFloor().fit(ds.train.images)
    report, out = evaluate(det, ds.val, ds.test)
    from anotutor import metrics
    vd = det.predict(ds.val.images)
    assert report.val_pixel_auroc == pytest.approx(metrics.pixel_auroc(vd.maps, ds.val.masks))
    assert report.n_parameters == 1 and report.fit_seconds == det.log_.fit_seconds
    assert report.ms_per_image == pytest.approx(out.ms_per_image)


def _state(det):
    return {k: v.clone() for k, v in det.model_.state_dict().items()}, det.params_, det.log_


def test_a_corrupt_or_foreign_checkpoint_changes_nothing(detectors, images, tmp_path):
    det = AutoEncoderDetector(image_size=32, latent_size=8, steps=3, batch_size=4, progress=False).fit(images)
    before = det.predict(images).maps
    good = det.save(tmp_path / "good.pt")
    raw = good.read_bytes()
    (tmp_path / "cut.pt").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    torch.save({"format": "something else"}, tmp_path / "foreign.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "plain.pt")
    # a checkpoint of the right class whose weights do not fit the architecture it claims
    ckpt = read_checkpoint(good)
    ckpt["networks"]["model_"] = {k: v[..., :1] if v.dim() else v for k, v in ckpt["networks"]["model_"].items()}
    torch.save(ckpt, tmp_path / "bent.pt")
    for name, msg in [("cut.pt", "corrupt, truncated"), ("junk.pt", "corrupt, truncated"),
                      ("foreign.pt", "not an anotutor checkpoint"), ("plain.pt", "not an anotutor checkpoint"),
                      ("bent.pt", "does not fit")]:
        with pytest.raises(ValueError, match=msg):
            det.load(tmp_path / name)
        assert torch.equal(det.predict(images).maps, before), name
    with pytest.raises(FileNotFoundError):
        det.load(tmp_path / "none.pt")
    with pytest.raises(ValueError, match="holds a BrightnessFloor"):
        det.load(detectors["floor"].save(tmp_path / "floor.pt"))
    assert torch.equal(det.predict(images).maps, before)


def test_a_failed_fit_keeps_the_fitted_model(images):
    det = AutoEncoderDetector(image_size=32, latent_size=8, steps=3, batch_size=4, progress=False).fit(images)
    before = det.predict(images).maps
    with pytest.raises(ValueError, match="at least 2"):
        det.fit(images[:1])
    with pytest.raises(ValueError, match="NaN"):
        det.fit(torch.full((3, 1, 8, 8), float("nan")))
    assert torch.equal(det.predict(images).maps, before)


def test_not_fitted_everywhere(tmp_path):
    for det in (AutoEncoderDetector(), BrightnessFloor(), GAN1D()):
        with pytest.raises(NotFittedError):
            det.save(tmp_path / "x.pt")
        with pytest.raises(NotFittedError):
            det.n_parameters()
    with pytest.raises(NotFittedError):
        AutoEncoderDetector().with_params(latent=8)


def test_predict_times_after_a_warm_up(detectors, images):
    det = detectors["latent"]
    calls = []
    original = det._predict

    def counting(x, g):
        calls.append(x.shape[0])
        return original(x, g)

    det._predict = counting
    try:
        out = det.predict(images, batch_size=4)
    finally:
        del det._predict
    assert calls == [1, 4, 4, 2] and out.ms_per_image > 0  # one warm-up image, then the timed batches
    with pytest.raises(ValueError, match="batch_size"):
        det.predict(images, batch_size=0)


def test_estimator_registry_refuses_unrelated_classes(detectors, tmp_path):
    path = detectors["floor"].save(tmp_path / "floor.pt")
    assert isinstance(Estimator.from_checkpoint(path), BrightnessFloor)
    with pytest.raises(ValueError, match="not a GAN1D"):
        GAN1D.from_checkpoint(path)


class _MeanScorer(ScoringModule):
    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(channels))

    def explain(self, x, generator=None):
        m = (x - self.mean[None, :, None, None]).abs().amax(dim=1)
        return m.flatten(1).amax(1), m, {}


class _SixNames(Detector):
    """The base module's example: a detector written with the six names the contract asks for, no more."""

    _spec = {"image_size": working_size()}
    _networks = ("model_",)

    def __init__(self, image_size=32, device=None, progress=True):
        self._store(locals())

    def _build_networks(self):
        return {"model_": _MeanScorer(self.channels_)}

    def _fit(self, x, anomalies, generator):
        self.model_ = self._build_networks()["model_"].to(self.device_)
        self.model_.mean.copy_(x.mean(dim=(0, 2, 3)))
        return {}

    def _module(self):
        return self.model_


def test_a_detector_of_six_names_gets_the_whole_contract(tmp_path, images):
    det = _SixNames(image_size=16).fit(images)
    out = det.predict(images[:3])
    assert out.scores.shape == (3,) and out.maps.shape == (3, 24, 24)      # maps at the input's size
    scores, maps = det.torch_model()(det._resize(images[:3]))               # the module alone, at 16 px
    assert maps.shape == (3, 16, 16) and torch.equal(scores, det._predict(det._resize(images[:3]), None)[0])
    back = Detector.from_checkpoint(det.save(tmp_path / "six.pt"))
    assert isinstance(back, _SixNames) and torch.equal(back.predict(images[:3]).maps, out.maps)
    with pytest.raises(ValueError, match="another architecture"):
        _SixNames(image_size=8).load(tmp_path / "six.pt")
    with pytest.raises(ValueError):
        det.predict(torch.full((1, 1, 24, 24), float("nan")))
    with pytest.raises(NotFittedError):
        _SixNames().predict(images)
