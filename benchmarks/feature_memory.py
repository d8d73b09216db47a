"""PatchCore and PaDiM under the variants chapter 7 discusses: the study behind its tables and defaults.

On each texture (the book's drawn defects), PatchCore at its defaults and
with one setting changed (ImageNet against random initial weights, working
size, backbone strides, no score reweighting) and PaDiM (ImageNet, random);
on digit parts, aligned and rotated, PatchCore against PaDiM; on the ELPV
solar cells (real defects, image labels only; when the PyPI package
``elpv-dataset`` is installed) the same image-level check. Every row has
validation numbers (for choosing a default) beside the test numbers (for
reporting), inference milliseconds per image and fit seconds.

Writes ``anotutor/results/feature_memory.json`` (read by
``book/07_feature_memories.md``) and ``benchmarks/feature_memory.md``.

It also measures the issue's speed targets (``speed``): the greedy coreset
over 200,000 patch features of PatchCore's 152 dimensions at 1 %, and
batched inference milliseconds per 128 px image at the defaults.

    python benchmarks/feature_memory.py [--threads 2] [--quick] [--speed-only]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from anotutor import data, metrics, results
from anotutor.methods import PaDiM, PatchCore

ROOT = Path(__file__).resolve().parents[1]

# variant name -> (class, settings); the first of each class is its default
TEXTURE_VARIANTS = {
    "PatchCore": (PatchCore, {}),
    "PatchCore, random init": (PatchCore, {"pretrained": False}),
    "PatchCore, 128 px": (PatchCore, {"image_size": 128}),
    "PatchCore, 160 px": (PatchCore, {"image_size": 160}),
    "PatchCore, 288 px": (PatchCore, {"image_size": 288}),
    "PatchCore, strides 4+8, 128 px": (PatchCore, {"strides": (4, 8), "image_size": 128}),
    "PatchCore, strides 16+32": (PatchCore, {"strides": (16, 32)}),
    "PatchCore, no reweighting": (PatchCore, {"reweight": 0}),
    "PaDiM": (PaDiM, {}),
    "PaDiM, random init": (PaDiM, {"pretrained": False}),
}
ELPV_SIZE = 128   # the cells (300 px) are loaded at 128 px, as a reader's photographs might come
PART_VARIANTS = {k: TEXTURE_VARIANTS[k] for k in ("PatchCore", "PaDiM")}
ELPV_VARIANTS = {k: TEXTURE_VARIANTS[k] for k in ("PatchCore", "PatchCore, random init", "PaDiM")}
COLUMNS = ["val_image_auroc", "val_pixel_auroc", "image_auroc", "pixel_auroc", "aupro", "ms_per_image",
           "fit_seconds", "bank_mb"]


def score(cls, settings: dict, ds, seed: int = 0) -> dict:
    """Fit on ``ds.train``; AUROCs on validation and test (pixel ones where there are masks)."""
    det = cls(seed=seed, progress=False, **settings).fit(ds.train.images)
    row = {"fit_seconds": det.log_.fit_seconds, "bank_mb": det.state_mb(), "n_train": len(ds.train)}
    for prefix, split in (("val_", ds.val), ("", ds.test)):
        out = det.predict(split.images)
        row[f"{prefix}image_auroc"] = metrics.image_auroc(out.scores, split.labels)
        if split.masks is not None:
            row[f"{prefix}pixel_auroc"] = metrics.pixel_auroc(out.maps, split.masks)
            if not prefix:
                row["aupro"] = metrics.aupro(out.maps, split.masks)
        if not prefix:
            row["ms_per_image"] = out.ms_per_image
    return row


def run(quick: bool = False) -> list[dict]:
    rows = []

    def add(name, ds, variants):
        for variant, (cls, settings) in variants.items():
            row = {"data": name, "variant": variant, "method": cls.__name__, "settings": settings,
                   **score(cls, settings, ds)}
            rows.append(row)
            print(f"{name:22s} {variant:32s} " + " ".join(
                f"{k} {row[k]:.3f}" for k in ("val_pixel_auroc", "pixel_auroc", "image_auroc") if k in row)
                  + f" ({row['ms_per_image']:.1f} ms, fit {row['fit_seconds']:.0f} s)", flush=True)

    textures = data.TEXTURES[:1] if quick else data.TEXTURES
    for texture in textures:
        add(texture, data.textures(texture), TEXTURE_VARIANTS if not quick else PART_VARIANTS)
    for rotated in (False, True):
        add(f"digit 0, {'rotated' if rotated else 'aligned'}", data.digit_parts(0, rotated), PART_VARIANTS)
    try:
        import elpv_dataset  # noqa: F401
    except ImportError:
        print("elpv-dataset is not installed: the solar cells are left out (pip install elpv-dataset)")
    else:
        for kind in ("mono", "poly"):
            add(f"ELPV {kind}", data.elpv(kind, image_size=ELPV_SIZE, seed=0), ELPV_VARIANTS)
    return rows


def speed(n_patches: int = 200_000, n_images: int = 64) -> dict:
    """Seconds of the greedy coreset over ``n_patches`` features (1 %), and ms per 128 px image at the defaults."""
    from anotutor.methods.feature_memory import greedy_coreset

    g = torch.Generator().manual_seed(0)
    feats = torch.randn(n_patches, 152, generator=g).abs()
    t = time.perf_counter()
    greedy_coreset(feats, n_patches // 100, 128, generator=g)
    coreset_s = time.perf_counter() - t
    train = data.texture_crops("brick", 200, 128, seed=0)
    test = data.texture_crops("brick", n_images, 128, region="test", seed=1)
    out = {"coreset_patches": n_patches, "coreset_seconds": round(coreset_s, 2)}
    for cls in (PatchCore, PaDiM):
        det = cls(progress=False).fit(train)
        out[f"{cls.__name__}_ms_per_128px_image"] = round(det.predict(test, batch_size=32).ms_per_image, 2)
        out[f"{cls.__name__}_state_mb"] = round(det.state_mb(), 2)
    return out


def write_table(result: dict) -> None:
    meta, rows = result["meta"], result["rows"]
    cells = [[r["data"], r["variant"], *("–" if r.get(c) is None else f"{r[c]:.3f}"
                                         if "auroc" in c or c == "aupro" else f"{r[c]:.1f}"
                                         for c in COLUMNS)] for r in rows]
    (ROOT / "benchmarks" / "feature_memory.md").write_text(
        f"# PatchCore and PaDiM: the variants of chapter 7\n\n{meta['date']}, {meta['machine']}, "
        f"{meta['threads']} threads, anotutor {meta['anotutor']}, {meta['seconds']:.0f} s, seed 0. "
        "Validation columns choose, test columns report; ELPV has image labels only.\n\n"
        + results.table(["data", "variant", *COLUMNS], cells) + "\n\nSpeed and memory: " + ", ".join(f"{k} {v}" for k, v in
                                                              result.get("speed", {}).items()) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="one texture, two variants (a smoke run)")
    ap.add_argument("--table-only", action="store_true")
    ap.add_argument("--speed-only", action="store_true", help="measure the speed targets into the committed JSON")
    args = ap.parse_args()
    if args.table_only:
        return write_table(results.load("feature_memory"))
    torch.set_num_threads(args.threads)
    if args.speed_only:
        out = results.load("feature_memory")
        out["speed"] = {**speed(), "threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d")}
        results.write("feature_memory", out)
        return write_table(out)
    t = time.perf_counter()
    rows = run(args.quick)
    meta = {**results.provenance(time.perf_counter() - t), "quick": args.quick}
    out = {"meta": meta, "rows": rows,
           "speed": {**speed(), "threads": torch.get_num_threads(), "date": meta["date"]}}
    if not args.quick:
        results.write("feature_memory", out)
    write_table(out)


if __name__ == "__main__":
    main()
