"""The catalog of methods and the rules of the comparison (anotutor.catalog, .compare)."""

import numpy as np
import pytest
import torch

from anotutor import data, viz
from anotutor.methods import BrightnessFloor, Detector, TwoStage
from anotutor.catalog import METHODS, make, resolve
from anotutor.compare import MEASURES, plan, run_method
from anotutor.methods.two_stage import design_parameters

from images import ramps, with_square


def test_resolve_names_all_lists_and_errors():
    assert resolve("all") == list(METHODS)
    assert resolve(" floor, pnunet ") == ["floor", "pnunet"]
    assert resolve(["anogan"]) == ["anogan"]
    with pytest.raises(ValueError, match="unknown method \\['svm'\\]; known"):
        resolve("floor,svm")
    with pytest.raises(ValueError, match="named twice"):
        resolve("floor,floor")
    with pytest.raises(ValueError, match="no method named"):
        resolve(" , ")


def test_make_builds_each_method_with_its_chapter_settings():
    for name, m in METHODS.items():
        det = make(name, image_size=32, seed=3, progress=False)
        assert isinstance(det, Detector) and isinstance(det, m.cls)
        for k, v in m.settings.items():
            assert det.get_params()[k] == v
    assert make("noisy-anogan").gamma < 1 and make("anogan").gamma == 1
    assert make("pnunet").masks == "negative"
    ts = make("two-stage", steps=30)
    assert ts.steps == 30 and ts.steps2 is None and ts.resolve_params()["steps2"] == 10   # a third
    assert isinstance(make("floor", steps=5, seed=2), BrightnessFloor)   # nothing to train: ignored
    with pytest.raises(ValueError, match="steps"):
        make("ae-l2", steps=0)


def test_plan_says_why_a_method_cannot_run_before_anything_trains():
    reasons = plan("all", anomalies=None, image_size=36)
    assert "known anomalies" in reasons["noisy-anogan"]
    assert "working size" in reasons["ae-l2"] and "working size" in reasons["pnunet"]
    assert reasons["floor"] is None
    assert all(v is None for k, v in plan("all", data.Split(ramps(2, 32), [1, 1], ["x", "x"]),
                                          image_size=32).items())


@pytest.mark.parametrize("name", [n for n, m in METHODS.items() if not m.own_size])
def test_supports_size_agrees_with_the_constructor(name):
    """Every size the detector accepts builds, and every size it refuses fails to build, with the same
    words; another setting's error is not called a size problem."""
    det = make(name)
    for size in (8, 16, 24, 32, 36, 40, 48, 64, 96, 100, 128):
        why = det.supports_size(size)
        try:
            make(name, image_size=size)
            built = None
        except ValueError as err:
            built = str(err)
        assert (why is None) == (built is None), (name, size, why, built)
        if why is not None:
            assert why == built
    reasons = plan([name], anomalies=data.Split(ramps(2, 32), [1, 1], ["x", "x"]), image_size=32,
                   steps=0)
    assert "working size" not in (reasons[name] or "")


def test_run_method_scores_on_test_with_tau_from_val_and_reports_unseen_kinds():
    normal = ramps(24, 32, seed=0)
    bad = with_square(ramps(12, 32, seed=1))
    masks = torch.zeros(12, 32, 32)
    masks[:, 4:10, 5:11] = 1
    kinds = ["square"] * 6 + ["other"] * 6
    mixed = data.Split(torch.cat([ramps(6, 32, seed=2), bad]), [0] * 6 + [1] * 12, ["good"] * 6 + kinds,
                       torch.cat([torch.zeros(6, 32, 32), masks]))
    val, test = mixed.subset(list(range(0, 18, 2))), mixed.subset(list(range(1, 18, 2)))
    ds = data.AnomalyDataset("ramps", data.Split(normal, [0] * 24, ["good"] * 24), mixed.subset([]), val, test)
    o = run_method("floor", ds, image_size=32, unseen_kinds=["other"])
    assert o.ran and set(MEASURES) <= set(o.row) and o.row["pixel_auroc"] > 0.9
    assert "unseen_pixel_auroc" in o.row and o.detection.maps.shape == (9, 32, 32)
    skipped = run_method("noisy-anogan", ds, image_size=32)
    assert not skipped.ran and skipped.row is None and "known anomalies" in skipped.skipped
    # a detector fitted elsewhere (shipped weights) is scored as it is, not fitted again
    fitted = BrightnessFloor(image_size=32).fit(normal[:4])
    before = {k: v.clone() for k, v in fitted.model_.state_dict().items()}
    given = run_method("floor", ds, detector=fitted)
    assert given.ran and given.detector is fitted
    assert all(torch.equal(v, fitted.model_.state_dict()[k]) for k, v in before.items())
    with pytest.raises(ValueError, match="not the BrightnessFloor"):
        run_method("floor", ds, detector=TwoStage(image_size=32))


def test_design_parameters_count_the_networks_a_fit_builds():
    det = TwoStage(image_size=32, width=4, depth=2, steps=1, steps2=1, progress=False)
    det.fit(ramps(4, 32))
    assert design_parameters(1, 4, 2) == det.stage_parameters()
    assert design_parameters(3, 40, 4)["total"] > 20e6


def test_overlay_pixels_outline_truth_and_threshold():
    img = torch.full((1, 10, 12), 0.5)
    heat = torch.zeros(10, 12)
    heat[2:6, 2:6] = 1.0
    mask = torch.zeros(10, 12)
    mask[5:9, 6:10] = 1
    px = viz.overlay_pixels(img, heat, mask, tau=0.5)
    assert px.shape == (10, 24, 3) and px.dtype == np.uint8
    assert (px[:, :12] == 128).all()                            # the left half is the image
    assert tuple(px[2, 12 + 2]) == (0, 255, 255)               # tau's outline, cyan
    assert tuple(px[8, 12 + 6]) == (255, 26, 26)               # the truth's outline, red
    assert tuple(px[3, 12 + 3]) != (0, 255, 255)               # inside is not outlined
    with pytest.raises(ValueError, match="heat is"):
        viz.overlay_pixels(img, torch.zeros(5, 5))
