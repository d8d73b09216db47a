"""The book's local Sphinx extensions (_ext/): MathJax and widget scripts served locally, inline scripts once."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))

import dedupe_scripts  # noqa: E402
import local_mathjax  # noqa: E402
import local_widgets  # noqa: E402


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
