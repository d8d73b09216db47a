"""ipywidgets explorers for the book's knobs (tau, latent size, gamma, ...).

Thin by design (DESIGN.md): each explorer wires a slider to a *pure* function
that lives in a lower layer and is unit-tested there, and to a plot from
:mod:`anotutor.viz`.

Every explorer is one call to :func:`linked_explorer`: it calls
``render(position) -> (text, figure)`` once for each of a fixed set of
positions (tau values on the map's scale, the trained latent sizes, the
trained gamma values, ...), keeps each result as a small palette PNG
(``Image``) under its printed line (``HTML``), stacks them in a ``Stack``
and links the slider's ``index`` to the stack's ``selected_index`` with
``jslink``. The link runs in the browser, so the same widget moves in the
built HTML book, which has no kernel (the saved widget state carries the
images, the text and the link; nothing is fetched), and in Jupyter or Colab.
The chapters still show a static figure of the whole sweep beside each
widget, for print and for readers without JavaScript.

Nothing is drawn through an ``Output`` widget, and nothing is captured with
``with out:``: notebook executors (nbclient, behind Jupyter Book and nbval)
can deadlock on captured widget output (jupyter/nbclient#312), which an
unattended book build cannot afford, and an ``Output``'s content need not be
in the saved state.
"""

from __future__ import annotations

import html
import io
import numbers
from collections.abc import Callable, Sequence

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np

from . import metrics, theory, viz
from .checks import check_range

__all__ = ["linked_explorer", "figure_png", "tau_explorer", "choice_explorer", "gamma_explorer"]

# the per-widget weight the book allows (benchmarks/pages.py checks the built pages)
MAX_WIDGET_BYTES = 2_000_000


def figure_png(fig, dpi: int = 72) -> bytes:
    """``fig`` as a 256-colour palette PNG (a few tens of kB); the figure is closed."""
    from PIL import Image as PILImage

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    rgb = PILImage.open(io.BytesIO(buf.getvalue())).convert("RGB")
    pal = rgb.quantize(colors=256, method=PILImage.Quantize.FASTOCTREE, dither=PILImage.Dither.NONE)
    out = io.BytesIO()
    pal.save(out, format="png", optimize=True)
    return out.getvalue()


def _label(p) -> str:
    if isinstance(p, numbers.Real) and not isinstance(p, bool) and not isinstance(p, numbers.Integral):
        return f"{float(p):g}"
    return str(p)


def _same(a, b) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # e.g. arrays: compared by identity
        return a is b


def linked_explorer(
    positions: Sequence,
    render: Callable,
    *,
    description: str = "position",
    value=None,
    labels: Sequence[str] | None = None,
    dpi: int = 72,
) -> W.VBox:
    """A slider over ``positions`` that shows ``render(position) -> (text, figure)``, without a kernel.

    ``render`` is called once per position, now (it must be pure: the same
    position gives the same output); ``text`` (a string, may be empty) is
    shown above ``figure`` (a matplotlib figure, closed here, or None). The
    results sit in a ``Stack`` whose ``selected_index`` is ``jslink``-ed to
    the slider's ``index``, so moving the slider in a saved page (the HTML
    book) or in a live notebook shows the precomputed result at once.

    ``labels`` are the slider's readouts (default: each position, numbers
    with ``:g``); ``value`` is the position shown first (default: the middle
    one). Returns ``VBox([slider, stack])`` with ``.slider``, ``.stack``,
    ``.link``, ``.positions``, ``.labels``, ``.texts`` and ``.nbytes`` (the
    PNG bytes it holds) set on it.
    """
    positions = list(positions)
    if not positions:
        raise ValueError(f"linked_explorer ({description}) needs at least one position")
    for j, p in enumerate(positions):
        for i in range(j):
            if _same(positions[i], p):
                raise ValueError(
                    f"linked_explorer ({description}): positions must be distinct, "
                    f"{p!r} is both position {i} and position {j}"
                )
    labels = [_label(p) for p in positions] if labels is None else [str(s) for s in labels]
    if len(labels) != len(positions):
        raise ValueError(f"linked_explorer ({description}): {len(labels)} labels for {len(positions)} positions")
    if len(set(labels)) != len(labels):
        dup = next(s for s in labels if labels.count(s) > 1)
        raise ValueError(f"linked_explorer ({description}): labels must be distinct, {dup!r} is used twice")
    if value is None:
        start = len(positions) // 2
    else:
        matches = [i for i, p in enumerate(positions) if _same(p, value)]
        if not matches:
            raise ValueError(f"linked_explorer ({description}): value {value!r} is not one of the positions {labels}")
        start = matches[0]

    pages, texts, nbytes = [], [], 0
    for i, p in enumerate(positions):
        try:
            result = render(p)
        except Exception as err:
            raise RuntimeError(
                f"linked_explorer ({description}): render failed at position {i} "
                f"({labels[i]!r}, value {p!r}): {type(err).__name__}: {err}"
            ) from err
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError(
                f"linked_explorer ({description}): render({p!r}) must return (text, figure), "
                f"got {type(result).__name__}"
            )
        text, fig = result
        text = "" if text is None else str(text)
        texts.append(text)
        parts = [W.HTML(value=f'<pre style="margin: 0; white-space: pre-wrap">{html.escape(text)}</pre>')]
        if fig is not None:
            png = figure_png(fig, dpi=dpi)
            nbytes += len(png)
            parts.append(W.Image(value=png, format="png", layout=W.Layout(max_width="100%", height="auto")))
        pages.append(W.VBox(parts))

    slider = W.SelectionSlider(
        options=list(zip(labels, positions)),
        index=start,
        description=description,
        continuous_update=True,
        layout=W.Layout(width="min(100%, 36em)"),
    )
    stack = W.Stack(pages, selected_index=start)
    link = W.jslink((slider, "index"), (stack, "selected_index"))
    box = W.VBox([slider, stack])
    box.slider, box.stack, box.link = slider, stack, link
    box.positions, box.labels, box.texts, box.nbytes = positions, labels, texts, nbytes
    return box


def tau_grid(top: float, tau: float | None = None, n: int = 24) -> list[float]:
    """``n`` thresholds from 0 to ``top`` (3 decimals), with ``tau`` among them."""
    grid = {round(float(t), 3) for t in np.linspace(0.0, top, n)}
    if tau is not None:  # tau replaces the grid's points within half a step of it
        step = top / max(n - 1, 1)
        grid = {t for t in grid if abs(t - tau) >= step / 2} | {round(float(tau), 3)}
    return sorted(grid)


def tau_explorer(
    maps,
    masks,
    images,
    tau: float = 0.1,
    show: int = 4,
    tau_max: float | None = None,
    positions: int | Sequence[float] = 24,
) -> W.VBox:
    """A tau slider over residual ``maps``: prints pixel precision, recall and F1
    (:func:`anotutor.metrics.precision_recall_f1`) and draws the predicted masks of
    the first ``show`` images, outlined against the ground truth.

    ``positions``: the thresholds the slider offers, or how many to spread
    evenly from 0 to ``tau_max`` (default: the largest map value); ``tau``
    is always one of them, and the one shown first.
    """
    top = float(tau_max if tau_max is not None else max(float(np.asarray(maps).max()), 1e-3))
    tau = round(min(float(tau), top), 3)
    if isinstance(positions, (int, numbers.Integral)):  # int first: the type checker narrows on it
        taus = tau_grid(top, tau, int(positions))
    else:
        taus = sorted({round(float(t), 3) for t in positions} | {tau})
    idx = list(range(min(show, len(images))))
    heats = [np.asarray(maps[i]) for i in idx]

    def render(tau):
        prf = metrics.precision_recall_f1(maps, masks, tau)
        text = f"tau = {tau:.3f}:  precision {prf.precision:.3f}   recall {prf.recall:.3f}   F1 {prf.f1:.3f}"
        fig, axes = plt.subplots(1, len(idx), figsize=(2.2 * len(idx), 2.4), squeeze=False)
        for ax, i, heat in zip(axes[0], idx, heats):
            viz.overlay(ax, images[i], mask=masks[i], heat=(heat >= tau).astype(float), alpha=0.5, heat_max=1.0)
        axes[0, 0].set_ylabel("predicted (heat)\nvs truth (red)", fontsize=8)
        fig.tight_layout(pad=0.3)
        return text, fig

    return linked_explorer(taus, render, description="tau", value=tau, labels=[f"{t:.3f}" for t in taus])


def choice_explorer(options: dict, render, description: str = "choice", value=None) -> W.VBox:
    """A slider over the keys of ``options`` (e.g. trained latent sizes);
    ``render(key, value) -> (text, figure)`` shows what was computed for that key beforehand."""
    keys = list(options)
    if not keys:
        raise ValueError("choice_explorer needs at least one option")
    return linked_explorer(keys, lambda key: render(key, options[key]), description=description, value=value)


GAMMAS = tuple(round(g, 2) for g in np.arange(0.05, 1.0001, 0.05))  # 0.05, 0.10, ..., 1.00


def gamma_explorer(
    x,
    p_d,
    p_an,
    gamma: float = 0.5,
    region=None,
    width: float | None = None,
    clipped: bool = True,
    positions: Sequence[float] = GAMMAS,
) -> W.VBox:
    """A gamma slider over ``positions`` in (0, 1] redrawing p_d, p_an and p_g* (eq. 23 and the
    constrained optimum); ``gamma`` is one of them, the one shown first.

    Calls :func:`anotutor.theory.distortion` and :func:`anotutor.viz.plot_distortion`.
    """
    gamma = check_range(gamma, "gamma", 0.0, 1.0, low_open=True)
    gammas = sorted({round(check_range(g, "gamma", 0.0, 1.0, low_open=True), 3) for g in positions} | {round(gamma, 3)})
    theory.distortion(p_d, p_an, gamma, region)  # fail here, with a clear error, on bad inputs

    def render(gamma):
        d = theory.distortion(p_d, p_an, gamma, region)
        fig, ax = plt.subplots(figsize=(9, 3.6))
        viz.plot_distortion(ax, x, d, width, legend=False, clipped=clipped)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        state = (
            "eq. 23 is a distribution"
            if d.feasible
            else f"eq. 23 goes negative (mass {d.negative_mass:.3f}); level k = {d.level:.3f}"
        )
        ax.set_title(f"{ax.get_title()}\n{state}", fontsize=9)
        fig.tight_layout()
        return f"gamma = {gamma:.2f}: removed from the anomaly mode {d.removed:.3f}", fig

    return linked_explorer(
        gammas, render, description="gamma", value=round(gamma, 3), labels=[f"{g:.2f}" for g in gammas]
    )
