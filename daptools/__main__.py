"""``python -m daptools``: the command line (see :mod:`daptools.cli`)."""
import sys

from .cli import main

sys.exit(main())
