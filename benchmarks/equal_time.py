"""Every trained method given the same training seconds: the benchmark chapter's equal-wall-clock study.

The benchmark table trains each method for its own chapter's length, so the
methods get 33 to 155 s each; a method can win there by being given more
time. Here each trained method of :mod:`anotutor.catalog` first runs
short probe fits to measure its seconds per training step on this machine,
then trains for as many steps as fit in ``--seconds``
(two probes of 10 and 30 steps separate the cost of a step from a fit's set-up) (default 30 s, about
the cheapest method's default fit), and is scored as the benchmark scores it
(tau on validation). Each seed draws the texture crops afresh, and every row
holds bootstrap replicates over the test images
(:func:`anotutor.results.replicates`), so the chapter can state ties.

Writes ``anotutor/results/equal_time.json`` and ``benchmarks/equal_time.md``.

    python benchmarks/equal_time.py [--seconds 30] [--seeds 0 1] [--textures brick grass gravel]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from anotutor import data, results
from anotutor.catalog import METHODS
from anotutor.compare import run_method
from anotutor.protocol import KNOWN_KINDS

ROOT = Path(__file__).resolve().parents[1]
METHOD_NAMES = ("ae-l2", "anogan", "pnunet", "two-stage")
PROBE_STEPS = (10, 30)  # two probe fits: their difference gives the seconds per step, net of set-up
COLUMNS = ["pixel_auroc", "image_auroc", "aupro", "f1", "steps", "chapter_steps", "fit_seconds"]


def steps_for(name: str, ds, seconds: float, seed: int) -> tuple[int, float]:
    """Training steps of method ``name`` that take about ``seconds`` here, and its seconds per step.

    Two short probe fits (:data:`PROBE_STEPS`) give the cost of a step and
    the fixed cost of a fit (building the networks, first calls); the steps
    are those that fill ``seconds`` after the fixed cost. A throwaway fit of
    two steps runs first: a method's first fit in a process pays one-off
    costs (kernels chosen, memory allocated) that would otherwise count as
    set-up of the first probe and shrink the cost per step.
    """
    known = ds.anomalies.of_kind(*KNOWN_KINDS).images if METHODS[name].needs_anomalies else None
    took = []
    METHODS[name].make(steps=2, seed=seed, progress=False).fit(ds.train.images, anomalies=known)  # warm-up
    for steps in PROBE_STEPS:
        det = METHODS[name].make(steps=steps, seed=seed, progress=False)
        took.append(det.fit(ds.train.images, anomalies=known).log_.fit_seconds)
    per_step = max((took[1] - took[0]) / (PROBE_STEPS[1] - PROBE_STEPS[0]), 1e-4)
    fixed = max(took[0] - PROBE_STEPS[0] * per_step, 0.0)
    return max(1, int((seconds - fixed) / per_step)), per_step


def run(textures, seeds, seconds: float) -> list[dict]:
    rows = []
    for texture in textures:
        for seed in seeds:
            ds = data.textures(texture, seed=seed)
            known = ds.anomalies.of_kind(*KNOWN_KINDS)
            for name in METHOD_NAMES:
                steps, per_step = steps_for(name, ds, seconds, seed)
                o = run_method(name, ds, anomalies=known, steps=steps, seed=seed, progress=False)
                chapter = METHODS[name].make(seed=seed).resolve_params()["steps"]
                row = {"texture": texture, "seed": seed, **o.row, "steps": steps, "chapter_steps": chapter,
                       "probe_seconds_per_step": per_step, **results.replicates(o.detection, ds.test)}
                rows.append(row)
                print(f"{texture} seed {seed} {name:10s} {steps:5d} steps at {per_step:.3f} s "
                      f"({chapter} in its chapter) "
                      f"pixel {row['pixel_auroc']:.3f} image {row['image_auroc']:.3f} "
                      f"fit {row['fit_seconds']:.0f} s", flush=True)
    return rows


def write_table(result: dict) -> None:
    meta = result["meta"]
    frame = results.intervals(result["rows"], ["pixel_auroc", "image_auroc"], by=("texture", "name"))
    spread = results.as_text(results.spread(result["rows"], ["steps", "chapter_steps", "fit_seconds"]),
                             digits=0)
    (ROOT / "benchmarks" / "equal_time.md").write_text(
        f"# Every trained method for {meta['seconds_each']:.0f} s\n\n{meta['date']}, {meta['machine']}, "
        f"{meta['threads']} threads, {meta['seconds']:.0f} s in all; seeds {meta['seeds']} (each draws the "
        f"texture crops afresh). AUROCs: mean over seeds [95 % interval over the test images and the "
        f"seeds]; steps and seconds: mean ± sd.\n\n{results.markdown(frame.join(spread))}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="training seconds each method gets")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--textures", nargs="+", default=list(data.TEXTURES))
    ap.add_argument("--threads", type=int, default=None, help="PyTorch CPU threads (default: PyTorch's)")
    ap.add_argument("--table-only", action="store_true", help="rewrite the markdown from the committed JSON")
    args = ap.parse_args()
    if args.table_only:
        return write_table(results.load("equal_time"))
    if args.threads:
        torch.set_num_threads(args.threads)
    t = time.perf_counter()
    rows = run(args.textures, args.seeds, args.seconds)
    out = results.save("equal_time", rows, time.perf_counter() - t, seconds_each=args.seconds,
                       seeds=args.seeds, probe_steps=PROBE_STEPS)
    write_table(out)


if __name__ == "__main__":
    main()
