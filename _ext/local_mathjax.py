"""Serve MathJax 3 from the book itself, so equations typeset without a network.

Sphinx loads MathJax from a CDN by default; offline (or behind a closed
network, as in CI) the reader would see raw TeX. Here MathJax 3 comes from
the PyPI package ``django-static-mathjax`` (MathJax 3.2.2, Apache-2.0,
installed by the ``book`` extra; the package needs no Django to be imported
from) and is copied into ``_build/html/_static/mathjax`` at the end of each
HTML build. ``_config.yml`` points ``mathjax_path`` at it
(``mathjax/tex-mml-chtml.js``, relative to ``_static``), and
``mathjax3_config`` (``tags: ams`` for equation numbers) applies unchanged.

Only what the ``tex-mml-chtml`` component can load is copied (its
extensions, CHTML fonts, menu, accessibility and speech files: about 8 MB),
not the other combined bundles or the SVG output.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

STATIC_DIR = "mathjax"          # under _static; mathjax_path must start with it
ENTRY = "tex-mml-chtml.js"      # Sphinx's default component, now served locally
KEEP_TOP_FILES = {ENTRY, "core.js", "loader.js", "startup.js", "latest.js"}


def mathjax_source() -> Path:
    """The ``es5`` folder of the installed MathJax 3 distribution."""
    try:
        import mathjax  # the import name of django-static-mathjax
    except ImportError as err:
        raise ExtensionError(
            "MathJax 3 is not installed: `pip install django-static-mathjax` "
            "(it is in the book extra: `make book` installs it)"
        ) from err
    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (es5 / ENTRY).is_file():
        raise ExtensionError(f"{es5 / ENTRY} not found: is django-static-mathjax a MathJax 3 release?")
    return es5


def _ignore(folder: str, names: list[str]) -> set[str]:
    here = Path(folder)
    if here.name == "es5":
        return {n for n in names if n.endswith(".js") and n not in KEEP_TOP_FILES}
    if here.name == "output":
        return {n for n in names if n.startswith("svg")}
    return set()


def copy_mathjax(source: Path, static: Path) -> Path:
    """Copy MathJax from ``source`` (its es5 folder) into ``static``/mathjax; return the entry file."""
    target = static / STATIC_DIR
    entry = target / ENTRY
    if not (entry.is_file() and entry.stat().st_size == (source / ENTRY).stat().st_size):
        shutil.copytree(source, target, ignore=_ignore, dirs_exist_ok=True)
    return entry


def _check_config(app: Sphinx, config) -> None:
    path = config.mathjax_path
    if path != f"{STATIC_DIR}/{ENTRY}":
        raise ExtensionError(
            f"local_mathjax serves {STATIC_DIR}/{ENTRY}, but mathjax_path is {path!r}: "
            f"set `mathjax_path: {STATIC_DIR}/{ENTRY}` in _config.yml (sphinx: config:)"
        )
    mathjax_source()  # fail at the start of the build, not after executing every chapter


def _build_finished(app: Sphinx, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html":
        copy_mathjax(mathjax_source(), Path(app.outdir) / "_static")


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", _check_config)
    app.connect("build-finished", _build_finished)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
