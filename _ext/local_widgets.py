"""Serve the ipywidgets embedding scripts from the book itself, so saved widgets render offline.

A page with saved widget state needs RequireJS and the widget manager
``@jupyter-widgets/html-manager`` (``embed-amd.js``, which bundles the core
controls: sliders, dropdowns, boxes). myst-nb loads both from CDNs; offline,
and in CI, the reader would see no widget. No PyPI package ships them, so
``make book`` fetches the two npm packages once into the virtual
environment (``python _ext/local_widgets.py fetch``, run by the Makefile
with npm; pinned versions below), and this extension copies them into
``_build/html/_static/widgets`` and points myst-nb's ``nb_ipywidgets_js`` at
them. Where they were not fetched (no npm), pages keep the CDN scripts,
which work online, and the build says so.

Each AMD module in ``embed-amd.js`` finds its icon fonts next to its module
URL, which RequireJS derives from the page's folder; a one-line
``require.config`` before it maps the modules to ``_static/widgets`` at
every page depth.
Licences: html-manager BSD-3-Clause, RequireJS MIT.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HTML_MANAGER = "@jupyter-widgets/html-manager@1.0.15"   # the manager of ipywidgets 8.1 (controls 2.0 state)
REQUIREJS = "requirejs@2.3.8"
STATIC_DIR = "widgets"   # under _static
FILES = ("require.js", "embed-amd.js")
CDN = "https://cdn.jsdelivr.net/npm/"   # only for third-party widget modules, which the book does not use
# the AMD modules that embed-amd.js defines; each finds its fonts next to its module URL
MODULES = ("base", "controls", "base7", "controls7", "output", "html-manager")


def assets_dir() -> Path:
    """Where ``fetch`` puts the scripts: ``$ANOTUTOR_WIDGETS_JS`` or the environment's share/anotutor/widgets."""
    return Path(os.environ.get("ANOTUTOR_WIDGETS_JS") or Path(sys.prefix) / "share" / "anotutor" / "widgets")


def available(folder: Path) -> bool:
    return all((folder / f).is_file() for f in FILES)


def fetch(dest: Path) -> None:
    """Download the two npm packages with ``npm pack`` and keep what a page loads (about 4 MB)."""
    npm = shutil.which("npm")
    if npm is None:
        print("local_widgets: npm not found; widget pages will load their scripts from a CDN", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([npm, "pack", "--json", "--silent", HTML_MANAGER, REQUIREJS],
                             cwd=tmp, capture_output=True, text=True)
        if out.returncode != 0:
            print(f"local_widgets: `npm pack` failed; widget pages will use a CDN:\n{out.stderr[-2000:]}", file=sys.stderr)
            return
        dest.mkdir(parents=True, exist_ok=True)
        for info in json.loads(out.stdout):
            with tarfile.open(Path(tmp) / info["filename"]) as tar:
                for member in tar.getmembers():
                    name = member.name.removeprefix("package/")
                    keep = name in ("require.js", "dist/embed-amd.js") or (
                        name.startswith("dist/") and name.endswith((".woff2", ".woff")))   # icon fonts
                    if member.isfile() and keep:
                        (dest / Path(name).name).write_bytes(tar.extractfile(member).read())
    print(f"local_widgets: {HTML_MANAGER} and {REQUIREJS} in {dest}")


def ipywidgets_js(static_dir: str = STATIC_DIR) -> dict:
    """myst-nb's ``nb_ipywidgets_js``: the local scripts, in order, with the module paths set in between."""
    paths = ", ".join(f"'@jupyter-widgets/{m}': base + '/{m}'" for m in MODULES)
    config = (
        "(function () { var s = document.querySelector('script[src*=\"" + static_dir + "/require.js\"]');"
        " var base = s.src.slice(0, s.src.lastIndexOf('/'));"
        " require.config({paths: {'@jupyter-widgets/html-manager/dist': base, " + paths + "}}); })();"
    )
    return {
        f"{static_dir}/require.js": {},
        "": {"body": config},
        f"{static_dir}/embed-amd.js": {"data-jupyter-widgets-cdn": CDN},
    }


def _config_inited(app, config) -> None:
    from sphinx.util import logging

    from myst_nb.core.config import ipywidgets_js_factory

    if config.nb_ipywidgets_js not in (None, ipywidgets_js_factory()):
        return   # set by hand in _config.yml: leave it
    if available(assets_dir()):
        config.nb_ipywidgets_js = ipywidgets_js()
    else:
        logging.getLogger(__name__).info(
            f"local_widgets: no local widget scripts in {assets_dir()} (`make book` fetches them with npm); "
            "widget pages load them from a CDN"
        )


def _build_finished(app, exception) -> None:
    src = assets_dir()
    if exception is None and app.builder.format == "html" and available(src):
        target = Path(app.outdir) / "_static" / STATIC_DIR
        shutil.copytree(src, target, dirs_exist_ok=True)


# ipywidgets' html-manager 1.0.x typesets widget labels with MathJax 2's API
# (``MathJax.Hub.Queue``); the book loads MathJax 3, where ``MathJax.Hub`` is
# undefined and every widget page threw "Cannot read properties of undefined
# (reading 'Queue')" (caught by the browser test). This inline script, placed
# after Sphinx's ``window.MathJax = {...}`` configuration (priority 900) and so
# before the deferred MathJax itself runs, maps ``Hub.Queue`` to MathJax 3's
# ``typesetPromise``, both before MathJax has loaded and after its start-up.
MATHJAX2_SHIM = """(function () {
  var queue = {Queue: function () {
    if (window.MathJax && window.MathJax.typesetPromise) { window.MathJax.typesetPromise(); }
  }};
  var mj = window.MathJax = window.MathJax || {};
  mj.Hub = mj.Hub || queue;
  mj.startup = mj.startup || {};
  mj.startup.ready = function () {
    window.MathJax.startup.defaultReady();
    window.MathJax.Hub = window.MathJax.Hub || queue;
  };
})();"""


def setup(app) -> dict:
    app.add_js_file(None, body=MATHJAX2_SHIM, priority=900)
    app.connect("config-inited", _config_inited)
    app.connect("build-finished", _build_finished)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    if sys.argv[1:2] != ["fetch"]:
        sys.exit("usage: python _ext/local_widgets.py fetch [DEST]")
    fetch(Path(sys.argv[2]) if len(sys.argv) > 2 else assets_dir())
