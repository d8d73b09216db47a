"""Committed benchmark results, shipped with the package so chapters can show them anywhere.

The scripts in ``benchmarks/`` write JSON files here (with the date, the
machine and the settings they ran with); a chapter reads one with
:func:`load` and says when and where it was measured. Nothing here is
computed at import time, and nothing is edited by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["RESULTS", "load", "path", "provenance", "spread", "as_text", "markdown"]

RESULTS = Path(__file__).resolve().parent


def path(name: str) -> Path:
    """Where result ``name`` (e.g. ``"pnunet_ablation"``) lives."""
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ValueError(f"result name must be a plain file stem, got {name!r}")
    return RESULTS / f"{name}.json"


def provenance(seconds: float) -> dict:
    """Where and when a benchmark ran, the same fields in every result's ``meta``.

    ``date``, ``machine`` (host, architecture and GPU or "no GPU"), PyTorch's
    CPU ``threads``, the ``anotutor`` and ``torch`` versions, and the run's
    wall ``seconds``.
    """
    import platform
    import time

    import torch

    from .. import __version__

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.node()} ({platform.machine()}, {gpu})",
            "threads": torch.get_num_threads(), "anotutor": __version__, "torch": torch.__version__,
            "seconds": round(float(seconds), 1)}


def load(name: str) -> dict:
    """The result ``name``: a dict with ``meta`` (date, machine, settings) and ``rows``."""
    p = path(name)
    if not p.is_file():
        known = sorted(f.stem for f in RESULTS.glob("*.json"))
        raise FileNotFoundError(f"no committed result {name!r} in {RESULTS}; known: {known}. "
                                f"Run the script in benchmarks/ that writes it.")
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

    return pd.DataFrame({labels.get(m, m): [cell(a, b, places(m)) for a, b in
                                            zip(spread_frame[(m, "mean")], spread_frame[(m, "std")])]
                         for m in measures}, index=spread_frame.index)


def markdown(frame) -> str:
    """A pandas DataFrame as a GitHub markdown table (its index as the first columns), without tabulate."""
    flat = frame.reset_index() if any(n is not None for n in frame.index.names) else frame

    def name(c):
        return " ".join(str(x) for x in c if str(x)) if isinstance(c, tuple) else str(c)

    head = [name(c) for c in flat.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for values in flat.itertuples(index=False):
        lines.append("| " + " | ".join("" if v is None else str(v) for v in values) + " |")
    return "\n".join(lines)
