"""``{glue:table}``: a glued DataFrame numbered as a table ("Table 3"), not as a figure.

myst-nb's ``{glue:figure}`` wraps any glued output in a figure, so a glued
pandas table is captioned "Fig. N" and counted among the figures. This
directive is ``{glue:figure}`` with the same options, whose node Sphinx
numbers with the tables (``numfig_format["table"]``); ``{numref}`` then
says "Table N". In the HTML it is written as a figure (a caption above or
below its content), so nothing else in the theme changes::

    ```{glue:table} tab-bench
    :name: tab-bench

    Quality of every method on every texture.
    ```
"""

from __future__ import annotations

from docutils import nodes
from myst_nb.ext.glue.directives import PasteFigureDirective
from sphinx.application import Sphinx


class table_figure(nodes.figure):
    """A figure that holds a table: numbered with the tables."""


class PasteTableDirective(PasteFigureDirective):
    def run(self):
        out = super().run()
        for node in out:
            if type(node) is nodes.figure:
                # the same node, recast: the document's ids already point at it (numref looks there)
                node.__class__ = table_figure
                node["classes"] = [*node.get("classes", []), "glue-table"]
        return out


def _caption(node: nodes.Element) -> str | None:
    for child in node.children:
        if isinstance(child, nodes.caption):
            return child.astext()
    return None


def _visit(self, node):
    self.visit_figure(node)


def _depart(self, node):
    self.depart_figure(node)


def setup(app: Sphinx) -> dict:
    app.setup_extension("myst_nb")
    app.add_enumerable_node(table_figure, "table", _caption, html=(_visit, _depart),
                            latex=(_visit, _depart), text=(_visit, _depart))
    app.add_directive("glue:table", PasteTableDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
