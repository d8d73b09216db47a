"""``anotutor predict`` at scale (issue 41): a PatchCore model over 10,000 generated 256 px images.

Measured alone on the book's machine (2 cores), written to
``anotutor/results/predict_scale.json`` and ``benchmarks/predict_scale.md``:

* throughput of ``anotutor predict`` (a subprocess, as a practitioner runs
  it: decoding in one DataLoader worker, flagged overlays written by a thread
  pool) against ``Detector.predict`` on the same images as tensors, already
  decoded and resized: the target is at least 80 %;
* the parts of the time per image: decoding and resizing a file
  (:class:`anotutor.data.files.FileImages` alone), scoring (the inference
  module alone) and writing (the rest of the wall time);
* peak memory of the predict process (and of its decoding worker) over 1,000
  and over 10,000 images: the target is flat, under 1.5 GB;
* one corrupt file in the middle: logged in ``errors.csv``, exit status 3,
  every other image scored.

    python benchmarks/predict_scale.py [--n 10000] [--threads 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from anotutor import cli, results
from anotutor.data.files import FileImages
from anotutor.data.textures import texture_crops
from anotutor.deploy import read_model

ROOT = Path(__file__).resolve().parents[1]
SIZE, N_TRAIN, N_BASE = 256, 100, 500


def _write(folder: Path, images: torch.Tensor, start: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, x in enumerate(images):
        p = folder / f"{start + i:05d}.png"
        Image.fromarray((x[0].numpy() * 255).round().astype(np.uint8)).save(p)
        out.append(p)
    return out


def _predict(model: Path, inputs: Path, out: Path, threads: int) -> dict:
    """Run ``anotutor predict`` in a subprocess under /usr/bin/time: wall seconds, peak MB, exit status."""
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "anotutor", "predict", str(model), str(inputs),
           "--out", str(out), "--no-progress", "-q"]
    t0 = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True, env={"OMP_NUM_THREADS": str(threads), "PATH": "/usr/bin"})
    wall = time.perf_counter() - t0
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr).group(1)) / 1024
    return {"seconds": wall, "peak_mb": peak, "status": run.returncode, "stderr": run.stderr[-2000:]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _write(tmp / "parts" / "train" / "good", texture_crops("brick", N_TRAIN, SIZE, "train", 160, seed=0))
        assert cli.main(["fit", str(tmp / "parts"), "--method", "patchcore", "--out", str(tmp / "model"),
                         "--no-progress", "-q"]) == 0
        files = []
        for start in range(0, args.n, 1000):  # generated in chunks: memory stays small
            n = min(1000, args.n - start)
            files += _write(tmp / "many", texture_crops("brick", n, SIZE, "train", 160, seed=1 + start), start)
        bad = files[len(files) // 2]
        bad.write_bytes(b"\x89PNG\r\n\x1a\n this file was cut off")          # a corrupt file in the middle
        small = tmp / "small"
        small.mkdir()
        for p in files[:1000]:
            (small / p.name).symlink_to(p)

        # the parts, on N_BASE images
        det, _ = read_model(tmp / "model")
        base = [p for p in files[:N_BASE + 1] if p != bad][:N_BASE]
        data = FileImages(base, det.channels_, det.params_["image_size"])
        t0 = time.perf_counter()
        x = torch.stack([data[i].image for i in range(len(data))])
        decode_ms = 1000 * (time.perf_counter() - t0) / len(base)
        module = det.torch_model()
        with torch.no_grad():
            module(x[:16])  # warm-up
            t0 = time.perf_counter()
            for i in range(0, len(x), 16):
                module(x[i : i + 16])
        score_ms = 1000 * (time.perf_counter() - t0) / len(base)
        t0 = time.perf_counter()
        det.predict(x, batch_size=16)
        predict_ms = 1000 * (time.perf_counter() - t0) / len(base)
        del x

        runs = {}
        for name, inputs in (("1000", small), (str(args.n), tmp / "many")):
            runs[name] = _predict(tmp / "model", inputs, tmp / f"out-{name}", args.threads)
        out = tmp / f"out-{args.n}"
        with open(out / "scores.csv") as fh:
            scored = list(csv.DictReader(fh))
        with open(out / "errors.csv") as fh:
            errors = list(csv.DictReader(fh))
        overlays = len(list((out / "overlays").glob("*.png"))) if (out / "overlays").is_dir() else 0
    big = runs[str(args.n)]
    cli_ms = 1000 * big["seconds"] / args.n
    rows = [
        {
            "images": int(n),
            "seconds": round(r["seconds"], 1),
            "images_per_s": round(int(n) / r["seconds"], 1),
            "peak_mb": round(r["peak_mb"], 1),
            "status": r["status"],
        }
        for n, r in runs.items()
    ]
    result = {
        "meta": {**results.provenance(time.perf_counter() - t_all), "working_size": int(det.params_["image_size"]),
                 "file_px": SIZE, "n_train": N_TRAIN, "threads": args.threads},
        "rows": rows,
        "parts_ms": {"decode_resize": round(decode_ms, 2), "score": round(score_ms, 2),
                     "write_and_overhead": round(cli_ms - score_ms, 2)},
        "detector_predict_ms": round(predict_ms, 2),
        "cli_ms": round(cli_ms, 2),
        "throughput_vs_predict": round(predict_ms / cli_ms, 3),
        "scored": len(scored),
        "errors": [{"file": Path(e["file"]).name, "reason": e["reason"][:120]} for e in errors],
        "overlays": overlays,
    }
    results.write(ROOT / "anotutor" / "results" / "predict_scale.json", result)
    lines = [
        "# anotutor predict at scale", "",
        f"PatchCore at {result['meta']['working_size']} px (fitted on {N_TRAIN} brick crops), {args.n} "
        f"generated {SIZE} px PNG files, one of them corrupt, {args.threads} threads, "
        f"{result['meta']['date']}.", "",
        "| images | seconds | images / s | peak MB | exit status |", "|---:|---:|---:|---:|---:|",
        *[f"| {r['images']} | {r['seconds']} | {r['images_per_s']} | {r['peak_mb']} | {r['status']} |" for r in rows],
        "",
        f"- `Detector.predict` on decoded tensors: {predict_ms:.1f} ms per image; `anotutor predict`: "
        f"{cli_ms:.1f} ms per image, {100 * predict_ms / cli_ms:.0f} % of its throughput (target: 80 %).",
        f"- Parts per image: decoding and resizing {decode_ms:.1f} ms (in a worker, overlapping the "
        f"scoring), scoring {score_ms:.1f} ms, writing and start-up {cli_ms - score_ms:.1f} ms.",
        f"- {len(scored)} rows in scores.csv, {len(errors)} in errors.csv "
        f"({', '.join(e['file'] for e in result['errors'])}), {overlays} overlays (flagged images).",
    ]
    (ROOT / "benchmarks" / "predict_scale.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(json.dumps({k: v for k, v in result.items() if k != "meta"}, indent=1))


if __name__ == "__main__":
    main()
