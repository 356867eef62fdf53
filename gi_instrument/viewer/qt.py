"""Qt set-up for the viewer: the PySide6 binding, row-major images, headless rendering.

Import this module before pyqtgraph. ``headless=True`` (``--snapshot``, tests) selects Qt's
``offscreen`` platform, so no display is needed.
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["application"]

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

_app: Any = None
"""The QApplication, held for the life of the process: widgets must never outlive it."""


def application(headless: bool = False) -> Any:
    """The process's ``QApplication`` (created on first use). Without a display (Linux, no
    ``DISPLAY`` / ``WAYLAND_DISPLAY``) a windowed viewer is refused with a clear message."""
    global _app
    if headless:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    elif (sys.platform.startswith("linux") and "QT_QPA_PLATFORM" not in os.environ
          and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")):
        raise SystemExit("gi-viewer: no display (DISPLAY is not set); use --snapshot FILE.png to render headless")
    import pyqtgraph as pg
    from pyqtgraph.Qt import QtCore, QtWidgets

    if headless:
        QtCore.qInstallMessageHandler(_quiet_offscreen)
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
    _app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["gi-viewer"])
    return _app



def _quiet_offscreen(mode: Any, context: Any, message: str) -> None:
    """Qt's messages to stderr, less the offscreen plugin's notice that it cannot resize windows."""
    if "propagateSizeHints" not in message:
        sys.stderr.write(message + "\n")
