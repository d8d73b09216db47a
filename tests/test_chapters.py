"""Every chapter executes from top to bottom without an error, its hidden checks included.

Each chapter is read as the book build reads it and executed in its folder
(nbclient, the kernel of this environment). An executed chapter is stored in
the book's execution cache (``_ext/exec_cache.py``), so ``make book`` after
``make test`` renders it without running it again. A failure names the cell
and shows its traceback.
"""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))

import exec_cache  # noqa: E402
from toc import toc_files  # noqa: E402

CHAPTERS = [ROOT / f"{f.removesuffix('.md')}.md" for f in toc_files(ROOT / "_toc.yml")
            if "kernelspec:" in (ROOT / f"{f.removesuffix('.md')}.md").read_text()[:800]]


@pytest.fixture(scope="module")
def cache():
    exec_cache.guard()   # a cache of another package state is emptied first
    return exec_cache.CACHE


@pytest.mark.chapter
@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_executes(md, cache):
    result, _ = exec_cache.execute(md, cache)
    if result.err is not None:
        pytest.fail(f"{md.name} failed after {result.time:.0f} s:\n{result.exc_string}", pytrace=False)
