"""Committed benchmark results, shipped with the package so chapters can show them anywhere.

The scripts in ``benchmarks/`` write JSON files here (with the date, the
machine and the settings they ran with); a chapter reads one with
:func:`load` and says when and where it was measured. Nothing here is
computed at import time, and nothing is edited by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["RESULTS", "load", "path"]

RESULTS = Path(__file__).resolve().parent


def path(name: str) -> Path:
    """Where result ``name`` (e.g. ``"pnunet_ablation"``) lives."""
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ValueError(f"result name must be a plain file stem, got {name!r}")
    return RESULTS / f"{name}.json"


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
