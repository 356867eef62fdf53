"""``python -m gi_instrument.viewer``: the ``gi-viewer`` command."""

import sys

from gi_instrument.viewer.cli import main

sys.exit(main())
