"""The book's table of contents, ``_toc.yml``, as the ordered list of its files.

The tests (tests/test_book.py, tests/test_browser.py) and the chapter
benchmark (benchmarks/chapters.py) need the pages of the book in reading
order. They take them from :func:`toc_files`, which lets sphinx-external-toc
(the parser Jupyter Book builds with) read the file, so that parts, chapters,
nested sections and each format's key names (``jb-book``, ``jb-article``,
the default ``subtrees``/``entries``) mean here what they mean in the build,
and a table of contents the build would refuse is refused here too.

Not a Sphinx extension: nothing in _config.yml loads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml
from sphinx_external_toc.api import FileItem, GlobItem
from sphinx_external_toc.parsing import MalformedError, parse_toc_data

__all__ = ["TOC", "toc_files"]

TOC = Path(__file__).resolve().parents[1] / "_toc.yml"


def toc_files(toc: str | Path | Mapping = TOC) -> list[str]:
    """The files a table of contents lists: the root first, then depth first in reading order.

    ``toc`` is the path of a ``_toc.yml`` (the book's own by default) or its
    content as a dict. Each page comes before its sections, and its sections
    before the next page; parts only group chapters. Files are returned as
    written, with or without a suffix (``book/01_data_and_metrics``), relative
    to the book's root folder. External links (``url``) are not files and are
    left out. A ``glob`` entry raises a ``ValueError``: its files depend on the
    folder it is matched in, so list them one by one instead. A malformed
    table of contents (no root, an entry without ``file``, a file listed
    twice, an unknown key) raises a ``ValueError`` with the parser's reason.
    """
    if isinstance(toc, Mapping):
        data, where = toc, "the table of contents"
    elif isinstance(toc, (str, Path)):
        path = Path(toc)
        if not path.is_file():
            raise ValueError(f"toc must be a _toc.yml file or its content as a dict; {path} is not a file")
        data, where = yaml.safe_load(path.read_text(encoding="utf8")), str(path)
    else:
        raise ValueError(f"toc must be the path of a _toc.yml or its content as a dict, got {type(toc).__name__}")
    try:
        site = parse_toc_data(data)
    except MalformedError as err:
        raise ValueError(f"{where} is malformed: {err}") from err

    files: list[str] = []

    def walk(docname: str) -> None:
        files.append(docname)
        for tree in site[docname].subtrees:
            for item in tree.items:
                if isinstance(item, GlobItem):
                    raise ValueError(f"{where}: the glob entry {str(item)!r} under {docname!r} is not supported; "
                                     "list its files one by one")
                if isinstance(item, FileItem):
                    walk(str(item))

    walk(site.root.docname)
    return files
