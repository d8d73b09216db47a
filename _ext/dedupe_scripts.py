"""Write each inline ``<script>`` of a page once.

Sphinx 7.4 adds the scripts that extensions register after the builder
started twice to every page: once as ``None`` and once as ``''`` (its
``prepare_writing`` re-adds the registry's scripts with ``filename or ''``,
and the two do not compare equal). For sphinx-thebe's inline
``const THEBE_JS_URL = ...`` the second copy is a JavaScript error on every
page (``Identifier 'THEBE_JS_URL' has already been declared``), which the
browser test (tests/test_browser.py) reports. Here the page's script list
is made unique before the page is written.
"""

from __future__ import annotations

from sphinx.application import Sphinx


def _key(js) -> tuple:
    return (js.filename or "", js.priority, tuple(sorted(js.attributes.items())))


def unique_scripts(scripts: list) -> list:
    seen, out = set(), []
    for js in scripts:
        if _key(js) not in seen:
            seen.add(_key(js))
            out.append(js)
    return out


def _page_context(app: Sphinx, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if scripts:
        scripts[:] = unique_scripts(scripts)   # in place: the builder restores its own list after the page


def setup(app: Sphinx) -> dict:
    app.connect("html-page-context", _page_context, priority=900)   # after the handlers that add scripts
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
