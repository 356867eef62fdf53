"""The viewer's building blocks (pyqtgraph): an image panel with colour bar, scale bar and cursor
read-out, the stepping-curve plot, and the panel of retrieved signals.

Images are (rows, cols) arrays shown row 0 at the top; with a pixel size the axes are in metres
(pyqtgraph prints them with SI prefixes) and a scale bar is drawn.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from numpy.typing import NDArray
from pyqtgraph.Qt import QtCore, QtWidgets

from gi_instrument.processing import Retrieval
from gi_instrument.processing.outputs import display_limits
from gi_instrument.viewer.display import style_of
from gi_instrument.viewer.scan_signals import PixelCurve

__all__ = ["ImagePanel", "SignalsPanel", "SteppingPlot", "scale_bar_m"]


def scale_bar_m(field_m: float) -> float:
    """A round scale-bar length (1, 2 or 5 x 10^n m) of about a fifth of ``field_m``."""
    target = field_m / 5
    power = 10.0 ** np.floor(np.log10(target))
    return float(max(m for m in (1, 2, 5) if m * power <= target) * power)


class ImagePanel(QtWidgets.QWidget):
    """A titled image with a histogram / colour bar (drag its ends to set the contrast limits), an
    optional scale bar, and the coordinates and value under the cursor. ``pixel_clicked(row,
    col)`` is emitted on a click."""

    pixel_clicked = QtCore.Signal(int, int)

    def __init__(self, title: str = "", parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsLayoutWidget()
        self.plot = self.graphics.addPlot(title=title)
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)
        self.image_item = pg.ImageItem()
        self.plot.addItem(self.image_item)
        self.histogram = pg.HistogramLUTItem(self.image_item)
        self.graphics.addItem(self.histogram)
        self.marker = pg.ScatterPlotItem(size=10, pen=pg.mkPen("r", width=2), brush=None, symbol="+")
        self.plot.addItem(self.marker)
        self.readout = QtWidgets.QLabel(" ")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.readout)
        self.image: NDArray | None = None
        self.pixel_m: float | None = None
        self.unit = ""
        self.scale_bar: pg.ScaleBar | None = None
        self._signal = ""
        self.graphics.scene().sigMouseMoved.connect(self._moved)
        self.graphics.scene().sigMouseClicked.connect(self._clicked)

    def set_title(self, title: str) -> None:
        self.plot.setTitle(title)

    def set_image(self, image: NDArray, signal: str, *, pixel_m: float | None = None,
                  levels: tuple[float, float] | None = None, keep_levels: bool = False) -> None:
        """Show ``image`` with the colour map and levels of ``signal`` (:func:`style_of`), or the
        given ``levels``, or (``keep_levels``) the levels already set for the same signal."""
        style = style_of(signal)
        same = signal == self._signal and self.image is not None
        reshaped = self.image is None or self.image.shape != image.shape
        old_levels = self.image_item.getLevels() if same and keep_levels else None
        self.image, self.unit = image, style.unit
        if not same:
            self.histogram.gradient.setColorMap(pg.colormap.get(style.colormap))
        self._signal = signal
        chosen = levels or (tuple(old_levels) if old_levels is not None else None) or style.levels \
            or display_limits([image])
        self.image_item.setImage(image, autoLevels=False, levels=chosen)
        self.histogram.setLevels(*chosen)
        rows, cols = image.shape
        scale = pixel_m or 1.0
        self.image_item.setRect(QtCore.QRectF(0, 0, cols * scale, rows * scale))
        if pixel_m != self.pixel_m or self.scale_bar is None and pixel_m:
            self._set_scale(pixel_m, cols * scale)
        if not same or reshaped:
            self.plot.getViewBox().setRange(xRange=(0, cols * scale), yRange=(0, rows * scale), padding=0)

    def _set_scale(self, pixel_m: float | None, width_m: float) -> None:
        self.pixel_m = pixel_m
        if self.scale_bar is not None:
            self.plot.getViewBox().scene().removeItem(self.scale_bar)
            self.scale_bar = None
        for axis, text in (("left", "y"), ("bottom", "x")):
            self.plot.setLabel(axis, text, units="m" if pixel_m else "px")
        if pixel_m:
            self.scale_bar = pg.ScaleBar(size=scale_bar_m(width_m), suffix="m", brush="w", pen="k")
            self.scale_bar.setParentItem(self.plot.getViewBox())
            self.scale_bar.anchor((1, 1), (1, 1), offset=(-15, -15))

    def pixel_at(self, scene_pos: QtCore.QPointF) -> tuple[int, int] | None:
        """(row, col) of the image pixel under a scene position, or ``None`` outside."""
        if self.image is None:
            return None
        point = self.image_item.mapFromScene(scene_pos)
        row, col = int(np.floor(point.y())), int(np.floor(point.x()))
        rows, cols = self.image.shape
        return (row, col) if 0 <= row < rows and 0 <= col < cols else None

    def describe(self, row: int, col: int) -> str:
        """The read-out text of a pixel: position (um with a pixel size) and value."""
        assert self.image is not None
        where = (f"x {(col + 0.5) * self.pixel_m * 1e6:.1f} um, y {(row + 0.5) * self.pixel_m * 1e6:.1f} um"
                 if self.pixel_m else f"col {col}, row {row}")
        return f"{where}  [{row}, {col}]  value {self.image[row, col]:.5g} {self.unit}".rstrip()

    def _moved(self, pos: QtCore.QPointF) -> None:
        pixel = self.pixel_at(pos)
        if pixel is not None:
            self.readout.setText(self.describe(*pixel))

    def _clicked(self, event) -> None:
        pixel = self.pixel_at(event.scenePos())
        if pixel is not None:
            self.pixel_clicked.emit(*pixel)

    def mark(self, row: int, col: int) -> None:
        """Mark a pixel (the one whose stepping curve is shown)."""
        scale = self.pixel_m or 1.0
        self.marker.setData([(col + 0.5) * scale], [(row + 0.5) * scale])


class SteppingPlot(pg.PlotWidget):
    """Measured stepping curve at a pixel (points) and the fitted sinusoid (line), with the
    fitted visibility in the title."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setLabel("bottom", "G2 position", units="um")
        self.setLabel("left", "intensity - dark", units="counts")
        self.points = self.plot([], [], pen=None, symbol="o", symbolBrush="c", name="measured")
        self.model = self.plot([], [], pen=pg.mkPen("y", width=2), name="fit")
        self.curve: PixelCurve | None = None

    def show_curve(self, curve: PixelCurve, where: str) -> None:
        self.curve = curve
        self.points.setData(curve.positions_um, curve.counts)
        self.model.setData(curve.model_um, curve.model_counts)
        self.setTitle(f"{where}: V = {100 * curve.visibility:.1f} %, a0 = {curve.a0:.0f} counts, "
                      f"phi = {curve.phase_rad:+.2f} rad")


SIGNALS = (("transmission", "transmission T"), ("dpc", "differential phase (rad)"),
           ("darkfield", "dark-field D"), ("visibility", "visibility of the reference"))


class SignalsPanel(QtWidgets.QWidget):
    """T, DPC and dark-field of a stepping scan and the visibility map of its reference."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.panels = {name: ImagePanel(title) for name, title in SIGNALS}
        for k, panel in enumerate(self.panels.values()):
            layout.addWidget(panel, 0, k)

    def show_signals(self, signals: Retrieval | None, visibility: NDArray | None) -> None:
        """Show a retrieval's images (``None``: keep the last) and a visibility map."""
        if signals is not None:
            for name in ("transmission", "dpc", "darkfield"):
                self.panels[name].set_image(getattr(signals, name), name, keep_levels=True)
        if visibility is not None:
            self.panels["visibility"].set_image(visibility, "visibility", keep_levels=True)
