"""``python -m daptools.experiments ...``: the paper's tables and Figure 2 (see :mod:`.command`)."""
import sys

from .command import main

sys.exit(main())
