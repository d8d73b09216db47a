"""Every method of the book on real defects: the ELPV solar cells, mono and poly, three seeds.

The same rules as ``benchmarks/methods.py`` on the textures: each method of
the catalog with its chapter's settings, the working size and training
length of the budget (64 px and each method's default steps on a CPU), tau
and the image threshold chosen on validation. Each seed draws its own split
of the cells (:func:`anotutor.data.elpv`); ``N_KNOWN`` defective cells are
set aside as the known anomalies Noisy-AnoGAN uses, and are in no test set.
There are no pixel masks, so the numbers are image-level. Every row keeps
its test scores and those of the uncertain cells (probability 1/3 and 2/3),
so intervals and the score-against-probability question are computed from
the committed file, not rerun.

Writes ``anotutor/results/elpv.json`` (read by ``book/08_benchmark.md``) and
``benchmarks/elpv.md``.

    python benchmarks/elpv.py [--kinds mono poly] [--seeds 0 1 2] [--methods all]
    python benchmarks/elpv.py --kinds mono --part /tmp/mono.json   # one share of the work
    python benchmarks/elpv.py --join /tmp/mono.json /tmp/poly.json  # the shares as one result
    python benchmarks/elpv.py --table-only
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from anotutor import results
from anotutor.data.elpv import KINDS, elpv
from anotutor.catalog import names, resolve
from anotutor.compare import run_method
from anotutor.results.real import summary

ROOT = Path(__file__).resolve().parents[1]
N_KNOWN = 10


def _rounded(t: torch.Tensor) -> list[float]:
    return [float(f"{v:.6g}") for v in t.tolist()]


def run(methods, kinds, seeds, save=None) -> tuple[list[dict], dict]:
    """Every method on every kind and seed; ``save(rows, splits)`` after each (kind, seed)."""
    rows, splits = [], {}
    for kind in kinds:
        for seed in seeds:
            ds = elpv(kind, seed=seed, n_known=N_KNOWN)
            unsure = ds.info["uncertain"]
            splits[f"{kind}/{seed}"] = {
                "test_labels": ds.test.labels.tolist(), "uncertain_probability": _rounded(unsure["probability"]),
                "counts": {k: len(getattr(ds, k)) for k in ("train", "anomalies", "val", "test")}}
            for name in methods:
                o = run_method(name, ds, seed=seed, progress=False)
                row = {"kind": kind, "seed": seed, **(o.row or {"method": name, "name": o.title}),
                       "skipped": o.skipped}
                if o.ran:
                    row["test_scores"] = _rounded(o.detection.scores)
                    row["uncertain_scores"] = _rounded(o.detector.predict(unsure["images"]).scores)
                rows.append(row)
                shown = o.skipped or f"image AUROC {row['image_auroc']:.3f} image F1 {row['image_f1']:.3f}"
                print(f"{kind} seed {seed} {name:13s} {shown} ({row.get('fit_seconds', 0):.0f} s)", flush=True)
            if save is not None:
                save(rows, splits)
    return rows, splits


def write_table(result: dict) -> None:
    meta = result["meta"]
    table = summary(result)
    (ROOT / "benchmarks" / "elpv.md").write_text(
        f"# Every method on the ELPV solar cells, three seeds\n\n{meta['date']}, {meta['machine']}, "
        f"{meta['threads']} thread(s) per process, anotutor {meta['anotutor']}, budget {meta['budget']} "
        f"({meta['image_size']} px), {meta['seconds']:.0f} s. {meta['n_known']} known defective cells per split "
        "(Noisy-AnoGAN only). Image AUROC: mean over seeds "
        f"{meta['seeds']} with a 95 % bootstrap interval over the test cells; image F1 at the threshold chosen "
        "on validation; `uncertain`: AUROC of the cells of probability 1/3 and 2/3 against the defect-free "
        "test cells (0.5: scored like defect-free cells); `rho`: Spearman's rho of score and probability "
        f"over the test and uncertain cells.\n\n{results.markdown(table)}\n")


def _meta(args, methods, seconds: float, done: bool) -> dict:
    from anotutor.runtime import budget

    return {**results.provenance(seconds),
            "budget": budget().name, "image_size": budget().image_size,
            "complete": done, "methods": methods, "kinds": args.kinds, "seeds": args.seeds, "n_known": N_KNOWN,
            "source": "elpv-dataset (PyPI), data CC BY-NC-SA 4.0"}


def join(parts: list[Path]) -> dict:
    """Shares written with ``--part`` as one result: rows in kind order, seconds summed."""
    loaded = [json.loads(Path(p).read_text()) for p in parts]
    meta = dict(loaded[0]["meta"])
    meta["kinds"] = [k for k in KINDS if any(k in p["meta"]["kinds"] for p in loaded)]
    meta["seconds"] = round(sum(p["meta"]["seconds"] for p in loaded), 1)
    meta["complete"] = all(p["meta"]["complete"] for p in loaded)
    meta["parts"] = [{k: p["meta"][k] for k in ("date", "machine", "threads", "seconds", "kinds")} for p in loaded]
    rows = sorted((r for p in loaded for r in p["rows"]), key=lambda r: meta["kinds"].index(r["kind"]))
    return {"meta": meta, "rows": rows, "splits": {k: v for p in loaded for k, v in p["splits"].items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    ap.add_argument("--methods", default="all")
    ap.add_argument("--threads", type=int, default=None, help="PyTorch CPU threads (default: PyTorch's)")
    ap.add_argument("--part", type=Path, default=None, help="write this share here instead of the result")
    ap.add_argument("--join", type=Path, nargs="+", default=None, help="join shares into the result")
    ap.add_argument("--table-only", action="store_true", help="rewrite benchmarks/elpv.md from the JSON")
    ap.add_argument("--merge", type=Path, default=None,
                    help="replace the committed rows of this share's methods (written with --part) by its rows")
    args = ap.parse_args()
    if args.table_only:
        return write_table(results.load("elpv"))
    if args.merge:
        share, old = json.loads(args.merge.read_text()), results.load("elpv")
        if any(share["splits"][k] != old["splits"].get(k) for k in share["splits"]):
            raise SystemExit(f"{args.merge} was scored on other splits than the committed result")
        out = results.merged(old, {**share, "splits": old["splits"]}, share["meta"]["methods"], "kinds",
                             names())
        results.write("elpv", out)
        return write_table(out)
    if args.join:
        out = join(args.join)
        results.write("elpv", out)
        return write_table(out)
    if args.threads:
        torch.set_num_threads(args.threads)
    methods = resolve(args.methods)
    target = args.part or results.path("elpv")
    t = time.perf_counter()

    def save(rows, splits, done=False):
        out = {"meta": _meta(args, methods, time.perf_counter() - t, done), "rows": rows, "splits": splits}
        return results.write(target, out)

    out = save(*run(methods, args.kinds, args.seeds, save), done=True)
    if args.part is None:
        write_table(out)


if __name__ == "__main__":
    main()
