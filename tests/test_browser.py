"""The built book as a reader sees it: every page of _build/html in headless Chromium.

Run after the book is built: ``make book && make browser`` (``make browser`` is
``pytest -m browser tests/test_browser.py``). ``make test`` deselects the
tests marked ``browser`` (``addopts`` in pyproject.toml), because it runs
before the book is built; CI runs them after ``make book`` with
``ANOTUTOR_REQUIRE_BROWSER=1``.

Without a built book, Playwright or Chromium the browser tests are skipped
with a message saying how to get them; with ``ANOTUTOR_REQUIRE_BROWSER=1``
(set by ``.ci/run``) they fail instead, so CI never passes by not looking.
The book is not built here: ``make book`` (``jupyter-book build -W``) does
it once, and a second build would double the longest step of CI.

Each page is served from a local HTTP server and checked for: JavaScript
errors, failed or off-site requests (the book must work offline), images
that did not load, math that MathJax did not typeset, widget views that did
not render, leftover MyST markup (an unresolved ``{glue}``), a display equation,
code block or output wider than its column (cut off at the edge), the Colab launch
link (it must name a notebook tracked in this repository) and, over the
whole site, local links and anchors that lead nowhere. A full-page
screenshot of every chapter, 1280 px wide, goes to ``screenshots/``. On
every page with a slider, each slider is moved (arrow key, then a mouse
click on its track) and must change the figure and the text below it,
offline (anotutor.widgets.linked_explorer links them in the browser).

The pure helpers are tested below on small hand-made pages, without a
browser, so each check is shown to fail when it should.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))

from toc import toc_files  # noqa: E402

SITE = ROOT / "_build" / "html"
SHOTS = Path(os.environ.get("ANOTUTOR_SCREENSHOTS", ROOT / "screenshots"))
REQUIRE = os.environ.get("ANOTUTOR_REQUIRE_BROWSER", "") not in ("", "0")
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
WIDTH = 1280
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
INSTALL_HINT = (
    "install Chromium (Debian/Ubuntu: `sudo apt-get install chromium`) or point "
    "ANOTUTOR_CHROMIUM at a Chromium/Chrome binary"
)
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


# --------------------------------------------------------------------------
# Pure helpers: what the site is made of, and what is wrong with it
# --------------------------------------------------------------------------

def site_pages(site: Path) -> list[str]:
    """Every HTML page of the built site, as paths relative to it (Sphinx's own folders left out)."""
    skip = {"_static", "_sources", "_images", "_downloads"}
    return sorted(
        p.relative_to(site).as_posix()
        for p in site.rglob("*.html")
        if not skip & set(p.relative_to(site).parts)
    )


class _PageParser(HTMLParser):
    """Collects the local references (href, src), the element ids and a meta refresh of a page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.refs: list[tuple[str, str]] = []   # (tag, url)
        self.ids: set[str] = set()
        self.refresh: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        for key in ("href", "src"):
            if a.get(key) is not None and tag in ("a", "link", "img", "script", "iframe", "source", "video"):
                self.refs.append((tag, a[key]))
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "refresh":
            m = re.search(r"url=(.+)", a.get("content") or "", re.I)
            if m:
                self.refresh = m.group(1).strip().strip("'\"")
                self.refs.append(("meta", self.refresh))


def parse_page(path: Path) -> _PageParser:
    parser = _PageParser()
    parser.feed(path.read_text(encoding="utf8", errors="replace"))
    return parser


def broken_links(site: Path) -> list[str]:
    """Local hrefs and srcs of every page that name a missing file, or a missing anchor in a page."""
    site = site.resolve()
    parsed = {rel: parse_page(site / rel) for rel in site_pages(site)}
    problems = []
    for rel, page in parsed.items():
        here = (site / rel).parent
        for tag, url in page.refs:
            parts = urlsplit(url)
            if parts.scheme or parts.netloc or url in ("", "#"):
                continue
            if not parts.path:          # same page: only the anchor matters
                target_rel, target = rel, site / rel
            else:
                target = (here / unquote(parts.path)).resolve()
                if target.is_dir():
                    target = target / "index.html"
                if site not in target.parents:
                    problems.append(f"{rel}: <{tag}> {url} points outside the site")
                    continue
                target_rel = target.relative_to(site).as_posix()
                if not target.is_file():
                    problems.append(f"{rel}: <{tag}> {url} -> {target_rel} does not exist")
                    continue
            anchor = unquote(parts.fragment)
            if anchor and target.suffix == ".html":
                ids = parsed[target_rel].ids if target_rel in parsed else parse_page(target).ids
                if anchor not in ids:
                    problems.append(f"{rel}: <{tag}> {url}: no element with id {anchor!r} in {target_rel}")
    return problems


def colab_links(page: _PageParser) -> list[str]:
    return [url for _, url in page.refs if urlsplit(url).netloc == urlsplit(CONFIG["launch_buttons"]["colab_url"]).netloc]


def colab_problems(links: list[str], expect: bool, tracked: set[str], config: dict = CONFIG) -> list[str]:
    """The Colab launch links of a page must open a notebook that this repository holds at that path.

    ``expect``: whether the page is a notebook chapter (it must then have a link);
    ``tracked``: the repository's files, relative to its root.
    """
    if not links:
        return ["no Colab launch link on a notebook chapter"] if expect else []
    repo = urlsplit(config["repository"]["url"]).path.strip("/")
    branch = config["repository"].get("branch", "main")
    prefix = f"{config['launch_buttons']['colab_url'].rstrip('/')}/github/{repo}/blob/{branch}/"
    book = (config["repository"].get("path_to_book") or "").strip("/")
    problems = []
    for url in links:
        if not url.startswith(prefix):
            problems.append(f"Colab link {url} does not start with {prefix}")
            continue
        path = url[len(prefix):].split("#")[0].split("?")[0]
        if book and not path.startswith(book + "/"):
            problems.append(f"Colab link {url} is not under path_to_book {book!r}")
        if not path.endswith(".ipynb"):
            problems.append(f"Colab link {url} does not open a .ipynb")
        elif path not in tracked:
            problems.append(f"Colab link {url}: {path} is not a file tracked in this repository")
    return problems


LEFTOVER = re.compile(r"\{(?:glue|eq|cite|numref|ref|doc|term|math|download)(?::[\w-]*)?\}`|could not find key", re.I)


def leftover_markup(text: str) -> list[str]:
    """MyST roles that were not rendered (e.g. a glued number left as ``{glue:}`x```), and glue's missing-key message."""
    return [f"leftover markup in the page text: {m.group(0)!r}" for m in LEFTOVER.finditer(text)]


def math_problems(info: dict, tags: str | None) -> list[str]:
    """Judge what the page's MathJax did (``info`` from MATH_JS)."""
    if not info["math"]:
        return []
    if not info["version"]:
        return [f"the page has {info['math']} math elements but MathJax did not load"]
    problems = []
    if info["raw"]:
        problems.append(f"{len(info['raw'])} of {info['math']} math elements not typeset, e.g. {info['raw'][0]!r}")
    if info["errors"]:
        problems.append(f"MathJax errors: {info['errors'][:3]}")
    if not info["version"].startswith("3."):
        problems.append(f"MathJax {info['version']} loaded, the book is configured for MathJax 3")
    if tags and info["tags"] != tags:
        problems.append(f"MathJax tex.tags is {info['tags']!r}, _config.yml sets {tags!r}")
    return problems


def widget_problems(info: dict) -> list[str]:
    """Judge the widget views of a page (``info`` from WIDGETS_JS): a page with saved widget state must show them."""
    if not info["state"]:
        return []
    problems = []
    if not info["views"]:
        problems.append("the page has widget state but no widget view")
    if info["unrendered"]:
        problems.append(f"{info['unrendered']} of {info['views']} widget views did not render")
    if info["sliderModels"] and info["views"] and not info["sliders"]:
        problems.append("the widget state holds sliders but no slider was rendered")
    if info["errors"]:
        problems.append(f"widget errors: {info['errors'][:3]}")
    return problems


def overflow_problems(found: list[dict]) -> list[str]:
    """Judge what OVERFLOW_JS found: a typeset equation, a code block or an output wider than its column."""
    return [f"{f['kind']} wider than its column by {f['over']} px (cut off or scrolled): {f['text']!r}"
            for f in found]


def git_tracked(root: Path) -> set[str] | None:
    """Files tracked by git under ``root`` (None outside a git checkout)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return set(out.decode().split("\0")) - {""}


def chapter_pages() -> dict[str, bool]:
    """The pages the table of contents builds, each with whether its source is a notebook (it gets launch buttons)."""
    out = {}
    for f in toc_files(ROOT / "_toc.yml"):
        src = ROOT / (f if f.endswith((".md", ".ipynb")) else f + ".md")
        stem = f.removesuffix(".md").removesuffix(".ipynb")
        out[stem + ".html"] = src.suffix == ".ipynb" or "kernelspec:" in src.read_text()[:800]
    return out


# --------------------------------------------------------------------------
# What runs in the page
# --------------------------------------------------------------------------

MATH_JS = """async () => {
  const els = [...document.querySelectorAll('.math')];
  const mj = window.MathJax;
  if (els.length && mj && mj.startup && mj.startup.promise) { await mj.startup.promise; }
  return {
    math: els.length,
    version: (mj && mj.version) || null,
    tags: (mj && mj.config && mj.config.tex && mj.config.tex.tags) || null,
    raw: els.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.trim().slice(0, 80)),
    errors: [...document.querySelectorAll('mjx-merror')].map(e => e.getAttribute('data-mjx-error') || e.textContent),
  };
}"""

WIDGETS_JS = """() => {
  const state = document.querySelector('script[type="application/vnd.jupyter.widget-state+json"]');
  const views = [...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')];
  const rendered = v => {
    const area = v.previousElementSibling;
    return !!(area && area.classList.contains('widget-subarea') && area.querySelector('.jupyter-widgets'));
  };
  let sliderModels = 0;
  try {
    const models = Object.values(JSON.parse(state.textContent).state || {});
    sliderModels = models.filter(m => /SliderModel$/.test(m.model_name || '')).length;
  } catch (e) {}
  return {
    state: !!state,
    views: views.length,
    unrendered: views.filter(v => !rendered(v)).length,
    sliderModels: sliderModels,
    sliders: document.querySelectorAll('.widget-slider, .jupyter-widget-slider').length,
    errors: [...document.querySelectorAll('.jupyter-widgets-error-widget, .widget-error')].map(e => e.textContent.trim().slice(0, 120)),
  };
}"""

# Elements of the article that must fit its column: display equations (MathJax's
# container and Sphinx's div.math around it, which scrolls), code blocks and cell
# outputs (text, images, tables). "Wider" means content scrolled out of the element
# (scrollWidth > clientWidth) or a right edge past the column's.
OVERFLOW_JS = """() => {
  const col = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  const right = col.getBoundingClientRect().right;
  const kinds = {
    'equation': 'div.math, mjx-container[display="true"]',
    'code block': 'div.cell_input pre, div.highlight pre',
    'output': 'div.cell_output pre, div.cell_output img, div.cell_output table, figure img',
  };
  const found = [];
  for (const [kind, sel] of Object.entries(kinds)) {
    for (const el of document.querySelectorAll(sel)) {
      if (el.closest('.jupyter-widgets, .widget-subarea')) continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;   // hidden
      const over = Math.max(el.scrollWidth - el.clientWidth, r.right - right);
      if (over > 2) found.push({kind: kind, over: Math.round(over),
                                text: (el.textContent || el.getAttribute('src') || '').trim().slice(0, 60)});
    }
  }
  return found;
}"""

IMAGES_JS = """() => [...document.images]
  .filter(i => !(i.complete && i.naturalWidth > 0))
  .map(i => i.getAttribute('src'))"""


# --------------------------------------------------------------------------
# Fixtures: the built site, a local server, Chromium
# --------------------------------------------------------------------------

def unavailable(message: str):
    """Skip, or fail when the run requires the browser test (CI)."""
    if REQUIRE:
        pytest.fail(f"{message} (ANOTUTOR_REQUIRE_BROWSER is set, so this is a failure)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def site() -> Path:
    if not (SITE / "index.html").is_file():
        unavailable(f"the book is not built ({SITE.relative_to(ROOT)}/index.html is missing): run `make book` first")
    return SITE


@pytest.fixture(scope="module")
def server(site):
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def find_chromium() -> str | None:
    for candidate in (os.environ.get("ANOTUTOR_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (path := shutil.which(candidate)):
            return path
    return None


@pytest.fixture(scope="module")
def browser():
    """A Chromium context with a fresh profile, 1280 px wide; Playwright drives Debian's chromium, it downloads none."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright is not installed: `make venv` (it is in the test extra) or `pip install playwright`")
    executable = find_chromium()
    if executable is None:
        unavailable(f"no Chromium found: {INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="anotutor-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": WIDTH, "height": 900},
        )
        yield context
        context.close()


@pytest.fixture(scope="module")
def tracked() -> set[str]:
    files = git_tracked(ROOT)
    if files is None:   # not a git checkout (e.g. an sdist): the files on disk
        files = {p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.ipynb") if ".venv" not in p.parts}
    return files


def visit(context, url: str) -> tuple[object, list[str]]:
    """Open ``url`` in a new tab; return the tab and what went wrong while it loaded."""
    page = context.new_page()
    problems: list[str] = []
    local = urlsplit(url).netloc

    def route(r):
        if urlsplit(r.request.url).netloc in ("", local) or r.request.url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            problems.append(f"requests {r.request.url} from the network (the book must work offline)")
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"JavaScript error: {e}"))
    page.on("requestfailed", lambda r: urlsplit(r.url).netloc == local
            and problems.append(f"request failed: {r.url} ({r.failure})"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
    page.goto(url, wait_until="load", timeout=60_000)
    page.wait_for_load_state("networkidle", timeout=30_000)
    return page, problems


def screenshot(page, rel: str) -> Path:
    """A full-page PNG of the tab, as a 256-colour palette image (well under 1 MB for a long chapter)."""
    from PIL import Image

    png = page.screenshot(full_page=True, animations="disabled")
    path = SHOTS / Path(rel).with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(path, optimize=True)
    return path


# --------------------------------------------------------------------------
# The browser tests (make browser)
# --------------------------------------------------------------------------

PAGES = site_pages(SITE) if SITE.is_dir() else []
CHAPTERS = chapter_pages()


@pytest.mark.browser
def test_every_toc_entry_was_built(site):
    missing = [rel for rel in CHAPTERS if not (site / rel).is_file()]
    assert not missing, f"pages of _toc.yml missing from {SITE}: {missing}; rebuild with `make book`"


@pytest.mark.browser
def test_local_links_resolve(site):
    problems = broken_links(site)
    assert not problems, "broken local links:\n" + "\n".join(problems)


@pytest.mark.browser
@pytest.mark.parametrize("rel", [p for p in CHAPTERS] or ["(no toc)"])
def test_colab_link_opens_a_notebook_of_this_repository(site, tracked, rel):
    if not (site / rel).is_file():
        pytest.fail(f"{rel} was not built")
    problems = colab_problems(colab_links(parse_page(site / rel)), CHAPTERS[rel], tracked)
    assert not problems, f"{rel}:\n" + "\n".join(problems)


@pytest.mark.browser
@pytest.mark.parametrize("rel", PAGES or ["(not built)"])
def test_page_in_chromium(site, server, browser, rel):
    if rel not in PAGES:
        unavailable("the book is not built: run `make book` first")
    redirect = parse_page(site / rel).refresh
    page, problems = visit(browser, server + rel)
    try:
        if redirect:   # index.html forwards to the first chapter, which is checked on its own
            page.wait_for_url(server + redirect, timeout=30_000)
            assert not problems, f"{rel} -> {redirect}:\n" + "\n".join(problems)
            return
        problems += [f"image did not load: {src}" for src in page.evaluate(IMAGES_JS)]
        problems += math_problems(page.evaluate(MATH_JS), (CONFIG["sphinx"]["config"].get("mathjax3_config") or {}).get("tex", {}).get("tags"))
        if WIDGET_STATE in (site / rel).read_text(encoding="utf8"):
            try:   # the widget manager renders after load; give it a moment
                page.wait_for_function(
                    "() => [...document.querySelectorAll('script[type=\"application/vnd.jupyter.widget-view+json\"]')]"
                    ".every(v => v.previousElementSibling && v.previousElementSibling.querySelector('.jupyter-widgets'))",
                    timeout=20_000,
                )
            except Exception:
                pass   # reported below
        problems += widget_problems(page.evaluate(WIDGETS_JS))
        problems += leftover_markup(page.inner_text("body"))
        problems += overflow_problems(page.evaluate(OVERFLOW_JS))
        if rel in CHAPTERS:
            screenshot(page, rel)
    finally:
        page.close()
    assert not problems, f"{rel}:\n" + "\n".join(problems)


@pytest.mark.browser
def test_checks_fail_on_a_broken_hand_made_page(browser, server):
    """The in-page checks report untypeset math, unrendered widgets and a missing image."""
    page = browser.new_page()
    try:
        page.goto(server + "genindex.html")   # any page of the site, so relative URLs resolve locally
        page.set_content(
            '<p><span class="math">\\(x^2\\)</span></p><img src="nowhere.png">'
            f'<script type="{WIDGET_STATE}">{{"state": {{"m1": {{"model_name": "IntSliderModel", "state": {{}}}}}}}}</script>'
            '<script type="application/vnd.jupyter.widget-view+json">{"model_id": "m1"}</script>'
            "<p>n = {glue:}`n_train`</p>",
            wait_until="load",
        )
        assert page.evaluate(IMAGES_JS) == ["nowhere.png"]
        assert math_problems(page.evaluate(MATH_JS), "ams")[0].startswith("the page has 1 math elements but MathJax did not load")
        assert widget_problems(page.evaluate(WIDGETS_JS)) == [
            "1 of 1 widget views did not render",
            "the widget state holds sliders but no slider was rendered",
        ]
        assert leftover_markup(page.inner_text("body"))
        assert overflow_problems(page.evaluate(OVERFLOW_JS)) == []
        # the same page, rendered as the widget manager does it, passes the widget check
        page.evaluate("""() => { const v = document.querySelector('script[type="application/vnd.jupyter.widget-view+json"]');
            const area = document.createElement('div'); area.className = 'widget-subarea';
            area.innerHTML = '<div class="jupyter-widgets widget-slider"></div>'; v.before(area); }""")
        assert widget_problems(page.evaluate(WIDGETS_JS)) == []
    finally:
        page.close()


@pytest.mark.browser
def test_overflow_check_catches_a_wide_equation_and_a_wide_code_line(browser, server):
    """A display equation and a code line wider than the column fail; narrow ones pass."""
    page = browser.new_page()
    page.set_viewport_size({"width": WIDTH, "height": 800})
    try:
        page.goto(server + "genindex.html")
        page.set_content(
            '<main><article class="bd-article" style="width: 600px">'
            f'<div class="math" style="overflow-x: auto">{"W" * 200}</div>'
            '<div class="cell_input"><pre style="overflow-x: auto">' + "y = 1  # " + "z" * 200 + "</pre></div>"
            '<div class="math">a = b</div><div class="cell_input"><pre>short</pre></div>'
            "</article></main>",
            wait_until="load",
        )
        found = page.evaluate(OVERFLOW_JS)
        assert sorted(f["kind"] for f in found) == ["code block", "equation"], found
        assert all(f["over"] > 100 for f in found) and len(overflow_problems(found)) == 2
    finally:
        page.close()


@pytest.mark.browser
def test_saved_widgets_render_offline_in_the_built_site(site, server, browser):
    """A chapter-deep page with saved widgets, using the site's own widget scripts, shows its sliders.

    This renders one the way myst-nb writes it (state script, view script,
    the scripts of _ext/local_widgets.py), so the site is shown to render
    widgets offline apart from any chapter; the chapters' own sliders are
    moved by test_sliders_move_figures_and_text_offline.
    """
    import ipywidgets as w
    from ipywidgets.embed import embed_data

    import local_widgets  # from _ext/, on sys.path above

    if not (site / "_static" / local_widgets.STATIC_DIR / "embed-amd.js").is_file():
        unavailable("the book was built without local widget scripts (`make book` fetches them with npm)")
    data = embed_data(views=[w.VBox([w.IntSlider(value=3, description="gamma"), w.Button(icon="check")])])
    scripts = "".join(
        f'<script src="../_static/{src}"{"".join(f" {k}={v!r}" for k, v in attrs.items())}></script>' if src
        else f"<script>{attrs['body']}</script>"
        for src, attrs in local_widgets.ipywidgets_js().items()
    )
    html = (f'<html><head><script type="{WIDGET_STATE}">{json.dumps(data["manager_state"])}</script>{scripts}</head>'
            '<body><div class="cell_output"><script type="application/vnd.jupyter.widget-view+json">'
            f'{json.dumps(data["view_specs"][0])}</script></div></body></html>')
    url = server + "book/__widget_check__.html"   # served from memory, beside the chapters
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"JavaScript error: {e}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
    page.route("**/*", lambda r: r.continue_() if urlsplit(r.request.url).hostname == "127.0.0.1"
               else (problems.append(f"requests {r.request.url} from the network"), r.abort()))
    page.route(url, lambda r: r.fulfill(status=200, content_type="text/html", body=html))
    try:
        page.goto(url, wait_until="networkidle")
        page.wait_for_selector(".widget-subarea .widget-slider", timeout=20_000)
        problems += widget_problems(page.evaluate(WIDGETS_JS))
    finally:
        page.close()
    assert not problems, "\n".join(problems)


def has_slider(path: Path) -> bool:
    """Whether a built page's saved widget state holds a slider."""
    return bool(re.search(r'"model_name": ?"\w*SliderModel"', path.read_text(encoding="utf8", errors="replace")))


SLIDER_PAGES = [rel for rel in PAGES if has_slider(SITE / rel)]

# What an explorer of anotutor.widgets.linked_explorer shows: its slider's position and readout,
# and, in the Stack beside it (the slider's next sibling), the text and the image (src, and a
# hash of its bytes, read back from its blob URL).
EXPLORER_JS = """async (i) => {
  const s = document.querySelectorAll('.widget-subarea .widget-slider')[i];
  const handle = s.querySelector('.noUi-handle');
  const stack = s.nextElementSibling;
  const out = {index: handle && handle.getAttribute('aria-valuenow'), max: handle && handle.getAttribute('aria-valuemax'),
               readout: (s.querySelector('.widget-readout') || {}).textContent, stack: !!stack};
  if (!stack) return out;
  const img = stack.querySelector('img');
  out.text = stack.textContent.trim();
  out.src = img && img.getAttribute('src');
  if (img) {   // a new src decodes asynchronously: give it up to 10 s (a loaded page, a busy CI machine)
    await Promise.race([img.decode().catch(() => null), new Promise(r => setTimeout(r, 10000))]);
  }
  out.loaded = !!(img && img.complete && img.naturalWidth > 0);
  if (img) {
    const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
    let h = 0;
    for (const b of bytes) h = (h * 31 + b) | 0;
    out.digest = bytes.length + ':' + h;
  }
  return out;
}"""


def explorer_change_problems(before: dict, after: dict, how: str) -> list[str]:
    """What did not change, or did not show, when a slider was moved ``how``.

    The image shown must be a new one (its src, a blob URL of the Stack's page);
    its bytes may be the same when two positions really draw the same figure
    (two ``cover`` values that keep the same superpixels): the test asks, over
    both moves, for at least one new figure."""
    if not after["stack"]:
        return [f"{how}: no Stack beside the slider (not a linked explorer)"]
    problems = []
    if after["index"] == before["index"]:
        problems.append(f"{how}: the slider did not move (index {before['index']})")
    if after["text"] == before["text"]:
        problems.append(f"{how}: the text did not change ({after['text'][:60]!r})")
    if before.get("src") is not None or after.get("src") is not None:
        if after.get("src") == before.get("src"):
            problems.append(f"{how}: the image did not change ({after.get('src')})")
        if not after.get("loaded"):
            problems.append(f"{how}: the image did not load ({after.get('src')})")
    return problems


@pytest.mark.browser
@pytest.mark.parametrize("rel", SLIDER_PAGES or ["(no page with a slider)"])
def test_sliders_move_figures_and_text_offline(site, server, browser, rel):
    """Every slider of the page, moved twice (arrow key, then a click on its track), changes what it shows."""
    if rel not in SLIDER_PAGES:
        unavailable("no built page has a slider: run `make book` first")
    page, problems = visit(browser, server + rel)
    try:
        page.wait_for_function("() => document.querySelectorAll('.widget-subarea .widget-slider .noUi-handle').length"
                               " > 0", timeout=20_000)
        n = page.locator(".widget-subarea .widget-slider").count()
        moved = 0
        for i in range(n):
            slider = page.locator(".widget-subarea .widget-slider").nth(i)
            slider.scroll_into_view_if_needed()
            start = page.evaluate(EXPLORER_JS, i)
            if not start["stack"]:
                problems.append(f"slider {i + 1} ({start['readout']}): no Stack beside it (not a linked explorer)")
                continue
            last = int(float(start["max"]))
            if last < 1:
                continue   # one position: nothing to move to
            # 1. keyboard: one step (right, or left from the last position)
            idx = int(float(start["index"]))
            slider.locator(".noUi-handle").focus()
            page.keyboard.press("ArrowLeft" if idx == last else "ArrowRight")
            try:
                page.wait_for_function(f"() => document.querySelectorAll('.widget-subarea .widget-slider')[{i}]"
                                       f".nextElementSibling.textContent.trim() !== {json.dumps(start['text'])}",
                                       timeout=5_000)
            except Exception:
                pass   # reported below
            first = page.evaluate(EXPLORER_JS, i)
            problems += [f"slider {i + 1}: {p}" for p in explorer_change_problems(start, first, "arrow key")]
            # 2. mouse: a click on the track at the end farthest from where the handle is now
            box = slider.locator(".noUi-base").bounding_box()
            frac = 0.01 if int(float(first["index"])) > last / 2 else 0.99
            page.mouse.click(box["x"] + frac * box["width"], box["y"] + box["height"] / 2)
            try:
                page.wait_for_function(f"() => document.querySelectorAll('.widget-subarea .widget-slider')[{i}]"
                                       f".nextElementSibling.textContent.trim() !== {json.dumps(first['text'])}",
                                       timeout=5_000)
            except Exception:
                pass
            second = page.evaluate(EXPLORER_JS, i)
            problems += [f"slider {i + 1}: {p}" for p in explorer_change_problems(first, second, "mouse click")]
            if second["readout"] == start["readout"] and last > 1:
                problems.append(f"slider {i + 1}: the readout is back at {start['readout']!r}")
            if start.get("src") and len({start.get("digest"), first.get("digest"), second.get("digest")}) < 2:
                problems.append(f"slider {i + 1}: the same figure at three positions ({start['readout']}, "
                                f"{first['readout']}, {second['readout']})")
            moved += 1
        if not moved:
            problems.append(f"the page has {n} sliders but none with two positions to move between")
    finally:
        page.close()
    assert not problems, f"{rel}:\n" + "\n".join(problems)


@pytest.mark.browser
def test_stale_screenshots_are_removed(site):
    """Screenshots of pages that are no longer in the book are deleted (run last: after the page tests)."""
    keep = {SHOTS / Path(rel).with_suffix(".png") for rel in CHAPTERS}
    for png in SHOTS.rglob("*.png") if SHOTS.is_dir() else []:
        if png not in keep:
            png.unlink()


# --------------------------------------------------------------------------
# The helpers on hand-made sites (no browser, no build: part of make test)
# --------------------------------------------------------------------------

def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_broken_links_finds_missing_files_and_anchors(tmp_path):
    site = _write(tmp_path, {
        "index.html": '<meta http-equiv="Refresh" content="0; url=book/intro.html" />',
        "book/intro.html": '<h1 id="top">x</h1><a href="#top">ok</a><a href="ch1.html#sec">ok</a>'
                           '<a href="https://example.org/x">external</a><img src="../_images/a.png">'
                           '<a href="gone.html">missing</a><a href="ch1.html#nope">bad anchor</a>'
                           '<script src="../_static/x.js?v=1"></script><a href="#">top</a>',
        "book/ch1.html": '<section id="sec"></section><a href="../index.html">home</a><a href="../../up.html">out</a>',
        "_images/a.png": "",
        "_static/x.js": "",
    })
    assert broken_links(site) == [
        "book/ch1.html: <a> ../../up.html points outside the site",
        "book/intro.html: <a> gone.html -> book/gone.html does not exist",
        "book/intro.html: <a> ch1.html#nope: no element with id 'nope' in book/ch1.html",
    ]
    (site / "book" / "intro.html").unlink()
    assert broken_links(site) == [
        "book/ch1.html: <a> ../../up.html points outside the site",
        "index.html: <meta> book/intro.html -> book/intro.html does not exist",
    ]


def test_site_pages_leave_out_sphinx_folders(tmp_path):
    site = _write(tmp_path, {"index.html": "", "book/a.html": "", "_static/x.html": "", "_sources/b.html": ""})
    assert site_pages(site) == ["book/a.html", "index.html"]


def test_colab_problems():
    config = {"repository": {"url": "https://github.com/o/r", "branch": "main", "path_to_book": ""},
              "launch_buttons": {"colab_url": "https://colab.research.google.com"}}
    base = "https://colab.research.google.com/github/o/r/blob/main/"
    tracked = {"book/ch1.ipynb", "book/ch1.md"}
    assert colab_problems([base + "book/ch1.ipynb"], True, tracked, config) == []
    assert colab_problems([], False, tracked, config) == []
    assert colab_problems([], True, tracked, config) == ["no Colab launch link on a notebook chapter"]
    assert "not a file tracked" in colab_problems([base + "book/ch2.ipynb"], True, tracked, config)[0]
    assert "does not open a .ipynb" in colab_problems([base + "book/ch1.md"], True, tracked, config)[0]
    assert "does not start with" in colab_problems([base.replace("main", "dev") + "book/ch1.ipynb"], True, tracked, config)[0]


def test_colab_links_are_read_from_the_page(tmp_path):
    page = _write(tmp_path, {"p.html": '<a href="https://colab.research.google.com/github/o/r/blob/main/x.ipynb">'
                                       '<a href="https://github.com/o/r">'})
    assert colab_links(parse_page(page / "p.html")) == ["https://colab.research.google.com/github/o/r/blob/main/x.ipynb"]


def test_overflow_judge():
    assert overflow_problems([]) == []
    msg = overflow_problems([{"kind": "equation", "over": 40, "text": "V(D, G) = ..."}])
    assert msg == ["equation wider than its column by 40 px (cut off or scrolled): 'V(D, G) = ...'"]


def test_leftover_markup():
    assert leftover_markup("training has 96 images of 64 x 64 pixels") == []
    assert len(leftover_markup("training has {glue:}`n_train` images; see {eq}`eq-auroc`")) == 2
    assert leftover_markup("Warning: could not find key 'n_train'") != []


def test_math_and_widget_judges():
    ok = {"math": 3, "version": "3.2.2", "tags": "ams", "raw": [], "errors": []}
    assert math_problems(ok, "ams") == []
    assert math_problems({**ok, "math": 0, "version": None}, "ams") == []
    assert "did not load" in math_problems({**ok, "version": None}, "ams")[0]
    assert "not typeset" in math_problems({**ok, "raw": ["\\(x\\)"]}, "ams")[0]
    assert "tex.tags" in math_problems({**ok, "tags": None}, "ams")[0]
    assert "MathJax 3" in math_problems({**ok, "version": "2.7.9"}, None)[0]
    w = {"state": True, "views": 2, "unrendered": 0, "sliderModels": 1, "sliders": 1, "errors": []}
    assert widget_problems(w) == [] and widget_problems({**w, "state": False, "views": 0}) == []
    assert widget_problems({**w, "unrendered": 2, "sliders": 0}) == [
        "2 of 2 widget views did not render", "the widget state holds sliders but no slider was rendered"]


def test_missing_browser_is_a_skip_with_a_hint_or_a_failure_when_required(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("ANOTUTOR_CHROMIUM", raising=False)
    assert find_chromium() is None
    assert "apt-get install chromium" in INSTALL_HINT
    monkeypatch.setattr(sys.modules[__name__], "REQUIRE", False)
    with pytest.raises(pytest.skip.Exception, match="run `make book`"):
        unavailable("run `make book`")
    monkeypatch.setattr(sys.modules[__name__], "REQUIRE", True)
    with pytest.raises(pytest.fail.Exception, match="ANOTUTOR_REQUIRE_BROWSER"):
        unavailable("no Chromium found")


def test_explorer_change_judge():
    before = {"stack": True, "index": "0.0", "text": "tau = 0.1", "src": "blob:a", "digest": "1:1", "loaded": True}
    after = {**before, "index": "1.0", "text": "tau = 0.2", "src": "blob:b", "digest": "1:2"}
    assert explorer_change_problems(before, after, "key") == []
    assert explorer_change_problems(before, {**after, "digest": "1:1"}, "key") == []   # same figure, new view
    assert explorer_change_problems(before, {**after, "stack": False}, "key") == [
        "key: no Stack beside the slider (not a linked explorer)"]
    assert explorer_change_problems(before, {**before, "loaded": False}, "key") == [
        "key: the slider did not move (index 0.0)", "key: the text did not change ('tau = 0.1')",
        "key: the image did not change (blob:a)", "key: the image did not load (blob:a)"]


@pytest.mark.browser
def test_the_command_report_opens_offline_without_errors(browser, tmp_path):
    """``anotutor compare``'s index.html (issue 29): opened from disk, nothing fetched, no error."""
    from anotutor import cli
    from test_cli import SMALL, make_folder

    root = make_folder(tmp_path / "data", colour=True)
    assert cli.main(["compare", str(root), "--methods", "floor,ae-l2", "--out", str(tmp_path / "c"), *SMALL]) == 0
    page, problems = visit(browser, (tmp_path / "c" / "index.html").as_uri())
    try:
        assert not problems, problems
        loaded = page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
        assert loaded and all(loaded), "an image of the report did not load"
        assert page.locator("table tr").count() == 3
        screenshot(page, "report/index.html")   # screenshots/report/index.png
    finally:
        page.close()
