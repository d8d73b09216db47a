"""The book's files: every chapter is listed, paired with its notebook, and starts with the set-up cell."""

import sys
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))

from toc import toc_files  # noqa: E402

CHAPTERS = sorted(p for p in (ROOT / "book").glob("*.md") if "kernelspec:" in p.read_text()[:800])


def test_there_are_chapters():
    assert CHAPTERS, "no notebook chapters found in book/"


def test_every_chapter_is_in_the_toc():
    listed = {f.removesuffix(".md") for f in toc_files(ROOT / "_toc.yml")}
    for md in CHAPTERS:
        assert f"book/{md.stem}" in listed, f"{md.name} is not in _toc.yml"
    for f in listed:
        assert (ROOT / f"{f}.md").is_file(), f"_toc.yml names {f}, which does not exist"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_paired_and_in_sync(md):
    nb_path = md.with_suffix(".ipynb")
    assert nb_path.is_file(), f"{md.name} has no paired {nb_path.name}: run `make sync`"
    text_nb = jupytext.read(md)
    paired = jupytext.read(nb_path)
    assert text_nb.metadata["jupytext"]["formats"] == "ipynb,md:myst"
    a = [(c.cell_type, c.source.strip()) for c in text_nb.cells]
    b = [(c.cell_type, c.source.strip()) for c in paired.cells]
    assert a == b, f"{md.name} and {nb_path.name} differ: run `make sync`"
    for cell in paired.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs"), f"{nb_path.name} is committed with outputs"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_starts_with_setup_and_ends_with_exercises(md):
    nb = jupytext.read(md)
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert "import anotutor" in first_code.source and "pip install" in first_code.source
    text = md.read_text()
    if md.stem.startswith("notes_"):   # a chapter's reproducibility notes: linked from the chapter
        chapter = md.stem.removeprefix("notes_")
        assert f"`{chapter}`" in text or f"<{chapter}>`" in text, f"{md.name} does not link its chapter"
        assert f"notes_{chapter}" in (md.parent / f"{chapter}.md").read_text(), \
            f"{chapter}.md does not link its notes {md.name}"
        return
    assert "What you will learn" in text and "## Summary" in text and "## Exercises" in text
    # exercises come with worked solutions behind a toggle
    exercises = text.split("## Exercises", 1)[1]
    assert "{dropdown}" in exercises or "hide-cell" in exercises, f"{md.name}: exercises without solutions"


def test_intro_lists_every_chapter():
    intro = (ROOT / "book" / "intro.md").read_text()
    for md in CHAPTERS:
        if md.stem.startswith("notes_"):
            continue
        assert f"{{doc}}`{md.stem}`" in intro, f"the introduction's chapter list leaves out {md.stem}"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_code_fits_the_page(md):
    """Code lines of at most 88 columns, so the HTML does not cut them at the right edge."""
    nb = jupytext.read(md)
    long = [(i, line) for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for line in c.source.splitlines() if len(line) > 88]
    assert not long, f"{md.name}: code lines over 88 columns: {long[:3]}"


def _glue_names(text: str) -> tuple[list[tuple[bool, str]], set[str]]:
    """The names a chapter glues (``(is_f_string, name)``) and the names its prose and figures use."""
    import re

    defined = [(bool(f), name) for f, name in re.findall(r'glue\(\s*(f?)"([^"]+)"', text)]
    used = set(re.findall(r"\{glue(?::\w*)?\}`([^`:]+)", text))
    used |= set(re.findall(r"```\{glue(?::\w*)?\}\s+(\S+)", text))
    return defined, used


def _unused(defined, used) -> list[str]:
    import re

    out = []
    for is_f, name in defined:
        if is_f:   # f"best_{t}": used when some used name fits the pattern
            pattern = re.compile("^" + re.sub(r"\\\{[^}]*\\\}", ".+", re.escape(name)) + "$")
            if not any(pattern.match(u) for u in used):
                out.append(name)
        elif name not in used:
            out.append(name)
    return out


def test_the_glue_check_sees_an_unused_name():
    text = 'glue("a", 1)\nglue("b", 2)\nglue(f"c_{k}", 3)\n{glue:text}`a:.2f` and {glue:}`c_brick`'
    assert _unused(*_glue_names(text)) == ["b"]


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_every_glued_value_is_used(md):
    """A number computed and glued but never shown is dead weight, or a claim the prose forgot."""
    unused = _unused(*_glue_names(md.read_text()))
    assert not unused, f"{md.name}: glued but never used: {unused}"


def _figures_left_open(nb) -> list[int]:
    """Code cells that glue a matplotlib figure without closing it: the page would show it twice
    (once inline, drawn by the inline backend, and once in its numbered figure)."""
    import re

    out = []
    for i, c in enumerate(nb.cells):
        if c.cell_type != "code":
            continue
        glued = re.findall(r'glue\(\s*f?"fig[^"]*",\s*(\w+)', c.source)
        if any(f"plt.close({name})" not in c.source and "plt.close('all')" not in c.source
               and 'plt.close("all")' not in c.source for name in glued):
            out.append(i)
    return out


def test_the_open_figure_check_sees_one():
    nb = jupytext.reads('```{code-cell} ipython3\nglue("fig-a", fig, display=False)\n```\n'
                        '```{code-cell} ipython3\nglue("fig-b", fig, display=False)\nplt.close(fig)\n```\n',
                        fmt="md:myst")
    assert _figures_left_open(nb) == [0]


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_every_glued_figure_is_closed(md):
    """Each figure appears once: glued figures are closed in the cell that glues them."""
    open_cells = _figures_left_open(jupytext.read(md))
    assert not open_cells, f"{md.name}: cells {open_cells} glue a figure and leave it open"
