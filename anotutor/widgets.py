"""ipywidgets explorers for the book's knobs (tau, latent size, gamma).

Thin by design (DESIGN.md): each explorer wires a slider to a *pure* function
that lives in a lower layer and is unit-tested there, and to a plot from
:mod:`anotutor.viz`. The book shows a static figure of the same sweep beside
every widget, because the HTML page has no kernel to call back into.
"""

from __future__ import annotations

import ipywidgets as W
import matplotlib.pyplot as plt

from . import theory, viz
from .checks import check_range

__all__ = ["gamma_explorer"]


def gamma_explorer(x, p_d, p_an, gamma: float = 0.5, region=None, width: float | None = None,
                   clipped: bool = True) -> W.VBox:
    """A gamma slider in (0, 1] redrawing p_d, p_an and p_g* (eq. 23 and the constrained optimum).

    Calls :func:`anotutor.theory.distortion` and :func:`anotutor.viz.plot_distortion`.
    """
    gamma = check_range(gamma, "gamma", 0.0, 1.0, low_open=True)
    theory.distortion(p_d, p_an, gamma, region)  # fail here, with a clear error, on bad inputs
    slider = W.FloatSlider(value=gamma, min=0.02, max=1.0, step=0.01, description="gamma",
                           continuous_update=False, readout_format=".2f")

    def draw(gamma):
        d = theory.distortion(p_d, p_an, gamma, region)
        fig, ax = plt.subplots(figsize=(9, 3.6))
        viz.plot_distortion(ax, x, d, width, legend=False, clipped=clipped)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        state = "eq. 23 is a distribution" if d.feasible else \
            f"eq. 23 goes negative (mass {d.negative_mass:.3f}); level k = {d.level:.3f}"
        ax.set_title(f"{ax.get_title()}\n{state}; removed from the anomaly mode: {d.removed:.3f}", fontsize=9)
        fig.tight_layout()
        plt.show()

    out = W.interactive_output(draw, {"gamma": slider})
    return W.VBox([slider, out])
