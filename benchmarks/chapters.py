"""Execute every chapter on its own and measure wall time and peak memory.

Budgets (2-core CPU, no GPU, ANOTUTOR_BUDGET=ci): each chapter at most 150 s,
the whole book at most 720 s (12 minutes), peak memory under 4 GB. Writes
benchmarks/chapters.json, benchmarks/chapters.md and the table between the
README's ``chapter timings`` markers; exits non-zero when a budget is
exceeded.

    python benchmarks/chapters.py [--update] [book/NN_chapter.ipynb ...]

``--update`` re-measures the chapters named and keeps the other chapters'
rows of the last full run (benchmarks/chapters.json).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))

from toc import toc_files  # noqa: E402
CHAPTER_LIMIT_S, BOOK_LIMIT_S, MEMORY_LIMIT_MB = 150, 720, 4096
LIMITS_S: dict[str, int] = {}   # a chapter with a budget of its own (none today)
README_START, README_END = "<!-- chapter timings: start -->", "<!-- chapter timings: end -->"


def limit_s(chapter: str) -> int:
    return LIMITS_S.get(chapter, CHAPTER_LIMIT_S)


def _status(row: dict) -> str:
    """A chapter's verdict: failed, over its time or memory limit, or ok."""
    if not row["ok"]:
        return "failed"
    if row["seconds"] > limit_s(row["chapter"]) or row["peak_mb"] > MEMORY_LIMIT_MB:
        return "over budget"
    return "ok"

# run in a fresh interpreter so that ru_maxrss of its children is this chapter's kernel alone
RUNNER = r"""
import resource, sys, time
import nbclient, nbformat
nb = nbformat.read(sys.argv[1], as_version=4)
t = time.perf_counter()
try:
    nbclient.NotebookClient(nb, timeout=1200, kernel_name="python3",
                            resources={"metadata": {"path": sys.argv[2]}}).execute()
    rc = 0
except Exception as err:
    print(err, file=sys.stderr)
    rc = 1
print(rc, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
"""


def chapters_in_toc() -> list[Path]:
    """The notebooks of the book, in the order of _toc.yml (parts and sections included)."""
    stems = [f.removesuffix(".md").removesuffix(".ipynb") for f in toc_files(ROOT / "_toc.yml")]
    return [ROOT / f"{f}.ipynb" for f in stems if (ROOT / f"{f}.ipynb").is_file()]


def main(argv: list[str]) -> int:
    update = "--update" in argv   # re-measure the chapters named, keep the others' rows from chapters.json
    argv = [a for a in argv if a != "--update"]
    paths = [Path(a).resolve() for a in argv] or chapters_in_toc()
    env = dict(os.environ, ANOTUTOR_BUDGET=os.environ.get("ANOTUTOR_BUDGET", "ci"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for nb in paths:
            out = subprocess.run([sys.executable, "-c", RUNNER, str(nb), str(nb.parent)],
                                 capture_output=True, text=True, env=env, cwd=tmp)
            rc, seconds, peak_mb = out.stdout.split()[-3:]
            if rc != "0":
                print(out.stderr[-3000:], file=sys.stderr)
            row = {"chapter": nb.stem, "ok": rc == "0", "seconds": round(float(seconds), 1),
                   "peak_mb": round(float(peak_mb))}
            rows.append(row)
            print(f"{row['chapter']:<28} {row['seconds']:>7.1f} s {row['peak_mb']:>6} MB "
                  f"{_status(row)}", flush=True)
    if update:
        fresh = {r["chapter"]: r for r in rows}
        before = json.loads((ROOT / "benchmarks" / "chapters.json").read_text())["chapters"]
        kept = {r["chapter"]: r for r in before}
        rows = [fresh.get(nb.stem, kept.get(nb.stem)) for nb in chapters_in_toc()]
        rows = [r for r in rows if r is not None]
    total = round(sum(r["seconds"] for r in rows), 1)
    within = all(_status(r) == "ok" for r in rows)
    within = within and total <= BOOK_LIMIT_S
    meta = {"date": time.strftime("%Y-%m-%d"), "budget": env["ANOTUTOR_BUDGET"], "cpus": os.cpu_count(),
            "machine": platform.machine(), "python": platform.python_version(), "total_seconds": total,
            "within_budget": within}
    (ROOT / "benchmarks" / "chapters.json").write_text(json.dumps({"meta": meta, "chapters": rows}, indent=2) + "\n")
    own = "".join(f", {k} {v} s" for k, v in LIMITS_S.items())
    head = [f"# Chapter execution budget ({meta['date']}, budget `{meta['budget']}`, {meta['cpus']} CPUs, no GPU)",
            "", f"Limits: {CHAPTER_LIMIT_S} s per chapter{own}, {BOOK_LIMIT_S} s for the book, "
            f"{MEMORY_LIMIT_MB} MB peak memory.", ""]
    table = ["| chapter | wall time (s) | peak memory (MB) | status |", "| --- | ---: | ---: | --- |"]
    table += [f"| {r['chapter']} | {r['seconds']} | {r['peak_mb']} | {_status(r)} |" for r in rows]
    table += [f"| **all chapters** | **{total}** | **{max(r['peak_mb'] for r in rows)}** | "
              f"{'within budget' if within else 'OVER BUDGET'} |"]
    (ROOT / "benchmarks" / "chapters.md").write_text("\n".join(head + table + [""]))
    write_readme_table(ROOT / "README.md", [f"Last run {meta['date']}, budget `{meta['budget']}`, "
                                            f"{meta['cpus']} CPUs, no GPU. {head[2]}", "", *table])
    print(f"total {total} s: {'within budget' if within else 'OVER BUDGET'}")
    return 0 if within else 1


def write_readme_table(readme: Path, lines: list[str]) -> None:
    """Replace what stands between the README's two markers with ``lines`` (the last run's table)."""
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise ValueError(f"{readme} lacks the markers {README_START!r} and {README_END!r}")
    before, rest = text.split(README_START, 1)
    after = rest.split(README_END, 1)[1]
    readme.write_text(before + README_START + "\n" + "\n".join(lines) + "\n" + README_END + after)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
