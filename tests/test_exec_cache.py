"""The shared chapter execution: an executed chapter is found by the build's reader, a stale cache emptied."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))

import exec_cache  # noqa: E402

HEAD = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A chapter

```{code-cell} ipython3
x = 6 * 7
print(x)
```
"""


def test_an_executed_chapter_is_what_the_build_finds(tmp_path):
    from jupyter_cache import get_cache

    good = tmp_path / "good.md"
    good.write_text(HEAD)
    bad = tmp_path / "bad.md"
    bad.write_text(HEAD.replace("6 * 7", "1 / 0"))
    cache = tmp_path / "cache"
    result, nb = exec_cache.execute(good, cache)
    assert result.err is None and "42" in nb.cells[1].outputs[0]["text"]
    # the build reads the same file again and matches it on its code: outputs come from the cache
    record = get_cache(str(cache)).match_cache_notebook(exec_cache.read_chapter(good))
    assert record.uri == str(good.resolve())
    result, _ = exec_cache.execute(bad, cache)
    assert result.err is not None and "ZeroDivisionError" in result.exc_string
    assert len(get_cache(str(cache)).list_cache_records()) == 1   # a failed chapter is not cached
    # an edit of the code is another notebook
    good.write_text(HEAD.replace("6 * 7", "6 * 8"))
    with pytest.raises(KeyError):
        get_cache(str(cache)).match_cache_notebook(exec_cache.read_chapter(good))


def test_guard_empties_a_cache_of_another_package_state(tmp_path):
    (tmp_path / "anotutor").mkdir()
    (tmp_path / "anotutor" / "m.py").write_text("A = 1\n")
    for name in ("pyproject.toml", "constraints.txt"):
        (tmp_path / name).write_text("")
    cache = tmp_path / "cache"
    assert not exec_cache.guard(cache, tmp_path)          # no stamp yet
    (cache / "entry").write_text("executed")
    assert exec_cache.guard(cache, tmp_path) and (cache / "entry").exists()
    (tmp_path / "anotutor" / "m.py").write_text("A = 2\n")   # the package changed
    assert not exec_cache.guard(cache, tmp_path)
    assert not (cache / "entry").exists() and (cache / exec_cache.STAMP).is_file()
