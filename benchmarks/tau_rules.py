"""The tau rules of ``anotutor fit`` compared on the textures: what a threshold chosen without labelled
defects costs.

For each texture and method, one fit; then three thresholds, each from
held-out data only: the best F1 on validation defects with masks
(``f1-masks``), the best image F1 on validation defects without their masks
(``f1-images``: the pixel tau then at the false-alarm rate), and the
false-alarm rule on the validation's normal images alone (``fpr``, no
defect seen). Each is applied to the test split: pixel F1, image F1, and the
false-alarm rates it gives on the normal test images (share of normal
images flagged; share of their pixels at or over tau), against the rate
asked for.

Writes ``anotutor/results/tau_rules.json`` and ``benchmarks/tau_rules.md``.

    python benchmarks/tau_rules.py [--methods two-stage,pnunet] [--fpr 0.01]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from anotutor import data, metrics, results
from anotutor.data.splits import Split
from anotutor.catalog import METHODS
from anotutor.methods.thresholds import choose

ROOT = Path(__file__).resolve().parents[1]


def _held_out(val: Split, rule: str) -> tuple[Split, list[int]]:
    """What each rule may see of the validation split, and which of its images that is."""
    if rule == "f1-masks":
        return val, list(range(len(val)))
    if rule == "f1-images":
        return Split(val.images, val.labels, val.kinds), list(range(len(val)))  # masks withheld
    good = val.index_of("good")
    return val.subset(good), good                                   # normal images only


def run(methods, textures, fpr: float, seed: int = 0) -> list[dict]:
    rows = []
    for texture in textures:
        ds = data.textures(texture, seed=seed)
        for name in methods:
            det = METHODS[name].make(seed=seed, progress=False).fit(ds.train.images)
            val_out, test_out = det.predict(ds.val.images), det.predict(ds.test.images)
            good = ds.test.labels == 0
            for rule in ("f1-masks", "f1-images", "fpr"):
                held, idx = _held_out(ds.val, rule)
                seen = type(val_out)(val_out.scores[idx], val_out.maps[idx], val_out.ms_per_image, {})
                t = choose(seen, held, fpr)
                px = metrics.precision_recall_f1(test_out.maps, ds.test.masks, t.pixel)
                im = metrics.precision_recall_f1(test_out.scores, ds.test.labels, t.image)
                rows.append({"texture": texture, "method": name, "rule": rule, "pixel_tau": t.pixel,
                             "image_tau": t.image, "pixel_f1": px.f1, "image_f1": im.f1,
                             "normal_images_flagged": float((test_out.scores[good] >= t.image).float().mean()),
                             "normal_pixels_flagged": float((test_out.maps[good] >= t.pixel).float().mean())})
                print(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                               for k, v in rows[-1].items()), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="two-stage,pnunet")
    ap.add_argument("--textures", nargs="+", default=list(data.TEXTURES))
    ap.add_argument("--fpr", type=float, default=0.01)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    t = time.perf_counter()
    rows = run(args.methods.split(","), args.textures, args.fpr)
    out = results.save("tau_rules", rows, time.perf_counter() - t, fpr=args.fpr, seed=0)
    import pandas as pd

    frame = pd.DataFrame(rows).set_index(["texture", "method", "rule"]).round(4)
    (ROOT / "benchmarks" / "tau_rules.md").write_text(
        f"# The tau rules of anotutor fit on the textures\n\n{out['meta']['date']}, {out['meta']['machine']}, "
        f"{out['meta']['threads']} threads, {out['meta']['seconds']:.0f} s; asked false-alarm rate "
        f"{args.fpr}; one seed (0), the test split scored at each rule's thresholds.\n\n"
        f"{results.markdown(frame)}\n")


if __name__ == "__main__":
    main()
