"""Intervals and ties over committed result rows (anotutor.results)."""

import numpy as np
import pytest
import torch

from anotutor import results
from anotutor.methods.base import Detection
from anotutor.data.splits import Split


def _split(n=20, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    masks = torch.zeros(n, size, size)
    masks[n // 2:, 2:5, 2:5] = 1
    labels = (masks.flatten(1).amax(1) > 0).long()
    return Split(torch.rand(n, 1, size, size, generator=g), labels, ["x"] * n, masks)


def _row(split, strength, seed, name):
    g = torch.Generator().manual_seed(100 + seed)
    maps = torch.rand(split.masks.shape, generator=g) + strength * split.masks
    det = Detection(maps.flatten(1).amax(1), maps, 1.0, {})
    from anotutor import metrics
    return {"name": name, "texture": "t", "seed": seed, "pixel_auroc": metrics.pixel_auroc(maps, split.masks),
            "image_auroc": metrics.image_auroc(det.scores, split.labels), **results.replicates(det, split)}


def test_an_interval_holds_its_mean_and_a_clear_gap_is_no_tie():
    split = _split()
    strong = [_row(split, 0.8, s, "strong") for s in range(3)]
    weak = [_row(split, 0.1, s, "weak") for s in range(3)]
    same = [_row(split, 0.8, s + 10, "again") for s in range(3)]
    for rows in (strong, weak):
        iv = results.interval(rows)
        assert iv.low < iv.estimate < iv.high
        assert iv.estimate == pytest.approx(np.mean([r["pixel_auroc"] for r in rows]))
    gap = results.difference(strong, weak)
    assert not gap.tie and gap.low > 0
    for a, b in zip(same, strong):  # paired by texture and seed: give them the same keys
        a["seed"] = b["seed"]
    assert results.difference(same, strong).tie   # the same detector drawn twice: a tie
    assert len(strong[0]["pixel_auroc_boot"]) == 300 and "image_auroc_boot" in strong[0]
    assert "[" in str(results.interval(strong))
    table = results.intervals(strong + weak, ["pixel_auroc", "image_auroc"])
    assert table.shape == (2, 2) and table.iloc[0, 0].count("[") == 1


def test_interval_errors_name_the_fix():
    split = _split()
    rows = [_row(split, 0.5, 0, "a")]
    with pytest.raises(ValueError, match="two seeds or more"):   # one seed, no replicates: no interval
        results.interval([{k: v for k, v in rows[0].items() if k != "pixel_auroc_boot"}])
    two = [_row(split, 0.5, s, "a") for s in range(2)]
    with pytest.raises(ValueError, match="rerun their benchmark"):   # replicates on some rows only
        results.interval([two[0], {k: v for k, v in two[1].items() if k != "pixel_auroc_boot"}])
    with pytest.raises(ValueError, match="paired by texture and seed"):
        results.difference(rows, [{**rows[0], "seed": 5}])
    with pytest.raises(ValueError, match="no rows"):
        results.interval([])
    with pytest.raises(ValueError, match="Interval"):
        results.verdict(0.1)


def test_without_replicates_the_rule_keeps_the_seeds_part():
    a = [{"texture": "t", "seed": s, "f1": v} for s, v in enumerate([0.90, 0.92, 0.94])]
    b = [{"texture": "t", "seed": s, "f1": v} for s, v in enumerate([0.80, 0.83, 0.83])]
    d = results.difference(a, b, "f1")
    # differences 0.10, 0.09, 0.11: mean 0.10, sd 0.01, 1.96 standard errors on each side
    assert d.estimate == pytest.approx(0.10)
    assert d.high - d.estimate == pytest.approx(results.Z95 * 0.01 / np.sqrt(3), rel=1e-6)
    assert not d.tie and results.difference(a, a, "f1").tie
    assert results.verdict(d) == "better" and results.verdict(results.difference(b, a, "f1")) == "worse"
    assert results.verdict(results.difference(a, a, "f1"), tie="level") == "level"
    c = [{"texture": "t", "seed": s, "f1": v} for s, v in enumerate([0.70, 0.99, 0.80])]
    assert results.difference(c, b, "f1").tie     # a seed spread wider than the gap: a tie
    with pytest.raises(ValueError, match="two seeds or more"):
        results.difference(a[:1], b[:1], "f1")


def test_a_live_detection_scores_as_a_one_seed_row():
    split = _split()
    g = torch.Generator().manual_seed(3)
    maps = torch.rand(split.masks.shape, generator=g) + 0.6 * split.masks
    row = results.scored(Detection(maps.flatten(1).amax(1), maps, 1.0, {}), split, name="x")
    iv = results.interval([row])
    assert row["name"] == "x" and iv.low < row["pixel_auroc"] < iv.high and iv.estimate == row["pixel_auroc"]
    assert results.difference([row], [row]).tie


def test_words_for_intervals_and_verdicts():
    gap = results.Interval(0.0391, 0.0084, 0.0726)
    assert gap.signed == "+0.039 [+0.008, +0.073]"
    assert results.Interval(-0.01, -0.02, 0.001).signed == "-0.010 [-0.020, +0.001]"
    assert results.joined(["a"]) == "a" and results.joined("ab") == "a and b"
    assert results.joined(["a", "b", "c"]) == "a, b and c"
    with pytest.raises(ValueError, match="at least one"):
        results.joined([])
    words = {"brick": "above", "grass": "level with", "gravel": "level with"}
    assert results.grouped(words, "on", "the floor") == \
        "above the floor on brick, level with it on grass and gravel"
    assert results.grouped(words, "on") == "above on brick, level with on grass and gravel"
