"""The two-stage model on a colour machined part whose defective photographs are darker.

A grader's run on a colour set of real photographs (a machined part with
small surface pits; the defective images taken later, and darker) put the
two-stage model below chance: image AUROC 0.372, pixel AUROC 0.380, while a
brightness-only floor had 0.082 and 0.781. We do not have those images, so
this script builds a part like it (:func:`machined_part`): a shiny turned
surface in colour (a smooth gradient, periodic turning marks, a specular
band), with small dark pits as defects drawn by a generator of their own,
unlike any of the model's pseudo-anomalies; and each defective test image
darkened by 10 to 30 %, as in the grader's set. The same test set is also
scored *not darkened* (the pits alone), so the two effects come apart.

For each seed (0, 1, 2) every method is fitted through its public
``fit``/``predict`` at the ``ci`` budget's defaults (64 px): the floor, the
auto-encoder, the two-stage model (read after stage 1 and after both stages,
one fit) and PaDiM. Each row holds image and pixel AUROC and AUPRO on the
darkened and on the plain test set, and the *brightness sensitivity* of the
fitted model: the normal test images darkened by 10, 20 and 30 %, and, for
each, the mean of the map and of the image score relative to the undarkened
images (below 1: a darker image gets a lower map everywhere), and the AUROC
of the darkened images' scores against the undarkened ones' (0.5: the score
ignores brightness; below 0.5: darker images score lower).

    python benchmarks/two_stage_colour.py [--seeds 0 1 2] [--methods floor two-stage ...]

Writes ``anotutor/results/two_stage_colour.json`` and
``benchmarks/two_stage_colour.md``.
"""

from __future__ import annotations

import argparse
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import torch

from anotutor import metrics, results
from anotutor.data.splits import AnomalyDataset, Split
from anotutor.data import synth
from anotutor.methods import TwoStage
from anotutor.methods import two_stage as ts
from anotutor.catalog import make
from anotutor.runtime import as_rng

ROOT = Path(__file__).resolve().parents[1]
NAME = "two_stage_colour"
DARKEN = (0.7, 0.9)            # defective test images are multiplied by a factor in this range
PROBE = (0.9, 0.8, 0.7)        # the brightness probe: normal test images times these factors
SIZES = {"n_train": 200, "n_test": 120}


# ---------------------------------------------------------------------------------------- the data
def _part(rng: np.random.Generator, size: int) -> np.ndarray:
    """One normal image [3, size, size]: a turned metal surface in colour."""
    v, u = np.mgrid[0:size, 0:size] / size
    # the turning centre lies off the image, so the marks are arcs; it moves a little between photos
    cx, cy = rng.normal(0.5, 0.08), rng.normal(-0.6, 0.08)
    r = np.hypot(u - cx, v - cy)
    angle = rng.uniform(0, 2 * np.pi)
    gradient = 0.42 + 0.12 * ((u - 0.5) * np.cos(angle) + (v - 0.5) * np.sin(angle))
    period = rng.uniform(0.045, 0.055)                           # about 3 px at 64 px
    marks = 0.05 * np.sin(2 * np.pi * r / period + rng.uniform(0, 2 * np.pi))
    # a specular band along the arcs, bright and nearly white
    r0, width = rng.uniform(0.85, 1.25), rng.uniform(0.04, 0.08)
    shine = rng.uniform(0.35, 0.5) * np.exp(-0.5 * ((r - r0) / width) ** 2)
    grey = gradient + marks * (1 + 2 * shine)
    tint = np.array([0.97, 1.0, 1.07])[:, None, None] * rng.uniform(0.97, 1.03, (3, 1, 1))
    img = grey[None] * tint + shine[None] * np.array([1.0, 0.98, 0.95])[:, None, None]
    img = img + rng.normal(0, 0.012, img.shape)
    return np.clip(img, 0, 1)


def _pits(img: np.ndarray, rng: np.random.Generator, visible: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """One to three small dark pits (discs of radius 1.2 to 2.6 px, a rim of light on one side) and their
    mask; not ``visible``: the same mask, the image left as it was (the same random draws either way)."""
    size = img.shape[-1]
    v, u = np.mgrid[0:size, 0:size].astype(float)
    out, mask = img.copy(), np.zeros((size, size), bool)
    for _ in range(int(rng.integers(1, 4))):
        y, x = rng.uniform(6, size - 6, 2)
        rad = rng.uniform(1.2, 2.6)
        d = np.hypot(u - x, v - y)
        inside = np.clip(rad + 0.5 - d, 0, 1)                    # anti-aliased disc
        depth = rng.uniform(0.3, 0.55)
        out = out * (1 - depth * inside[None])
        lit = np.clip(1 - np.abs(d - rad - 0.7), 0, 1) * ((u - x) + (v - y) > 0)
        out = out + 0.12 * lit[None]
        mask |= d <= rad
    return (np.clip(out, 0, 1) if visible else img), mask


def machined_part(seed: int = 0, image_size: int = 64, n_train: int = SIZES["n_train"],
                  n_test: int = SIZES["n_test"], darken: tuple[float, float] | None = DARKEN,
                  pits: bool = True) -> AnomalyDataset:
    """The colour part: ``n_train`` normal images; a test split, half of it with pits, each defective
    image multiplied by a factor uniform in ``darken`` (``None``: not darkened). The test images and
    pits are the same for any ``darken`` (the factors come from their own generator). ``pits=False``:
    the defective images keep their masks but no pit is drawn, so that only their brightness differs
    (with ``darken``, what a map scores from the darkening alone)."""
    rng = as_rng(seed)
    train = np.stack([_part(rng, image_size) for _ in range(n_train)])
    test = np.stack([_part(rng, image_size) for _ in range(n_test)])
    n_bad = n_test // 2
    masks = np.zeros((n_test, image_size, image_size))
    for i in range(n_test - n_bad, n_test):
        test[i], masks[i] = _pits(test[i], rng, pits)
    if darken is not None:
        factors = np.random.default_rng([seed, 1]).uniform(*darken, n_bad)
        test[n_test - n_bad:] *= factors[:, None, None, None]
    kinds = ["good"] * (n_test - n_bad) + ["pit"] * n_bad
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).float()  # noqa: E731
    tr = Split(t(train), torch.zeros(n_train, dtype=torch.long), ["good"] * n_train,
               torch.zeros(n_train, image_size, image_size))
    te = Split(t(test).clamp(0, 1), torch.tensor([int(k != "good") for k in kinds]), kinds, t(masks))
    empty = Split(torch.zeros(0, 3, image_size, image_size), torch.zeros(0), [], None)
    return AnomalyDataset("machined-part (synthetic colour)", tr, empty, te, te,
                          info={"seed": seed, "darken": darken})


# ---------------------------------------------------------------------------------------- the measures
def scores_on(det, split: Split) -> dict:
    """Image and pixel AUROC and AUPRO of a fitted detector on a split."""
    out = det.predict(split.images)
    return {"image_auroc": metrics.image_auroc(out.scores, split.labels),
            "pixel_auroc": metrics.pixel_auroc(out.maps, split.masks),
            "aupro": metrics.aupro(out.maps, split.masks)}


def brightness_sensitivity(det, normals: torch.Tensor, factors=PROBE) -> dict:
    """How a fitted detector's output moves when normal images are darkened: for each factor, the mean
    map and mean image score relative to the undarkened images', and the AUROC of the darkened images'
    scores against the undarkened images' scores (0.5: blind to brightness; below: darker scores lower)."""
    base = det.predict(normals)
    m0, s0 = float(base.maps.mean()), float(base.scores.mean())
    out = {}
    for f in factors:
        d = det.predict((normals * f).clamp(0, 1))
        key = f"{round(100 * (1 - f))}"
        out[f"map_ratio_{key}"] = float(d.maps.mean()) / max(m0, 1e-12)
        out[f"score_ratio_{key}"] = float(d.scores.mean()) / max(s0, 1e-12)
        both = torch.cat([base.scores, d.scores])
        labels = torch.cat([torch.zeros(len(normals)), torch.ones(len(normals))])
        out[f"dark_auroc_{key}"] = metrics.image_auroc(both, labels)
    return out


# ---------------------------------------------------------------------------------------- the methods
@contextmanager
def channels_apart():
    """The two-stage model's colour pseudo-anomalies as they were before the fix: a foreign texture drawn
    independently in each channel (``synth.foreign_textures(k, 3, ...)``, multicoloured noise) instead
    of :func:`anotutor.methods.two_stage.colour_sources` (one grey pattern in one colour)."""
    keep = ts.colour_sources
    ts.colour_sources = lambda n, c, h, w, rng, augment=True: synth.foreign_textures(n, c, h, w, seed=rng,
                                                                                     augment=augment)
    try:
        yield
    finally:
        ts.colour_sources = keep


METHODS = ("floor", "auto-encoder", "two-stage", "two-stage, channels apart", "padim")
CATALOG = {"floor": "floor", "auto-encoder": "ae-l2", "two-stage": "two-stage",
           "two-stage, channels apart": "two-stage", "padim": "padim"}


def _fitted(name: str, seed: int, images: torch.Tensor):
    """``(reading, detector)`` pairs of one method fitted at its catalogue defaults (64 px, the budget's
    steps); the two-stage model read after stage 1 and after both (one fit)."""
    det = make(CATALOG[name], image_size=64, seed=seed, progress=False)
    with channels_apart() if name.endswith("channels apart") else nullcontext():
        det.fit(images)
    if isinstance(det, TwoStage):
        return [("stage 1", det.with_params(stages=1)), ("both stages", det)]
    return [("", det)]


def run(seeds, methods=METHODS) -> list[dict]:
    rows = []
    for seed in seeds:
        dark, plain = machined_part(seed), machined_part(seed, darken=None)
        alone = machined_part(seed, pits=False)
        normals = plain.test.images[plain.test.labels == 0]
        for name in methods:
            t = time.perf_counter()
            readings = _fitted(name, seed, dark.train.images)
            fit_s = time.perf_counter() - t
            for reading, det in readings:
                row = {"seed": seed, "name": f"{name}, {reading}" if reading else name, "method": name,
                       "reading": reading, "fit_seconds": round(fit_s, 1)}
                row.update(scores_on(det, dark.test))
                row.update({f"plain_{k}": v for k, v in scores_on(det, plain.test).items()})
                row.update({f"alone_{k}": v for k, v in scores_on(det, alone.test).items() if k != "aupro"})
                row.update(brightness_sensitivity(det, normals))
                rows.append(row)
                print(f"seed {seed} {row['name']}: image {row['image_auroc']:.3f} pixel {row['pixel_auroc']:.3f}"
                      f" (not darkened {row['plain_image_auroc']:.3f} {row['plain_pixel_auroc']:.3f}; darkening"
                      f" alone pixel {row['alone_pixel_auroc']:.3f}), map x{row['map_ratio_30']:.2f} at 30 %"
                      f" darker, {fit_s:.0f} s", flush=True)
    return rows


# ---------------------------------------------------------------------------------------- the tables
QUALITY = {"image_auroc": "image AUROC", "pixel_auroc": "pixel AUROC", "aupro": "AUPRO",
           "plain_image_auroc": "image AUROC, not darkened", "plain_pixel_auroc": "pixel AUROC, not darkened",
           "plain_aupro": "AUPRO, not darkened"}
BRIGHTNESS = {"alone_image_auroc": "image AUROC, darkening alone", "alone_pixel_auroc": "pixel AUROC, darkening alone",
              "map_ratio_10": "map x, 10 % darker", "map_ratio_30": "map x, 30 % darker",
              "score_ratio_30": "score x, 30 % darker", "dark_auroc_30": "darker-vs-plain AUROC, 30 %"}


def _table(rows, columns: dict) -> str:
    frame = results.as_text(results.spread(rows, list(columns), by=("name",)), labels=columns)
    return results.markdown(frame.rename_axis(index={"name": "method"}))


def write_table(result: dict) -> None:
    meta, rows = result["meta"], result["rows"]
    (ROOT / "benchmarks" / f"{NAME}.md").write_text(
        f"# {NAME}\n\n{meta['date']}, {meta['machine']}, {meta['threads']} threads, {meta['seconds']:.0f} s. "
        f"The synthetic colour machined part of `benchmarks/two_stage_colour.py` ({meta['n_train']} normal "
        f"training images, {meta['n_test']} test images, half with pits; 64 px); every method through its "
        f"public fit/predict at the catalogue defaults; seeds {meta['seeds']} (each draws the images, the "
        f"pits and the model afresh). Mean ± sample standard deviation over seeds. \"two-stage, channels "
        f"apart\" is the model with its colour pseudo-anomalies as they were before the fix (a foreign "
        f"texture drawn independently in each channel).\n\n"
        f"## Detection: defective test images darkened by {round(100 * (1 - DARKEN[1]))} to "
        f"{round(100 * (1 - DARKEN[0]))} % (as in the grader's set), and the same set not darkened\n\n"
        f"{_table(rows, QUALITY)}\n\n"
        f"## Brightness\n\n"
        f"*Darkening alone*: the defective images darkened as above but with no pit drawn (their masks "
        f"kept): what a method scores from the brightness difference alone (0.5: nothing; below 0.5: "
        f"darker images get lower maps, which pulls a pooled pixel AUROC below chance). *map x* and "
        f"*score x*: the mean map and image score of the normal test images darkened by 10 or 30 %, over "
        f"those of the same images as they are (1: blind to brightness). *darker-vs-plain AUROC*: the image "
        f"scores of the 30 % darker normal images ranked against the plain ones' (0.5: blind; above: darker "
        f"scores higher).\n\n{_table(rows, BRIGHTNESS)}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--threads", type=int, default=None, help="PyTorch CPU threads (default: PyTorch's)")
    ap.add_argument("--table-only", action="store_true",
                    help="rewrite benchmarks/two_stage_colour.md from the committed JSON, training nothing")
    args = ap.parse_args()
    if args.table_only:
        return write_table(results.load(NAME))
    if args.threads:
        torch.set_num_threads(args.threads)
    t = time.perf_counter()
    rows = run(args.seeds, args.methods)
    meta = {**results.provenance(time.perf_counter() - t), "seeds": args.seeds, "image_size": 64,
            "darken": list(DARKEN), "probe": list(PROBE), **SIZES, "methods": list(args.methods),
            "catalog": {m: CATALOG[m] for m in args.methods}}
    out = {"meta": meta, "rows": rows}
    results.write(NAME, out)
    write_table(out)


if __name__ == "__main__":
    main()
