"""``anotutor fit`` then ``anotutor predict`` (anotutor.deploy) on folders made here, and the tau rules."""

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from anotutor.data.splits import Split
from anotutor.methods.base import Detection
from anotutor.methods.thresholds import Thresholds, choose, fpr_threshold
from test_cli import SMALL, _error, _normal, make_folder, run_cli


def _read_csv(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_fit_then_predict_reproduces_run_on_the_same_images(tmp_path, capsys):
    root = make_folder(tmp_path / "data")
    assert run_cli("run", root, "--method", "ae-l2", "--out", tmp_path / "run", *SMALL) == 0
    assert run_cli("fit", root, "--method", "ae-l2", "--out", tmp_path / "model", *SMALL) == 0
    info = json.loads((tmp_path / "model" / "model.json").read_text())
    assert info["thresholds"]["rule"] == "f1-masks" and info["provenance"]["peak_mb"] > 0
    assert len(info["provenance"]["data_hash"]) == 64 and info["image_size"] == 32
    ran = {r["file"]: float(r["score"]) for r in _read_csv(tmp_path / "run" / "scores.csv")}
    files = [root / f for f in ran]
    assert run_cli("predict", tmp_path / "model", *files, "--out", tmp_path / "pred", "--no-progress",
                   "--overlays", "all") == 0
    got = {str(p.relative_to(root)) if p.is_absolute() else p: float(r["score"]) for r, p in
           zip(_read_csv(tmp_path / "pred" / "scores.csv"), files)}
    assert got.keys() == ran.keys()
    assert all(abs(got[k] - ran[k]) <= 1e-5 * max(1.0, abs(ran[k])) for k in ran)
    # overlays at each image's own size (image beside its map): 40 x 96 for the 40 x 48 files
    shots = sorted((tmp_path / "pred" / "overlays").iterdir())
    assert len(shots) == len(files) and Image.open(shots[0]).size == (96, 40)
    rows = _read_csv(tmp_path / "pred" / "scores.csv")
    assert {r["verdict"] for r in rows} <= {"normal", "anomalous"}
    assert all(0 <= float(r["share_over_tau"]) <= 1 for r in rows)
    assert "next: anotutor predict" in capsys.readouterr().err


def test_predict_takes_a_folder_of_mixed_sizes_and_formats(tmp_path):
    root = make_folder(tmp_path / "data", colour=True)
    assert run_cli("fit", root, "--method", "floor", "--out", tmp_path / "model", *SMALL) == 0
    new = tmp_path / "new" / "sub"
    new.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, (h, w), ext in (("a", (30, 70), ".png"), ("b", (64, 64), ".jpg"), ("c", (25, 20), ".bmp")):
        Image.fromarray((_normal(rng, h, w, True) * 255).astype(np.uint8)).save(new / f"{name}{ext}")
    Image.fromarray((_normal(rng, 33, 33, False) * 255).astype(np.uint8)).save(new / "gray.tif")
    assert run_cli("predict", tmp_path / "model", tmp_path / "new", "--out", tmp_path / "p", "--no-progress",
                   "--batch-size", "2", "--overlays", "all") == 0
    rows = _read_csv(tmp_path / "p" / "scores.csv")
    assert len(rows) == 4
    sizes = {p.stem: Image.open(p).size for p in (tmp_path / "p" / "overlays").iterdir()}
    assert sizes == {"a": (140, 30), "b": (128, 64), "c": (40, 25), "gray": (66, 33)}


def test_a_folder_without_defects_sets_tau_at_the_false_alarm_rate(tmp_path):
    root = tmp_path / "normals"
    (root / "train" / "good").mkdir(parents=True)
    rng = np.random.default_rng(2)
    for i in range(20):
        Image.fromarray((_normal(rng, 32, 32, False) * 255).astype(np.uint8)).save(root / "train" / "good" / f"{i}.png")
    assert run_cli("fit", root, "--method", "floor", "--out", tmp_path / "m", "--fpr", "0.25", *SMALL[:2],
                   "--no-progress") == 0
    info = json.loads((tmp_path / "m" / "model.json").read_text())
    t = info["thresholds"]
    assert t["rule"] == "fpr" and t["fpr"] == 0.25 and t["n_normal"] == 4 and t["n_defective"] == 0
    assert info["provenance"]["n_train"] == 16 and "false-alarm" in info["rule"]
    # the held-out normal images: at most a quarter over the image threshold
    held = [root / "train" / "good" / f"{i}.png" for i in range(20)
            if f"train/good/{i}.png" not in info["provenance"]["train_files"]]
    assert len(held) == 4
    assert run_cli("predict", tmp_path / "m", *held, "--out", tmp_path / "p", "--no-progress") == 0
    flagged = [r for r in _read_csv(tmp_path / "p" / "scores.csv") if r["verdict"] == "anomalous"]
    assert len(flagged) <= 1


def test_the_tau_rules_pick_what_they_say():
    rng = np.random.default_rng(0)
    s = rng.normal(size=1000)
    for rate in (0.0, 0.01, 0.1, 0.5):
        tau = fpr_threshold(s, rate)
        assert (s >= tau).mean() <= rate and (s >= np.nextafter(tau, -np.inf) - 1e-9).mean() > rate - 0.002
    assert fpr_threshold([1.0, 1.0, 1.0, 2.0], 0.3) > 1.0   # ties at the cut are all passed
    with pytest.raises(ValueError, match="fpr"):
        fpr_threshold(s, 1.0)
    masks = torch.zeros(6, 4, 4)
    masks[3:, 1:3, 1:3] = 1
    maps = torch.rand(6, 4, 4, generator=torch.Generator().manual_seed(0)) + masks
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    det = Detection(maps.flatten(1).amax(1), maps, 1.0, {})
    with_masks = choose(det, Split(torch.rand(6, 1, 4, 4), labels, ["good"] * 3 + ["x"] * 3, masks))
    assert with_masks.rule == "f1-masks" and with_masks.n_defective == 3
    assert with_masks.pixel == pytest.approx(float(maps[masks > 0].min()))   # the squares stand out: F1 = 1
    no_masks = choose(det, Split(torch.rand(6, 1, 4, 4), labels, ["good"] * 3 + ["x"] * 3))
    assert no_masks.rule == "f1-images" and no_masks.pixel == fpr_threshold(maps[:3], 0.01)
    normals = choose(Detection(det.scores[:3], maps[:3], 1.0, {}),
                     Split(torch.rand(3, 1, 4, 4), labels[:3], ["good"] * 3), fpr=0.4)
    assert normals.rule == "fpr" and (det.scores[:3] >= normals.image).float().mean() <= 0.4
    back = Thresholds.from_dict(normals.to_dict())
    assert back == normals and "false-alarm" in back.describe()


def test_thresholds_travel_in_the_checkpoint(tmp_path):
    from anotutor.methods import BrightnessFloor, Estimator

    det = BrightnessFloor(image_size=16).fit(torch.rand(4, 1, 16, 16))
    det.threshold_ = Thresholds(0.3, 0.2, "fpr", 0.01, 4, 0)
    back = Estimator.from_checkpoint(det.save(tmp_path / "m.pt"))
    assert back.threshold_ == det.threshold_
    det.fit(torch.rand(4, 1, 16, 16))
    assert det.threshold_ is None   # a new fit has no thresholds until they are chosen


def test_predict_logs_an_unreadable_file_goes_on_and_resumes_where_it_stopped(tmp_path, capsys):
    """Issue 41: a bad file among good ones is a row of errors.csv and exit status 3, not a lost run;
    rows are written as they are scored, so --resume scores only what is missing, and refuses a
    folder another model wrote."""
    root = make_folder(tmp_path / "data")
    assert run_cli("fit", root, "--method", "floor", "--out", tmp_path / "model", *SMALL) == 0
    good = sorted((root / "test").rglob("*.png"))
    bad = tmp_path / "in" / "broken.png"
    bad.parent.mkdir()
    bad.write_bytes(b"not an image at all")
    files = good[:3] + [bad] + good[3:6]
    out = tmp_path / "p"
    assert run_cli("predict", tmp_path / "model", *files[:2], "--out", out, "--no-progress",
                   "--overlays", "none", "--workers", "0") == 0
    assert len(_read_csv(out / "scores.csv")) == 2 and not (out / "overlays").exists()
    assert "holds files" in _error(capsys, "predict", tmp_path / "model", *files, "--out", out)
    assert run_cli("predict", tmp_path / "model", *files, "--out", out, "--no-progress", "--resume",
                   "--workers", "1", "--batch-size", "2") == 3
    rows = _read_csv(out / "scores.csv")
    assert [r["file"] for r in rows] == [str(f) for f in files if f != bad]     # each once, in order
    errors = _read_csv(out / "errors.csv")
    assert [e["file"] for e in errors] == [str(bad)] and "cannot read image" in errors[0]["reason"]
    flagged = {r["file"] for r in rows[2:] if r["verdict"] == "anomalous"}
    assert {str(p.stem) for p in (out / "overlays").glob("*.png")} == {f.rsplit("/", 1)[1][:-4] for f in flagged}
    assert "1 files could not be read" in capsys.readouterr().err
    # again: everything is done, nothing scored twice; another model's folder is refused
    assert run_cli("predict", tmp_path / "model", *files, "--out", out, "--no-progress", "--resume") == 0
    assert len(_read_csv(out / "scores.csv")) == 6
    assert run_cli("fit", root, "--method", "ae-l2", "--out", tmp_path / "ae", *SMALL) == 0
    assert "another model" in _error(capsys, "predict", tmp_path / "ae", *files, "--out", out, "--resume")
    assert "holds the model folder" in _error(capsys, "predict", tmp_path / "ae", *files,
                                              "--out", tmp_path, "--overwrite")
    assert (tmp_path / "ae" / "model.pt").is_file()


def test_the_python_api_loads_a_model_and_scores_files_as_predict_does(tmp_path):
    """Issue 41: anotutor.load + score_files (lazy, maps at each file's own size) give predict's
    scores on the same images; Detection.verdicts uses the thresholds."""
    import anotutor
    from anotutor.data.images import read_image, resize

    root = make_folder(tmp_path / "data")
    assert run_cli("fit", root, "--method", "ae-l2", "--out", tmp_path / "model", *SMALL) == 0
    det = anotutor.load(tmp_path / "model")
    files = sorted((root / "test").rglob("*.png"))[:5]
    lazy = det.score_files(files, batch_size=2)
    first = next(lazy)                                  # a generator: one batch decoded so far
    found = [first, *lazy]
    size = det.params_["image_size"]
    images = [read_image(f, det.channels_) for f in files]
    out = det.predict(torch.stack([resize(x, size) for x in images]))
    assert [f.path for f in found] == files
    torch.testing.assert_close(torch.tensor([f.score for f in found]), out.scores, rtol=0, atol=1e-6)
    assert [f.verdict for f in found] == out.verdicts()
    assert all(f.map.shape == x.shape[-2:] and f.map.min() >= 0 for f, x in zip(found, images))
    with pytest.raises(ValueError, match="cannot read image"):
        list(det.score_files([tmp_path / "model" / "model.json"]))
    det.threshold_ = None
    with pytest.raises(ValueError, match="no thresholds"):
        det.predict(images[0][None]).verdicts()
    with pytest.raises(ValueError, match="not a model folder"):
        anotutor.load(tmp_path / "nowhere")


def test_predict_refuses_what_is_not_a_model_and_writes_nothing(tmp_path, capsys):
    root = make_folder(tmp_path / "data")
    img = root / "test" / "good" / "000.png"
    assert "not a model folder" in _error(capsys, "predict", tmp_path / "nope", img, "--out", tmp_path / "o")
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "model.json").write_text("{not json")
    (fake / "model.pt").write_bytes(b"garbage")
    assert "not a model description" in _error(capsys, "predict", fake, img, "--out", tmp_path / "o")
    # a model of another method: model.json says one class, model.pt holds another
    assert run_cli("fit", root, "--method", "floor", "--out", tmp_path / "floor", *SMALL) == 0
    assert run_cli("fit", root, "--method", "ae-l2", "--out", tmp_path / "ae", *SMALL) == 0
    assert "no image files" in _error(capsys, "predict", tmp_path / "floor", tmp_path / "fake",
                                      "--out", tmp_path / "o")
    (tmp_path / "floor" / "model.pt").write_bytes((tmp_path / "ae" / "model.pt").read_bytes())
    assert "does not match" in _error(capsys, "predict", tmp_path / "floor", img, "--out", tmp_path / "o")
    (tmp_path / "ae" / "model.pt").write_bytes(b"corrupt")
    assert "model.pt" in _error(capsys, "predict", tmp_path / "ae", img, "--out", tmp_path / "o")
    assert not (tmp_path / "o").exists()
    assert "needs known anomalies" in _error(capsys, "fit", root, "--method", "noisy-anogan",
                                             "--out", tmp_path / "n", *SMALL)
    assert "fpr" in _error(capsys, "fit", root, "--method", "floor", "--out", tmp_path / "n", "--fpr", "2")


def test_compare_writes_an_offline_report_page(tmp_path):
    root = make_folder(tmp_path / "data")
    assert run_cli("compare", root, "--methods", "floor,ae-l2", "--out", tmp_path / "c", *SMALL) == 0
    page = (tmp_path / "c" / "index.html").read_text()
    assert "<script" not in page and "http" not in page        # offline: nothing fetched, nothing run
    for src in ("report/roc.png", "quality_speed.png"):
        assert src in page and (tmp_path / "c" / src).is_file()
    rows = _read_csv(tmp_path / "c" / "ae-l2" / "scores.csv")
    n_good = sum(r["kind"] == "good" for r in rows) if "kind" in rows[0] else None
    shots = sorted((tmp_path / "c" / "report").glob("ae-l2-*.png"))
    normal = [p for p in shots if "-normal-" in p.name]
    assert 0 < len(normal) <= 4 and 0 < len(shots) - len(normal) <= 4
    assert n_good is None or len(normal) == min(4, n_good)
    assert "one scale" in page and "lowest scores" in page
    assert page.count("<tr>") == 3   # the two methods' rows


def test_each_method_reads_the_folder_at_its_own_working_size(tmp_path, capsys):
    """Issue 41: the feature memories see photographs at 224 px, the trained networks at --image-size;
    a working size that enlarges the files more than 2x is said in the log, model.json and metrics.md."""
    big = make_folder(tmp_path / "big", colour=True, h=256, w=256, n_train=4, n_good=2, n_bad=2)
    assert run_cli("fit", big, "--method", "patchcore", "--out", tmp_path / "pc", *SMALL) == 0
    info = json.loads((tmp_path / "pc" / "model.json").read_text())
    assert info["image_size"] == 224 and info["source_px"] == 256 and info["size_note"] is None
    small = make_folder(tmp_path / "small", colour=True)                      # 40 x 48 px files
    capsys.readouterr()
    assert run_cli("compare", small, "--methods", "floor,patchcore", "--out", tmp_path / "c", *SMALL) == 0
    assert "enlarged 5.6x" in capsys.readouterr().err
    rows = {r["method"]: r for r in json.loads((tmp_path / "c" / "metrics.json").read_text())["rows"]}
    assert rows["floor"]["image_size"] == 32 and rows["patchcore"]["image_size"] == 224
    table = (tmp_path / "c" / "metrics.md").read_text()
    assert "| px |" in table.replace("px|", "px |") and "enlarged 5.6x" in table
    maps = {m: len(_read_csv(tmp_path / "c" / m / "scores.csv")) for m in ("floor", "patchcore")}
    assert maps["floor"] == maps["patchcore"]                                 # the same test files
