"""``python -m pipeline`` is the ``panoray`` command."""

import sys

from pipeline.app.cli import main

sys.exit(main())
