"""``anotutor compare`` on a folder the size of an MVTec AD category, timed.

Writes a folder of brick crops (280 normal training images and 200 test
images at 128 pixels, a quarter of the test images defective of each kind) in
the MVTec AD layout, runs ``anotutor compare --methods all --known 4`` on it
in a fresh process (working size: the budget's), and commits its
``metrics.json`` as ``anotutor/results/compare_large.json`` (the benchmark
chapter reports its time).

    python benchmarks/compare_folder.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from anotutor import data, results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", type=Path, default=None, help="write the folder and results here and keep them")
    ap.add_argument("--methods", default="all")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp())
    try:
        ds = data.textures("brick", image_size=128, n_train=280, n_val=2, n_test=200, seed=11)
        folder = data.save_folder(work / "brick-large", ds.train, ds.test, overwrite=True)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "anotutor", "compare", str(folder), "--methods", args.methods,
                        "--known", "4", "--out", str(work / "out"), "--overwrite", "--no-progress"], check=True)
        wall = time.perf_counter() - t
        out = json.loads((work / "out" / "metrics.json").read_text())
        out["meta"]["wall_seconds"] = round(wall, 1)
        out["meta"]["folder"] = "brick crops written by benchmarks/compare_folder.py"
        results.write("compare_large", out)
        print(f"{wall:.0f} s for {sum(sum(v.values()) for v in out['meta']['counts'].values())} images")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
