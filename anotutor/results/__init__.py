"""Committed benchmark results, shipped with the package so chapters can show them anywhere.

The scripts in ``benchmarks/`` write JSON files here (with the date, the
machine and the settings they ran with); a chapter reads one with
:func:`load` and says when and where it was measured. Nothing here is
computed at import time, and nothing is edited by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

__all__ = [
    "RESULTS",
    "load",
    "path",
    "provenance",
    "save",
    "write",
    "spread",
    "as_text",
    "markdown",
    "table",
    "replicates",
    "Interval",
    "scored",
    "interval",
    "difference",
    "verdict",
    "joined",
    "grouped",
    "merged",
    "intervals",
    "Z95",
]

Z95 = 1.959964  # the normal quantile of a central 95 % interval

RESULTS = Path(__file__).resolve().parent


def path(name: str) -> Path:
    """Where result ``name`` (e.g. ``"pnunet_ablation"``) lives."""
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ValueError(f"result name must be a plain file stem, got {name!r}")
    return RESULTS / f"{name}.json"


def provenance(seconds: float, clock: bool = False) -> dict:
    """Where and when a run happened, the same fields in every result's ``meta``, in the command
    line's ``metrics.json`` and in a fitted model's ``model.json``.

    ``date`` (with the time of day when ``clock``), ``machine`` (host,
    architecture and GPU or "no GPU"), PyTorch's CPU ``threads``, the
    ``anotutor`` and ``torch`` versions, and the run's wall ``seconds``.
    """
    import platform
    import time

    import torch

    from .. import __version__

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M" if clock else "%Y-%m-%d"),
        "machine": f"{platform.node()} ({platform.machine()}, {gpu})",
        "threads": torch.get_num_threads(),
        "anotutor": __version__,
        "torch": torch.__version__,
        "seconds": round(float(seconds), 1),
    }


def save(name: str | Path, rows, seconds: float, **settings) -> dict:
    """Write a result: ``{"meta": provenance(seconds) + settings, "rows": rows}`` to result ``name``
    (:func:`path`) or to a file path; returns what it wrote."""
    return write(name, {"meta": {**provenance(seconds), **settings}, "rows": list(rows)})


def write(name: str | Path, result: dict) -> dict:
    """Write a whole result (one :func:`save` built, or one merged from committed runs) as it is."""
    target = path(name) if isinstance(name, str) else Path(name)
    target.write_text(json.dumps(result, indent=1))
    return result


def load(name: str) -> dict:
    """The result ``name``: a dict with ``meta`` (date, machine, settings) and ``rows``."""
    p = path(name)
    if not p.is_file():
        known = sorted(f.stem for f in RESULTS.glob("*.json"))
        raise FileNotFoundError(
            f"no committed result {name!r} in {RESULTS}; known: {known}. Run the script in benchmarks/ that writes it."
        )
    try:
        out = json.loads(p.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{p} is not valid JSON ({err}); rerun its benchmark script") from err
    if not isinstance(out, dict) or not {"meta", "rows"} <= set(out):
        raise ValueError(f"{p} lacks 'meta' and 'rows'; rerun its benchmark script")
    return out


def spread(rows, measures, by=("texture", "name")):
    """Mean and standard deviation of ``measures`` over the rows of each group ``by`` (e.g. over seeds).

    ``rows``: dicts (a result's ``rows``). Returns a pandas DataFrame indexed
    by ``by`` in first-seen order, with columns ``(measure, "mean")``,
    ``(measure, "std")`` (the sample standard deviation, ddof = 1; NaN for a
    single row) and ``("n", "")``. Missing values (a measure a method has
    no number for) are left out of its mean. :func:`as_text` prints it.
    """
    import pandas as pd

    measures, by = list(measures), list(by)
    frame = pd.DataFrame(list(rows))
    if frame.empty:
        raise ValueError("spread needs at least one row")
    missing = [c for c in by + measures if c not in frame.columns]
    if missing:
        raise ValueError(f"rows lack {missing}; they hold {sorted(frame.columns)}")
    groups = frame.groupby(by, sort=False)
    out = groups[measures].agg(["mean", "std"])
    out[("n", "")] = groups.size()
    return out


def as_text(spread_frame, digits=3, labels: dict | None = None):
    """A :func:`spread` frame as strings ``"0.976 ± 0.004"`` (columns renamed by ``labels``).

    ``digits``: decimals, one number for all measures or a dict measure ->
    decimals (measures it leaves out get 3).
    """
    import pandas as pd

    measures = [m for m in dict.fromkeys(c[0] for c in spread_frame.columns) if m != "n"]
    labels = labels or {}

    def cell(mean, std, d):
        if pd.isna(mean):
            return "–"
        return f"{mean:,.{d}f}" + ("" if pd.isna(std) or std == 0 else f" ± {std:,.{d}f}")

    def places(m):
        return digits.get(m, 3) if isinstance(digits, dict) else digits

    return pd.DataFrame(
        {
            labels.get(m, m): [
                cell(a, b, places(m)) for a, b in zip(spread_frame[(m, "mean")], spread_frame[(m, "std")])
            ]
            for m in measures
        },
        index=spread_frame.index,
    )


def replicates(detection, split, n_boot: int | None = None) -> dict:
    """Bootstrap replicates of a test detection's image and pixel AUROC, as fields of a result row.

    ``{"image_auroc_boot": [...], "pixel_auroc_boot": [...]}`` (the pixel one
    only with masks), each :data:`anotutor.metrics.N_BOOT` values rounded to
    four decimals, the test images redrawn with the same draws for every
    detector on the same test set (:func:`anotutor.metrics.auroc_replicates`),
    so :func:`interval` and :func:`difference` can be computed from the
    committed rows alone.
    """
    from .. import metrics

    n_boot = n_boot or metrics.N_BOOT
    out = {"image_auroc_boot": _rounded(metrics.image_replicates(detection.scores, split.labels, n_boot)[1])}
    if split.masks is not None:
        out["pixel_auroc_boot"] = _rounded(metrics.pixel_replicates(detection.maps, split.masks, n_boot)[1])
    return out


def scored(detection, split, **fields) -> dict:
    """A result row of one live detection: its image (and pixel) AUROC with their replicates, and
    ``fields``; :func:`interval` and :func:`difference` take it as a one-seed row (a chapter's live
    model), paired with another row of the same test split by equal ``texture`` and ``seed``."""
    from .. import metrics

    row = {"texture": None, "seed": 0, **fields, "image_auroc": metrics.image_auroc(detection.scores, split.labels)}
    if split.masks is not None:
        row["pixel_auroc"] = metrics.pixel_auroc(detection.maps, split.masks)
    return {**row, **replicates(detection, split)}


def _rounded(values) -> list[float]:
    return [round(float(v), 4) for v in values]


class Interval(tuple):
    """``(estimate, low, high)``: a mean over seeds with its 95 % interval; ``tie`` when it holds 0."""

    def __new__(cls, estimate: float, low: float, high: float):
        return super().__new__(cls, (float(estimate), float(low), float(high)))

    estimate = property(lambda self: self[0])
    low = property(lambda self: self[1])
    high = property(lambda self: self[2])
    tie = property(lambda self: self[1] <= 0.0 <= self[2])
    signed = property(
        lambda self: f"{self[0]:+.3f} [{self[1]:+.3f}, {self[2]:+.3f}]",
        doc="The estimate and its interval, signed: '+0.039 [+0.008, +0.073]'.",
    )

    def __str__(self) -> str:
        return f"{self[0]:.3f} [{self[1]:.3f}, {self[2]:.3f}]"


def _combined(points: np.ndarray, reps: np.ndarray | None, level: float = 0.95) -> Interval:
    """The book's one uncertainty rule (chapter 1, "How sure is a number?").

    Mean of ``points`` (one per seed) with the percentile interval of the
    seeds' mean replicate (the test images' bootstrap); where the seeds' own
    normal interval (1.96 standard errors, two seeds or more) reaches
    further on a side, that side is taken from it instead. Without
    replicates (``reps`` None: a measure nobody bootstrapped, such as a
    validation F1) only the seeds' part is left; it needs two seeds or more.
    """
    point = float(np.mean(points))
    if reps is None:
        if len(points) < 2:
            raise ValueError(
                "a measure without bootstrap replicates needs two "
                "seeds or more for an interval; rerun its benchmark "
                "(results.replicates adds them) or add seeds"
            )
        lo = hi = point
    else:  # the test images' bootstrap: percentiles of the seeds' mean replicate
        lo, hi = np.quantile(reps.mean(axis=0), [(1 - level) / 2, (1 + level) / 2])
    seed = 0.0
    if len(points) > 1:  # the seeds' spread: 1.96 standard errors of their mean
        seed = Z95 * float(np.std(points, ddof=1)) / np.sqrt(len(points))
    return Interval(point, min(lo, point - seed), max(hi, point + seed))


def _boot(rows, measure: str) -> tuple[np.ndarray, np.ndarray | None]:
    key = f"{measure}_boot"
    rows = list(rows)
    if not rows:
        raise ValueError(f"no rows to compute a {measure} interval from")
    lacking = [r.get("name", "?") for r in rows if key not in r]
    if any(measure not in r or r[measure] is None for r in rows):
        raise ValueError(f"rows lack a value of {measure!r}")
    points = np.array([r[measure] for r in rows], dtype=float)
    if len(lacking) == len(rows):
        if len(rows) > 1:
            return points, None  # no replicates at all: the seeds' part of the rule alone
        raise ValueError(
            f"one row without {key!r} gives no interval: rerun its benchmark "
            f"(results.replicates adds it), or give two seeds or more"
        )
    if lacking:
        raise ValueError(
            f"rows of {sorted(set(lacking))} lack {key!r}: rerun their benchmark (results.replicates adds it)"
        )
    return points, np.array([r[key] for r in rows], dtype=float)


def interval(rows, measure: str = "pixel_auroc") -> Interval:
    """The mean of ``measure`` over ``rows`` (one per seed) and its 95 % interval: the book's one rule.

    The interval is the test images' bootstrap (the percentile interval of
    the mean of the rows' replicates, :func:`replicates`), widened on a side
    where the seeds' spread reaches further (their mean ± 1.96 standard
    errors): with seeds that draw the data afresh that spread holds both the
    test sampling and the training's chance, each estimated apart, and the
    wider one is kept rather than both added. With two or three seeds the
    seeds' part is itself rough. A measure without replicates (two seeds or
    more) gets the seeds' part alone. An AUROC's interval is clipped to
    [0, 1].
    """
    est, lo, hi = _combined(*_boot(rows, measure))
    if any(k in measure for k in ("auroc", "aupro", "f1")):
        lo, hi = max(lo, 0.0), min(hi, 1.0)  # an AUROC lies in [0, 1]; so does its interval
    return Interval(est, lo, hi)


def difference(rows_a, rows_b, measure: str = "pixel_auroc") -> Interval:
    """``a - b`` of ``measure`` with its 95 % interval, paired seed by seed: the book's one rule.

    ``rows_a`` and ``rows_b`` hold one row per seed in the same order, each
    pair scored on the same test set (so their replicates share the draws).
    ``.tie`` is true when the interval holds 0: then no sentence may name a
    winner (:func:`verdict` says it in words). Rows without replicates for
    ``measure`` (two seeds or more) get the seeds' part of the rule alone.
    """
    rows_a, rows_b = list(rows_a), list(rows_b)
    _paired(rows_a, rows_b)
    (pa, ra), (pb, rb) = _boot(rows_a, measure), _boot(rows_b, measure)
    if (ra is None) != (rb is None):
        raise ValueError(
            f"one side has bootstrap replicates of {measure!r} and the other not; rerun the benchmark that lacks them"
        )
    return _combined(pa - pb, None if ra is None else ra - rb)


def verdict(gap: Interval, better: str = "better", worse: str = "worse", tie: str = "a tie") -> str:
    """The words for a :func:`difference`: ``tie`` when its 95 % interval holds 0, else ``better``
    (interval above 0) or ``worse`` (below). The one tie rule of every verdict in the book."""
    if not isinstance(gap, Interval):
        raise ValueError(f"verdict takes an Interval (results.difference), got {type(gap).__name__}")
    return tie if gap.tie else better if gap.low > 0 else worse


def joined(items) -> str:
    """``"A"``, ``"A and B"``, ``"A, B and C"``: a list in a sentence."""
    items = [str(i) for i in items]
    if not items:
        raise ValueError("joined needs at least one item")
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def grouped(words: dict, prep: str, rival: str | None = None) -> str:
    """Verdict words by key as one phrase, keys of one word together, in first-seen order:
    ``grouped({"brick": "above", "grass": "level with", "gravel": "level with"}, "on",
    "the floor")`` is ``"above the floor on brick, level with it on grass and gravel"``;
    without ``rival``, ``"above on brick, level with on grass and gravel"``."""
    parts: list[str] = []
    for w in dict.fromkeys(words.values()):
        where = joined(k for k, v in words.items() if v == w)
        who = "" if rival is None else f" {'it' if parts else rival}"
        parts.append(f"{w}{who} {prep} {where}")
    return ", ".join(parts)


def merged(old: dict, new: dict, methods, where: str, names) -> dict:
    """The committed result ``old`` with ``methods``' rows replaced by ``new``'s (a benchmark rerun for
    some methods only): the run recorded in ``meta["merged"]``, rows ordered by ``where`` (the
    ``meta`` list naming the data: ``"textures"`` or ``"kinds"``), seed and the order of ``names``
    (every method's name, e.g. the catalog's)."""
    run = {k: new["meta"][k] for k in ("date", "machine", "threads", "anotutor", "torch", "seconds", "complete")}
    meta = {
        **old["meta"],
        "merged": [
            *[m for m in old["meta"].get("merged", []) if not set(m["methods"]) <= set(methods)],
            {**run, "methods": methods},
        ],
    }
    meta["methods"] = [n for n in names if n in set(old["meta"]["methods"]) | set(methods)]
    meta["complete"] = bool(old["meta"]["complete"] and new["meta"]["complete"])
    order = {n: i for i, n in enumerate(meta["methods"])}
    key = {"textures": "texture", "kinds": "kind"}[where]
    rows = [r for r in old["rows"] if r["method"] not in methods] + new["rows"]
    rows.sort(key=lambda r: (meta[where].index(r[key]), r["seed"], order[r["method"]]))
    return {**old, **{k: v for k, v in new.items() if k not in ("meta", "rows")}, "meta": meta, "rows": rows}


def _paired(rows_a, rows_b) -> None:
    pairs = [(a.get("texture"), a.get("seed")) for a in rows_a]
    if not pairs or pairs != [(b.get("texture"), b.get("seed")) for b in rows_b]:
        raise ValueError(
            f"difference needs rows paired by texture and seed, got {pairs} against "
            f"{[(b.get('texture'), b.get('seed')) for b in rows_b]}"
        )


def intervals(rows, measures, by=("texture", "name")):
    """Like :func:`spread`, but each cell ``"0.970 [0.955, 0.982]"``: the mean over seeds and its
    :func:`interval` (a single row without replicates is shown as its value)."""
    import pandas as pd

    rows = list(rows)
    frame = pd.DataFrame(rows)
    if frame.empty:
        raise ValueError("intervals needs at least one row")
    by = list(by)
    cells = {}
    for key, group in frame.groupby(by, sort=False):
        mine = [rows[i] for i in group.index]
        cells[key] = {
            m: str(interval(mine, m))
            if (f"{m}_boot" in group and group[f"{m}_boot"].notna().all()) or len(mine) > 1
            else as_text(spread(mine, [m], by)).iloc[0, 0]
            for m in measures
        }
    out = pd.DataFrame.from_dict(cells, orient="index")
    out.index.names = by
    return out


def markdown(frame) -> str:
    """A pandas DataFrame as a GitHub markdown table (its index as the first columns), without tabulate."""
    flat = frame.reset_index() if any(n is not None for n in frame.index.names) else frame

    def name(c):
        return " ".join(str(x) for x in c if str(x)) if isinstance(c, tuple) else str(c)

    return table([name(c) for c in flat.columns], flat.itertuples(index=False))


def table(head, rows, right: int | None = None) -> str:
    """A GitHub markdown table of ``head`` and ``rows`` (sequences of cells; None is empty);
    columns from index ``right`` on are right-aligned (numbers). The one table writer of the
    benchmarks and the command line."""
    head = [str(h) for h in head]
    align = ["---" if right is None or i < right else "---:" for i in range(len(head))]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for values in rows:
        lines.append("| " + " | ".join("" if v is None else str(v) for v in values) + " |")
    return "\n".join(lines)
