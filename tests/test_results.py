"""anotutor.results: the committed benchmark results that chapters read."""

import json

import pytest

from anotutor import data, results
from anotutor.methods.pnunet import CHAPTER_SETTINGS, KNOWN_KINDS, VARIANTS


def test_bad_names_and_missing_or_corrupt_files_get_clear_errors(tmp_path, monkeypatch):
    for bad in ("", "../x", ".hidden", 3):
        with pytest.raises(ValueError, match="plain file stem"):
            results.path(bad)
    monkeypatch.setattr(results, "RESULTS", tmp_path)
    (tmp_path / "other.json").write_text(json.dumps({"meta": {}, "rows": []}))
    with pytest.raises(FileNotFoundError, match="known: \\['other'\\]"):
        results.load("nothing")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        results.load("broken")
    (tmp_path / "shapeless.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="lacks 'meta' and 'rows'"):
        results.load("shapeless")
    assert results.load("other") == {"meta": {}, "rows": []}


def test_the_committed_pnunet_ablation_matches_the_code_that_reads_it():
    """A change of the chapter's settings without rerunning the benchmark fails here."""
    bench = results.load("pnunet_ablation")
    meta, rows = bench["meta"], bench["rows"]
    assert meta["settings"] == CHAPTER_SETTINGS and meta["known_kinds"] == list(KNOWN_KINDS)
    assert {r["texture"] for r in rows} == set(data.TEXTURES)
    assert {r["name"] for r in rows} == set(VARIANTS)
    assert len(rows) == len(data.TEXTURES) * len(VARIANTS) * len(meta["seeds"])
    for r in rows:
        assert 0 <= r["pixel_auroc"] <= 1 and 0 <= r["unseen_pixel_auroc"] <= 1


def test_the_committed_two_stage_ablation_covers_every_texture_and_view():
    from anotutor.methods.two_stage import PSEUDO_KINDS
    bench = results.load("two_stage_ablation")
    rows, seeds = bench["rows"], bench["meta"]["seeds"]
    names = {f"{p}, {v}" for p in PSEUDO_KINDS for v in ("stage 1", "both stages")}
    assert {r["name"] for r in rows} == names and {r["texture"] for r in rows} == set(data.TEXTURES)
    assert len(rows) == len(data.TEXTURES) * len(names) * len(seeds)
