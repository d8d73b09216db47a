"""PatchCore's speed against its targets, and the share of the machine it reaches: chapter 8's speed section.

Targets (issue 39; 2 cores, measured alone): a fit on 700 images at 224 px
in at most 45 s; inference at most 20 ms per image, batched (128 px images
in, the default 224 px working size). The script measures:

* the fit on 700 brick crops at 224 px, split into the backbone's pass and
  the greedy coreset; the coreset also alone on the fit's patch features,
  chosen in rounds (the package's) and one centre per pass
  (``greedy_coreset_stepwise``, about three minutes), with the share of
  centres the two agree on;
* inference per image on 128 px crops in batches of 32, split into the
  backbone and the nearest-neighbour search (with eq. 7);
* the compute each needs per image: the backbone's FLOPs counted by
  ``torch.utils.flop_counter``, the search's ``2 x patches x bank rows x
  channels``; and the machine's own rate on a large matrix product (the
  best a CPU reaches), so that each part's share of it can be stated.

Writes ``anotutor/results/patchcore_speed.json`` (read by
``book/08_benchmark.md``) and ``benchmarks/patchcore_speed.md``.

    python benchmarks/patchcore_speed.py [--threads 2] [--backbones]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from anotutor import data, results
from anotutor.methods import PatchCore
from anotutor.methods.feature_memory import coverage_radius, greedy_coreset, greedy_coreset_stepwise

ROOT = Path(__file__).resolve().parents[1]
N_FIT, N_TEST, BATCH, REPEATS = 700, 128, 32, 5


def gemm_gflops(n: int = 2048, repeats: int = 10) -> float:
    """The machine's rate on an n x n float32 matrix product (GFLOP/s): the ceiling of dense compute."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n ** 3 * repeats / (time.perf_counter() - t) / 1e9


def backbone_gflop(det: PatchCore) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1, 3, det.image_size, det.image_size)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        det.backbone_(x)
    return counter.get_total_flops() / 1e9


def coreset_times(det: PatchCore, train: torch.Tensor) -> dict:
    """The greedy coreset of the fit's patches, in rounds and stepwise: seconds each, and agreement."""
    x = det._resize(train)
    with torch.no_grad():
        feats = torch.cat([det._features(x[i:i + BATCH]).permute(0, 2, 3, 1).reshape(-1, det.feature_dim)
                           for i in range(0, x.shape[0], BATCH)])
    n, projection = det.memory_.shape[0], det.params_["projection"]
    out = {}
    for name, fn in (("rounds", greedy_coreset), ("stepwise", greedy_coreset_stepwise)):
        t = time.perf_counter()
        out[name] = fn(feats, n, projection, generator=torch.Generator().manual_seed(0))
        out[f"{name}_seconds"] = round(time.perf_counter() - t, 1)
    return {"coreset_rounds_seconds": out["rounds_seconds"], "coreset_stepwise_seconds": out["stepwise_seconds"],
            "coreset_same_share": round(float((out["rounds"] == out["stepwise"]).float().mean()), 4),
            "coreset_radius_rounds": round(coverage_radius(feats, feats[out["rounds"]]), 4),
            "coreset_radius_stepwise": round(coverage_radius(feats, feats[out["stepwise"]]), 4)}


def measure(settings: dict | None = None) -> dict:
    settings = settings or {}
    train = data.texture_crops("brick", N_FIT, 224, region="train", seed=0)
    test = data.texture_crops("brick", N_TEST, 128, region="test", seed=1)
    det = PatchCore(progress=False, **settings)
    t = time.perf_counter()
    det.fit(train)
    fit_s = time.perf_counter() - t
    x = det._resize(train[:BATCH * 4])
    with torch.no_grad():
        t = time.perf_counter()
        for i in range(0, x.shape[0], BATCH):
            det._features(x[i:i + BATCH])
        backbone_fit_ms = (time.perf_counter() - t) * 1e3 / x.shape[0]
    det.predict(test[:BATCH], batch_size=BATCH)                    # warm-up
    xt = det._resize(test)
    image_ms, features_ms, knn_ms = [], [], []   # the median of REPEATS: a shared machine varies from run to run
    for _ in range(REPEATS):
        image_ms.append(det.predict(test, batch_size=BATCH).ms_per_image)
        with torch.no_grad():
            t = time.perf_counter()
            feats = [det._features(xt[i:i + BATCH]) for i in range(0, N_TEST, BATCH)]
            features_ms.append((time.perf_counter() - t) * 1e3 / N_TEST)
            t = time.perf_counter()
            for f in feats:
                det._score(f)
            knn_ms.append((time.perf_counter() - t) * 1e3 / N_TEST)
    image_ms, features_ms, knn_ms = (statistics.median(v) for v in (image_ms, features_ms, knn_ms))
    m, d = det.memory_.shape
    patches = feats[0].shape[-2] * feats[0].shape[-1]
    return {"settings": settings, "n_fit": N_FIT, "fit_seconds": round(fit_s, 1),
            "fit_backbone_seconds": round(backbone_fit_ms * N_FIT / 1e3, 1),
            "fit_coreset_seconds": round(fit_s - backbone_fit_ms * N_FIT / 1e3, 1),
            "ms_per_image": round(image_ms, 2), "repeats": REPEATS, "backbone_ms": round(features_ms, 2),
            "knn_ms": round(knn_ms, 2), "bank_rows": m, "channels": d, "patches": patches,
            "backbone_gflop": round(backbone_gflop(det), 3), "knn_gflop": round(2 * patches * m * d / 1e9, 3),
            **coreset_times(det, train)}


def write_table(result: dict) -> None:
    meta, rows = result["meta"], result["rows"]
    head = ["settings", "fit s", "backbone s", "coreset s", "coreset alone s (stepwise)", "ms/image",
            "backbone ms", "kNN ms", "backbone GFLOP", "kNN GFLOP", "share of GEMM"]
    g = result["gemm_gflops"]
    cells = [[str(r["settings"] or "defaults"), f"{r['fit_seconds']:.1f}", f"{r['fit_backbone_seconds']:.1f}",
              f"{r['fit_coreset_seconds']:.1f}",
              f"{r['coreset_rounds_seconds']:.1f} ({r['coreset_stepwise_seconds']:.1f})",
              f"{r['ms_per_image']:.1f}", f"{r['backbone_ms']:.1f}",
              f"{r['knn_ms']:.1f}", f"{r['backbone_gflop']:.2f}", f"{r['knn_gflop']:.2f}",
              f"{(r['backbone_gflop'] + r['knn_gflop']) / (r['backbone_ms'] + r['knn_ms']) * 1e3 / g:.0%}"]
             for r in rows]
    (ROOT / "benchmarks" / "patchcore_speed.md").write_text(
        f"# PatchCore's speed (chapter 8)\n\n{meta['date']}, {meta['machine']}, {meta['threads']} threads, "
        f"anotutor {meta['anotutor']}. Fit on {rows[0]['n_fit']} images at 224 px; inference on 128 px "
        f"images in batches of {BATCH} (median of {REPEATS} runs). A {g:.0f} GFLOP/s matrix product is the machine's ceiling.\n\n"
        + results.table(head, cells) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--table-only", action="store_true")
    args = ap.parse_args()
    if args.table_only:
        return write_table(results.load("patchcore_speed"))
    torch.set_num_threads(args.threads)
    t = time.perf_counter()
    gemm = gemm_gflops()
    rows = [measure()]
    for r in rows:
        print(r, flush=True)
    out = {"meta": results.provenance(time.perf_counter() - t), "gemm_gflops": round(gemm, 1), "rows": rows}
    results.write("patchcore_speed", out)
    write_table(out)


if __name__ == "__main__":
    main()
