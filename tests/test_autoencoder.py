import pytest
import torch

from anotutor.methods import AutoEncoderDetector, NotFittedError
from anotutor.models.autoencoder import ConvAutoEncoder, supported_size


@pytest.mark.parametrize("size", [32, 48, 64, 128, 256])
@pytest.mark.parametrize("latent", [1, 8, 500])
def test_shapes(size, latent):
    m = ConvAutoEncoder(size, 1, latent).eval()
    x = torch.rand(2, 1, size, size)
    assert m.encode(x).shape == (2, latent, 1, 1)
    y = m(x)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1


def test_deep_part_follows_table_1_and_decoder_mirrors_it():
    rows = ConvAutoEncoder(256, 3, 500).layer_table()
    convs = [(r["in"], r["out"], r["kernel"], r["stride"]) for r in rows
             if r["part"] == "encoder" and r["layer"] == "Conv2d"]
    assert convs == [(3, 3, 4, 2), (3, 32, 4, 2), (32, 32, 4, 2), (32, 32, 3, 1), (32, 64, 4, 2),
                     (64, 64, 3, 1), (64, 128, 4, 2), (128, 64, 3, 1), (64, 32, 3, 1), (32, 500, 8, 1)]
    deconvs = [(r["in"], r["out"], r["kernel"], r["stride"]) for r in rows if r["layer"] == "ConvTranspose2d"]
    table2 = [(500, 32, 8, 1), (32, 64, 3, 1), (64, 128, 3, 1), (128, 64, 4, 2), (64, 64, 3, 1), (64, 32, 4, 2),
              (64, 128, 4, 2), (128, 64, 3, 1), (64, 32, 4, 2),  # rows 7 to 9: a repeated block
              (32, 32, 3, 1), (32, 32, 4, 2), (32, 3, 4, 2), (3, 3, 4, 2)]
    assert deconvs == table2[:6] + table2[9:]  # Table 2 without rows 7 to 9
    kinds = [r["layer"] for r in rows if r["part"] == "decoder"]
    # like Table 2: BatchNorm and LeakyReLU after the 32 -> 3 layer, none between the last layer and the sigmoid
    assert kinds[-5:] == ["ConvTranspose2d", "BatchNorm2d", "LeakyReLU", "ConvTranspose2d", "Sigmoid"]
    assert rows[-1]["output"] == "3x256x256"


def test_unsupported_sizes():
    assert supported_size(64) == 3 and supported_size(48) == 3
    for bad in (16, 100, 144, 31):
        with pytest.raises(ValueError, match="image_size"):
            supported_size(bad)


def test_constructor_errors():
    with pytest.raises(ValueError, match="latent_size"):
        AutoEncoderDetector(latent_size=0)
    with pytest.raises(ValueError, match="loss"):
        AutoEncoderDetector(loss="l1")
    with pytest.raises(ValueError, match="image_size"):
        AutoEncoderDetector(image_size=100)


@pytest.fixture(scope="module")
def fitted():
    torch.manual_seed(0)
    x = torch.rand(12, 1, 40, 40) * 0.2 + 0.4  # other size than the working one
    return AutoEncoderDetector(image_size=32, latent_size=16, steps=40, batch_size=8, progress=False).fit(x)


def test_short_fit_lowers_the_loss(fitted):
    h = fitted.history_["loss"]
    assert len(h) == 40 and h[-5:].mean() < h[:5].mean()
    assert fitted.log_.settings["steps"] == 40 and fitted.log_.fit_seconds > 0


def test_predict_contract(fitted):
    x = torch.rand(3, 1, 40, 40) * 0.2 + 0.4
    out = fitted.predict(x)
    assert out.scores.shape == (3,) and out.maps.shape == (3, 40, 40)
    assert out.extras["reconstruction"].shape == x.shape
    assert out.maps.min() >= 0 and out.maps.max() <= 1 and out.ms_per_image > 0
    assert out.masks(0.5).shape == (3, 40, 40)
    with pytest.raises(ValueError, match="tau"):
        out.masks(-0.1)
    # a bright square is an anomaly the residual finds
    y = x.clone()
    y[:, :, 10:20, 10:20] = 1.0
    out2 = fitted.predict(y)
    assert (out2.maps[:, 10:20, 10:20].mean() > 2 * out2.maps[:, 25:, 25:].mean())
    assert (out2.scores > out.scores).all()


def test_bad_input_is_refused(fitted):
    for bad, msg in [(torch.rand(1, 3, 32, 32), "fitted on 1"), (torch.rand(1, 32, 32), "batch axis"),
                     (torch.rand(1, 1, 32, 32) + 1, r"\[0, 1\]"), (torch.rand(0, 1, 32, 32), "empty"),
                     (torch.full((1, 1, 32, 32), float("nan")), "NaN")]:
        with pytest.raises(ValueError, match=msg):
            fitted.predict(bad)
    with pytest.raises(NotFittedError):
        AutoEncoderDetector().predict(torch.rand(1, 1, 64, 64))
    with pytest.raises(ValueError, match="at least 2"):
        AutoEncoderDetector(image_size=32, steps=1, progress=False).fit(torch.rand(1, 1, 32, 32))


def test_colour_fit():
    x = torch.rand(4, 3, 32, 32)
    det = AutoEncoderDetector(image_size=32, latent_size=4, steps=2, batch_size=4, progress=False).fit(x)
    assert det.predict(x).maps.shape == (4, 32, 32)


def test_save_load_round_trip(fitted, tmp_path):
    x = torch.rand(2, 1, 40, 40)
    path = fitted.save(tmp_path / "ae.pt")
    twin = AutoEncoderDetector(image_size=32, latent_size=16, progress=False).load(path)
    assert torch.equal(twin.predict(x).maps, fitted.predict(x).maps)
    assert twin.log_.settings == fitted.log_.settings and twin.history_["loss"].shape == (40,)
    other = AutoEncoderDetector(image_size=32, latent_size=8, progress=False)
    with pytest.raises(ValueError, match="latent_size: checkpoint 16 vs this AutoEncoderDetector 8"):
        other.load(path)


def test_keep_zeroes_the_tail_of_the_latent():
    m = ConvAutoEncoder(32, 1, 16)
    with torch.no_grad():  # give BatchNorm running statistics that are not the identity
        for _ in range(30):
            m(torch.rand(8, 1, 32, 32) ** 3)
    m.eval()
    x = torch.rand(3, 1, 32, 32) ** 3
    full, four = m(x), m(x, 4)
    assert not torch.allclose(full, four)
    # keeping 4 numbers is the same as zeroing the other 12 by hand
    z = m.encode(x).clone()
    z[:, 4:] = 0
    assert torch.allclose(four, m.decoder(z), atol=1e-6)
    per_image = m(x, torch.tensor([4, 16, 4]))
    assert torch.allclose(per_image[0], four[0], atol=1e-6) and torch.allclose(per_image[1], full[1], atol=1e-6)


def test_nested_latents_train_in_one_run_and_are_chosen_by_a_view(tmp_path):
    x = torch.rand(12, 1, 32, 32)
    det = AutoEncoderDetector(image_size=32, latent_size=16, nested=[8, 2], steps=30, batch_size=6,
                              progress=False).fit(x)
    assert det.nested == [8, 2] and det.params_["nested"] == (2, 8)  # stored as given, used sorted
    small, full = det.with_params(latent=2), det.with_params(latent=16)
    assert small.model_ is det.model_  # a view: no copy of the weights
    a, b = small.predict(x[:2]).maps, full.predict(x[:2]).maps
    assert not torch.allclose(a, b) and torch.allclose(b, det.predict(x[:2]).maps)
    with pytest.raises(ValueError, match="not trained"):
        det.with_params(latent=4)
    with pytest.raises(ValueError, match="nested"):
        AutoEncoderDetector(latent_size=16, nested=[16])
    path = det.save(tmp_path / "nested.pt")
    with pytest.raises(ValueError, match="nested"):
        AutoEncoderDetector(image_size=32, latent_size=16, nested=[8], steps=30, batch_size=6).load(path)
    # the view is part of the saved state: a 2-latent view reloads as a 2-latent view
    back = AutoEncoderDetector.from_checkpoint(small.save(tmp_path / "small.pt"))
    assert back.latent_in_use == 2 and torch.equal(back.predict(x[:2]).maps, a)
    # a checkpoint written before latent was a setting (the view's size in its state) loads as that view
    ckpt = torch.load(full.save(tmp_path / "old.pt"), weights_only=True)
    ckpt["state"], ckpt["settings"] = {"keep": 2}, {k: v for k, v in ckpt["settings"].items() if k != "latent"}
    torch.save(ckpt, tmp_path / "old.pt")
    old = AutoEncoderDetector.from_checkpoint(tmp_path / "old.pt")
    assert old.latent_in_use == 2 and torch.equal(old.predict(x[:2]).maps, a)
    with pytest.raises(ValueError, match="not trained"):
        AutoEncoderDetector(latent_size=16, nested=[8], latent=4)
