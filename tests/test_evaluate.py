import pytest
import torch

from anotutor.data.splits import Split
from anotutor.methods import BrightnessFloor, NotFittedError
from anotutor.methods.evaluate import choose_tau, evaluate, per_kind
from anotutor.methods.scores import residual_map, top_fraction_score


def _split(n_good, n_bad, seed, size=32, kinds=("dark", "bright")):
    """Flat gray images; anomalies are squares darker or brighter than the gray (a made-up generator)."""
    g = torch.Generator().manual_seed(seed)
    imgs = 0.5 + 0.02 * torch.randn(n_good + n_bad, 1, size, size, generator=g)
    masks = torch.zeros(n_good + n_bad, size, size)
    names = ["good"] * n_good
    for i in range(n_bad):
        j = n_good + i
        y, x = torch.randint(0, size - 8, (2,), generator=g).tolist()
        kind = kinds[i % len(kinds)]
        imgs[j, :, y:y + 8, x:x + 8] += -0.3 if kind == "dark" else 0.3
        masks[j, y:y + 8, x:x + 8] = 1
        names.append(kind)
    return Split(imgs.clamp(0, 1), torch.tensor([0] * n_good + [1] * n_bad), names, masks)


def test_residual_map_takes_the_largest_channel_difference():
    x = torch.zeros(1, 3, 2, 2)
    r = torch.zeros(1, 3, 2, 2)
    r[0, 1, 0, 0], r[0, 2, 0, 0] = 0.2, -0.7
    assert residual_map(x, r)[0, 0, 0] == pytest.approx(0.7)
    assert residual_map(x, r).shape == (1, 2, 2)


def test_top_fraction_score_is_mean_of_largest_values():
    maps = torch.arange(200.0).reshape(2, 10, 10)
    assert top_fraction_score(maps, 0.05).tolist() == pytest.approx([97.0, 197.0])
    assert top_fraction_score(maps, 0.0).tolist() == [99.0, 199.0]  # at least one value


def test_floor_learns_the_mean_and_finds_bright_and_dark_squares(tmp_path):
    train = _split(20, 0, seed=0).images
    val, test = _split(6, 6, seed=1), _split(6, 6, seed=2)
    det = BrightnessFloor(image_size=32).fit(train)
    assert det.model_.mean.item() == pytest.approx(train.mean().item(), abs=1e-6)
    report, out = evaluate(det, val, test, name="floor")
    assert report.name == "floor" and out.maps.shape == (12, 32, 32)
    assert report.pixel_auroc > 0.99 and report.image_auroc == 1.0
    assert 0.0 < report.tau < 1.0 and report.f1 > 0.9
    # tau comes from validation: the same number as best F1 on the validation maps
    assert report.tau == choose_tau(det.predict(val.images), val).tau
    kinds = per_kind(out, test, report.tau)
    assert set(kinds) == {"dark", "bright"} and all(v.recall > 0.9 for v in kinds.values())
    # save / load round trip gives the same maps
    path = det.save(tmp_path / "floor.pt")
    again = BrightnessFloor(image_size=32).load(path)
    assert torch.equal(again.predict(test.images).maps, out.maps)


def test_evaluate_errors():
    val, test = _split(2, 2, seed=1), _split(2, 2, seed=2)
    with pytest.raises(NotFittedError):
        evaluate(BrightnessFloor(image_size=32), val, test)
    det = BrightnessFloor(image_size=32).fit(val.images)
    with pytest.raises(TypeError, match="Split"):
        evaluate(det, val.images, test)
    empty = Split(torch.zeros(0, 1, 32, 32), torch.zeros(0), [], None)
    with pytest.raises(ValueError, match="empty"):
        evaluate(det, val, empty)
    no_masks = Split(test.images, test.labels, test.kinds, None)
    report, _ = evaluate(det, val, no_masks)  # image-level only
    assert report.pixel_auroc is None and report.tau is None and 0 <= report.image_auroc <= 1
    with pytest.raises(ValueError, match="masks"):
        per_kind(det.predict(test.images), no_masks, 0.5)


def test_image_level_report_without_masks_uses_the_validation_threshold():
    """No masks anywhere: image threshold from validation, test counted at it, pixel fields None."""
    train = _split(20, 0, seed=0).images
    val, test = _split(8, 8, seed=1), _split(10, 6, seed=2)
    strip = [Split(s.images, s.labels, s.kinds, None) for s in (val, test)]
    det = BrightnessFloor(image_size=32).fit(train)
    report, out = evaluate(det, *strip)
    assert report.pixel_auroc is None and report.aupro is None and report.f1 is None
    from anotutor import metrics

    want = metrics.best_f1(det.predict(val.images).scores, val.labels).tau
    assert report.image_tau == want
    flagged = out.scores >= want
    assert report.tp == int((flagged & test.labels.bool()).sum()) and report.tn == int((~flagged & ~test.labels.bool()).sum())
    assert report.tp + report.fp + report.fn + report.tn == len(test)
    assert report.image_f1 == pytest.approx(2 * report.tp / (2 * report.tp + report.fp + report.fn))
    # with masks the image fields are the same numbers: they never look at pixels
    full, _ = evaluate(det, val, test)
    assert (full.image_tau, full.tp, full.fp) == (report.image_tau, report.tp, report.fp)
