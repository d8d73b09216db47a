"""The package's log: one logger, ``anotutor``, which the command line shows on stderr.

Library code says what it is doing through :data:`LOG` (``LOG.info``), and
warns through :func:`warnings.warn` when the caller should change something.
Used as a library, the package prints nothing of its own: the logger has
no handler but Python's default for warnings and errors, and an application
sets its own. The command line calls :func:`configure` with the level its
``--quiet`` or ``--verbose`` asks for.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["LOG", "configure"]

LOG = logging.getLogger("anotutor")


class _Stderr(logging.StreamHandler):
    """A handler that writes to whatever ``sys.stderr`` is when a record comes (a test may have replaced it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler sets it once; the property reads sys.stderr instead
        pass


def configure(level: int = logging.INFO) -> None:
    """Show the package's records of ``level`` and above on stderr as ``anotutor: message`` (once, however
    often it is called)."""
    for h in [h for h in LOG.handlers if isinstance(h, _Stderr)]:
        LOG.removeHandler(h)
    handler = _Stderr()
    handler.setFormatter(logging.Formatter("anotutor: %(message)s"))
    LOG.addHandler(handler)
    LOG.setLevel(level)
    LOG.propagate = False
