"""Noisy-AnoGAN's claim on MNIST, from the shipped checkpoints: image AUROC of every class and set-up.

The numbers the AnoGAN chapter computes live (``anotutor.contamination``,
latent search at the budget's length), committed as
``anotutor/results/contamination.json`` so that the benchmark chapter can set
them beside the other papers' claims without searching again.

    python benchmarks/contamination.py
"""

from __future__ import annotations

import time

from anotutor import contamination, results
from anotutor import protocol
from anotutor.runtime import budget


def main() -> None:
    b = budget()
    t = time.perf_counter()
    table = contamination.contamination(search_steps=b.search_steps)
    rows = [{"class": cls, "setup": setup, "image_auroc": auc}
            for cls, row in table.items() for setup, auc in row.items()]
    out = results.save("contamination", rows, time.perf_counter() - t, budget=b.name,
                       search_steps=b.search_steps, epsilon=protocol.EPSILON,
                       setups=list(protocol.SETUPS))
    for r in rows:
        print(f"class {r['class']}  {r['setup']:>5}  {r['image_auroc']:.3f}")
    print(f"{out['meta']['seconds']:.0f} s")


if __name__ == "__main__":
    main()
