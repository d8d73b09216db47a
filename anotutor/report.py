"""``OUT/index.html``: the page a person opens after ``anotutor run`` or ``anotutor compare``.

One self-contained page (no script, nothing fetched from the network; its
images are files beside it): the metrics table, the test images' ROC curves
(image level, and pixel level where there are masks), the quality-speed plot
for several methods, and per method the cases a person must look at: the
normal test images that scored highest (the false alarms to come) and the
defective ones that scored lowest (the misses). Every map of a method is
drawn on that method's one scale, 0 to the 99.9th percentile of all its test
maps, as in the overlays folder; the page says so. A map stretched to its own
maximum would make every normal image look alarming.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from .outputs import map_scale

__all__ = ["write_report", "N_CASES"]

N_CASES = 4  # highest-scoring normal and lowest-scoring defective test images shown per method


def _roc_figure(path: Path, outcomes, test) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import metrics

    pixel = test.masks is not None
    fig, axes = plt.subplots(1, 2 if pixel else 1, figsize=(9.5 if pixel else 5, 3.8), squeeze=False)
    for o in outcomes:
        test = o.test if o.test is not None else test  # each method's split, at its working size
        fpr, tpr, _ = metrics.roc_curve(o.detection.scores, test.labels)
        axes[0, 0].plot(fpr, tpr, label=f"{o.method} ({o.row['image_auroc']:.3f})")
        if pixel:
            maps, masks = o.detection.maps, test.masks
            if maps.numel() > 4_000_000:  # a pixel ROC of millions of points: every 4th pixel draws the same
                maps, masks = maps.flatten()[::4], masks.flatten()[::4]
            fpr, tpr, _ = metrics.roc_curve(maps.flatten(), masks.flatten())
            axes[0, 1].plot(fpr, tpr, label=f"{o.method} ({o.row['pixel_auroc']:.3f})")
    for ax, what in zip(axes[0], ("image", "pixel")):
        ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls="--")
        ax.set(xlabel="false-positive rate", ylabel="true-positive rate", title=f"{what} ROC (AUROC)")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _cases(folder: Path, o, test, files: list[str]) -> list[tuple[str, str, str]]:
    """Overlays of the highest-scoring normal and lowest-scoring defective images: (file, caption, group)."""
    from PIL import Image

    from .viz import overlay_pixels

    test = o.test if o.test is not None else test  # each method's split, at its working size

    scores = o.detection.scores.numpy()
    good = np.flatnonzero(test.labels.numpy() == 0)
    bad = np.flatnonzero(test.labels.numpy() == 1)
    picks = [("normal, highest scores", i) for i in good[np.argsort(-scores[good])][:N_CASES]]
    picks += [("defective, lowest scores", i) for i in bad[np.argsort(scores[bad])][:N_CASES]]
    scale = map_scale(o.row["tau"], o.detection.maps)
    out: list[tuple[str, str, str]] = []
    for group, i in picks:
        name = f"{o.method}-{'normal' if group.startswith('normal') else 'defective'}-{len(out)}.png"
        mask = None if test.masks is None or int(test.labels[i]) == 0 else test.masks[i]
        Image.fromarray(overlay_pixels(test.images[i], o.detection.maps[i], mask, scale=scale, tau=o.row["tau"])).save(
            folder / name
        )
        verdict = (
            "" if o.row.get("image_tau") is None else (", flagged" if scores[i] >= o.row["image_tau"] else ", passed")
        )
        out.append((name, f"{files[i]}: score {scores[i]:.4g}{verdict}", group))
    return out


def write_report(
    out: Path,
    outcomes,
    test,
    files: list[str],
    title: str,
    table_md: str,
    notes: str = "",
    quality_speed: str | None = None,
) -> Path:
    """Write ``out/index.html`` (and its images under ``out/report/``) for the methods that ran.

    ``test``: the scored split (a method's own ``Outcome.test`` where it has one, at its working
    size); ``files``: its file names; ``table_md``: the
    metrics table as markdown (shown as an HTML table); ``quality_speed``: the
    name of a quality-speed PNG already in ``out``, if any.
    """
    out = Path(out)
    ran = [o for o in outcomes if o.ran]
    folder = out / "report"
    folder.mkdir(parents=True, exist_ok=True)
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(notes)}</p>" if notes else "",
        "<h2>Metrics</h2>",
        _html_table(table_md),
    ]
    if ran:
        _roc_figure(folder / "roc.png", ran, test)
        parts += ["<h2>ROC curves</h2>", '<img src="report/roc.png" alt="ROC curves of every method">']
    if quality_speed:
        parts += [
            "<h2>Quality and speed</h2>",
            f'<img src="{html.escape(quality_speed)}" alt="quality against inference time">',
        ]
    parts += [
        "<h2>The cases to look at</h2>",
        f"<p>Per method, the {N_CASES} normal test images with the highest scores (false alarms to "
        f"come) and the {N_CASES} defective ones with the lowest (misses). Each image is shown beside "
        "its map; every map of a method is on that method's one scale, 0 to the 99.9th percentile of "
        "all its test maps (not stretched per image), pixels at or over tau outlined in cyan, the "
        "ground truth in red.</p>",
    ]
    for o in ran:
        parts.append(f"<h3>{html.escape(o.title)}</h3><div class='cases'>")
        for name, caption, group in _cases(folder, o, test, files):
            parts.append(
                f"<figure><img src='report/{html.escape(name)}' alt='{html.escape(caption)}'>"
                f"<figcaption>{html.escape(group)}<br>{html.escape(caption)}</figcaption></figure>"
            )
        parts.append("</div>")
    skipped = [o for o in outcomes if not o.ran]
    if skipped:
        parts += (
            ["<h2>Not run</h2><ul>"]
            + [f"<li>{html.escape(o.title)}: {html.escape(o.skipped)}</li>" for o in skipped]
            + ["</ul>"]
        )
    page = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(p for p in parts if p)
        + "\n</body></html>\n"
    )
    (out / "index.html").write_text(page)
    return out / "index.html"


_CSS = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;font-size:0.9em}td,th{border:1px solid #ccc;padding:3px 8px;"
    "text-align:right}td:first-child,th:first-child{text-align:left}img{max-width:100%}"
    ".cases{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;width:250px;font-size:0.8em}"
    "figure img{width:250px;image-rendering:pixelated}"
)


def _html_table(md: str) -> str:
    """A GitHub markdown table (and the lines after it) as HTML."""
    rows, rest = [], []
    for line in md.strip().splitlines():
        if line.startswith("|") and not set(line) <= set("|-: "):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif not line.startswith("|") and line.strip():
            rest.append(line.strip())
    if not rows:
        return f"<pre>{html.escape(md)}</pre>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
    notes = "".join(f"<p>{html.escape(x)}</p>" for x in rest)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}"
