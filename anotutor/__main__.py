"""``python -m anotutor``: the command line of :mod:`anotutor.cli`."""

import sys

from .cli import main

sys.exit(main())
