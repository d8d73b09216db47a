"""The ``anotutor`` command on small folders made here (gray and colour, png and jpg, odd sizes).

The folders are drawn with NumPy and Pillow alone: smooth shading with grain
as the normal images, bright discs and dark bars as defects, so no test
depends on the package's own texture or defect generators.
"""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from anotutor import cli
from anotutor.methods import Estimator
from anotutor.catalog import METHODS

SMALL = ["--image-size", "32", "--steps", "2", "--no-progress", "--val-fraction", "0.4"]


def _normal(rng, h, w, colour):
    yy, xx = np.mgrid[0:h, 0:w]
    base = 0.4 + 0.2 * np.sin(xx / rng.uniform(3, 6)) * np.cos(yy / rng.uniform(3, 6))
    img = np.clip(base + rng.normal(0, 0.03, (h, w)), 0, 1)
    if colour:
        img = np.stack([img, img * 0.8, 1 - img * 0.5], axis=2)
    return img


def _defect(img, kind, rng):
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = rng.integers(h // 4, 3 * h // 4), rng.integers(w // 4, 3 * w // 4)
    if kind == "spot":
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= (min(h, w) // 6) ** 2
        value = 1.0
    else:
        mask = (np.abs(yy - cy) <= 1) & (np.abs(xx - cx) <= w // 4)
        value = 0.0
    out = img.copy()
    out[mask] = value
    return out, mask


def _save(path, arr, ext):
    im = Image.fromarray((np.clip(arr, 0, 1) * 255).round().astype(np.uint8))
    im.save(path.with_suffix(ext), **({"quality": 95} if ext == ".jpg" else {}))


def make_folder(root, colour=False, ext=".png", h=40, w=48, n_train=12, n_good=4, n_bad=4,
                kinds=("spot", "bar")):
    """A folder in the MVTec AD layout: ``n_train`` normal images, ``n_good`` + ``n_bad`` per kind to test."""
    rng = np.random.default_rng(1)
    (root / "train" / "good").mkdir(parents=True)
    for i in range(n_train):
        _save(root / "train" / "good" / f"{i:03d}", _normal(rng, h, w, colour), ext)
    (root / "test" / "good").mkdir(parents=True)
    for i in range(n_good):
        _save(root / "test" / "good" / f"{i:03d}", _normal(rng, h, w, colour), ext)
    for kind in kinds:
        (root / "test" / kind).mkdir(parents=True)
        (root / "ground_truth" / kind).mkdir(parents=True)
        for i in range(n_bad):
            img, mask = _defect(_normal(rng, h, w, colour), kind, rng)
            _save(root / "test" / kind / f"{i:03d}", img, ext)
            Image.fromarray(mask.astype(np.uint8) * 255).save(root / "ground_truth" / kind / f"{i:03d}_mask.png")
    return root


def run_cli(*args, capsys=None):
    rc = cli.main([str(a) for a in args])
    return rc


def test_methods_lists_every_detector(capsys):
    assert cli.main(["methods"]) == 0
    out = capsys.readouterr().out
    for name in METHODS:
        assert name in out
    assert "needs --known N" in out


def test_python_dash_m_runs_the_same_command():
    out = subprocess.run([sys.executable, "-m", "anotutor", "methods"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "pnunet" in out.stdout


def test_run_writes_every_output_and_a_checkpoint_that_predicts_the_same(tmp_path, capsys):
    root = make_folder(tmp_path / "gray")
    out = tmp_path / "out"
    assert run_cli("run", root, "--method", "ae-l2", "--out", out, *SMALL) == 0
    assert (out / "metrics.md").is_file() and (out / "model.pt").is_file()
    result = json.loads((out / "metrics.json").read_text())
    row = result["rows"][0]
    for key in ("image_auroc", "pixel_auroc", "aupro", "f1", "fit_seconds", "ms_per_image", "n_parameters"):
        assert row[key] is not None
    assert result["meta"]["channels"] == 1 and result["meta"]["image_size"] == 32
    lines = (out / "scores.csv").read_text().splitlines()
    n_test = sum(result["meta"]["counts"]["test"].values())
    assert len(lines) == 1 + n_test
    assert len(list((out / "overlays").glob("*/*.png"))) == n_test
    # the overlay is the image beside its map, at the working size
    assert Image.open(next((out / "overlays").glob("*/*.png"))).size == (64, 32)
    # the checkpoint reproduces the scores in the CSV
    det = Estimator.from_checkpoint(out / "model.pt")
    from anotutor.data import load_folder

    ds = load_folder(root, image_size=32, val_fraction=0.4, seed=0)
    got = det.predict(ds.test.images).scores
    want = torch.tensor([float(line.split(",")[1]) for line in lines[1:]])
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-6)
    assert "| ae-l2 |" in capsys.readouterr().out


def test_compare_on_a_colour_jpg_folder_every_method(tmp_path):
    root = make_folder(tmp_path / "colour", colour=True, ext=".jpg", h=36, w=52)
    out = tmp_path / "cmp"
    assert run_cli("compare", root, "--methods", "all", "--known", "2", "--out", out, *SMALL) == 0
    rows = json.loads((out / "metrics.json").read_text())["rows"]
    assert [r["method"] for r in rows] == list(METHODS)
    assert all(r.get("skipped") is None for r in rows)
    assert (out / "quality_speed.png").is_file()
    for name in METHODS:
        assert (out / name / "model.pt").is_file() and (out / name / "scores.csv").is_file()
    table = (out / "metrics.md").read_text()
    assert "3 channel(s)" in table and table.count("\n| ") == 1 + len(METHODS)


def test_compare_says_why_a_method_did_not_run(tmp_path):
    root = make_folder(tmp_path / "f")
    out = tmp_path / "o"
    assert run_cli("compare", root, "--methods", "floor,noisy-anogan", "--out", out, *SMALL) == 0
    rows = json.loads((out / "metrics.json").read_text())["rows"]
    assert rows[1]["method"] == "noisy-anogan" and "known anomalies" in rows[1]["skipped"]
    assert "noisy-anogan did not run: needs a few known anomalies" in (out / "metrics.md").read_text()
    assert not (out / "noisy-anogan").exists()
    # a working size one network cannot take: skipped with the network's reason
    out2 = tmp_path / "o2"
    args = [a if a != "32" else "36" for a in SMALL]
    assert run_cli("compare", root, "--methods", "floor,ae-l2", "--out", out2, *args) == 0
    rows = json.loads((out2 / "metrics.json").read_text())["rows"]
    assert "working size" in rows[1]["skipped"] and rows[0]["pixel_auroc"] is not None


def test_a_folder_without_masks_gets_image_metrics_and_says_no_masks(tmp_path, capsys):
    import shutil

    root = make_folder(tmp_path / "nomasks")
    shutil.rmtree(root / "ground_truth")
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match="image metrics only"):
        assert run_cli("compare", root, "--methods", "floor,ae-l2", "--out", out, *SMALL) == 0
    rows = json.loads((out / "metrics.json").read_text())["rows"]
    for row in rows:
        assert row["pixel_auroc"] is None and row["aupro"] is None and row["tau"] is None
        assert 0 <= row["image_auroc"] <= 1 and row["image_tau"] is not None
        n_test = row["tp"] + row["fp"] + row["fn"] + row["tn"]
        assert n_test == len((out / row["method"] / "scores.csv").read_text().splitlines()) - 1
    table = (out / "metrics.md").read_text()
    assert "no masks" in table and "image F1" in table
    assert (out / "quality_speed.png").is_file()
    with open(out / "floor" / "scores.csv") as fh:
        table_rows = list(csv.DictReader(fh))
    assert list(table_rows[0])[:4] == ["file", "score", "verdict", "share_over_tau"]   # predict's columns first
    verdicts = [r["verdict"] for r in table_rows]
    assert set(verdicts) <= {"anomalous", "normal"}                                   # predict's words
    assert verdicts.count("anomalous") == rows[0]["tp"] + rows[0]["fp"]


def test_elpv_command_writes_a_folder_that_compare_reads(tmp_path, capsys):
    from images import fake_elpv

    cells = fake_elpv(tmp_path / "cells")
    out = tmp_path / "mono"
    assert run_cli("elpv", "--out", out, "--root", cells, "--image-size", "32") == 0
    assert "next: anotutor compare" in capsys.readouterr().err
    assert len(list((out / "train" / "good").iterdir())) == 6
    with pytest.warns(UserWarning, match="image metrics only"):
        assert run_cli("run", out, "--method", "floor", "--out", tmp_path / "r", "--val-fraction", "0.5",
                       "--image-size", "32") == 0
    assert "no masks" in (tmp_path / "r" / "metrics.md").read_text()
    # a second write into the same folder is refused, a missing package layout named
    assert "not empty" in _error(capsys, "elpv", "--out", out, "--root", cells)
    assert "not an ELPV data folder" in _error(capsys, "elpv", "--out", tmp_path / "x", "--root", tmp_path)


def _error(capsys, *args) -> str:
    assert run_cli(*args) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("breakage,message", [
    ("no_train", "no folder train/good"),
    ("mask_size", "pixels but its image"),
    ("text_file", "not images"),
    ("corrupt", "cannot read image"),
    ("empty", "no folder train/good"),
    ("missing", "does not exist"),
])
def test_bad_folders_get_a_clear_error_and_no_output(tmp_path, capsys, breakage, message):
    import shutil

    root = make_folder(tmp_path / "data")
    if breakage == "no_train":
        shutil.rmtree(root / "train")
    elif breakage == "mask_size":
        Image.new("L", (10, 10)).save(root / "ground_truth" / "bar" / "002_mask.png")
    elif breakage == "text_file":
        (root / "train" / "good" / "readme.txt").write_text("hello")
    elif breakage == "corrupt":
        (root / "test" / "good" / "001.png").write_bytes(b"\x89PNG broken")
    elif breakage == "empty":
        shutil.rmtree(root)
        root.mkdir()
    elif breakage == "missing":
        shutil.rmtree(root)
    out = tmp_path / "out"
    assert message in _error(capsys, "run", root, "--method", "floor", "--out", out, *SMALL)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_bad_requests_get_a_clear_error(tmp_path, capsys):
    root = make_folder(tmp_path / "data")
    out = tmp_path / "out"
    assert "unknown method ['svm']" in _error(capsys, "run", root, "--method", "svm", "--out", out)
    assert "unknown method" in _error(capsys, "compare", root, "--methods", "floor,svm", "--out", out)
    assert "named twice" in _error(capsys, "compare", root, "--methods", "floor,floor", "--out", out)
    assert "needs a few known anomalies" in _error(capsys, "run", root, "--method", "noisy-anogan",
                                                   "--out", out, *SMALL)
    assert "--image-size" in _error(capsys, "run", root, "--method", "floor", "--image-size", "4", "--out", out)
    assert "--steps" in _error(capsys, "run", root, "--method", "ae-l2", "--steps", "0", "--out", out)
    # a device this machine lacks (CUDA where there is none; an index past the last GPU where there is one)
    missing = "cuda:99" if torch.cuda.is_available() else "cuda"
    assert "not available" in _error(capsys, "run", root, "--method", "floor", "--device", missing,
                                     "--out", out)
    assert "n_known" in _error(capsys, "run", root, "--method", "floor", "--known", "99", "--out", out)
    assert not out.exists()


def test_an_output_folder_with_results_is_kept_unless_overwrite(tmp_path, capsys):
    root = make_folder(tmp_path / "data")
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    assert "already holds files" in _error(capsys, "run", root, "--method", "floor", "--out", out, *SMALL)
    assert (out / "mine.txt").read_text() == "keep me"
    assert run_cli("run", root, "--method", "floor", "--out", out, "--overwrite", *SMALL) == 0
    assert not (out / "mine.txt").exists() and (out / "metrics.json").is_file()
    (tmp_path / "afile").write_text("x")
    assert "is a file" in _error(capsys, "run", root, "--method", "floor", "--out", tmp_path / "afile")


def test_a_failure_midway_leaves_nothing_half_written(tmp_path, capsys, monkeypatch):
    from anotutor import compare

    root = make_folder(tmp_path / "data")
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("earlier results")
    real = compare.run_method
    calls = []

    def flaky(name, *a, **k):
        calls.append(name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(name, *a, **k)

    monkeypatch.setattr(compare, "run_method", flaky)
    rc = run_cli("compare", root, "--methods", "floor,ae-l2", "--out", out, "--overwrite", *SMALL)
    assert rc == 130 and calls == ["floor", "ae-l2"]
    assert "nothing was written" in capsys.readouterr().err
    assert (out / "old.txt").read_text() == "earlier results"   # the earlier results are intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "out"]   # no staging folder is left


def test_a_fault_during_training_is_status_1_with_its_traceback(tmp_path, capsys, monkeypatch):
    from anotutor import compare

    root = make_folder(tmp_path / "data")

    def broken(name, *a, **k):
        raise ValueError("a shape bug inside a method")   # a ValueError, yet not the reader's doing

    monkeypatch.setattr(compare, "run_method", broken)
    rc = run_cli("run", root, "--method", "floor", "--out", tmp_path / "out", *SMALL)
    err = capsys.readouterr().err
    assert rc == cli.EXIT_FAULT == 1 and "Traceback" in err and "a shape bug" in err
    assert "unexpected error" in err and not (tmp_path / "out").exists()
    # a bad argument stays a one-line usage error, status 2
    assert "--steps" in _error(capsys, "run", root, "--method", "floor", "--out", tmp_path / "o2", "--steps", "0")


def test_quiet_keeps_stderr_to_warnings_and_verbose_is_accepted(tmp_path, capsys):
    root = make_folder(tmp_path / "data")
    assert run_cli("run", root, "--method", "floor", "--out", tmp_path / "loud", *SMALL) == 0
    loud = capsys.readouterr().err
    assert "anotutor: floor on data" in loud and "anotutor: results in" in loud
    assert run_cli("run", root, "--method", "floor", "--out", tmp_path / "quiet", "-q", *SMALL) == 0
    quiet = capsys.readouterr()
    assert "anotutor:" not in quiet.err and quiet.out.strip()        # the table still on stdout
    assert run_cli("run", root, "--method", "floor", "--out", tmp_path / "verbose", "--verbose", *SMALL) == 0
    assert "anotutor: floor on data" in capsys.readouterr().err
    with pytest.raises(SystemExit):                                  # one or the other
        cli.build_parser().parse_args(["methods", "-q", "-v"])
