"""What the committed real-defect benchmark (``elpv.json``) says, computed from its stored scores.

``benchmarks/elpv.py`` keeps every row's test scores and the scores of the
uncertain cells; these functions turn them into the numbers the book and
``benchmarks/elpv.md`` report, so the intervals and the
score-against-probability question never need a rerun:

* :func:`numbers` -- per data set and method: the mean image AUROC over
  seeds with a bootstrap interval over the test cells, the spread between
  seeds, image F1 at the validation threshold, the uncertain cells' AUROC
  against the defect-free ones, and Spearman's rho of score and the
  experts' probability;
* :func:`summary` -- the same as a table of strings;
* :func:`means` and :func:`verdict` -- the mean image AUROC per method and
  data set, and a method against the brightness floor in one phrase;
  :func:`claim` both as the phrases a method's own chapter glues to say
  whether its claim survives real defects.
"""

from __future__ import annotations

import numpy as np

from .. import metrics

__all__ = ["numbers", "summary", "means", "verdict", "claim", "THIRD", "TWO_THIRDS"]

THIRD, TWO_THIRDS = 1 / 3, 2 / 3


def _uncertain(row: dict, split: dict) -> dict:
    """The uncertain cells of one row against its defect-free test cells."""
    y = np.asarray(split["test_labels"])
    s = np.asarray(row["test_scores"])
    u, p = np.asarray(row["uncertain_scores"]), np.asarray(split["uncertain_probability"])
    good = s[y == 0]
    out = {}
    for key, q in (("auroc_third", THIRD), ("auroc_two_thirds", TWO_THIRDS)):
        mine = u[np.isclose(p, q, atol=1e-3)]
        out[key] = (metrics.auroc(np.r_[good, mine], np.r_[np.zeros(good.size), np.ones(mine.size)])
                    if mine.size else np.nan)
    out["rho"] = metrics.rank_correlation(np.r_[s, u], np.r_[y, p])
    return out


def numbers(result: dict, n_boot: int = 2000):
    """A DataFrame indexed by (kind, method) with the real-defect measures (see the module docstring)."""
    import pandas as pd

    rows = [r for r in result["rows"] if not r.get("skipped")]
    if not rows:
        raise ValueError("the result holds no row that ran")
    table = {}
    for kind in dict.fromkeys(r["kind"] for r in rows):
        for method in dict.fromkeys(r["method"] for r in rows if r["kind"] == kind):
            mine = [r for r in rows if r["kind"] == kind and r["method"] == method]
            splits = [result["splits"][f"{kind}/{r['seed']}"] for r in mine]
            mean, lo, hi = metrics.auroc_interval(
                [(r["test_scores"], s["test_labels"]) for r, s in zip(mine, splits)], n_boot=n_boot)
            unsure = [_uncertain(r, s) for r, s in zip(mine, splits)]
            aurocs = [r["image_auroc"] for r in mine]
            table[(kind, method)] = {
                "title": mine[0]["name"], "image_auroc": mean, "low": lo, "high": hi,
                "seed_sd": float(np.std(aurocs, ddof=1)) if len(mine) > 1 else np.nan,
                "image_f1": float(np.mean([r["image_f1"] for r in mine])),
                **{k: float(np.nanmean([u[k] for u in unsure])) for k in unsure[0]},
                "ms_per_image": float(np.mean([r["ms_per_image"] for r in mine])), "n_seeds": len(mine)}
    frame = pd.DataFrame.from_dict(table, orient="index")
    frame.index.names = ["kind", "method"]
    return frame


def summary(result: dict, n_boot: int = 2000):
    """:func:`numbers` as strings: ``0.912 [0.89, 0.93]`` and so on, one row per data set and method."""
    import pandas as pd

    n = numbers(result, n_boot)
    return pd.DataFrame({
        "method": list(n["title"]),
        "image AUROC [95 % interval]": [f"{m:.3f} [{lo:.3f}, {hi:.3f}]" for m, lo, hi in
                                        zip(n["image_auroc"], n["low"], n["high"])],
        "seed sd": [f"{v:.3f}" for v in n["seed_sd"]],
        "image F1": [f"{v:.3f}" for v in n["image_f1"]],
        "uncertain 1/3": [f"{v:.3f}" for v in n["auroc_third"]],
        "uncertain 2/3": [f"{v:.3f}" for v in n["auroc_two_thirds"]],
        "rho": [f"{v:.3f}" for v in n["rho"]],
        "ms / image": [f"{v:.1f}" for v in n["ms_per_image"]],
    }, index=n.index.get_level_values("kind")).rename_axis("kind")


def means(result: dict):
    """Mean image AUROC over seeds: a DataFrame method x kind (no bootstrap, so it is cheap)."""
    import pandas as pd

    rows = [r for r in result["rows"] if not r.get("skipped")]
    if not rows:
        raise ValueError("the result holds no row that ran")
    frame = pd.DataFrame(rows).groupby(["method", "kind"], sort=False)["image_auroc"].mean()
    return frame.unstack("kind")


def verdict(result: dict, method: str, rival: str = "floor") -> str:
    """``"above the floor on both"``, ``"below it on mono"`` ...: ``method`` against ``rival``."""
    m = means(result)
    if method not in m.index or rival not in m.index:
        raise ValueError(f"the result has no rows for {method!r} or {rival!r}; it has {list(m.index)}")
    above = [k for k in m.columns if m.loc[method, k] > m.loc[rival, k]]
    titles = {r["method"]: r.get("name", r["method"]) for r in result["rows"]}
    name = "the floor" if rival == "floor" else titles[rival]
    every = "both cell types" if len(m.columns) == 2 else "every cell type"
    if len(above) == len(m.columns):
        return f"above {name} on {every}"
    if not above:
        return f"below {name} on {every}"
    return f"above {name} on {', '.join(above)} only"


def claim(result: dict, method: str, rival: str = "floor") -> dict[str, str]:
    """``{"cells": "0.739 mono, 0.618 poly", "cells_rival": ..., "cells_verdict": ...}``:
    ``method``'s and ``rival``'s mean image AUROC per cell type, and :func:`verdict`."""
    m = means(result)

    def on_cells(name: str) -> str:
        return ", ".join(f"{v:.3f} {k}" for k, v in m.loc[name].items())

    return {"cells": on_cells(method), "cells_rival": on_cells(rival),
            "cells_verdict": verdict(result, method, rival=rival)}
