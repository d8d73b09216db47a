"""Fingerprints of a tiny fit of every detector: proof that a refactor changed no result.

A refactor of the package (issue 40: a smaller contract, one module per
method, files split) must not change a committed number, a shipped
checkpoint or a chapter's result. This script fits every method of
:data:`anotutor.catalog.METHODS` for a few steps on small crops
(fixed seeds), and records for each what the fit learned and what it
predicts:

* the SHA-256 of every floating-point tensor of the saved checkpoint,
  sorted, so that renaming a key or moving a tensor between the networks
  and the learned state does not count as a change, but any changed bit does;
* the training curves;
* the scores and maps of ``predict`` on held-out crops (their hash, and
  their sums for a readable difference), and of one view per method that
  has one (:data:`VIEWS`: a smaller coreset, stage 1, another search, a
  nested latent size).

``write FILE`` stores the fingerprints (JSON); ``check FILE`` fits again and
reports, per method, what is identical, what is equal to float rounding
(``allclose`` at rtol 1e-5) and what differs. Exit status 1 when anything
differs. Run it before and after a refactor, on the same machine:

    python benchmarks/fingerprint.py write /tmp/before.json
    python benchmarks/fingerprint.py check /tmp/before.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from anotutor import data
from anotutor.catalog import METHODS

SIZE, N_TRAIN, N_TEST, STEPS = 32, 24, 8, 3


def _sha(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]


def _tensors(obj) -> list[torch.Tensor]:
    """Every floating-point tensor inside a checkpoint's nested dicts and lists."""
    if isinstance(obj, torch.Tensor):
        return [obj] if obj.is_floating_point() else []
    if isinstance(obj, dict):
        return [t for k in sorted(obj, key=str) if k != "log" for t in _tensors(obj[k])]
    if isinstance(obj, (list, tuple)):
        return [t for v in obj for t in _tensors(v)]
    return []


# a view per method that has one
VIEWS = {
    "patchcore": lambda d: d.with_params(coreset=0.005),
    "two-stage": lambda d: d.with_params(stages=1),
    "anogan": lambda d: d.with_params(gamma=0.5, search_steps=2),
    "ae-nested": lambda d: d.with_params(latent=8),
}


def _detector(name: str):
    if name == "ae-nested":   # not in the catalog: the auto-encoder trained with a nested latent size
        return METHODS["ae-l2"].cls(image_size=SIZE, latent_size=32, nested=(8,), steps=STEPS, seed=0,
                                    progress=False), False
    method = METHODS[name]
    det = method.make(image_size=SIZE, steps=STEPS if method.trains else None, seed=0, progress=False)
    return det, method.needs_anomalies


def fingerprint(name: str) -> dict:
    train = data.texture_crops("brick", N_TRAIN, SIZE, region="train", seed=0)
    test = data.texture_crops("brick", N_TEST, SIZE, region="test", seed=1)
    det, needs = _detector(name)
    anomalies = data.texture_crops("gravel", 6, SIZE, region="train", seed=2) if needs else None
    torch.manual_seed(0)
    det.fit(train, anomalies=anomalies)
    out = det.predict(test)
    with tempfile.TemporaryDirectory() as d:
        ckpt = torch.load(det.save(Path(d) / "m.pt"), map_location="cpu", weights_only=False)
    weights = sorted(_sha(t) for t in _tensors(ckpt))
    curves = {k: [float(v) for v in np.asarray(c, dtype=np.float64).ravel()] for k, c in getattr(getattr(det, "log_", None), "curves", {}).items()}
    got = {"weights": weights, "curves": curves,
           "scores": [float(v) for v in out.scores], "scores_sha": _sha(out.scores),
           "maps_sum": float(out.maps.double().sum()), "maps_sha": _sha(out.maps)}
    if name in VIEWS:
        v = VIEWS[name](det).predict(test)
        got["view_scores"], got["view_sha"] = [float(x) for x in v.scores], _sha(v.maps) + _sha(v.scores)
    return got


def compare(old: dict, new: dict) -> tuple[str, list[str]]:
    """``("identical" | "rounding" | "differs", notes)`` for one method's two fingerprints."""
    notes = []
    if old["weights"] != new["weights"]:
        notes.append(f"weights: {len(set(old['weights']) ^ set(new['weights'])) // 2 or 1} tensor(s) changed bits")
    same_out = all(old.get(k) == new.get(k) for k in ("scores_sha", "maps_sha", "view_sha"))
    if not same_out:
        notes.append(f"outputs: scores max diff {np.abs(np.subtract(old['scores'], new['scores'])).max():.3g}, "
                     f"maps sum {old['maps_sum']:.6g} -> {new['maps_sum']:.6g}")
    if old["curves"].keys() != new["curves"].keys():
        return "differs", notes + [f"curves: {sorted(old['curves'])} -> {sorted(new['curves'])}"]
    same = all(np.array_equal(old["curves"][k], new["curves"][k], equal_nan=True) for k in old["curves"])
    close = all(np.allclose(old["curves"][k], new["curves"][k], rtol=1e-5, atol=1e-7, equal_nan=True)
                for k in old["curves"])
    close = close and np.allclose(old["scores"], new["scores"], rtol=1e-5, atol=1e-7)
    close = close and np.isclose(old["maps_sum"], new["maps_sum"], rtol=1e-5)
    if ("view_scores" in old) != ("view_scores" in new):
        return "differs", notes + ["a view is fingerprinted on one side only"]
    if "view_scores" in old:
        close = close and np.allclose(old["view_scores"], new["view_scores"], rtol=1e-5, atol=1e-7)
    if not same:
        notes.append("curves: changed values")
    if not notes:
        return "identical", notes
    return ("rounding" if close else "differs"), notes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=("write", "check"))
    ap.add_argument("file", type=Path)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    prints = {}
    for name in [*METHODS, "ae-nested"]:
        prints[name] = fingerprint(name)
        print(f"{name}: fitted", flush=True)
    if args.action == "write":
        args.file.write_text(json.dumps(prints, indent=1))
        return
    old = json.loads(args.file.read_text())
    worst = "identical"
    for name in sorted(set(old) | set(prints)):
        if name not in old or name not in prints:
            print(f"{name}: only in {'the new run' if name in prints else args.file}")
            worst = "differs"
            continue
        verdict, notes = compare(old[name], prints[name])
        print(f"{name}: {verdict}" + "".join(f"\n  {n}" for n in notes))
        if verdict == "differs":
            worst = "differs"
    sys.exit(1 if worst == "differs" else 0)


if __name__ == "__main__":
    main()
