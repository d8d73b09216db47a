"""ipywidgets explorers for the book's knobs (tau, latent size, gamma).

Thin by design (DESIGN.md): each explorer wires a slider to a *pure* function
that lives in a lower layer and is unit-tested there, and to a plot from
:mod:`anotutor.viz`. The book shows a static figure of the same sweep beside
every widget, because the HTML page has no kernel to call back into.
"""

from __future__ import annotations

__all__: list[str] = []
