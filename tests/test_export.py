"""``anotutor export`` (anotutor.export, issue 41): the inference module as ONNX, run in onnxruntime."""

import json

import numpy as np
import pytest
import torch

from anotutor.catalog import METHODS
from anotutor.export import TOLERANCE, export_detector
from anotutor.methods import Detector
from test_cli import SMALL, _error, make_folder, run_cli

ort = pytest.importorskip("onnxruntime")

SETTINGS = {"patchcore": {"image_size": 64}, "padim": {"image_size": 64, "n_features": 20}}


def _fitted(name: str):
    m = METHODS[name]
    det = m.make(image_size=32, steps=3 if m.trains else None, seed=0, progress=False)
    det.set_params(**SETTINGS.get(name, {}))
    return det.fit(torch.rand(6, 3, 40, 40, generator=torch.Generator().manual_seed(1)) * 0.5 + 0.25)


@pytest.mark.parametrize("name", ["patchcore", "padim", "ae-l2", "pnunet", "floor"])
def test_the_exported_file_gives_predicts_scores_and_maps(name, tmp_path):
    det = Detector.from_checkpoint(_fitted(name).save(tmp_path / "m.pt"))   # as anotutor export loads it
    check = export_detector(det, tmp_path / "m.onnx", batch_size=2)
    assert max(check["max_score_diff"], check["max_map_diff"]) <= TOLERANCE * check["scale"]
    s = det.params_["image_size"]
    x = torch.rand(2, 3, s, s, generator=torch.Generator().manual_seed(9))   # images the export never saw
    scores, maps = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"images": x.numpy()})
    out = det.predict(x)
    scale = max(1.0, float(out.maps.abs().max()))
    np.testing.assert_allclose(scores, out.scores.numpy(), rtol=0, atol=TOLERANCE * scale)
    np.testing.assert_allclose(maps, out.maps.numpy(), rtol=0, atol=TOLERANCE * scale)


@pytest.mark.parametrize("name, why", [("anogan", "optimisation"), ("two-stage", "SLIC")])
def test_what_is_no_single_pass_is_refused_with_the_reason(name, why, tmp_path):
    det = METHODS[name].make(image_size=32, steps=2, seed=0, progress=False)
    det = det.set_params(**({"search_steps": 2} if name == "anogan" else {}))
    det.fit(torch.rand(4, 1, 32, 32))
    with pytest.raises(ValueError, match=f"cannot be exported: .*{why}"):
        export_detector(det, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_the_command_writes_the_file_and_its_recipe(tmp_path, capsys):
    root = make_folder(tmp_path / "data")
    assert run_cli("fit", root, "--method", "ae-l2", "--out", tmp_path / "model", *SMALL) == 0
    assert run_cli("export", tmp_path / "model", "--out", tmp_path / "onnx", "--batch-size", "3") == 0
    described = json.loads((tmp_path / "onnx" / "export.json").read_text())
    info = json.loads((tmp_path / "model" / "model.json").read_text())
    assert described["thresholds"] == info["thresholds"] and described["input"]["shape"] == [3, 1, 32, 32]
    session = ort.InferenceSession(str(tmp_path / "onnx" / "model.onnx"))
    scores, maps = session.run(None, {"images": np.random.default_rng(0).random((3, 1, 32, 32), np.float32)})
    assert scores.shape == (3,) and maps.shape == (3, 32, 32)
    assert "holds files" in _error(capsys, "export", tmp_path / "model", "--out", tmp_path / "onnx")
    assert "not a model folder" in _error(capsys, "export", tmp_path / "none", "--out", tmp_path / "x")
    assert run_cli("fit", root, "--method", "two-stage", "--out", tmp_path / "ts", *SMALL) == 0
    assert "cannot be exported" in _error(capsys, "export", tmp_path / "ts", "--out", tmp_path / "y")
    assert not (tmp_path / "y").exists()
