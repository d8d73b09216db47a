"""Figures: image grids, mask overlays, heat maps, ROC and PRO curves, sweeps, losses,
1-D densities.

Drawing only: every function takes numbers computed elsewhere and returns a
matplotlib figure (or draws on the axes it is given).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

__all__ = [
    "to_display",
    "image_grid",
    "image_rows",
    "case_rows",
    "superpixel_outlines",
    "overlay",
    "map_overlays",
    "plot_curve",
    "plot_prf_sweep",
    "plot_losses",
    "reconstruction_figure",
    "plot_distortion",
    "plot_distortions",
    "plot_against_baseline",
    "residual_strip",
    "plot_gamma_curves",
    "plot_gan_runs",
    "plot_score_histograms",
    "plot_search",
    "plot_sweep",
    "overlay_pixels",
    "plot_quality_speed",
]


def to_display(img) -> np.ndarray:
    """One image ([C, H, W], [H, W] tensor or array) as an array imshow can draw."""
    a = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
    if a.ndim == 3 and a.shape[0] in (1, 3):
        a = a[0] if a.shape[0] == 1 else np.transpose(a, (1, 2, 0))
    return a


def image_grid(
    images,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    size: float = 1.4,
    cmap: str = "gray",
    vmin: float | None = 0.0,
    vmax: float | None = 1.0,
    row_labels: Sequence[str] | None = None,
):
    """A grid of images ([N, C, H, W], [N, H, W] or a list) with optional titles."""
    items = list(images)
    n = len(items)
    if n == 0:
        raise ValueError("image_grid needs at least one image")
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows + (0.25 if titles else 0)), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.axis("off")
            continue
        ax.imshow(to_display(items[i]), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    if row_labels is not None:
        for r, label in enumerate(row_labels[:nrows]):
            axes[r, 0].set_ylabel(label, fontsize=9)
    fig.tight_layout(pad=0.3)
    return fig


def overlay(
    ax,
    image,
    mask=None,
    heat=None,
    color: str = "red",
    alpha: float = 0.45,
    cmap: str = "inferno",
    heat_max: float | None = None,
):
    """Draw ``image`` on ``ax``, with a heat map (semi-transparent) and/or a mask outline on top.

    The heat map spans its own range, or [0, ``heat_max``] when given (a
    binary mask: 1, so that all-ones and all-zeros do not look the same)."""
    ax.imshow(to_display(image), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    if heat is not None:
        scale = {} if heat_max is None else {"vmin": 0.0, "vmax": float(heat_max)}
        ax.imshow(to_display(heat), cmap=cmap, alpha=alpha, interpolation="nearest", **scale)
    if mask is not None:
        m = to_display(mask)
        if m.any():
            ax.contour(m, levels=[0.5], colors=color, linewidths=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def map_overlays(
    images,
    maps,
    masks=None,
    titles: Sequence[str] | None = None,
    heat_max: float | None = None,
    label: str = "anomaly map",
    cmap: str = "turbo",
    alpha: float = 0.8,
    size: float = 2.0,
):
    """A row of readable overlays: each image at full contrast, its map on top as a heat map that is
    transparent where the map is low, the true ``masks`` outlined in magenta, and one colour scale.

    Every image is stretched to its own 1st to 99th percentile (a dark texture stays readable); a
    map value v is drawn in ``cmap`` at opacity ``alpha * v / heat_max``, so low values leave the
    image visible and high ones cover it. ``heat_max``: the top of the shared scale (default: the
    largest map value). The colour bar on the right, labelled ``label``, gives the map's values.
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    images, maps = list(images), list(maps)
    masks = [None] * len(images) if masks is None else list(masks)
    if not images or len(maps) != len(images) or len(masks) != len(images):
        raise ValueError(
            f"map_overlays needs as many maps and masks as images, got {len(images)} "
            f"images, {len(maps)} maps and {len(masks)} masks"
        )
    heats = [np.asarray(to_display(m), dtype=np.float64) for m in maps]
    top = float(heat_max) if heat_max else max(max(float(h.max()) for h in heats), 1e-12)
    n = len(images)
    fig, axes = plt.subplots(1, n, figsize=(size * n + 0.6, size + (0.3 if titles else 0)), squeeze=False)
    colours = colormaps[cmap]
    for c, ax in enumerate(axes[0]):
        img = np.asarray(to_display(images[c]), dtype=np.float64)
        lo, hi = np.percentile(img, [1, 99])
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1e-6, interpolation="nearest")
        level = np.clip(heats[c] / top, 0.0, 1.0)
        rgba = colours(level)
        rgba[..., 3] = alpha * level
        ax.imshow(rgba, interpolation="nearest")
        if masks[c] is not None:
            m = to_display(masks[c])
            if np.asarray(m).any():
                ax.contour(m, levels=[0.5], colors="magenta", linewidths=0.9)
        ax.set_xticks([])
        ax.set_yticks([])
        if titles is not None:
            ax.set_title(titles[c], fontsize=9)
    fig.tight_layout(pad=0.3)
    bar = fig.colorbar(ScalarMappable(Normalize(0.0, top), cmap), ax=list(axes[0]), fraction=0.025, pad=0.01)
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return fig


def plot_curve(
    ax,
    x,
    y,
    label: str | None = None,
    xlabel: str = "false-positive rate",
    ylabel: str = "true-positive rate",
    x_max: float | None = None,
    **kwargs,
):
    """A ROC or PRO curve; ``x_max`` shades the region an area is integrated over."""
    ax.plot(x, y, label=label, **kwargs)
    if x_max is not None:
        keep = np.asarray(x) <= x_max
        ax.fill_between(np.asarray(x)[keep], np.asarray(y)[keep], alpha=0.15, step=None)
        ax.axvline(x_max, color="0.5", lw=0.8, ls="--")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    if label:
        ax.legend(fontsize=8)
    return ax


def plot_prf_sweep(ax, taus, precision, recall, f1, tau_mark: float | None = None, title: str | None = None):
    """Precision, recall and F1 against the threshold; ``tau_mark`` draws the chosen threshold."""
    ax.plot(taus, precision, label="precision", color="tab:blue")
    ax.plot(taus, recall, label="recall", color="tab:orange")
    ax.plot(taus, f1, label="F1", color="black", lw=2)
    if tau_mark is not None:
        ax.axvline(tau_mark, color="tab:red", ls="--", lw=1, label=f"tau = {tau_mark:.3f}")
    ax.set_xlabel("threshold tau on the residual")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(float(np.min(taus)), float(np.max(taus)))
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return ax


def plot_losses(ax, histories: dict, smooth: int = 20, ylabel: str = "training loss", log: bool = True):
    """Training curves, one per label, smoothed by a running mean over ``smooth`` steps.

    ``log=False`` keeps a linear axis with zero marked: for a quantity that
    changes sign (a gap between two means), which a log axis would hide."""
    for label, h in histories.items():
        h = np.asarray(h, dtype=np.float64)
        k = max(1, min(int(smooth), h.size))
        running = np.convolve(h, np.ones(k) / k, mode="valid")
        ax.plot(np.arange(k, h.size + 1), running, label=str(label))
    ax.set_xlabel("optimiser step")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    else:
        ax.axhline(0.0, color="0.5", lw=1, ls=":")
    ax.legend(fontsize=8)
    return ax


def plot_against_baseline(
    xs,
    reports: dict,
    baseline,
    columns: dict,
    xlabel: str = "latent size",
    label: str = "method",
    baseline_label: str = "brightness floor",
    log_x: bool = True,
    size: float = 3.6,
):
    """One panel per metric: ``reports[x].<column>`` against ``x``, the baseline's value dashed.

    ``reports`` maps each x to an object with the metric attributes (e.g. an
    :class:`~anotutor.methods.evaluate.Report`); ``columns`` maps attribute to
    panel title.
    """
    xs = list(xs)
    if not xs or not columns:
        raise ValueError("plot_against_baseline needs at least one x and one column")
    fig, axes = plt.subplots(1, len(columns), figsize=(size * len(columns), 3.1), squeeze=False)
    for ax, (col, title) in zip(axes[0], columns.items()):
        ax.plot(xs, [getattr(reports[x], col) for x in xs], "o-", label=label)
        ax.axhline(getattr(baseline, col), color="0.4", ls="--", label=baseline_label)
        if log_x:
            ax.set_xscale("log")
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.minorticks_off()
        ax.set_xlabel(xlabel)
        ax.set_title(title, fontsize=10)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def residual_strip(image, truth, reconstructions: dict, residuals: dict, size: float = 1.7):
    """Two rows for one image: the input and each reconstruction; the ground truth and each residual.

    ``reconstructions`` and ``residuals`` map a label (e.g. "latent 8") to an
    image [C, H, W] and a map [H, W]; residuals share one colour scale.
    """
    names = list(reconstructions)
    if not names or set(names) != set(residuals):
        raise ValueError("reconstructions and residuals need the same, non-empty labels")
    vmax = max(float(np.asarray(residuals[n]).max()) for n in names) or 1.0
    fig, axes = plt.subplots(2, len(names) + 1, figsize=(size * (len(names) + 1), 2 * size + 0.4))
    axes[0, 0].imshow(to_display(image), cmap="gray", vmin=0, vmax=1)
    axes[0, 0].set_title("input", fontsize=9)
    axes[1, 0].imshow(to_display(truth), cmap="gray", vmin=0, vmax=1)
    axes[1, 0].set_title("ground truth", fontsize=9)
    for j, n in enumerate(names, start=1):
        axes[0, j].imshow(to_display(reconstructions[n]), cmap="gray", vmin=0, vmax=1)
        axes[0, j].set_title(n, fontsize=9)
        axes[1, j].imshow(to_display(residuals[n]), cmap="inferno", vmin=0, vmax=vmax)
        axes[1, j].set_title(f"residual, {n}", fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout(pad=0.3)
    return fig


def image_rows(rows, titles: Sequence[str] | None = None, size: float = 1.5):
    """Rows of images, one column per example: ``rows`` is a list of ``(label, items, cmap, vmax)``.

    ``items`` holds one image or map per column ([C, H, W] or [H, W]); every row
    starts at 0, and ``vmax=None`` gives a row one shared scale (its largest
    value), so a brighter spot is a larger value within the row.
    """
    rows = list(rows)
    n = len(rows[0][1]) if rows else 0
    if n == 0 or any(len(r[1]) != n for r in rows):
        raise ValueError("image_rows needs the same, non-zero number of items in every row")
    fig, axes = plt.subplots(len(rows), n, figsize=(size * n, size * len(rows)), squeeze=False)
    for r, (label, items, cmap, top) in enumerate(rows):
        if top is None:
            top = max(float(np.max(to_display(i))) for i in items) or 1.0
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(to_display(items[c]), cmap=cmap, vmin=0.0, vmax=top, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=9)
            if r == 0 and titles is not None:
                ax.set_title(titles[c], fontsize=9)
    fig.tight_layout(pad=0.3)
    return fig


def case_rows(images, masks, rows, titles: Sequence[str] | None = None, size: float = 1.3):
    """:func:`image_rows` of test cases: the ``images`` on top, ``rows`` (``(label, items, cmap,
    vmax)``, e.g. a model's maps) in between and the true ``masks`` at the bottom."""
    return image_rows(
        [("input", images, "gray", 1.0), *rows, ("ground truth", masks, "gray", 1.0)], titles=titles, size=size
    )


def superpixel_outlines(image, segments, color=(1.0, 0.2, 0.2)) -> np.ndarray:
    """An RGB array [H, W, 3] of ``image`` ([C, H, W] or [H, W]) with the borders of ``segments`` drawn."""
    from skimage.segmentation import find_boundaries

    a = np.asarray(to_display(image), dtype=float)
    seg = np.asarray(segments)
    if seg.shape != a.shape[:2]:
        raise ValueError(f"segments of shape {seg.shape} do not match the image's {a.shape[:2]}")
    rgb = np.repeat(a[..., None], 3, axis=-1) if a.ndim == 2 else a.copy()
    rgb[find_boundaries(seg + 1, mode="inner")] = color  # + 1: no label is background
    return rgb.clip(0, 1)


def reconstruction_figure(
    images, reconstructions, residuals, predicted, truth, titles: Sequence[str] | None = None, size: float = 1.5
):
    """Columns of examples; rows input, reconstruction, residual, predicted mask, ground truth.

    The layout of Fadaeinejad's (2021) Figures 9 to 12. Residuals share one colour scale
    (0 to the largest residual shown), so a brighter spot is a larger error.
    """
    return image_rows(
        [
            ("input", images, "gray", 1.0),
            ("reconstruction", reconstructions, "gray", 1.0),
            ("residual", residuals, "inferno", None),
            ("predicted mask", predicted, "gray", 1.0),
            ("ground truth", truth, "gray", 1.0),
        ],
        titles,
        size,
    )


def plot_distortion(ax, x, d, width: float | None = None, legend: bool = True, clipped: bool = False):
    """Draw one :class:`anotutor.theory.Distortion` on ``ax``, as densities over the bin centres ``x``.

    Gray: the data p_d; red dashed: the subtracted (1 - gamma) p_an; black
    dotted: eq. 23 with its negative part shaded; blue: the constrained
    optimum (the true minimiser); orange, if ``clipped``: clip and renormalise.
    The title gives the anomaly mode's mass under p_d and under p_g*.
    """
    x = np.asarray(x, dtype=float)
    w = float(width) if width is not None else float(x[1] - x[0])
    dens = {
        k: np.asarray(v) / w
        for k, v in (
            ("p_d", d.p_d),
            ("an", (1 - d.gamma) * d.p_an),
            ("closed", d.closed),
            ("con", d.constrained),
            ("clip", d.clipped),
        )
    }
    ax.fill_between(x, dens["p_d"], color="0.8", label="$p_d$ (data)")
    ax.plot(x, dens["an"], color="tab:red", ls="--", lw=1.2, label=r"$(1-\gamma)\,p_{an}$")
    ax.plot(x, dens["closed"], color="k", ls=":", lw=1.4, label=r"eq. 23 $p_g^*$")
    neg = dens["closed"] < 0
    if neg.any():
        ax.fill_between(x, np.minimum(dens["closed"], 0), 0, color="tab:red", alpha=0.3, lw=0, label="eq. 23 < 0")
    if clipped:
        ax.plot(x, dens["clip"], color="tab:orange", lw=1.2, label="clip + renormalise")
    ax.plot(x, dens["con"], color="tab:blue", lw=1.8, label=r"constrained $p_g^\dagger$")
    ax.axhline(0, color="0.4", lw=0.6)
    xs = x[d.region]
    if xs.size:
        ax.axvspan(xs.min() - w / 2, xs.max() + w / 2, color="tab:red", alpha=0.05, lw=0)
    top = 1.15 * max(dens["p_d"].max(), dens["con"].max())
    ax.set_ylim(max(-top, 1.1 * dens["closed"].min()) if neg.any() else -0.03 * top, top)
    ax.set_xlim(x[0], x[-1])
    ax.set_title(
        f"$\\gamma$ = {d.gamma:.2f}: anomaly mode {d.mass_data:.3f} $\\to$ {d.mass_constrained:.3f}", fontsize=9
    )
    ax.set_xlabel("x")
    if legend:
        ax.legend(fontsize=7, loc="upper left")
    return ax


def plot_distortions(x, distortions, width: float | None = None, ncols: int = 3, size: float = 3.2):
    """Small multiples of :func:`plot_distortion`, one panel per gamma (the static gamma sweep)."""
    ds = list(distortions)
    if not ds:
        raise ValueError("plot_distortions needs at least one Distortion")
    ncols = min(ncols, len(ds))
    nrows = int(np.ceil(len(ds) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, 0.8 * size * nrows), squeeze=False, sharex=True)
    for i, ax in enumerate(axes.flat):
        if i < len(ds):
            plot_distortion(ax, x, ds[i], width, legend=False)
        else:
            ax.axis("off")
    # one legend for all panels, from the panel that draws every element
    ax0 = max(axes.flat[: len(ds)], key=lambda a: len(a.get_legend_handles_labels()[1]))
    fig.legend(*ax0.get_legend_handles_labels(), loc="lower center", ncol=5, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07 if nrows > 1 else 0.12, 1, 1))
    return fig


def plot_gamma_curves(
    gammas, mass: dict, tv: dict, mass_ref: float | None = None, gamma_mark: float | None = None, size: float = 5.0
):
    """Two panels against gamma: the anomaly mode's mass and the TV distance to the clean data.

    ``mass`` and ``tv`` map a label (e.g. "constrained") to one value per
    gamma; the first label is drawn solid, the others dashed. ``mass_ref``
    draws the clean data's mass on the mode (dotted), ``gamma_mark`` a
    vertical line (e.g. at 1 - contamination).
    """
    gammas = np.asarray(gammas, dtype=float)
    if gammas.size == 0 or not mass or not tv:
        raise ValueError("plot_gamma_curves needs at least one gamma and one curve per panel")
    fig, axes = plt.subplots(1, 2, figsize=(2 * size, 0.64 * size))
    for ax, curves in zip(axes, (mass, tv)):
        for i, (label, ys) in enumerate(curves.items()):
            ax.plot(gammas, np.asarray(ys, dtype=float), ls="-" if i == 0 else "--", label=label)
    if mass_ref is not None:
        axes[0].axhline(mass_ref, color="0.5", lw=0.8, ls=":", label="$p_{normal}$")
    axes[0].set_ylabel("mass on the anomaly mode")
    axes[1].set_ylabel(r"TV distance to $p_{normal}$")
    for ax in axes:
        if gamma_mark is not None:
            ax.axvline(gamma_mark, color="tab:red", lw=0.8, ls=":")
        ax.set_xlabel(r"$\gamma$")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_gan_runs(x, p_d, runs: dict, width: float | None = None, region=None, size: float = 2.6):
    """One row per trained 1-D GAN: its density (left) and its discriminator (right).

    ``runs`` maps gamma to a dict of arrays over the bin centres ``x``:
    ``target`` (the optimum p_g), ``hist`` (the generator's sample histogram),
    ``d_learned``, ``d_theory`` (D'* for the generator the GAN has) and
    ``d_equilibrium`` (D'* once G is optimal); NaN hides a value where it is
    undefined. Masses are drawn as densities (divided by ``width``);
    ``region`` (a boolean mask) shades the anomaly mode.
    """
    if not runs:
        raise ValueError("plot_gan_runs needs at least one run")
    x = np.asarray(x, dtype=float)
    w = float(width) if width is not None else float(x[1] - x[0])
    fig, axes = plt.subplots(len(runs), 2, figsize=(10, size * len(runs)), sharex=True, squeeze=False)
    for row, (gamma, r) in enumerate(runs.items()):
        ax = axes[row, 0]
        ax.fill_between(x, np.asarray(p_d) / w, color="0.8", label="$p_d$")
        ax.plot(x, np.asarray(r["target"]) / w, color="tab:blue", label=r"optimum $p_g^\dagger$")
        ax.step(x, np.asarray(r["hist"]) / w, where="mid", color="k", lw=0.8, label="generator samples")
        ax.set_ylabel(f"$\\gamma$ = {gamma:g}")
        ax = axes[row, 1]
        ax.plot(x, r["d_learned"], color="tab:green", label="learned D")
        ax.plot(x, r["d_theory"], color="k", ls="--", label="$D'^*$ for this generator")
        ax.plot(x, r["d_equilibrium"], color="tab:purple", lw=1.5, ls=":", label=r"$D'^*$ once G is optimal")
        if region is not None and np.any(region):
            ax.axvspan(x[np.asarray(region)].min(), x[-1], color="tab:red", alpha=0.06)
        ax.set_ylim(0, 1)
    for ax in axes[-1]:
        ax.set_xlabel("x")
    axes[0, 0].legend(fontsize=7)
    axes[0, 1].legend(fontsize=7, loc="lower left")
    axes[0, 0].set_title("density")
    axes[0, 1].set_title("discriminator")
    fig.tight_layout()
    return fig


def plot_score_histograms(
    ax, groups: dict, bins: int = 30, xlabel: str = "anomaly score", density: bool = True, log: bool = False
):
    """Overlaid histograms of one score per item for each group (e.g. ``{"normal": s0, "anomalous": s1}``).

    ``log``: a logarithmic count axis (for pixel differences, mostly near 0).
    """
    if not groups:
        raise ValueError("plot_score_histograms needs at least one group")
    arrays = {k: np.asarray(torch.as_tensor(v).detach().float().flatten()) for k, v in groups.items()}
    lo = min(float(a.min()) for a in arrays.values())
    hi = max(float(a.max()) for a in arrays.values())
    edges = np.linspace(lo, hi if hi > lo else lo + 1e-6, bins + 1)
    for label, a in arrays.items():
        ax.hist(a, bins=edges, density=density, histtype="stepfilled", alpha=0.45, label=label, log=log)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density" if density else "count")
    ax.legend(fontsize=8)
    return ax


def plot_search(curves: dict, snapshots: dict, steps, size: float = 1.3):
    """Latent search, seen: L' against iteration (left) and G(z) after given iterations (right).

    ``curves`` maps a label (e.g. "normal digit") to L' per iteration;
    ``snapshots`` maps the same labels to a list of images G(z), one per
    entry of ``steps``; the input itself may come first under step ``"x"``.
    """
    if set(curves) != set(snapshots):
        raise ValueError("curves and snapshots need the same labels")
    rows = list(curves)
    steps = list(steps)
    fig = plt.figure(figsize=(3.4 + size * len(steps), size * 1.15 * len(rows) + 0.6))
    grid = fig.add_gridspec(len(rows), 1 + len(steps), width_ratios=[3.4 / size] + [1] * len(steps))
    ax = fig.add_subplot(grid[:, 0])
    for label in rows:
        ax.plot(np.arange(1, len(curves[label]) + 1), np.asarray(curves[label]), label=label)
    ax.set_xlabel("iteration")
    ax.set_ylabel("$L'(z)$")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    for r, label in enumerate(rows):
        for c, (step, img) in enumerate(zip(steps, snapshots[label])):
            a = fig.add_subplot(grid[r, 1 + c])
            a.imshow(to_display(img), cmap="gray", vmin=0, vmax=1)
            a.set_xticks([])
            a.set_yticks([])
            if r == 0:
                a.set_title("input" if step == "x" else f"step {step}", fontsize=8)
    fig.tight_layout()
    return fig


def plot_sweep(ax, xs, curves: dict, xlabel: str, ylabel: str = "image AUROC", mark=None):
    """One line with markers per curve over a swept setting (e.g. AUROC against gamma)."""
    for label, ys in curves.items():
        ax.plot(list(xs), list(ys), marker="o", label=label)
    if mark is not None:
        ax.axvline(mark, color="0.5", ls=":", lw=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return ax


def overlay_pixels(
    image,
    heat,
    mask=None,
    scale: float | None = None,
    tau: float | None = None,
    cmap: str = "inferno",
    alpha: float = 0.5,
) -> np.ndarray:
    """``image`` beside itself under ``heat``, as uint8 RGB pixels [H, 2W, 3], for writing to a file.

    No figure is drawn (fast enough for hundreds of images). ``heat`` is
    divided by ``scale`` (its maximum by default) and coloured with
    ``cmap``; the right half shows it blended over the image. Pixels with
    ``heat >= tau`` are outlined in cyan, the ground-truth ``mask`` in red.
    """
    from matplotlib import colormaps

    img = to_display(image)
    rgb = np.repeat(img[:, :, None], 3, axis=2) if img.ndim == 2 else img
    rgb = np.clip(np.asarray(rgb, dtype=np.float64), 0, 1)
    h = np.asarray(to_display(heat), dtype=np.float64)
    if h.shape != rgb.shape[:2]:
        raise ValueError(f"heat is {h.shape} but the image is {rgb.shape[:2]}")
    top = float(scale) if scale else max(float(h.max()), 1e-12)
    blended = (1 - alpha) * rgb + alpha * colormaps[cmap](np.clip(h / top, 0, 1))[:, :, :3]

    def edge(b: np.ndarray) -> np.ndarray:
        inner = b.copy()
        inner[1:-1, 1:-1] = b[1:-1, 1:-1] & b[:-2, 1:-1] & b[2:, 1:-1] & b[1:-1, :-2] & b[1:-1, 2:]
        return b & ~inner

    if tau is not None:
        blended[edge(h >= tau)] = (0.0, 1.0, 1.0)
    if mask is not None:
        blended[edge(np.asarray(to_display(mask)) > 0.5)] = (1.0, 0.1, 0.1)
    return (np.concatenate([rgb, blended], axis=1) * 255).round().astype(np.uint8)


def plot_quality_speed(
    ax,
    points: dict,
    xlabel: str = "inference ms per image (log scale)",
    ylabel: str = "pixel AUROC",
    floor: float | None = None,
):
    """One labelled point per method: ``points[name] = (ms, quality)`` or ``(ms, quality, spread)``.

    Each label takes the first of a few places around its point (right above,
    right below, left above, left below, then further out) whose box overlaps
    no label already placed and no other point, so methods of one speed and
    quality stay legible."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    order = sorted(points, key=lambda n: (float(points[n][0]), float(points[n][1])))
    xy = {}
    for name in order:
        p = points[name]
        ms, q = float(p[0]), float(p[1])
        err = float(p[2]) if len(p) > 2 and p[2] == p[2] else None
        ax.errorbar([ms], [q], yerr=None if err is None else [err], fmt="o", capsize=3)
        xy[name] = (ms, q)
    if floor is not None:
        ax.axhline(floor, color="0.5", ls=":", lw=1)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.margins(x=0.25)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.autoscale_view()
    for name, (ms, q), offset in zip(order, xy.values(), _label_places(ax, order, xy)):
        ax.annotate(
            name,
            (ms, q),
            textcoords="offset points",
            xytext=offset,
            fontsize=8,
            ha="left" if offset[0] >= 0 else "right",
        )
    return ax


def _label_places(ax, names, xy: dict, fontsize: float = 8.0) -> list[tuple[float, float]]:
    """Offsets in points, one per name, chosen greedily so that label boxes (estimated from the
    text length) overlap neither each other nor the points (in display units)."""
    px = ax.figure.dpi / 72.0  # display pixels per point
    points = [ax.transData.transform(xy[n]) for n in names]
    candidates = [(5, 4), (5, -11), (-5, 4), (-5, -11), (5, 14), (5, -21), (-5, 14), (-5, -21), (5, 24), (5, -31)]
    placed: list[tuple[float, float, float, float]] = []
    out: list[tuple[float, float]] = []
    for name, (x, y) in zip(names, points):
        w, h = 0.6 * fontsize * len(name) * px, 1.1 * fontsize * px
        best = candidates[0]
        for dx, dy in candidates:
            left = x + dx * px - (w if dx < 0 else 0)
            bottom = y + dy * px
            box = (left, bottom, left + w, bottom + h)
            hits_label = any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed)
            hits_point = any(box[0] - 4 < px_ < box[2] + 4 and box[1] - 4 < py_ < box[3] + 4 for px_, py_ in points)
            if not hits_label and not hits_point:
                best = (dx, dy)
                break
        left = x + best[0] * px - (w if best[0] < 0 else 0)
        placed.append((left, y + best[1] * px, left + w, y + best[1] * px + h))
        out.append(best)
    return out


def plot_paired(ax, points: dict, xlabel: str, ylabel: str, chance: float | None = 0.5):
    """One labelled point per method, measured two ways: ``points[name] = (x, y)`` or
    ``(x, y, (low, high))`` with an interval on ``y``. The diagonal marks "the same
    on both"; dotted lines mark ``chance`` on each axis (``None``: none)."""
    # colours in the order given (as a line plot of the same methods would have them);
    # labels alternate above and below along x, so that neighbours stay legible
    rank = {n: i for i, n in enumerate(sorted(points, key=lambda n: (float(points[n][0]), float(points[n][1]))))}
    for name in points:
        i = rank[name]
        p = points[name]
        x, y = float(p[0]), float(p[1])
        err = None
        if len(p) > 2 and p[2] is not None:
            lo, hi = map(float, p[2])
            err = [[y - lo], [hi - y]]
        ax.errorbar([x], [y], yerr=err, fmt="o", capsize=3)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 4 if i % 2 == 0 else -11), fontsize=8)
    lo = min(
        [float(p[0]) for p in points.values()]
        + [float(p[1]) for p in points.values()]
        + ([chance] if chance is not None else [])
    )
    ax.plot([lo, 1], [lo, 1], color="0.6", lw=1, ls="--")
    if chance is not None:
        ax.axhline(chance, color="0.5", ls=":", lw=1)
        ax.axvline(chance, color="0.5", ls=":", lw=1)
    ax.margins(0.08)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax
