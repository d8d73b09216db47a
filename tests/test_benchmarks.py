"""The benchmark scripts' own logic (not their measurements)."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_chapter_budget_verdicts_and_the_readme_table(tmp_path):
    ch = _load("chapters")
    assert ch.CHAPTER_LIMIT_S == 150 and ch.BOOK_LIMIT_S == 720
    assert ch._status({"chapter": "01_x", "ok": True, "seconds": 149.0, "peak_mb": 900}) == "ok"
    assert ch._status({"chapter": "01_x", "ok": True, "seconds": 151.0, "peak_mb": 900}) == "over budget"
    assert ch._status({"chapter": "01_x", "ok": True, "seconds": 10.0, "peak_mb": 5000}) == "over budget"
    assert ch._status({"chapter": "01_x", "ok": False, "seconds": 10.0, "peak_mb": 900}) == "failed"
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{ch.README_START}\nold table\n{ch.README_END}\nafter\n")
    ch.write_readme_table(readme, ["| a |", "| 1 |"])
    assert readme.read_text() == f"intro\n{ch.README_START}\n| a |\n| 1 |\n{ch.README_END}\nafter\n"
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="lacks the markers"):
        ch.write_readme_table(readme, ["x"])


def test_elpv_shares_join_into_one_result(tmp_path):
    import json

    el = _load("elpv")
    part = {"meta": {"date": "d", "machine": "m", "threads": 1, "seconds": 10.0, "complete": True,
                     "kinds": ["poly"]},
            "rows": [{"kind": "poly", "seed": 0, "method": "floor"}], "splits": {"poly/0": {}}}
    other = {"meta": {**part["meta"], "kinds": ["mono"], "seconds": 5.0},
             "rows": [{"kind": "mono", "seed": 0, "method": "floor"}], "splits": {"mono/0": {}}}
    paths = []
    for name, p in (("poly", part), ("mono", other)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(p))
    out = el.join(paths)
    assert out["meta"]["kinds"] == ["mono", "poly"] and out["meta"]["seconds"] == 15.0
    assert [r["kind"] for r in out["rows"]] == ["mono", "poly"] and set(out["splits"]) == {"mono/0", "poly/0"}


def test_ablation_merge_replaces_only_the_variants_run():
    ab = _load("ablations")
    old = {"meta": {"date": "a", "seeds": [0]},
           "rows": [{"texture": "brick", "seed": 0, "name": "none", "v": 1},
                    {"texture": "grass", "seed": 0, "name": "none", "v": 2},
                    {"texture": "brick", "seed": 0, "name": "negative, aligned", "v": 3}]}
    new = {"meta": {"date": "b", "machine": "m", "threads": 1, "seconds": 9.0},
           "rows": [{"texture": "brick", "seed": 0, "name": "negative, aligned", "v": 4},
                    {"texture": "grass", "seed": 0, "name": "negative, aligned", "v": 5}]}
    out = ab.merged(old, new, {"negative, aligned"})
    assert [(r["texture"], r["name"], r["v"]) for r in out["rows"]] == [
        ("brick", "none", 1), ("brick", "negative, aligned", 4), ("grass", "none", 2),
        ("grass", "negative, aligned", 5)]
    assert out["meta"]["merged"][-1]["variants"] == ["negative, aligned"] and out["meta"]["date"] == "a"


def test_the_ring_share_counts_maps_peaking_at_the_border():
    import torch

    ab = _load("patchcore_ablation")
    maps = torch.zeros(4, 224, 224)
    maps[0, 0, 100] = 1.0          # top row: on the ring
    maps[1, 112, 112] = 1.0        # centre
    maps[2, 112, 220] = 1.0        # 4 px from the right edge: within one stride-8 cell
    maps[3, 50, 50] = 1.0          # inside, but an anomalous image: not counted
    labels = torch.tensor([0, 0, 0, 1])
    assert ab.ring_share(maps, labels) == pytest.approx(2 / 3)
