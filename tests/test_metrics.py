import numpy as np
import pytest
import torch
from skimage.measure import label as sk_label
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

from anotutor import metrics


def random_case(rng, n=4, size=8, levels=5):
    """Maps with many ties (few distinct values) and masks with several regions."""
    maps = rng.integers(0, levels, size=(n, size, size)) / (levels - 1)
    masks = np.zeros((n, size, size))
    for i in range(n - 1):  # the last image stays normal
        for _ in range(rng.integers(1, 3)):
            y, x = rng.integers(0, size - 2, size=2)
            h, w = rng.integers(1, 4, size=2)
            masks[i, y:y + h, x:x + w] = 1
    maps = np.clip(maps + 0.3 * masks * rng.random(masks.shape), 0, None)
    return maps, masks


def brute_aupro(maps, masks, limit=0.3):
    """Reference: threshold at every distinct value, regions by scikit-image."""
    regions = []
    for i in range(masks.shape[0]):
        lab = sk_label(masks[i].astype(int), connectivity=2)
        regions += [(i, lab == r) for r in range(1, lab.max() + 1)]
    normal = masks == 0
    points = [(0.0, 0.0)]
    for t in np.unique(maps)[::-1]:
        pred = maps >= t
        fpr = (pred & normal).sum() / normal.sum()
        pro = np.mean([(pred[i] & r).sum() / r.sum() for i, r in regions])
        points.append((fpr, pro))
    x, y = map(np.array, zip(*points))
    area, prev = 0.0, (0.0, 0.0)
    for xi, yi in zip(x[1:], y[1:]):
        if xi > limit:
            y_at = prev[1] + (yi - prev[1]) * (limit - prev[0]) / (xi - prev[0])
            area += (limit - prev[0]) * (prev[1] + y_at) / 2
            return area / limit
        area += (xi - prev[0]) * (prev[1] + yi) / 2
        prev = (xi, yi)
    return area / limit


@pytest.mark.parametrize("seed", range(12))
def test_auroc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 60)
    y[:2] = [0, 1]
    s = rng.integers(0, 6, 60).astype(float)  # heavy ties
    assert metrics.auroc(s, y) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    fpr, tpr, _ = metrics.roc_curve(s, y)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_pixel_and_image_auroc():
    rng = np.random.default_rng(0)
    maps, masks = random_case(rng)
    assert metrics.pixel_auroc(torch.tensor(maps), torch.tensor(masks)) == pytest.approx(
        roc_auc_score(masks.ravel(), maps.ravel()), abs=1e-12)
    assert metrics.image_auroc([0.1, 0.9, 0.4], [0, 1, 0]) == 1.0
    assert metrics.image_auroc([0.9, 0.1], [0, 1]) == 0.0


@pytest.mark.parametrize("seed", range(15))
def test_aupro_matches_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    maps, masks = random_case(rng, levels=int(rng.integers(2, 9)))
    for limit in (0.3, 0.05, 1.0):
        assert metrics.aupro(maps, masks, limit) == pytest.approx(brute_aupro(maps, masks, limit), abs=1e-9)


def test_aupro_perfect_and_region_weighting():
    masks = np.zeros((1, 10, 10))
    masks[0, 0:2, 0:2] = 1  # small region
    masks[0, 5:10, 5:10] = 1  # large region
    assert metrics.aupro(masks * 1.0, masks) == pytest.approx(1.0)
    # detecting only the large region gives PRO 0.5 at FPR 0, whatever the pixel counts; the next
    # (last) threshold takes everything, a straight line to (1, 1): PRO(0.3) = 0.65, area/0.3 = 0.575
    maps = np.zeros((1, 10, 10))
    maps[0, 5:10, 5:10] = 1
    assert metrics.aupro(maps, masks) == pytest.approx((0.5 + 0.65) / 2)


@pytest.mark.parametrize("seed", range(8))
def test_precision_recall_f1_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 50)
    s = rng.random(50)
    tau = float(rng.random())
    p, r, f, _ = precision_recall_fscore_support(y, s >= tau, average="binary", zero_division=0)
    out = metrics.precision_recall_f1(s, y, tau)
    assert (out.precision, out.recall, out.f1) == pytest.approx((p, r, f))


@pytest.mark.parametrize("seed", range(8))
def test_best_f1_is_the_maximum_over_thresholds(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 40)
    y[0] = 1
    s = rng.integers(0, 8, 40).astype(float)
    best = metrics.best_f1(s, y)
    brute = max(metrics.precision_recall_f1(s, y, t).f1 for t in np.unique(s))
    assert best.f1 == pytest.approx(brute)
    assert metrics.precision_recall_f1(s, y, best.tau).f1 == pytest.approx(best.f1)


def test_metric_errors():
    with pytest.raises(ValueError, match="both normal and anomalous"):
        metrics.auroc([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="has 3 entries"):
        metrics.auroc([0.1, 0.2], [1, 0, 1])
    with pytest.raises(ValueError, match="NaN"):
        metrics.auroc([0.1, float("nan")], [1, 0])
    with pytest.raises(ValueError, match="binary"):
        metrics.pixel_auroc(np.zeros((1, 2, 2)), np.full((1, 2, 2), 0.5))
    with pytest.raises(ValueError, match="anomalous regions"):
        metrics.aupro(np.zeros((1, 4, 4)), np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match="fpr_limit"):
        metrics.aupro(np.zeros((1, 4, 4)), np.ones((1, 4, 4)), fpr_limit=0)
    with pytest.raises(ValueError, match="tau"):
        metrics.precision_recall_f1([0.1, 0.2], [0, 1], float("nan"))
    with pytest.raises(ValueError, match="shapes must match"):
        metrics.pixel_auroc(np.zeros((1, 4, 4)), np.zeros((1, 2, 2)))


def test_prf_curve_equals_one_threshold_at_a_time():
    rng = np.random.default_rng(3)
    maps, masks = random_case(rng, n=5, size=10)
    taus = np.r_[np.unique(maps), -1.0, 0.55, 2.0]
    p, r, f = metrics.prf_curve(maps, masks, taus)
    for k, t in enumerate(taus):
        one = metrics.precision_recall_f1(maps, masks, t)
        assert (p[k], r[k], f[k]) == pytest.approx((one.precision, one.recall, one.f1), abs=1e-12)
    assert p[-1] == 0.0 and r[-1] == 0.0  # nothing predicted above every score
    with pytest.raises(ValueError, match="taus"):
        metrics.prf_curve(maps, masks, [np.nan])


def test_classification_rates_count_each_class():
    from anotutor.metrics import classification_rates
    scores = np.array([0.1, 0.2, 0.6, 0.4, 0.7, 0.9])
    labels = np.array([0, 0, 0, 1, 1, 1])
    r = classification_rates(scores, labels, 0.5)
    assert r.normal == pytest.approx(2 / 3) and r.anomalous == pytest.approx(2 / 3)
    r = classification_rates(scores, labels, 0.4)  # at tau counts as anomalous
    assert r.normal == pytest.approx(2 / 3) and r.anomalous == 1.0
    with pytest.raises(ValueError, match="both"):
        classification_rates(scores[:3], labels[:3], 0.5)
    with pytest.raises(ValueError, match="tau"):
        classification_rates(scores, labels, float("nan"))


def test_balanced_threshold_maximises_the_mean_rate():
    from anotutor.metrics import balanced_threshold, classification_rates
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.normal(0, 1, 50), rng.normal(1.5, 1, 30)])
    labels = np.r_[np.zeros(50), np.ones(30)]
    best = balanced_threshold(scores, labels)
    brute = max((classification_rates(scores, labels, t) for t in np.linspace(-4, 6, 2001)),
                key=lambda r: r.normal + r.anomalous)
    assert best.normal + best.anomalous >= brute.normal + brute.anomalous - 1e-12
    assert 0.5 < (best.normal + best.anomalous) / 2 < 1
    assert balanced_threshold([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]).tau == 0.8  # separable


def test_map_contrast_counts_defect_pixels_and_good_images():
    maps = np.zeros((3, 4, 4))
    masks = np.zeros((3, 4, 4))
    masks[0, :2, :2] = 1            # image 0: a 2x2 defect, drawn at 4; 1 elsewhere
    maps[0] = 1.0
    maps[0, :2, :2] = 4.0
    maps[1] = 0.5                   # image 1: one defect pixel at 2; its other pixels count nowhere
    masks[1, 3, 3] = 1
    maps[1, 3, 3] = 2.0
    maps[2] = 0.25                  # image 2: the only good image
    c = metrics.map_contrast(maps, masks, [1, 1, 0])
    assert c.inside == pytest.approx((4 * 4.0 + 2.0) / 5)
    assert c.good == pytest.approx(0.25)
    assert c.ratio == pytest.approx(c.inside / 0.25)
    assert metrics.map_contrast(np.ones((3, 4, 4)), masks, [1, 1, 0]).ratio == 1.0   # a flat map
    assert metrics.map_contrast(maps * (masks > 0), masks, [1, 1, 0]).ratio == float("inf")


def test_map_contrast_errors():
    maps, masks = np.ones((2, 4, 4)), np.zeros((2, 4, 4))
    masks[0, 1, 1] = 1
    with pytest.raises(ValueError, match="shapes must match"):
        metrics.map_contrast(maps[:, :3], masks, [1, 0])
    with pytest.raises(ValueError, match="no|at least one defect pixel"):
        metrics.map_contrast(maps, np.zeros_like(masks), [1, 0])
    with pytest.raises(ValueError, match="at least one good image"):
        metrics.map_contrast(maps, masks, [1, 1])
    with pytest.raises(ValueError, match="non-negative"):
        metrics.map_contrast(maps - 2, masks, [1, 0])
    with pytest.raises(ValueError, match="labels has 3 entries"):
        metrics.map_contrast(maps, masks, [1, 0, 0])


@pytest.mark.parametrize("seed", range(5))
def test_average_ranks_are_scipys_rankdata(seed):
    from scipy.stats import rankdata

    rng = np.random.default_rng(seed)
    s = rng.integers(0, 6 + 10 * seed, size=200).astype(float)   # many ties, fewer as seed grows
    np.testing.assert_array_equal(metrics._average_ranks(s), rankdata(s))
    np.testing.assert_array_equal(metrics._average_ranks(np.array([3.0])), [1.0])


def test_confusion_counts_at_a_threshold():
    from anotutor.metrics import confusion

    c = confusion([0.1, 0.5, 0.5, 0.9, 0.2], [0, 0, 1, 1, 1], 0.5)   # at or above tau is flagged
    assert (c.tp, c.fp, c.fn, c.tn, c.tau) == (2, 1, 1, 1, 0.5)
    with pytest.raises(ValueError, match="finite"):
        confusion([0.1, 0.2], [0, 1], float("nan"))


def test_rank_correlation_matches_scipy_and_refuses_what_it_cannot_rank():
    from scipy.stats import spearmanr

    from anotutor.metrics import rank_correlation

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=12), rng.normal(size=12)
    b[3] = b[5]                                   # a tie
    assert rank_correlation(a, b) == pytest.approx(spearmanr(a, b).statistic)
    assert rank_correlation([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert rank_correlation([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="same length"):
        rank_correlation([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="constant"):
        rank_correlation([1, 2, 3], [5, 5, 5])


def test_auroc_interval_contains_the_mean_and_narrows_with_more_items():
    from anotutor.metrics import auroc_interval

    rng = np.random.default_rng(1)

    def run(n):
        y = np.r_[np.zeros(n), np.ones(n)]
        return rng.normal(size=2 * n) + 1.0 * y, y

    small = auroc_interval([run(20), run(20)], n_boot=400)
    big = auroc_interval([run(400), run(400)], n_boot=400)
    for mean, lo, hi in (small, big):
        assert lo < mean < hi
    assert big[2] - big[1] < (small[2] - small[1]) / 2
    # a population AUROC of Phi(1/sqrt 2) = 0.760: the big interval holds it
    assert big[1] < 0.760 < big[2]
    fixed = [run(20)]
    assert auroc_interval(fixed, n_boot=50, seed=3) == auroc_interval(fixed, n_boot=50, seed=3)
    with pytest.raises(ValueError, match="at least one run"):
        auroc_interval([])
    with pytest.raises(ValueError, match="both normal and anomalous"):
        auroc_interval([(np.ones(3), np.zeros(3))])


def test_grouped_replicates_redraw_whole_images_and_pair_detectors():
    from anotutor.metrics import auroc_replicates, image_replicates, pixel_replicates, pixel_auroc

    rng = np.random.default_rng(4)
    s = rng.normal(size=30)
    y = np.r_[np.zeros(15), np.ones(15)]
    # one item per group: the same draws and values as the ungrouped form
    a, ra = auroc_replicates(s + y, y, None, 50, seed=2)
    b, rb = auroc_replicates(s + y, y, np.arange(30) * 7, 50, seed=2)
    assert a == b and np.allclose(ra, rb)
    # pixels grouped by image: the point is the pooled pixel AUROC; each replicate equals the
    # pooled AUROC of an explicit resample of whole images, drawn with the same counts
    masks = torch.zeros(6, 4, 4)
    masks[3:, 1:3, 1:3] = 1
    maps = torch.rand(6, 4, 4, generator=torch.Generator().manual_seed(0)) + 0.5 * masks
    point, reps = pixel_replicates(maps, masks, n_boot=20, seed=5)
    assert point == pixel_auroc(maps, masks)
    draws = np.random.default_rng(5)
    from anotutor.metrics import _resample_counts
    w = np.concatenate([_resample_counts(draws, 3, 20), _resample_counts(draws, 3, 20)], axis=1)
    for k in (0, 7, 19):
        idx = np.repeat(np.r_[3, 4, 5, 0, 1, 2], w[k].astype(int))
        assert reps[k] == pytest.approx(pixel_auroc(maps[idx], masks[idx]))
    # the same test set and seed: the same draws, whatever the scores (paired detectors)
    other = pixel_replicates(maps.roll(1, 0), masks, n_boot=20, seed=5)[1]
    assert not np.allclose(other, reps)
    assert image_replicates(s, y, 20, 1)[1].shape == (20,)
    with pytest.raises(ValueError, match="one integer per score"):
        auroc_replicates(s, y, np.ones(29, dtype=int))
    with pytest.raises(ValueError, match="n_boot"):
        auroc_replicates(s, y, None, 5)
