"""The weight of every built page of the book, and of each widget saved in it.

Reads _build/html (after ``make book``) and writes benchmarks/pages.json and
benchmarks/pages.md: for each page its HTML bytes, the bytes of its saved
widget state (the ``application/vnd.jupyter.widget-state+json`` script) and,
per widget shown on the page (each widget-view script), the bytes of the
models it needs: its model, every model it refers to (children, layouts,
styles, images), and the links (``jslink``) that touch any of them. Exits
non-zero when one widget is over the limit (2 MB, the book's budget:
anotutor.widgets.MAX_WIDGET_BYTES).

    python benchmarks/pages.py [--site _build/html] [--limit BYTES]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT_BYTES = 2_000_000   # = anotutor.widgets.MAX_WIDGET_BYTES (not imported: that pulls in torch)
STATE_TYPE = "application/vnd.jupyter.widget-state+json"
VIEW_TYPE = "application/vnd.jupyter.widget-view+json"
SKIP = {"_static", "_sources", "_images", "_downloads"}
_SCRIPT = re.compile(r'<script type="(?P<type>application/vnd\.jupyter\.widget-(?:state|view)\+json)">'
                     r"(?P<body>.*?)</script>", re.S)
_REF = re.compile(r"IPY_MODEL_([0-9a-f]+)")


def _size(obj) -> int:
    return len(json.dumps(obj, separators=(",", ":")).encode())


def widget_sizes(state: dict, roots: list[str]) -> list[int]:
    """Bytes of the saved models each root model needs (its references, transitively, and the links on them)."""
    models = state.get("state", {})
    links = {k: m for k, m in models.items() if m.get("model_name") in ("LinkModel", "DirectionalLinkModel")}
    sizes = []
    for root in roots:
        seen, todo = set(), [root]
        while todo:
            k = todo.pop()
            if k in seen or k not in models:
                continue
            seen.add(k)
            todo += _REF.findall(json.dumps(models[k].get("state", {})))
        seen |= {k for k, m in links.items() if set(_REF.findall(json.dumps(m.get("state", {})))) & seen}
        sizes.append(sum(_size(models[k]) for k in seen))
    return sizes


def page_weight(path: Path) -> dict:
    """HTML bytes, widget-state bytes and the bytes of each widget of one built page."""
    text = path.read_text(encoding="utf8", errors="replace")
    state, roots, state_bytes = {}, [], 0
    for m in _SCRIPT.finditer(text):
        if m.group("type") == STATE_TYPE:
            state_bytes += len(m.group("body").encode())
            state = json.loads(m.group("body"))
        else:
            roots.append(json.loads(m.group("body"))["model_id"])
    return {"html_bytes": len(text.encode()), "state_bytes": state_bytes,
            "widget_bytes": widget_sizes(state, roots) if state else []}


def site_weights(site: Path) -> dict[str, dict]:
    return {p.relative_to(site).as_posix(): page_weight(p)
            for p in sorted(site.rglob("*.html")) if not SKIP & set(p.relative_to(site).parts)}


def over_limit(pages: dict[str, dict], limit: int) -> list[str]:
    return [f"{rel}: widget {i + 1} holds {b:,} bytes of saved state (limit {limit:,})"
            for rel, row in pages.items() for i, b in enumerate(row["widget_bytes"]) if b > limit]


def markdown(pages: dict[str, dict], limit: int) -> str:
    mb = 1e6
    lines = [f"# Page weight of the built book ({date.today().isoformat()})", "",
             f"Limit: {limit / mb:.1f} MB of saved widget state per widget. "
             "Sizes in MB (10^6 bytes); state: the page's saved widget state, all widgets together.", "",
             "| page | HTML (MB) | widget state (MB) | widget views | largest widget (MB) | status |",
             "| --- | ---: | ---: | ---: | ---: | --- |"]
    for rel, row in pages.items():
        w = row["widget_bytes"]
        status = "over the limit" if any(b > limit for b in w) else "ok"
        lines.append(f"| {rel} | {row['html_bytes'] / mb:.2f} | {row['state_bytes'] / mb:.2f} | {len(w)} | "
                     f"{(max(w) / mb if w else 0):.2f} | {status} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--site", type=Path, default=ROOT / "_build" / "html")
    ap.add_argument("--limit", type=int, default=LIMIT_BYTES, help="bytes of saved state allowed per widget")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks", help="folder for pages.json and pages.md")
    args = ap.parse_args(argv)
    if not (args.site / "index.html").is_file():
        print(f"pages: no built book in {args.site}: run `make book` first", file=sys.stderr)
        return 2
    pages = site_weights(args.site)
    problems = over_limit(pages, args.limit)
    (args.out / "pages.json").write_text(json.dumps({"limit_bytes": args.limit, "pages": pages}, indent=1) + "\n")
    (args.out / "pages.md").write_text(markdown(pages, args.limit))
    print(markdown(pages, args.limit))
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
