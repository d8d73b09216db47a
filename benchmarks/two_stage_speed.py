"""Is the two-stage model four times faster than DRAEM? Both architectures, one size, one machine.

Shah and Kim write that reducing the parameters four-fold reduces "the
inference speed by four times"; they never time it. The book has both
architectures: the DRAEM reference of :mod:`anotutor.models.draem`
(97.4 M parameters, colour) and the two-stage design at width 40 and depth
4 (about 24 M, the paper's count). This script times one forward pass of
each on the same colour images at ``--size`` pixels (DRAEM's 256 by
default), SLIC refinement included for the two-stage model, after a
warm-up, and writes ``anotutor/results/two_stage_speed.json`` for
chapter 6. Weights are untrained: speed does not depend on them.

    python benchmarks/two_stage_speed.py [--size 256] [--images 4] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from anotutor import results
from anotutor.methods.two_stage import TwoStage, design_parameters
from anotutor.models.draem import DraemReference
from anotutor.ops import count_parameters
from anotutor.runtime import Timer


def time_draem(x: torch.Tensor, repeats: int) -> float:
    net = DraemReference(channels=3).eval()
    with torch.no_grad():
        net(x[:1])                                   # warm-up
        with Timer() as t:
            for _ in range(repeats):
                net(x)
    return 1000.0 * t.seconds / (repeats * x.shape[0])


def two_stage_at(size: int, width: int = 40, depth: int = 4) -> TwoStage:
    """The two-stage design at the paper's parameter count, fitted for one step (its weights do not matter)."""
    det = TwoStage(image_size=size, width=width, depth=depth, steps=1, steps2=1, progress=False, seed=0)
    return det.fit(torch.rand(4, 3, size, size))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    x = torch.rand(args.images, 3, args.size, args.size, generator=torch.Generator().manual_seed(0))
    draem_ms = time_draem(x, args.repeats)
    det = two_stage_at(args.size)
    parts = [det.stage_ms(x) for _ in range(args.repeats)]
    two = {k: sum(p[k] for p in parts) / len(parts) for k in parts[0]}
    row = {"size": args.size, "images": args.images, "draem_ms": draem_ms,
           "draem_parameters": count_parameters(DraemReference(channels=3)),
           "two_stage_parameters": design_parameters(channels=3, width=40, depth=4)["total"],
           **{f"two_stage_{k}_ms": v for k, v in two.items()},
           "ratio": draem_ms / two["total"], "ratio_networks": draem_ms / (two["stage1"] + two["stage2"])}
    results.save("two_stage_speed", [row], time.perf_counter() - t0)
    print(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
