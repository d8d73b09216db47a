"""ipywidgets explorers for the book's knobs (tau, latent size, gamma).

Thin by design (DESIGN.md): each explorer wires a slider to a *pure* function
that lives in a lower layer and is unit-tested there, and to a plot from
:mod:`anotutor.viz`. The book shows a static figure of the same sweep beside
every widget, because the HTML page has no kernel to call back into.
"""

from __future__ import annotations

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np

from . import metrics, viz

__all__ = ["tau_explorer", "choice_explorer"]


def tau_explorer(maps, masks, images, tau: float = 0.1, show: int = 4, tau_max: float | None = None):
    """A tau slider over residual ``maps``: prints pixel precision, recall and F1
    (:func:`anotutor.metrics.precision_recall_f1`) and draws the predicted masks of
    the first ``show`` images, outlined against the ground truth."""
    top = float(tau_max if tau_max is not None else max(float(np.asarray(maps).max()), 1e-3))
    slider = W.FloatSlider(value=min(float(tau), top), min=0.0, max=top, step=top / 200, readout_format=".3f",
                           description="tau", continuous_update=False)
    idx = list(range(min(show, len(images))))

    def draw(tau):
        prf = metrics.precision_recall_f1(maps, masks, tau)
        print(f"tau = {tau:.3f}:  precision {prf.precision:.3f}   recall {prf.recall:.3f}   F1 {prf.f1:.3f}")
        fig, axes = plt.subplots(1, len(idx), figsize=(2.2 * len(idx), 2.4), squeeze=False)
        for ax, i in zip(axes[0], idx):
            viz.overlay(ax, images[i], mask=masks[i], heat=(np.asarray(maps[i]) >= tau).astype(float), alpha=0.5)
        axes[0, 0].set_ylabel("predicted (heat)\nvs truth (red)", fontsize=8)
        fig.tight_layout(pad=0.3)
        plt.show()

    return W.interactive(draw, tau=slider)


def choice_explorer(options: dict, draw, description: str = "choice"):
    """A slider over the keys of ``options`` (e.g. trained latent sizes); ``draw(key, value)``
    prints and plots what was computed for that key beforehand."""
    keys = list(options)
    if not keys:
        raise ValueError("choice_explorer needs at least one option")
    slider = W.SelectionSlider(options=keys, value=keys[len(keys) // 2], description=description,
                               continuous_update=False)
    return W.interactive(lambda key: draw(key, options[key]), key=slider)

