"""anotutor.results: the committed benchmark results that chapters read."""

import json

import pytest

from anotutor import data, results
from anotutor.protocol import KNOWN_KINDS, PNUNET_SETTINGS as CHAPTER_SETTINGS
from anotutor.protocol import PNUNET_VARIANTS as VARIANTS


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


def test_spread_is_the_mean_and_sample_std_per_group_in_first_seen_order():
    import numpy as np

    rows = [{"texture": t, "name": n, "seed": s, "a": v, "b": None if n == "y" else 2 * v}
            for t in ("grass", "brick") for n in ("x", "y") for s, v in enumerate((1.0, 2.0, 4.0))]
    sp = results.spread(rows, ["a", "b"])
    assert list(sp.index) == [("grass", "x"), ("grass", "y"), ("brick", "x"), ("brick", "y")]
    assert sp.loc[("brick", "x"), ("a", "mean")] == pytest.approx(7 / 3)
    assert sp.loc[("brick", "x"), ("a", "std")] == pytest.approx(np.std([1, 2, 4], ddof=1))
    assert np.isnan(sp.loc[("brick", "y"), ("b", "mean")]) and sp.loc[("brick", "y"), ("n", "")] == 3
    text = results.as_text(sp, digits={"b": 1}, labels={"a": "A"})
    assert text.loc[("grass", "x"), "A"] == "2.333 ± 1.528"
    assert text.loc[("grass", "x"), "b"] == "4.7 ± 3.1" and text.loc[("grass", "y"), "b"] == "–"
    one = results.as_text(results.spread(rows[:1], ["a"]))
    assert one.iloc[0, 0] == "1.000"   # one row: no spread shown
    md = results.markdown(text)
    assert md.splitlines()[0] == "| texture | name | A | b |" and md.count("\n") == 5
    with pytest.raises(ValueError, match="rows lack \\['c'\\]"):
        results.spread(rows, ["c"])
    with pytest.raises(ValueError, match="at least one row"):
        results.spread([], ["a"])


def test_the_committed_method_table_covers_every_method_texture_and_seed():
    from anotutor.catalog import METHODS

    bench = results.load("methods")
    meta, rows = bench["meta"], bench["rows"]
    assert meta["complete"] and meta["methods"] == list(METHODS)
    assert {(r["texture"], r["method"], r["seed"]) for r in rows} == \
        {(t, m, s) for t in data.TEXTURES for m in METHODS for s in meta["seeds"]}
    assert meta["known_kinds"] == list(KNOWN_KINDS)
    for r in rows:
        assert r["skipped"] is None and 0 <= r["pixel_auroc"] <= 1 and r["n_parameters"] >= 1


def test_the_committed_contamination_check_is_what_the_shipped_weights_give():
    """Every class and set-up is there, and one run searched again gives its committed AUROC."""
    from anotutor import contamination as C, metrics, pretrained as P
    from anotutor import protocol as E

    bench = results.load("contamination")
    got = {(r["class"], r["setup"]): r["image_auroc"] for r in bench["rows"]}
    assert set(got) == {(c, s) for c in E.MNIST_CLASSES for s in E.SETUPS}
    assert all(0.5 < v <= 1 for v in got.values())
    test = C.mnist_test(0)
    det = P.load(E.mnist_name(0, "paper")).with_params(search_steps=bench["meta"]["search_steps"])
    again = metrics.image_auroc(det.predict(test.images).scores, test.labels)
    assert again == pytest.approx(got[(0, "paper")], abs=0.01)   # thread counts change rounding only


def _real_result():
    """A made-up real-defect result: two kinds, two seeds, a method that separates and one that does not."""
    import numpy as np

    rng = np.random.default_rng(0)
    rows, splits = [], {}
    for kind in ("mono", "poly"):
        for seed in (0, 1):
            y = [0] * 40 + [1] * 30
            p = [1 / 3] * 10 + [2 / 3] * 10
            splits[f"{kind}/{seed}"] = {"test_labels": y, "uncertain_probability": p}
            for method, effect in (("floor", 0.0), ("good", 2.0)):
                s = rng.normal(size=70) + effect * np.array(y)
                u = rng.normal(size=20) + effect * np.array(p)
                from anotutor import metrics

                rows.append({"kind": kind, "seed": seed, "method": method, "name": method.title(),
                             "image_auroc": metrics.auroc(s, y), "image_f1": 0.5, "ms_per_image": 1.0,
                             "test_scores": s.tolist(), "uncertain_scores": u.tolist()})
    return {"meta": {}, "rows": rows, "splits": splits}


def test_real_numbers_intervals_and_verdicts():
    from anotutor.results.real import means, numbers, summary, verdict

    r = _real_result()
    n = numbers(r, n_boot=200)
    assert list(n.index) == [("mono", "floor"), ("mono", "good"), ("poly", "floor"), ("poly", "good")]
    assert ((n["low"] <= n["image_auroc"]) & (n["image_auroc"] <= n["high"])).all()
    good, floor = n.xs("good", level="method"), n.xs("floor", level="method")
    assert (good["image_auroc"] > 0.85).all() and (floor["image_auroc"] < 0.7).all()
    # the uncertain cells: a score that follows the probability rises from 1/3 to 2/3 to 1
    assert (good["auroc_third"] < good["auroc_two_thirds"]).all()
    assert (good["auroc_two_thirds"] < good["image_auroc"]).all() and (good["rho"] > 0.4).all()
    m = means(r)
    assert m.loc["good", "mono"] == pytest.approx(n.loc[("mono", "good"), "image_auroc"])
    assert verdict(r, "good") == "above the floor on both cell types"
    assert verdict(r, "floor", rival="good") == "below Good on both cell types"
    with pytest.raises(ValueError, match="no rows of 'svm'"):
        verdict(r, "svm")
    # a copy of the floor under another name: every paired difference is 0, so "level" on both
    twin = {**r, "rows": r["rows"] + [{**x, "method": "twin", "name": "Twin"} for x in r["rows"]
                                      if x["method"] == "floor"]}
    assert verdict(twin, "twin") == "level with the floor on both cell types"
    # one kind separated, the other not: the phrase names each
    mixed = {**r, "rows": [x for x in r["rows"] if not (x["method"] == "twin")]
             + [{**(x if x["kind"] == "mono" else {**x, "test_scores": y["test_scores"], "image_auroc": y["image_auroc"]}),
                 "method": "half", "name": "Half"}
                for x, y in zip([x for x in r["rows"] if x["method"] == "good"],
                                [x for x in r["rows"] if x["method"] == "floor"])]}
    assert verdict(mixed, "half") == "above the floor on mono, level with it on poly"
    assert summary(r, n_boot=50).shape == (4, 8)
    from anotutor.results.real import claim

    said = claim(r, "good")
    assert said["cells_verdict"] == "above the floor on both cell types"
    assert said["cells"] == f"{m.loc['good', 'mono']:.3f} mono, {m.loc['good', 'poly']:.3f} poly"
    assert said["cells_rival"].endswith(" poly") and set(said) == {"cells", "cells_rival", "cells_verdict", "cells_gap"}
    assert said["cells_gap"].count("[") == 2 and said["cells_gap"].startswith("+")


def test_provenance_says_when_where_and_with_what():
    from anotutor import __version__, results

    p = results.provenance(12.345)
    assert p["seconds"] == 12.3 and p["anotutor"] == __version__ and p["threads"] >= 1
    assert p["date"].count("-") == 2 and "(" in p["machine"] and p["torch"]
    assert results.provenance(1.0, clock=True)["date"].count(":") == 1


def test_save_stamps_the_provenance_and_write_keeps_a_result_as_it_is(tmp_path):
    import json

    from anotutor import results

    out = results.save(tmp_path / "r.json", [{"a": 1}], 3.21, fpr=0.01)
    back = json.loads((tmp_path / "r.json").read_text())
    assert back == out and back["rows"] == [{"a": 1}] and back["meta"]["fpr"] == 0.01
    assert back["meta"]["seconds"] == 3.2 and {"date", "machine", "threads", "torch"} <= set(back["meta"])
    merged = {**back, "extra": [1, 2]}
    assert json.loads(results.write(tmp_path / "r.json", merged) and (tmp_path / "r.json").read_text()) == merged
    with pytest.raises(ValueError, match="plain file stem"):
        results.save("../escape", [], 1.0)


def test_a_rerun_of_some_methods_replaces_only_their_rows():
    from anotutor import results

    meta = {"date": "a", "machine": "m", "threads": 1, "anotutor": "0", "torch": "2", "seconds": 1.0,
            "complete": True}
    old = {"meta": {**meta, "methods": ["floor", "patchcore"], "kinds": ["mono", "poly"]},
           "rows": [{"kind": k, "seed": 0, "method": m, "v": 1} for k in ("mono", "poly")
                    for m in ("floor", "patchcore")], "splits": {"mono/0": [1]}}
    new = {"meta": {**meta, "date": "b", "methods": ["patchcore"]},
           "rows": [{"kind": k, "seed": 0, "method": "patchcore", "v": 2} for k in ("poly", "mono")]}
    out = results.merged(old, new, ["patchcore"], "kinds", ["floor", "patchcore"])
    assert [(r["kind"], r["method"], r["v"]) for r in out["rows"]] == [
        ("mono", "floor", 1), ("mono", "patchcore", 2), ("poly", "floor", 1), ("poly", "patchcore", 2)]
    assert out["meta"]["date"] == "a" and out["meta"]["merged"][-1]["date"] == "b"
    assert out["splits"] == {"mono/0": [1]}
