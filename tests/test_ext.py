"""The book's local build tooling (_ext/): local MathJax and widget scripts, inline scripts once, the toc's files."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))

import dedupe_scripts  # noqa: E402
import local_mathjax  # noqa: E402
import local_widgets  # noqa: E402
import toc  # noqa: E402


def test_mathjax_copy_has_the_chtml_component_and_not_the_rest(tmp_path):
    entry = local_mathjax.copy_mathjax(local_mathjax.mathjax_source(), tmp_path)
    mj = tmp_path / "mathjax"
    assert entry == mj / "tex-mml-chtml.js" and entry.is_file()
    assert (mj / "input" / "tex" / "extensions" / "ams.js").is_file()   # tags: ams
    assert any((mj / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    assert not (mj / "output" / "svg").exists() and not (mj / "tex-svg.js").exists()
    assert sum(f.stat().st_size for f in mj.rglob("*") if f.is_file()) < 12e6


def test_mathjax_path_must_name_the_local_copy():
    class Config:
        mathjax_path = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"

    with pytest.raises(Exception, match="mathjax_path: mathjax/tex-mml-chtml.js"):
        local_mathjax._check_config(None, Config())
    Config.mathjax_path = "mathjax/tex-mml-chtml.js"
    local_mathjax._check_config(None, Config())


def test_unique_scripts_treats_none_and_empty_filename_alike():
    from sphinx.builders.html._assets import _JavaScript

    body = "const THEBE_JS_URL = 1"
    scripts = [_JavaScript("_static/a.js"), _JavaScript(None, body=body), _JavaScript("", body=body),
               _JavaScript("_static/a.js"), _JavaScript("", body="other")]
    assert dedupe_scripts.unique_scripts(scripts) == [scripts[0], scripts[1], scripts[4]]


def test_widget_scripts_in_order_with_the_module_paths_between():
    js = local_widgets.ipywidgets_js()
    assert list(js) == ["widgets/require.js", "", "widgets/embed-amd.js"]
    assert "require.config" in js[""]["body"] and "'@jupyter-widgets/controls': base + '/controls'" in js[""]["body"]


def test_widget_fetch_without_npm_says_so_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(local_widgets.shutil, "which", lambda name: None)
    local_widgets.fetch(tmp_path / "w")
    assert "npm not found" in capsys.readouterr().err
    assert not (tmp_path / "w").exists() and not local_widgets.available(tmp_path / "w")


# ---------------------------------------------------------------- _toc.yml


def test_toc_files_flat_book():
    book = {"format": "jb-book", "root": "intro", "chapters": [{"file": "a"}, {"file": "b.md"}, {"file": "c"}]}
    assert toc.toc_files(book) == ["intro", "a", "b.md", "c"]


def test_toc_files_parts_and_nested_sections_in_reading_order():
    book = {"format": "jb-book", "root": "intro", "parts": [
        {"caption": "One", "chapters": [
            {"file": "p1/a", "sections": [
                {"file": "p1/a1"},
                {"url": "https://example.org", "title": "a link, not a file"},
                {"file": "p1/a2", "sections": [{"file": "p1/a2x"}, {"file": "p1/a2y"}]},
            ]},
            {"file": "p1/b"},
        ]},
        {"caption": "Two", "chapters": [{"file": "p2/c.ipynb", "sections": [{"file": "p2/c1"}]}]},
    ]}
    assert toc.toc_files(book) == ["intro", "p1/a", "p1/a1", "p1/a2", "p1/a2x", "p1/a2y", "p1/b",
                                   "p2/c.ipynb", "p2/c1"]


def test_toc_files_other_formats():
    article = {"format": "jb-article", "root": "index", "sections": [{"file": "s1", "sections": [{"file": "s1a"}]},
                                                                     {"file": "s2"}]}
    assert toc.toc_files(article) == ["index", "s1", "s1a", "s2"]
    default = {"root": "index", "subtrees": [{"entries": [{"file": "x", "entries": [{"file": "y"}]}]},
                                             {"caption": "more", "entries": [{"file": "z"}]}]}
    assert toc.toc_files(default) == ["index", "x", "y", "z"]
    assert toc.toc_files({"format": "jb-book", "root": "only"}) == ["only"]


def test_toc_files_reads_a_file(tmp_path):
    path = tmp_path / "_toc.yml"
    path.write_text("format: jb-book\nroot: intro\nparts:\n  - caption: P\n    chapters:\n"
                    "      - file: a\n        sections:\n          - file: a1\n      - file: b\n")
    assert toc.toc_files(path) == toc.toc_files(str(path)) == ["intro", "a", "a1", "b"]


def test_toc_files_of_this_book():
    files = toc.toc_files()
    assert files[0] == "book/intro" and len(files) == len(set(files)) > 1
    assert all((ROOT / (f if f.endswith((".md", ".ipynb")) else f + ".md")).is_file() for f in files)


@pytest.mark.parametrize("bad,match", [
    ({"format": "jb-book", "chapters": [{"file": "a"}]}, "malformed: 'root' key not found"),
    ({"format": "jb-book", "root": "i", "chapters": [{"file": "a"}, {"file": "a"}]}, "used multiple times: 'a'"),
    ({"format": "jb-book", "root": "i", "chapters": [{"title": "no file"}]}, "malformed: entry does not contain"),
    ({"format": "jb-book", "root": "i", "chapter": [{"file": "a"}]}, "malformed: Unknown keys"),
    ({"format": "jb-book", "root": "i", "chapters": [{"file": "a", "sections": [{"glob": "a/*"}]}]},
     "glob entry 'a/\\*' under 'a' is not supported"),
    ("does/not/exist.yml", "is not a file"),
    (3, "toc must be the path of a _toc.yml or its content as a dict, got int"),
])
def test_toc_files_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        toc.toc_files(bad)
