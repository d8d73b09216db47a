"""The method chapters' ablations on the three textures over three seeds.

A chapter trains its variants live on one texture and one seed; this script
runs the same settings on every texture and seed, so the chapter can show
the spread. Each study writes ``anotutor/results/<study>.json`` (read by its
chapter through :mod:`anotutor.results`) and ``benchmarks/<study>.md``.

* ``pnunet_ablation`` (chapter 5): PNUNet's noise-mask variants. Known
  anomalies come from two defect kinds only (``KNOWN_KINDS``); the others
  are never seen in training, and are scored apart (``unseen_*``).
* ``two_stage_ablation`` (chapter 6): the two-stage model with Perlin or
  Perlin + superpixel pseudo-anomalies, each read after stage 1 and after
  both stages (one fitted model gives both); each seed draws the crops
  afresh, and the rows hold bootstrap replicates.
* ``two_stage_stage2`` (chapter 6): stage 2 in the book's residual reading
  and in the paper's patches reading, each trained short (the default,
  a third of stage 1's steps) and long (as long as stage 1),
  all on one shared stage 1 (:meth:`TwoStage.restage`); the seed draws the
  texture crops afresh too, and the rows hold bootstrap replicates over the
  test images (:func:`anotutor.results.replicates`).
* ``two_stage_design`` (chapter 6): the model's three design choices (the
  augmented foreign texture, stage 2 starting at zero, BatchNorm
  recalibration), each switched off alone; chosen on the validation
  columns (``val_*``), the test columns shown beside them.

    python benchmarks/ablations.py pnunet_ablation [--seeds 0 1 2] [--textures brick ...]
    python benchmarks/ablations.py pnunet_ablation --variants "negative, aligned" --merge
    python benchmarks/ablations.py two_stage_stage2 --seeds 2 --add-seeds

``--variants`` runs some variants only; ``--merge`` keeps the committed rows of
the others and records, in ``meta["merged"]``, when and where these ran.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from anotutor import data, results
from anotutor.methods import PNUNet, TwoStage
from anotutor.methods.evaluate import evaluate, on_kinds
from anotutor.protocol import (KNOWN_KINDS, PNUNET_SETTINGS, PNUNET_VARIANTS, TWO_STAGE_DESIGN,
                                       TWO_STAGE_PSEUDO, two_stage_stage2, unseen_kinds)
from anotutor.runtime import budget

ROOT = Path(__file__).resolve().parents[1]


def _pnunet(ds, seed, names=None):
    known = ds.anomalies.of_kind(*KNOWN_KINDS)
    for name, kwargs in PNUNET_VARIANTS.items():
        if names is not None and name not in names:
            continue
        det = PNUNet(**kwargs, seed=seed, progress=False, **PNUNET_SETTINGS)
        yield name, det.fit(ds.train.images, anomalies=known.images)


def _two_stage_readings(variants: dict, ds, seed, names=None):
    """Fit ``TwoStage(**kwargs)`` once per variant; yield it read after stage 1 and after both."""
    for name, kwargs in variants.items():
        if names is not None and not any(n.startswith(name) for n in names):
            continue
        det = TwoStage(**kwargs, seed=seed, progress=False).fit(ds.train.images)
        yield f"{name}, stage 1", det.with_params(stages=1)
        yield f"{name}, both stages", det


def _two_stage(ds, seed, names=None):
    return _two_stage_readings(TWO_STAGE_PSEUDO, ds, seed, names)


def _two_stage_design(ds, seed, names=None):
    return _two_stage_readings(TWO_STAGE_DESIGN, ds, seed, names)


def _two_stage_stage2(ds, seed, names=None):
    variants = two_stage_stage2(budget().steps)
    base = None
    for name, changes in variants.items():
        if names is not None and name not in names and "stage 1 only" not in names:
            continue
        if base is None:
            base = TwoStage(**variants[next(iter(variants))], seed=seed, progress=False).fit(ds.train.images)
            yield "stage 1 only", base.with_params(stages=1)
        yield name, base.restage(ds.train.images, **changes)


STUDIES = {
    "pnunet_ablation": {"variants": _pnunet, "known_kinds": KNOWN_KINDS, "settings": PNUNET_SETTINGS,
                        "data_seeds": True},
    "two_stage_ablation": {"variants": _two_stage, "known_kinds": (), "settings": {}, "data_seeds": True},
    "two_stage_design": {"variants": _two_stage_design, "known_kinds": (), "settings": {}, "data_seeds": True,
                         "columns": ["val_pixel_auroc", "val_f1", "pixel_auroc", "image_auroc"]},
    "two_stage_stage2": {"variants": _two_stage_stage2, "known_kinds": (), "settings": {}, "data_seeds": True,
                         "columns": ["val_pixel_auroc", "val_f1", "pixel_auroc", "image_auroc", "aupro", "f1"]},
}
MEASURES = ["pixel_auroc", "aupro", "image_auroc", "f1"]


def run(study: str, textures, seeds, names=None) -> list[dict]:
    spec = STUDIES[study]
    rows = []
    for texture in textures:
        for seed in seeds:
            ds = data.textures(texture, seed=seed if spec.get("data_seeds") else 0)
            unseen = unseen_kinds(ds.test.kinds)
            for name, det in spec["variants"](ds, seed, names):
                report, out = evaluate(det, ds.val, ds.test, name=name)
                row = {"texture": texture, "seed": seed, **report.row(), **results.replicates(out, ds.test)}
                if isinstance(det, TwoStage):
                    row["steps2"] = det.params_["steps2"]
                if spec["known_kinds"]:
                    row.update({f"unseen_{k}": v for k, v in on_kinds(out, ds.test, unseen).items()})
                rows.append(row)
                print(f"{texture} seed {seed} {name:22s} " + " ".join(f"{m} {row[m]:.3f}" for m in MEASURES)
                      + f" ({row['fit_seconds']:.0f} s)", flush=True)
    return rows


def table(rows: list[dict], columns: list[str]) -> str:
    """Mean ± standard deviation over seeds, one line per texture and variant (AUROCs with a
    bootstrap interval instead where the rows hold replicates)."""
    if all("pixel_auroc_boot" in r for r in rows):
        frame = results.intervals(rows, columns, by=("texture", "name"))
    else:
        frame = results.as_text(results.spread(rows, columns, by=("texture", "name")))
    return results.markdown(frame.rename_axis(index={"name": "variant"}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", choices=sorted(STUDIES))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--textures", nargs="+", default=list(data.TEXTURES))
    ap.add_argument("--table-only", action="store_true",
                    help="rewrite benchmarks/<study>.md from the committed JSON, training nothing")
    ap.add_argument("--variants", type=lambda v: [n.strip() for n in v.split(";")], default=None,
                    help="run these variants only, separated by ';' (names as in the JSON)")
    ap.add_argument("--merge", action="store_true", help="keep the committed rows of the other variants")
    ap.add_argument("--add-seeds", action="store_true",
                    help="keep the committed rows of the other seeds (to add seeds to a committed study)")
    ap.add_argument("--threads", type=int, default=None, help="PyTorch CPU threads (default: PyTorch's)")
    args = ap.parse_args()
    spec = STUDIES[args.study]
    if args.table_only:
        return write_table(args.study, results.load(args.study))
    if args.threads:
        torch.set_num_threads(args.threads)
    t = time.perf_counter()
    rows = run(args.study, args.textures, args.seeds, args.variants)
    meta = {**results.provenance(time.perf_counter() - t),
            "settings": spec["settings"], "known_kinds": list(spec["known_kinds"]), "seeds": args.seeds}
    out = {"meta": meta, "rows": rows}
    if args.merge:
        out = merged(results.load(args.study), out, {r["name"] for r in rows})
    elif args.add_seeds:
        out = with_seeds(results.load(args.study), out)
    results.write(args.study, out)
    write_table(args.study, out)


def merged(old: dict, new: dict, names: set) -> dict:
    """The committed result with the rows of variants ``names`` replaced by ``new``'s."""
    run_meta = {k: new["meta"][k] for k in ("date", "machine", "threads", "seconds")}
    meta = {**old["meta"], "merged": [*[m for m in old["meta"].get("merged", [])
                                        if not set(m["variants"]) <= names],
                                      {**run_meta, "variants": sorted(names)}]}
    rows = [r for r in old["rows"] if r["name"] not in names] + new["rows"]
    textures = list(dict.fromkeys(r["texture"] for r in old["rows"]))
    rows.sort(key=lambda r: (textures.index(r["texture"]) if r["texture"] in textures else 99, r["seed"]))
    return {"meta": meta, "rows": rows}


def with_seeds(old: dict, new: dict) -> dict:
    """The committed result with ``new``'s seeds added (their rows replacing any of the same seed)."""
    seeds = set(new["meta"]["seeds"])
    run_meta = {k: new["meta"][k] for k in ("date", "machine", "threads", "seconds")}
    meta = {**old["meta"], "seeds": sorted(set(old["meta"]["seeds"]) | seeds),
            "merged": [*old["meta"].get("merged", []), {**run_meta, "variants": [f"seeds {sorted(seeds)}"]}]}
    rows = [r for r in old["rows"] if r["seed"] not in seeds] + new["rows"]
    textures = list(dict.fromkeys(r["texture"] for r in old["rows"]))
    rows.sort(key=lambda r: (textures.index(r["texture"]) if r["texture"] in textures else 99, r["seed"]))
    return {"meta": meta, "rows": rows}


def write_table(study: str, result: dict) -> None:
    meta, rows, spec = result["meta"], result["rows"], STUDIES[study]
    columns = spec.get("columns") or (
        MEASURES[:2] + (["unseen_pixel_auroc"] if spec["known_kinds"] else []) + MEASURES[2:])
    (ROOT / "benchmarks" / f"{study}.md").write_text(
        f"# {study}\n\n{meta['date']}, {meta['machine']}, {meta['threads']} threads, "
        f"{meta['seconds']:.0f} s{_merges(meta)}. Settings {spec['settings'] or 'the defaults'}; known anomalies of kinds "
        f"{list(spec['known_kinds']) or 'none'}; seeds {meta['seeds']}"
        f"{' (each draws the texture crops afresh)' if spec.get('data_seeds') else ''}. {_spread_words(rows)}\n\n"
        f"{table(rows, columns)}\n")


def _spread_words(rows) -> str:
    if all("pixel_auroc_boot" in r for r in rows):
        return ("AUROCs: the mean over seeds [its 95 % interval over the test images and the seeds, "
                "results.interval]; the other measures: mean ± sample standard deviation over seeds.")
    return "Mean ± sample standard deviation over seeds."


def _merges(meta: dict) -> str:
    return "".join(f"; {', '.join(m['variants'])} added on {m['date']}, {m['threads']} threads, "
                   f"{m['seconds']:.0f} s" for m in meta.get("merged", []))


if __name__ == "__main__":
    main()
