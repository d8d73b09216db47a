"""Every method of the book on the three textures, three seeds each: the benchmark chapter's table.

Each seed draws the texture crops afresh (``data.textures(texture, seed=seed)``)
and seeds the model, and every row carries bootstrap replicates of its test
AUROCs (:func:`anotutor.results.replicates`), so the chapter's intervals and
paired differences are computed from the committed rows.

Each method (:mod:`anotutor.catalog`) is fitted with its chapter's
settings on the texture's normal training images, tau is chosen on the
validation split, and the test split is scored (:mod:`anotutor.compare`).
Noisy-AnoGAN, the one method that uses known anomalies, gets those of two
defect kinds only (``KNOWN_KINDS``: scratch, crack); every method is also
scored on the kinds no method saw (``unseen_*``: hole, stain), so the
comparison does not favour the method that saw the test defects' generator.

Writes ``anotutor/results/methods.json`` (read by ``book/08_benchmark.md``)
and ``benchmarks/methods.md``.

    python benchmarks/methods.py [--seeds 0 1 2] [--textures brick grass gravel] [--methods all]
    python benchmarks/methods.py --methods patchcore,padim --merge   # add or redo some methods only

``--merge`` keeps the committed rows of the other methods and records, in
``meta["merged"]``, when and on what each merged run was made.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from anotutor import data, results
from anotutor.catalog import names, resolve
from anotutor.compare import run_method
from anotutor.protocol import KNOWN_KINDS, unseen_kinds

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["image_auroc", "pixel_auroc", "unseen_pixel_auroc", "aupro", "f1", "ms_per_image", "fit_seconds",
           "n_parameters"]

DIGITS = {"ms_per_image": 2, "fit_seconds": 1, "n_parameters": 0}


def run(methods, textures, seeds, save=None) -> list[dict]:
    """Every method on every texture and seed; ``save(rows)`` after each (texture, seed), if given."""
    rows = []
    for texture in textures:
        for seed in seeds:
            ds = data.textures(texture, seed=seed)   # each seed draws the crops afresh
            known = ds.anomalies.of_kind(*KNOWN_KINDS)
            unseen = unseen_kinds(ds.test.kinds)
            for name in methods:
                o = run_method(name, ds, anomalies=known, seed=seed, progress=False, unseen_kinds=unseen)
                row = {"texture": texture, "seed": seed, **(o.row or {"method": name, "name": o.title}),
                       "skipped": o.skipped}
                if o.detection is not None:
                    row.update(results.replicates(o.detection, ds.test))
                rows.append(row)
                shown = o.skipped or " ".join(f"{m} {row[m]:.3f}" for m in COLUMNS[:5])
                print(f"{texture} seed {seed} {name:13s} {shown} ({row.get('fit_seconds', 0):.0f} s)", flush=True)
            if save is not None:
                save(rows)
    return rows


def write_table(result: dict) -> None:
    meta, rows = result["meta"], [r for r in result["rows"] if not r.get("skipped")]
    frame = results.as_text(results.spread(rows, COLUMNS, by=("texture", "name")), digits=DIGITS)
    skipped = sorted({(r["name"], r["skipped"]) for r in result["rows"] if r.get("skipped")})
    notes = "".join(f"\n- {n} did not run: {why}" for n, why in skipped)
    (ROOT / "benchmarks" / "methods.md").write_text(
        f"# Every method, three textures, three seeds\n\n{meta['date']}, {meta['machine']}, "
        f"{meta['threads']} threads, anotutor {meta['anotutor']}, budget {meta['budget']}, "
        f"{meta['seconds']:.0f} s{_merges(meta)}. Known anomalies (Noisy-AnoGAN only) of kinds {meta['known_kinds']}; "
        f"`unseen_pixel_auroc` over the good images and the kinds {meta['unseen_kinds']} only. "
        f"Mean ± sample standard deviation over seeds {meta['seeds']}.\n\n"
        f"{results.markdown(frame.rename_axis(index={'name': 'method'}))}\n{notes}\n")


def _merges(meta: dict) -> str:
    return "".join(f"; {', '.join(m['methods'])} added on {m['date']}, {m['machine']}, {m['threads']} threads, "
                   f"{m['seconds']:.0f} s" for m in meta.get("merged", []))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--textures", nargs="+", default=list(data.TEXTURES))
    ap.add_argument("--methods", default="all")
    ap.add_argument("--threads", type=int, default=None, help="PyTorch CPU threads (default: PyTorch's)")
    ap.add_argument("--table-only", action="store_true", help="rewrite benchmarks/methods.md from the JSON")
    ap.add_argument("--merge", action="store_true",
                    help="replace only these methods' rows in the committed JSON, keep the others")
    args = ap.parse_args()
    if args.table_only:
        return write_table(results.load("methods"))
    if args.threads:
        torch.set_num_threads(args.threads)
    methods = resolve(args.methods)
    t = time.perf_counter()
    before = results.load("methods") if args.merge else None   # the committed run, read once

    def save(rows, done=False):
        out = {"meta": _meta(args, methods, time.perf_counter() - t, done), "rows": rows}
        if args.merge:
            out = results.merged(before, out, methods, "textures", names())
        return results.write("methods", out)

    write_table(save(run(methods, args.textures, args.seeds, save), done=True))


def _meta(args, methods, seconds: float, done: bool) -> dict:
    from anotutor.runtime import budget

    return {**results.provenance(seconds),
            "budget": budget().name, "complete": done, "methods": methods,
            "textures": args.textures, "seeds": args.seeds, "known_kinds": list(KNOWN_KINDS),
            "unseen_kinds": unseen_kinds(data.textures(args.textures[0]).test.kinds)}


if __name__ == "__main__":
    main()
