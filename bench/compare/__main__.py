"""``python -m bench.compare [--quick]``; see :mod:`bench.compare.runner`."""

import sys

from bench.compare.runner import main

sys.exit(main())
