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
* :func:`means`, :func:`difference` and :func:`verdict` -- the mean image
  AUROC per method and data set, a method minus a rival per data set with
  the book's one uncertainty rule (:func:`anotutor.results.difference`:
  the test cells' paired bootstrap, widened by the seeds' spread), and that
  in one phrase, where a difference whose interval holds 0 is "level";
  :func:`claim` both as the phrases a method's own chapter glues to say
  whether its claim survives real defects.
"""

from __future__ import annotations

import numpy as np

from .. import metrics

__all__ = ["numbers", "summary", "means", "rows_of", "difference", "verdict", "claim", "THIRD", "TWO_THIRDS"]

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
        out[key] = (
            metrics.auroc(np.r_[good, mine], np.r_[np.zeros(good.size), np.ones(mine.size)]) if mine.size else np.nan
        )
    out["rho"] = metrics.rank_correlation(np.r_[s, u], np.r_[y, p])
    return out


def rows_of(result: dict, method: str, kind: str) -> list[dict]:
    """``method``'s rows on cell type ``kind`` as the book's result rows: ``texture`` (the kind),
    ``seed``, ``image_auroc`` and its bootstrap replicates over the test cells
    (:func:`anotutor.metrics.image_replicates`; the same draws for every method on one split), so
    :func:`anotutor.results.interval` and :func:`~anotutor.results.difference` apply."""
    mine = [r for r in result["rows"] if not r.get("skipped") and r["kind"] == kind and r["method"] == method]
    if not mine:
        raise ValueError(f"the result has no rows of {method!r} on {kind!r}")
    out = []
    for r in mine:
        labels = result["splits"][f"{kind}/{r['seed']}"]["test_labels"]
        _, reps = metrics.image_replicates(r["test_scores"], labels)
        out.append(
            {
                "texture": kind,
                "seed": r["seed"],
                "name": r["name"],
                "image_auroc": r["image_auroc"],
                "image_auroc_boot": reps,
            }
        )
    return out


def _interval(rows: list[dict]):
    from . import interval

    return interval(rows, "image_auroc")


def difference(result: dict, method: str, rival: str = "floor") -> dict:
    """``{kind: Interval}``: ``method`` minus ``rival`` in image AUROC on each cell type, paired by
    seed and test cell (the book's one rule, :func:`anotutor.results.difference`)."""
    from . import difference as paired

    kinds = dict.fromkeys(r["kind"] for r in result["rows"] if not r.get("skipped"))
    return {k: paired(rows_of(result, method, k), rows_of(result, rival, k), "image_auroc") for k in kinds}


def numbers(result: dict, n_boot: int | None = None):
    """A DataFrame indexed by (kind, method) with the real-defect measures (see the module docstring);
    the interval is :func:`anotutor.results.interval` (``n_boot`` is kept for old callers, unused)."""
    import pandas as pd

    rows = [r for r in result["rows"] if not r.get("skipped")]
    if not rows:
        raise ValueError("the result holds no row that ran")
    table = {}
    for kind in dict.fromkeys(r["kind"] for r in rows):
        for method in dict.fromkeys(r["method"] for r in rows if r["kind"] == kind):
            mine = [r for r in rows if r["kind"] == kind and r["method"] == method]
            splits = [result["splits"][f"{kind}/{r['seed']}"] for r in mine]
            mean, lo, hi = _interval(rows_of(result, method, kind))
            unsure = [_uncertain(r, s) for r, s in zip(mine, splits)]
            aurocs = [r["image_auroc"] for r in mine]
            table[(kind, method)] = {
                "title": mine[0]["name"],
                "image_auroc": mean,
                "low": lo,
                "high": hi,
                "seed_sd": float(np.std(aurocs, ddof=1)) if len(mine) > 1 else np.nan,
                "image_f1": float(np.mean([r["image_f1"] for r in mine])),
                **{k: float(np.nanmean([u[k] for u in unsure])) for k in unsure[0]},
                "ms_per_image": float(np.mean([r["ms_per_image"] for r in mine])),
                "n_seeds": len(mine),
            }
    frame = pd.DataFrame.from_dict(table, orient="index")
    frame.index.names = ["kind", "method"]
    return frame


def summary(result: dict, n_boot: int | None = None):
    """:func:`numbers` as strings: ``0.912 [0.89, 0.93]`` and so on, one row per data set and method."""
    import pandas as pd

    n = numbers(result, n_boot)
    return pd.DataFrame(
        {
            "method": list(n["title"]),
            "image AUROC [95 % interval]": [
                f"{m:.3f} [{lo:.3f}, {hi:.3f}]" for m, lo, hi in zip(n["image_auroc"], n["low"], n["high"])
            ],
            "seed sd": [f"{v:.3f}" for v in n["seed_sd"]],
            "image F1": [f"{v:.3f}" for v in n["image_f1"]],
            "uncertain 1/3": [f"{v:.3f}" for v in n["auroc_third"]],
            "uncertain 2/3": [f"{v:.3f}" for v in n["auroc_two_thirds"]],
            "rho": [f"{v:.3f}" for v in n["rho"]],
            "ms / image": [f"{v:.1f}" for v in n["ms_per_image"]],
        },
        index=n.index.get_level_values("kind"),
    ).rename_axis("kind")


def means(result: dict):
    """Mean image AUROC over seeds: a DataFrame method x kind (no bootstrap, so it is cheap)."""
    import pandas as pd

    rows = [r for r in result["rows"] if not r.get("skipped")]
    if not rows:
        raise ValueError("the result holds no row that ran")
    frame = pd.DataFrame(rows).groupby(["method", "kind"], sort=False)["image_auroc"].mean()
    return frame.unstack("kind")


def verdict(result: dict, method: str, rival: str = "floor") -> str:
    """``method`` against ``rival`` in one phrase, by the book's one rule on each cell type:
    ``"above the floor on both cell types"``, ``"level with the floor on both cell types"`` (each
    difference's 95 % interval holds 0), ``"above the floor on mono, level with it on poly"`` ..."""
    gaps = difference(result, method, rival)
    titles = {r["method"]: r.get("name", r["method"]) for r in result["rows"]}
    name = "the floor" if rival == "floor" else titles[rival]
    words = {k: ("level with" if g.tie else "above" if g.low > 0 else "below") for k, g in gaps.items()}
    if len(set(words.values())) == 1:
        every = "both cell types" if len(words) == 2 else "every cell type"
        return f"{next(iter(words.values()))} {name} on {every}"
    first, *rest = words.items()
    return ", ".join([f"{first[1]} {name} on {first[0]}"] + [f"{w} it on {k}" for k, w in rest])


def claim(result: dict, method: str, rival: str = "floor") -> dict[str, str]:
    """``{"cells": "0.739 mono, 0.618 poly", "cells_rival": ..., "cells_verdict": ..., "cells_gap": ...}``:
    ``method``'s and ``rival``'s mean image AUROC per cell type, :func:`verdict`, and the paired
    differences with their intervals (``"+0.039 [-0.012, +0.090] mono, ..."``)."""
    m = means(result)

    def on_cells(name: str) -> str:
        return ", ".join(f"{v:.3f} {k}" for k, v in m.loc[name].items())

    gaps = difference(result, method, rival)
    return {
        "cells": on_cells(method),
        "cells_rival": on_cells(rival),
        "cells_verdict": verdict(result, method, rival=rival),
        "cells_gap": ", ".join(f"{g.signed} {k}" for k, g in gaps.items()),
    }
