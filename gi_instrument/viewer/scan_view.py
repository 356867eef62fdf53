"""The view of one stepping scan, shared by the offline run window and the live window: the frame
at a step, the stepping curve at a chosen pixel with its fit, the T / DPC / dark-field images
against the reference scan and the reference's visibility map."""

from __future__ import annotations

from numpy.typing import NDArray
from pyqtgraph.Qt import QtCore, QtWidgets

from gi_instrument.processing import Retrieval
from gi_instrument.viewer.scan_signals import SteppingScan, pixel_curve, scan_signals, visibility_map
from gi_instrument.viewer.widgets import ImagePanel, SignalsPanel, SteppingPlot

__all__ = ["ScanView"]


class ScanView(QtWidgets.QWidget):
    """Frame, stepping curve and signals of a scan; a click on any image picks the pixel."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.frame_panel = ImagePanel("frame")
        self.stepping = SteppingPlot()
        self.signals_panel = SignalsPanel()
        top = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        top.addWidget(self.frame_panel)
        top.addWidget(self.stepping)
        top.setSizes([600, 400])
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(self.signals_panel)
        split.setSizes([500, 300])
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
        self.scan: SteppingScan | None = None
        self.dark: NDArray | None = None
        self.period_um = 1.0
        self.pixel: tuple[int, int] | None = None
        self.signals: Retrieval | None = None
        """The retrieval shown in the signals panel (``None`` before the first)."""
        for panel in (self.frame_panel, *self.signals_panel.panels.values()):
            panel.pixel_clicked.connect(self.select_pixel)

    def show_scan(self, scan: SteppingScan, step: int, reference: SteppingScan | None, dark: NDArray | None,
                  period_um: float, title: str = "", sample: SteppingScan | None = None) -> None:
        """Show frame ``step`` of ``scan`` and its stepping curves; the signals of ``scan`` (or, when
        ``scan`` is a reference, of ``sample``) against ``reference``, and the visibility map of
        ``reference`` (or of ``scan`` when it is a reference and no other is given)."""
        self.scan, self.dark, self.period_um = scan, dark, period_um
        self.show_step(step, title, keep_levels=False)
        if scan.stream != "reference":
            sample = scan
        flat = reference if reference is not None else (scan if scan.stream == "reference" else None)
        if sample is not None and reference is not None:
            self.signals = scan_signals(sample, reference, dark, period_um)
            self.signals_panel.show_signals(self.signals, None)
        if flat is not None:
            self.signals_panel.show_signals(None, visibility_map(flat, dark, period_um))
        rows, cols = scan.frames.shape[1:]
        if self.pixel is None or not (self.pixel[0] < rows and self.pixel[1] < cols):
            self.pixel = (rows // 2, cols // 2)
        self.select_pixel(*self.pixel)

    def show_step(self, step: int, title: str = "", keep_levels: bool = True) -> None:
        """Show frame ``step`` of the current scan (by default with the levels of the step shown
        before, so the fringe is seen to move)."""
        assert self.scan is not None
        self.frame_panel.set_image(self.scan.frames[step], "frame", keep_levels=keep_levels)
        self.frame_panel.set_title(title or f"{self.scan.stream} {self.scan.angle_index}, step {step}")

    def select_pixel(self, row: int, col: int) -> None:
        """Show the stepping curve at (``row``, ``col``) and mark it on every image."""
        if self.scan is None:
            return
        self.pixel = (row, col)
        curve = pixel_curve(self.scan, row, col, self.dark, self.period_um)
        self.stepping.show_curve(curve, f"pixel [{row}, {col}]")
        for panel in (self.frame_panel, *self.signals_panel.panels.values()):
            panel.mark(row, col)
