"""ipywidgets explorers for the book's knobs (tau, latent size, gamma).

Thin by design (DESIGN.md): each explorer wires a slider to a *pure* function
that lives in a lower layer and is unit-tested there, and to a plot from
:mod:`anotutor.viz`. The book shows a static figure of the same sweep beside
every widget, because the HTML page has no kernel to call back into.

Every explorer is a slider above an ``Output`` widget that :func:`_live`
fills directly (``append_stdout``, ``append_display_data``) rather than by
capturing ``print`` and ``plt.show`` inside ``with out:``: notebook executors
(nbclient, behind Jupyter Book and nbval) can deadlock on captured widget
output (jupyter/nbclient#312), which an unattended book build cannot afford.
"""

from __future__ import annotations

import io

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image

from . import metrics, theory, viz
from .checks import check_range

__all__ = ["tau_explorer", "choice_explorer", "gamma_explorer"]


def _live(slider, render) -> W.VBox:
    """A ``slider`` above an output area showing ``render(value) -> (text, figure)``, redrawn on change."""
    out = W.Output()

    def redraw(change=None):
        text, fig = render(slider.value)
        out.outputs = ()
        if text:
            out.append_stdout(text + "\n")
        if fig is not None:
            buf = io.BytesIO()  # a PNG of our own: no dependence on the front end's figure formatter
            fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
            plt.close(fig)
            out.append_display_data(Image(data=buf.getvalue(), format="png"))

    slider.observe(redraw, names="value")
    redraw()
    return W.VBox([slider, out])


def tau_explorer(maps, masks, images, tau: float = 0.1, show: int = 4, tau_max: float | None = None) -> W.VBox:
    """A tau slider over residual ``maps``: prints pixel precision, recall and F1
    (:func:`anotutor.metrics.precision_recall_f1`) and draws the predicted masks of
    the first ``show`` images, outlined against the ground truth."""
    top = float(tau_max if tau_max is not None else max(float(np.asarray(maps).max()), 1e-3))
    slider = W.FloatSlider(value=min(float(tau), top), min=0.0, max=top, step=top / 200, readout_format=".3f",
                           description="tau", continuous_update=False)
    idx = list(range(min(show, len(images))))

    def render(tau):
        prf = metrics.precision_recall_f1(maps, masks, tau)
        text = f"tau = {tau:.3f}:  precision {prf.precision:.3f}   recall {prf.recall:.3f}   F1 {prf.f1:.3f}"
        fig, axes = plt.subplots(1, len(idx), figsize=(2.2 * len(idx), 2.4), squeeze=False)
        for ax, i in zip(axes[0], idx):
            viz.overlay(ax, images[i], mask=masks[i], heat=(np.asarray(maps[i]) >= tau).astype(float), alpha=0.5)
        axes[0, 0].set_ylabel("predicted (heat)\nvs truth (red)", fontsize=8)
        fig.tight_layout(pad=0.3)
        return text, fig

    return _live(slider, render)


def choice_explorer(options: dict, render, description: str = "choice") -> W.VBox:
    """A slider over the keys of ``options`` (e.g. trained latent sizes);
    ``render(key, value) -> (text, figure)`` shows what was computed for that key beforehand."""
    keys = list(options)
    if not keys:
        raise ValueError("choice_explorer needs at least one option")
    slider = W.SelectionSlider(options=keys, value=keys[len(keys) // 2], description=description,
                               continuous_update=False)
    return _live(slider, lambda key: render(key, options[key]))


def gamma_explorer(x, p_d, p_an, gamma: float = 0.5, region=None, width: float | None = None,
                   clipped: bool = True) -> W.VBox:
    """A gamma slider in (0, 1] redrawing p_d, p_an and p_g* (eq. 23 and the constrained optimum).

    Calls :func:`anotutor.theory.distortion` and :func:`anotutor.viz.plot_distortion`.
    """
    gamma = check_range(gamma, "gamma", 0.0, 1.0, low_open=True)
    theory.distortion(p_d, p_an, gamma, region)  # fail here, with a clear error, on bad inputs
    slider = W.FloatSlider(value=gamma, min=0.02, max=1.0, step=0.01, description="gamma",
                           continuous_update=False, readout_format=".2f")

    def render(gamma):
        d = theory.distortion(p_d, p_an, gamma, region)
        fig, ax = plt.subplots(figsize=(9, 3.6))
        viz.plot_distortion(ax, x, d, width, legend=False, clipped=clipped)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        state = "eq. 23 is a distribution" if d.feasible else \
            f"eq. 23 goes negative (mass {d.negative_mass:.3f}); level k = {d.level:.3f}"
        ax.set_title(f"{ax.get_title()}\n{state}; removed from the anomaly mode: {d.removed:.3f}", fontsize=9)
        fig.tight_layout()
        return "", fig

    return _live(slider, render)
