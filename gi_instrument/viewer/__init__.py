"""``gi-viewer``: live and offline viewing with pyqtgraph.

- :mod:`.run_data`, :mod:`.volume_data`, :mod:`.live`: the data sources (a catalog run, a
  ``gi-process`` result, the 0MQ document stream of a running acquisition);
- :mod:`.scan_signals`, :mod:`.display`: what is computed for display (retrieval of the shown
  scan with the processing package, CLAHE and non-local means with scikit-image), no Qt;
- :mod:`.widgets`, :mod:`.scan_view`, :mod:`.windows`: the pyqtgraph widgets and windows;
- :mod:`.cli` (``gi-viewer``), :mod:`.launch` (``viewer(run)`` from an IPython session, in its
  own process).

Importing this package does not import Qt.
"""

from gi_instrument.viewer.launch import viewer

__all__ = ["viewer"]
