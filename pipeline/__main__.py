"""``python -m pipeline`` is the ``panoray`` command."""

import sys

from pipeline.cli import main

sys.exit(main())
