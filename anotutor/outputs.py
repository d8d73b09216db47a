"""What the ``anotutor`` commands write: scores.csv, errors.csv, overlays, the metrics table.

One place for the columns, words and pictures of every command's outputs
(``run``, ``compare`` and ``predict`` alike; see :mod:`.cli` for the
commands, :mod:`.deploy` for fit and predict, :mod:`.report` for the HTML
report): the columns :data:`SCORE_COLUMNS` first in every ``scores.csv``,
the verdict words of :data:`~anotutor.methods.thresholds.VERDICTS`, and one
overlay scale rule, :func:`map_scale`.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .methods.thresholds import VERDICTS

__all__ = [
    "SCORE_COLUMNS",
    "ERROR_COLUMNS",
    "map_scale",
    "write_scores",
    "write_overlays",
    "row_text",
    "metrics_table",
    "quality_speed_plot",
]

# every scores.csv starts with these: the verdict at the image threshold (VERDICTS), and the share of the
# map's pixels at or over the pixel threshold tau; run and compare add the test image's kind, label and
# its map's maximum
SCORE_COLUMNS = ["file", "score", "verdict", "share_over_tau"]
ERROR_COLUMNS = ["file", "reason"]  # predict: a file that could not be read, and why


def map_scale(tau: float | None, maps=None) -> float:
    """The one scale overlays are drawn on, 0 to this value: twice the pixel threshold ``tau`` (a
    normal image stays dark, a flagged pixel is past the middle), or, without a tau, the 99.9th
    percentile of ``maps`` (1 if that is 0)."""
    if tau is not None and tau > 0:
        return 2.0 * float(tau)
    if maps is None:
        return 1.0
    flat = maps.flatten()
    q = float(flat[:: max(1, flat.numel() // 4_000_000)].quantile(0.999))
    return q if q > 0 else 1.0


def write_scores(path: Path, files: list[str], test, det_out, row: dict) -> None:
    """One line per test image: its score, the verdict at the image threshold, the share of pixels at tau."""
    tau, image_tau = row["tau"], row.get("image_tau")
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*SCORE_COLUMNS, "kind", "label", "max_map"])
        for i, name in enumerate(files):
            m, score = det_out.maps[i], float(det_out.scores[i])
            share = "" if tau is None else f"{float((m >= tau).float().mean()):.4f}"
            verdict = "" if image_tau is None else VERDICTS[int(score >= image_tau)]
            w.writerow(
                [name, f"{score:.6g}", verdict, share, test.kinds[i], int(test.labels[i]), f"{float(m.max()):.6g}"]
            )


def write_overlays(folder: Path, files: list[str], test, det_out, tau) -> None:
    from PIL import Image

    from .viz import overlay_pixels

    scale = map_scale(tau, det_out.maps)
    for i, name in enumerate(files):
        rel = Path(name)  # test/<kind>/<file>
        target = folder / rel.parent.name / f"{rel.stem}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        mask = None if test.masks is None or int(test.labels[i]) == 0 else test.masks[i]
        Image.fromarray(overlay_pixels(test.images[i], det_out.maps[i], mask, scale=scale, tau=tau)).save(target)


def row_text(row: dict) -> dict:
    def f(v, d=3, missing="–"):
        return missing if v is None else f"{v:.{d}f}"

    px = "no masks" if row["pixel_auroc"] is None else "–"
    return {
        "image AUROC": f(row["image_auroc"]),
        "image F1": f(row.get("image_f1")),
        "pixel AUROC": f(row["pixel_auroc"], missing=px),
        "AUPRO": f(row["aupro"], missing=px),
        "pixel F1 at tau": f(row["f1"], missing=px),
        "tau": f(row["tau"], 4, missing=px),
        "fit s": f(row["fit_seconds"], 1),
        "ms / image": f(row["ms_per_image"], 2),
        "parameters": f"{row['n_parameters']:,}",
        "px": str(row["image_size"]) if row.get("image_size") else "–",
    }


def metrics_table(outcomes) -> str:
    from .results import table

    head = [
        "method",
        "image AUROC",
        "image F1",
        "pixel AUROC",
        "AUPRO",
        "pixel F1 at tau",
        "tau",
        "fit s",
        "ms / image",
        "parameters",
        "px",
    ]
    rows = [[o.method, *(row_text(o.row).values() if o.ran else ["–"] * (len(head) - 1))] for o in outcomes]
    notes = [f"- {o.method} did not run: {o.skipped}" for o in outcomes if not o.ran]
    return "\n".join([table(head, rows, right=1)] + ([""] + notes if notes else []))


def quality_speed_plot(path: Path, outcomes) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .viz import plot_quality_speed

    pixel = any(o.ran and o.row["pixel_auroc"] is not None for o in outcomes)
    key = "pixel_auroc" if pixel else "image_auroc"
    pts = {o.method: (o.row["ms_per_image"], o.row[key]) for o in outcomes if o.ran and o.row[key] is not None}
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    plot_quality_speed(ax, pts, ylabel="pixel AUROC" if pixel else "image AUROC (no masks)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
