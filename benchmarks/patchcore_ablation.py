"""PatchCore's patch aggregation and map smoothing, decided on validation splits: chapter 8's ablation.

A grader's run on real photographs found the package's PatchCore 0.036
image AUROC below a 30-line version with the same backbone, and its
highest patch on the outer ring of the feature grid on most normal images.
The two differ in how the 3 x 3 neighbourhood average is taken
(:data:`anotutor.methods.feature_memory.AGGREGATIONS`): on each stride's
own grid or after upsampling to the finest one, counting the zero padding
at the borders or not; and in the map's smoothing scale. This script fits
each aggregation once per data set and reads each fit at several smoothing
sigmas (an inference setting, :meth:`with_params`), on:

* the ELPV solar cells, mono and poly (real defects, image labels only;
  128 px images, when ``elpv-dataset`` is installed);
* the three textures (drawn defects, masks);
* digit parts 0, aligned and rotated (masks).

Every row is scored on the validation split (for the decision) and on the
test split (reported beside it, never used to choose), with bootstrap
replicates (:func:`anotutor.results.scored`) so that the book's one rule
gives each difference its interval. ``ring`` is the share of normal images
whose map peaks within one stride-8 cell of the border.

Writes ``anotutor/results/patchcore_ablation.json`` (read by
``book/08_benchmark.md``) and ``benchmarks/patchcore_ablation.md``.

The second study, ``patchcore_backbones``, fits PatchCore with each ImageNet
backbone whose wheel is installed (:data:`anotutor.models.backbone.BACKBONES`)
on the same data, with the bank's size and the milliseconds per image.

    python benchmarks/patchcore_ablation.py patchcore_ablation [--threads 2] [--quick]
    python benchmarks/patchcore_ablation.py patchcore_backbones
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch

from anotutor import data, results
from anotutor.methods import PatchCore
from anotutor.methods.feature_memory import AGGREGATIONS
from anotutor.models.backbone import BACKBONES

ROOT = Path(__file__).resolve().parents[1]
SMOOTHS = (0.0, 2.0, 4.0, 8.0)   # sigma in px at 224 px (PatchCore's default: 4)
ELPV_SIZE = 128


def ring_share(maps: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of the normal images whose map's maximum lies within one stride-8 cell of the border."""
    maps = maps[labels == 0]
    n, h, w = maps.shape
    band = math.ceil(max(h, w) * 8 / 224)
    at = maps.flatten(1).argmax(1)
    r, c = at // w, at % w
    edge = (r < band) | (r >= h - band) | (c < band) | (c >= w - band)
    return float(edge.float().mean())


def data_sets(quick: bool):
    out = [(t, lambda t=t: data.textures(t)) for t in (data.TEXTURES[:1] if quick else data.TEXTURES)]
    if quick:
        return out
    out += [(f"digit 0, {'rotated' if r else 'aligned'}", lambda r=r: data.digit_parts(0, r)) for r in (False, True)]
    try:
        import elpv_dataset  # noqa: F401
    except ImportError:
        print("elpv-dataset is not installed: the solar cells are left out (pip install elpv-dataset)")
    else:
        out += [(f"ELPV {k}", lambda k=k: data.elpv(k, image_size=ELPV_SIZE, seed=0)) for k in ("mono", "poly")]
    return out


def aggregation_variants(ds):
    """Each aggregation, read at every smoothing sigma where there are masks (an image score ignores it)."""
    smooths = SMOOTHS if ds.val.masks is not None else (4.0,)
    return [(f"{a}, sigma {s:g}", {"aggregation": a}, {"smooth": s}) for a in AGGREGATIONS for s in smooths]


def backbone_variants(ds):
    """Each backbone whose weights are installed, at PatchCore's other defaults."""
    out = []
    for name, b in BACKBONES.items():
        try:
            __import__(b.module)
        except ImportError:
            print(f"{name}: its wheel is not installed ({b.install}); left out")
            continue
        out.append((name, {"backbone": name}, {}))
    return out


STUDIES = {"patchcore_ablation": aggregation_variants, "patchcore_backbones": backbone_variants}


def run(study: str, quick: bool = False, seed: int = 0, save=None) -> list[dict]:
    """The study's rows; ``save(rows)`` after each data set, so an interrupted run keeps them."""
    rows, fitted = [], {}
    for name, load in data_sets(quick):
        ds = load()
        for label, settings, view_settings in STUDIES[study](ds):
            key = tuple(sorted(settings.items()))
            if key not in fitted:   # one fit per setting, read at each inference setting
                fitted = {key: PatchCore(**settings, seed=seed, progress=False).fit(ds.train.images)}
            det = fitted[key]
            view = det.with_params(**view_settings) if view_settings else det
            for split_name, split in (("val", ds.val), ("test", ds.test)):
                out = view.predict(split.images)
                rows.append(results.scored(
                    out, split, texture=name, seed=seed, part=split_name, name=label,
                    **{k: v for k, v in view.get_params().items() if k != "seed"},
                    ring=ring_share(out.maps, split.labels),
                    ms_per_image=out.ms_per_image, fit_seconds=det.log_.fit_seconds, bank_mb=det.state_mb()))
            v = rows[-2]
            print(f"{name:18s} {label:28s}: val image {v['image_auroc']:.3f} "
                  f"pixel {v.get('pixel_auroc', float('nan')):.3f} ring {v['ring']:.2f} "
                  f"({v['ms_per_image']:.1f} ms, fit {det.log_.fit_seconds:.0f} s)", flush=True)
        if save is not None:
            save(rows)
    return rows


def write_table(study: str, result: dict) -> None:
    meta = result["meta"]
    head = ["data", "variant", "val image", "val pixel", "val ring", "test image", "test pixel", "ms/image",
            "bank MB"]
    test = {(r["texture"], r["name"]): r for r in result["rows"] if r["part"] == "test"}

    def f(r, k):
        return "–" if r.get(k) is None else f"{r[k]:.3f}"

    cells = [[r["texture"], r["name"], f(r, "image_auroc"), f(r, "pixel_auroc"), f"{r['ring']:.2f}",
              f(test[k], "image_auroc"), f(test[k], "pixel_auroc"), f"{test[k]['ms_per_image']:.1f}",
              "–" if r.get("bank_mb") is None else f"{r['bank_mb']:.2f}"]
             for r in result["rows"] if r["part"] == "val" for k in [(r["texture"], r["name"])]]
    (ROOT / "benchmarks" / f"{study}.md").write_text(
        f"# PatchCore: {TITLES[study]} (chapter 8)\n\n{meta['date']}, {meta['machine']}, "
        f"{meta['threads']} threads, anotutor {meta['anotutor']}, {meta['seconds']:.0f} s, seed 0. "
        "Validation columns decide, test columns report; sigma in px at 224 px; ring: share of normal "
        "validation images whose map peaks within one stride-8 cell of the border.\n\n"
        + results.table(head, cells) + "\n")


TITLES = {"patchcore_ablation": "aggregation and smoothing", "patchcore_backbones": "backbones"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", choices=sorted(STUDIES))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="one texture (a smoke run, not written)")
    ap.add_argument("--table-only", action="store_true")
    args = ap.parse_args()
    if args.table_only:
        return write_table(args.study, results.load(args.study))
    torch.set_num_threads(args.threads)
    t = time.perf_counter()

    def save(rows, complete=False):
        out = {"meta": {**results.provenance(time.perf_counter() - t), "quick": args.quick,
                        "complete": complete}, "rows": rows}
        if not args.quick:
            results.write(args.study, out)
        write_table(args.study, out)

    save(run(args.study, args.quick, save=save), complete=True)


if __name__ == "__main__":
    main()
