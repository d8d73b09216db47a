"""PNUNet: the U-Net, noise removal with SSIM, and the self-trained noise masks."""

import pytest
import torch

from anotutor.methods import PNUNet
from anotutor.metrics import pixel_auroc
from anotutor.models import UNet, unet_size_ok
from images import inside_over_outside, ramps as _smooth, square_truth, with_square as _with_square


KW = dict(masks="both", image_size=16, width=4, depth=2, steps=12, batch_size=4, mask_every=4, n_masks=4,
          progress=False)


@pytest.mark.parametrize("size, depth, c", [(16, 2, 1), (32, 3, 3), (24, 3, 3)])
def test_unet_keeps_the_size_and_channels(size, depth, c):
    net = UNet(c, c, width=4, depth=depth).eval()
    with torch.no_grad():
        y = net(torch.rand(2, c, size, size))
    assert y.shape == (2, c, size, size) and 0 <= float(y.min()) and float(y.max()) <= 1
    logits = UNet(c, 1, width=4, depth=depth, out="logits").eval()
    with torch.no_grad():
        assert logits(torch.rand(1, c, size, size)).shape == (1, 1, size, size)


def test_unet_sizes_are_checked():
    assert unet_size_ok(64, 3) == 64
    with pytest.raises(ValueError, match="multiple of"):
        unet_size_ok(20, 3)
    with pytest.raises(ValueError, match="multiples"):
        UNet(1, 1, width=4, depth=3)(torch.rand(1, 1, 20, 20))
    with pytest.raises(ValueError, match="out"):
        UNet(out="tanh")


def test_noise_follows_eqs_2_and_3():
    x = _smooth(6)
    det = PNUNet(**KW).fit(x, anomalies=_with_square(x[:3]))
    g = torch.Generator().manual_seed(0)
    ones, zeros = torch.ones(2, 16, 16), torch.zeros(2, 16, 16)
    det.positive_, det.negative_ = ones, ones       # every pixel "always residual" in normal images
    assert det._noise(x[:2], g).abs().max() == 0    # read: z (1 - m_n) = 0
    det.positive_, det.negative_ = zeros, zeros      # no residual on the known anomalies
    assert det._noise(x[:2], g).abs().max() == 0    # eq. 2: z * m_p = 0
    det.positive_ = ones
    z = det._noise(x[:2], g)
    assert z.abs().max() <= det.params_["amplitude"] and z.abs().max() > 0  # plain uniform noise


def test_printed_eq_3_adds_a_constant():
    x = _smooth(6)
    det = PNUNet(**{**KW, "negative": "printed", "masks": "negative"}).fit(x)
    det.negative_ = torch.zeros(2, 16, 16)
    z = det._noise(x[:2], torch.Generator().manual_seed(0))
    assert torch.allclose(z, torch.ones_like(z))  # 1 - z * 0 = 1 everywhere: why we read it otherwise


def test_masks_are_learned_state_in_0_1_and_recorded():
    x = _smooth(8)
    det = PNUNet(**KW).fit(x, anomalies=_with_square(x[:3]))
    assert det.positive_.shape == (3, 16, 16) and det.negative_.shape == (4, 16, 16)
    for m in (det.positive_, det.negative_):
        assert 0 <= float(m.min()) and float(m.max()) <= 1 + 1e-6
    assert det.mask_history_.shape == (2, 2, 16, 16)  # updates at steps 4 and 8
    none = PNUNet(**{**KW, "masks": "none"}).fit(x)
    assert none.positive_ is None and none.negative_ is None and none.mask_history_.shape[0] == 0


def test_positive_masks_need_anomalies():
    with pytest.raises(ValueError, match="anomalies"):
        PNUNet(**KW).fit(_smooth(4))
    PNUNet(**{**KW, "masks": "negative"}).fit(_smooth(4))  # fine without


def _with_stripe(x: torch.Tensor) -> torch.Tensor:
    """Known anomalies from another generator than the test's squares: a dark stripe at columns 12-13."""
    y = x.clone()
    y[:, :, :, 12:14] = 0.0
    return y


@pytest.mark.parametrize("masks", ["both", "negative"])
def test_a_trained_reconstructor_removes_a_square_it_never_saw(masks):
    """Trained on ramps (with dark stripes as the known anomalies), it localises a bright square: a defect
    of another kind, place and sign. At seeds 0-9 (benchmarks/learned_tests.md) the pixel AUROC was
    0.991 or more and the inside/outside ratio 3.1 or more."""
    x = _smooth(64)
    det = PNUNet(**{**KW, "masks": masks, "steps": 150, "width": 8, "mask_every": 50, "lr": 3e-3}).fit(
        x, anomalies=_with_stripe(_smooth(4, seed=3)) if masks == "both" else None)
    test = _smooth(8, seed=9)
    good, bad = det.predict(test), det.predict(_with_square(test))
    assert (bad.scores > good.scores).all()
    square = slice(4, 10), slice(5, 11)
    assert pixel_auroc(bad.maps, square_truth(bad.maps, *square)) > 0.95
    assert inside_over_outside(bad.maps, *square) > 2
    big = det.predict(torch.nn.functional.interpolate(test, size=(40, 40)).clamp(0, 1))
    assert big.maps.shape == (8, 40, 40)


@pytest.mark.parametrize("kwargs, field", [
    ({"masks": "all"}, "masks"), ({"negative": "other"}, "negative"), ({"amplitude": 0}, "amplitude"),
    ({"image_size": 20, "depth": 3}, "image_size"), ({"depth": 0}, "depth"), ({"smooth": -1}, "smooth"),
    ({"mask_every": 0}, "mask_every"), ({"n_masks": 0}, "n_masks")])
def test_bad_parameters_are_refused(kwargs, field):
    with pytest.raises(ValueError, match=field):
        PNUNet(**kwargs)


class _Half(torch.nn.Module):
    """A known f_r: every pixel rebuilt as 0.5."""

    def forward(self, x):
        return torch.full_like(x, 0.5)


def test_mask_update_is_the_residual_of_a_known_reconstructor():
    """Against an independent reference: torchvision's Gaussian blur (sigma 2, 13 taps) of |x - 0.5|."""
    from torchvision.transforms.functional import gaussian_blur

    x = _smooth(6)
    det = PNUNet(**KW).fit(x, anomalies=_with_square(x[:3]))
    det.model_ = _Half()
    a = _with_square(x[:2])
    r = gaussian_blur((a - 0.5).abs(), [13, 13], [2.0, 2.0])[:, 0]
    expected = r / r.flatten(1).amax(1)[:, None, None]
    masks = det._residual_masks(a)
    assert torch.allclose(masks, expected, atol=1e-6)      # |x - f_r(x)|, smoothed, max 1
    assert float(masks.amax()) == pytest.approx(1.0)


def test_corrupt_shows_the_training_noise_in_range():
    x = _smooth(6)
    det = PNUNet(**KW).fit(x, anomalies=_with_square(x[:3]))
    parts = det.corrupt(x[:3], seed=1)
    assert set(parts) == {"uniform", "positive", "negative", "noise", "noisy"}
    a = det.params_["amplitude"]
    assert parts["uniform"].abs().max() <= a and parts["noise"].abs().max() <= a
    assert torch.allclose(parts["noise"], parts["uniform"] * parts["positive"] * (1 - parts["negative"]))
    assert 0 <= float(parts["noisy"].min()) and float(parts["noisy"].max()) <= 1
    assert torch.equal(det.corrupt(x[:3], seed=1)["noise"], parts["noise"])  # seeded
    big = det.corrupt(torch.rand(2, 1, 40, 40))                              # resized to the working size
    assert big["noisy"].shape == (2, 1, 16, 16)


def test_of_kind_and_on_kinds():
    from anotutor import data
    from anotutor.methods.evaluate import on_kinds
    from anotutor.methods.base import Detection
    ds = data.textures("brick", image_size=16, n_train=4, n_val=4, n_test=20)
    sub = ds.test.of_kind("good", "hole")
    assert set(sub.kinds) <= {"good", "hole"} and len(sub) == len(ds.test.index_of("good", "hole"))
    with pytest.raises(ValueError, match="no images of kind"):
        ds.test.of_kind("dent")
    perfect = Detection(torch.zeros(len(ds.test)), ds.test.masks.clone(), 0.0, {})
    assert on_kinds(perfect, ds.test, ["hole"])["pixel_auroc"] == pytest.approx(1.0)


def test_mix_gives_each_image_one_kind_of_noise():
    x = _smooth(8)
    det = PNUNet(**{**KW, "combine": "mix"}).fit(x, anomalies=_with_square(x[:3]))
    det.positive_ = torch.zeros(2, 16, 16)   # positive noise: none at all
    det.negative_ = torch.zeros(2, 16, 16)   # negative noise: plain z
    parts = det.corrupt(torch.cat([x] * 4), seed=0)
    silent = parts["noise"].flatten(1).abs().amax(1) == 0
    assert 0 < int(silent.sum()) < len(silent)   # some images positive (silent), the others negative
    with pytest.raises(ValueError, match="combine"):
        PNUNet(combine="sum")


def _orbit(pool: torch.Tensor) -> tuple[torch.Tensor, list]:
    """Every roll and flip of every pool mask [K, H, W], with (index, row shift, column shift, flips)."""
    h, w = pool.shape[-2:]
    out, keys = [], []
    for i, m in enumerate(pool):
        for dy in range(h):
            for dx in range(w):
                r = torch.roll(m, (dy, dx), (0, 1))
                for fy in (False, True):
                    for fx in (False, True):
                        f = r.flip(0) if fy else r
                        out.append(f.flip(1) if fx else f)
                        keys.append((i, dy, dx, fy, fx))
    return torch.stack(out), keys


@pytest.mark.parametrize("h,w", [(8, 8), (7, 12), (33, 5)])
def test_drawn_masks_are_rolled_and_flipped_pool_masks(h, w):
    """A property, not the draw's own arithmetic: every drawn mask is one roll and flip of one pool mask,
    and the draws spread over the pool, the shifts and the four flips."""
    pool = torch.rand(5, h, w)
    drawn = PNUNet()._draw(pool, 200, torch.Generator().manual_seed(3))
    orbit, keys = _orbit(pool)
    hits = [torch.nonzero((orbit == d).flatten(1).all(1)).flatten().tolist() for d in drawn]
    assert all(len(k) == 1 for k in hits)                      # each is exactly one transform of the pool
    used = [keys[k[0]] for k in hits]
    assert {u[0] for u in used} == set(range(5)) and {u[3:] for u in used} == {(a, b) for a in (0, 1)
                                                                            for b in (0, 1)}
    assert len({u[1] for u in used}) >= min(h, 5) and len({u[2] for u in used}) >= min(w, 5)
    assert not torch.equal(drawn, PNUNet()._draw(pool, 200, torch.Generator().manual_seed(4)))


@pytest.mark.parametrize("sigma", [2.0, 1.5, 0.7, 4.0])
def test_map_smoothing_is_torchvisions_gaussian_blur(sigma):
    """The package's own blur (torchvision is not imported for it) matches torchvision's, bit for bit at 2 px
    (PNUNet's masks), to float rounding at 4 px (PatchCore's maps, separable)."""
    from torchvision.transforms.functional import gaussian_blur

    from anotutor.methods.scores import smooth_maps as _smooth

    m = torch.rand(3, 40, 33, generator=torch.Generator().manual_seed(0))
    k = 2 * int(round(3 * sigma)) + 1
    ref = gaussian_blur(m[:, None], [k, k], [sigma, sigma])[:, 0]
    if sigma == 2.0:
        assert torch.equal(_smooth(m, sigma), ref)
    torch.testing.assert_close(_smooth(m, sigma), ref, rtol=0, atol=2e-6)   # 4 px: two 1-D passes
    assert torch.equal(_smooth(m, 0.0), m)


def test_aligned_negative_masks_are_each_images_own_residual():
    """negative_source="aligned": the mask of an image is that image's residual under the
    reconstructor of the last update, not a rolled copy of another image's."""
    x = _smooth(8)
    det = PNUNet(**{**KW, "masks": "negative", "negative_source": "aligned"}).fit(x)
    det._mask_net = _Half()
    a = _with_square(x[:3])
    parts = det.corrupt(a, seed=0)
    assert torch.allclose(parts["negative"][:, 0], det._residual_masks(a, _Half()), atol=1e-6)
    assert torch.allclose(parts["noise"], parts["uniform"] * (1 - parts["negative"]))
    # the square's pixels carry the most residual, so they get the least noise
    inside = parts["negative"][:, 0, 4:10, 5:11].mean()
    assert inside > parts["negative"][:, 0].mean()
    with pytest.raises(ValueError, match="negative_source"):
        PNUNet(negative_source="rolled")


def test_the_ablation_variants_include_the_confound_checks():
    from anotutor.protocol import MATCHED_SHARE, PNUNET_VARIANTS as VARIANTS

    assert VARIANTS["negative, aligned"] == {"masks": "negative", "negative_source": "aligned"}
    assert VARIANTS["none, matched"]["amplitude"] == pytest.approx(0.5 * MATCHED_SHARE)
    for kwargs in VARIANTS.values():
        PNUNet(**kwargs)                      # every variant is a valid configuration
