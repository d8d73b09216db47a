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


def configure(level: int = logging.INFO) -> None:
    """Show the package's records of ``level`` and above on stderr (the ``sys.stderr`` of this call) as
    ``anotutor: message``; a second call replaces the first one's handler."""
    for h in [h for h in LOG.handlers if h.get_name() == "anotutor-stderr"]:
        LOG.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name("anotutor-stderr")
    handler.setFormatter(logging.Formatter("anotutor: %(message)s"))
    LOG.addHandler(handler)
    LOG.setLevel(level)
    LOG.propagate = False
