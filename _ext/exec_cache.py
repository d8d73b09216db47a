"""One execution of every chapter, shared by the tests and the book build.

The book builds with myst-nb's ``cache`` mode (``_config.yml``): a chapter
whose code cells match an executed notebook in ``_build/.jupyter_cache``
(jupyter-cache) takes that notebook's outputs instead of running again.
``make test`` executes every chapter (``tests/test_chapters.py``) and stores
each executed notebook there, read exactly as the build reads it, so CI
runs every chapter once.

jupyter-cache matches a notebook on its code alone. A chapter's outputs
also depend on the package, its data and weights, the Python and torch
versions and the budget, so the cache carries a stamp of those
(:func:`stamp`); :func:`guard` empties a cache whose stamp is not the
current one before anything reads or writes it.

    python _ext/exec_cache.py guard     # before ``jupyter-book build`` (make book)
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "_build" / ".jupyter_cache"
STAMP = "anotutor.stamp"
STAMPED = ("anotutor", "pyproject.toml", "constraints.txt")


def stamp(root: Path = ROOT) -> str:
    """SHA-256 of what a chapter's outputs depend on besides its code."""
    import torch

    from anotutor.runtime import budget

    h = hashlib.sha256()
    for name in STAMPED:
        base = root / name
        files = sorted(p for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts) \
            if base.is_dir() else [base]
        for p in files:
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    h.update(f"{sys.version}|{torch.__version__}|{budget().name}".encode())
    return h.hexdigest()


def guard(cache: Path = CACHE, root: Path = ROOT) -> bool:
    """Empty ``cache`` unless its stamp is the current one; write the stamp. True when it was kept."""
    cache = Path(cache)
    current = stamp(root)
    kept = (cache / STAMP).is_file() and (cache / STAMP).read_text() == current
    if not kept and cache.exists():
        shutil.rmtree(cache)
    cache.mkdir(parents=True, exist_ok=True)
    (cache / STAMP).write_text(current)
    return kept


def read_chapter(path: Path):
    """The notebook of a MyST chapter, read as myst-nb reads it in the build."""
    from myst_nb.core.read import read_myst_markdown_notebook
    from myst_parser.config.main import MdParserConfig

    return read_myst_markdown_notebook(Path(path).read_text(), config=MdParserConfig(),
                                       add_source_map=True, path=str(path))


def execute(path: Path, cache: Path = CACHE, timeout: int = 600):
    """Execute a chapter in its folder; cache the notebook when every cell ran. ``(result, nb)``."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from jupyter_cache.executors.utils import single_nb_execution

    path = Path(path).resolve()
    nb = read_chapter(path)
    result = single_nb_execution(nb, cwd=str(path.parent), timeout=timeout, allow_errors=False,
                                 meta_override=True, record_timing=False)
    if result.err is None:
        get_cache(str(cache)).cache_notebook_bundle(
            CacheBundleIn(nb, str(path), data={"execution_seconds": result.time}),
            check_validity=False, overwrite=True)
    return result, nb


if __name__ == "__main__":
    if sys.argv[1:] != ["guard"]:
        sys.exit("usage: python _ext/exec_cache.py guard")
    kept = guard()
    print(f"execution cache {CACHE}: {'kept' if kept else 'emptied (package, data or versions changed)'}")
