"""What reading a folder at each method's own working size changed (issue 41): the feature memories on
the ELPV solar cells (300 px photographs), fed 64 px copies enlarged to their 224 px (what ``anotutor
fit``, ``run`` and ``compare`` did before) against the cells read at 224 px (what they do now).

Same cells, splits and seeds on both sides; image AUROC with the book's one uncertainty rule
(:func:`anotutor.results.difference`, paired on the same test cells). Writes
``benchmarks/working_size.md`` and ``anotutor/results/working_size.json``.

    python benchmarks/working_size.py [--seeds 0 1 2] [--kinds mono poly]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from anotutor import results
from anotutor.compare import run_method
from anotutor.data.elpv import elpv

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("patchcore", "padim")
READS = {"64 px, enlarged (before)": 64, "224 px (now)": 224}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--kinds", nargs="+", default=["mono", "poly"])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    rows = []
    for kind in args.kinds:
        for seed in args.seeds:
            for read, size in READS.items():
                ds = elpv(kind, image_size=size, seed=seed)
                for name in METHODS:
                    o = run_method(name, ds, seed=seed, progress=False)
                    row = results.scored(o.detection, ds.test, texture=kind, seed=seed, method=name, read=read,
                                         ms_per_image=o.row["ms_per_image"], fit_seconds=o.row["fit_seconds"])
                    rows.append(row)
                    print(f"{kind} seed {seed} {name} {read}: image AUROC {row['image_auroc']:.3f}", flush=True)
    result = results.save(ROOT / "anotutor" / "results" / "working_size.json", rows, time.perf_counter() - t0,
                          seeds=args.seeds, kinds=args.kinds, reads=READS)
    before, after = READS
    lines = ["# Feature memories on the ELPV cells: the folder read at 64 px (enlarged) or at 224 px", "",
             f"{result['meta']['date']}, {result['meta']['threads']} threads, seeds {args.seeds}; image AUROC, "
             "mean over seeds [95 % interval, the book's rule]; the difference is paired on the same test cells.",
             "", f"| cells | method | {before} | {after} | now - before | verdict |", "|---|---|---:|---:|---:|---|"]
    for kind in args.kinds:
        for name in METHODS:
            a = [r for r in rows if r["texture"] == kind and r["method"] == name and r["read"] == after]
            b = [r for r in rows if r["texture"] == kind and r["method"] == name and r["read"] == before]
            gap = results.difference(a, b, "image_auroc")
            lines.append(f"| {kind} | {name} | {results.interval(b, 'image_auroc')} | "
                         f"{results.interval(a, 'image_auroc')} | {gap.signed} | "
                         f"{results.verdict(gap, 'better now', 'worse now', 'a tie')} |")
    (ROOT / "benchmarks" / "working_size.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
