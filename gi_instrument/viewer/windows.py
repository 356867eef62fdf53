"""The viewer's three windows: a catalog run (offline), a running acquisition (live), and a
processed volume."""

from __future__ import annotations

import math
from pathlib import Path

from numpy.typing import NDArray
from pyqtgraph.Qt import QtCore, QtWidgets

from gi_instrument.plans import format_duration
from gi_instrument.processing.outputs import display_limits, write_tiff_stack
from gi_instrument.viewer.display import Clahe, NlMeans, clahe, nl_means
from gi_instrument.viewer.live import LiveScan, LiveState, LiveStatus, read_frames
from gi_instrument.viewer.run_data import STREAMS, RunData
from gi_instrument.viewer.scan_signals import SteppingScan
from gi_instrument.viewer.scan_view import ScanView
from gi_instrument.viewer.volume_data import PLANES, VolumeData
from gi_instrument.viewer.widgets import ImagePanel

__all__ = ["LiveWindow", "RunWindow", "VolumeWindow"]


def _slider(maximum: int) -> QtWidgets.QSlider:
    slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
    slider.setRange(0, max(0, maximum))
    return slider


def _export_button(text: str, parent: QtWidgets.QWidget, action) -> QtWidgets.QPushButton:
    """A button asking for a file name and calling ``action(path)``."""
    button = QtWidgets.QPushButton(text)

    def clicked() -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(parent, text)
        if path:
            action(path)

    button.clicked.connect(clicked)
    return button


def save_png(widget: QtWidgets.QWidget, path: str | Path) -> Path:
    """The rendered ``widget`` as a PNG file (the same path as ``--snapshot``)."""
    path = Path(path)
    if not widget.grab().save(str(path), "PNG"):
        raise OSError(f"could not write {path}")
    return path


class RunWindow(QtWidgets.QMainWindow):
    """A ``gi_ct`` run: choose the stream, scroll angles and steps; the run's suspensions and
    discarded attempts (count and last cause; all of them in the tooltip)."""

    def __init__(self, data: RunData) -> None:
        super().__init__()
        self.data = data
        self.setWindowTitle(f"gi-viewer: run {data.uid[:8]}")
        self.view = ScanView()
        self.stream = QtWidgets.QComboBox()
        self.stream.addItems(list(STREAMS))
        self.angle = _slider(data.count("primary") - 1)
        self.step = _slider(data.ct.steps - 1)
        self.label = QtWidgets.QLabel()
        self.interruptions = QtWidgets.QLabel(interruptions_text(
            len(data.suspensions), data.suspensions[-1]["cause"] if data.suspensions else "",
            len(data.discarded), data.discarded[-1]["cause"] if data.discarded else ""))
        self.interruptions.setToolTip("\n".join(
            [f"suspended {s['end_time'] - s['start_time']:.0f} s during {s['stream'] or 'no scan'} "
             f"{s['angle_index']}: {s['cause']}" for s in data.suspensions]
            + [f"discarded {d['stream']} {d['angle_index']} attempt {d['attempt']}: {d['cause']}"
               for d in data.discarded]))
        controls = QtWidgets.QHBoxLayout()
        for text, widget in (("stream", self.stream), ("scan", self.angle), ("step", self.step)):
            controls.addWidget(QtWidgets.QLabel(text))
            controls.addWidget(widget, 1 if isinstance(widget, QtWidgets.QSlider) else 0)
        controls.addWidget(self.label)
        controls.addWidget(_export_button("PNG...", self, lambda p: save_png(self, p)))
        central = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(central)
        layout.addLayout(controls)
        layout.addWidget(self.interruptions)
        layout.addWidget(self.view, 1)
        self.setCentralWidget(central)
        self.stream.currentTextChanged.connect(self._stream_changed)
        self.angle.valueChanged.connect(lambda _: self.show_scan())
        self.step.valueChanged.connect(lambda k: self.view.show_step(k, self._title()))
        self.show_scan()

    def _stream_changed(self, stream: str) -> None:
        self.angle.blockSignals(True)
        self.angle.setRange(0, self.data.count(stream) - 1)
        self.angle.setValue(min(self.angle.value(), self.data.count(stream) - 1))
        self.angle.blockSignals(False)
        self.show_scan()

    def _title(self) -> str:
        stream, i = self.stream.currentText(), self.angle.value()
        return (f"{stream} {i + 1}/{self.data.count(stream)} (angle index "
                f"{int(self.data.scans[stream].angle_index[i])}, {self.data.angle_deg(stream, i):.2f} deg), "
                f"step {self.step.value()}")

    def show_scan(self) -> None:
        """Read and show the selected scan."""
        stream, i = self.stream.currentText(), self.angle.value()
        scan = self.data.scan(stream, i)
        reference = self.data.reference_for(i) if stream == "primary" else None
        self.view.show_scan(scan, self.step.value(), reference, self.data.dark, self.data.period_um, self._title())
        self.label.setText(f"{i + 1}/{self.data.count(stream)}")

    def select(self, stream: str, scan: int, step: int) -> None:
        """Go to scan ``scan`` (index in the stream) at ``step``."""
        self.stream.setCurrentText(stream)
        self.step.setValue(step)
        self.angle.setValue(scan)
        self.show_scan()


def status_text(status: LiveStatus) -> str:
    """The live window's status line."""
    if not status.uid:
        return "waiting for a run..."
    state = "running" if status.running else f"finished ({status.exit_status})"
    parts = [f"run {status.uid[:8]} {status.plan_name}: {state}"]
    if status.projections_total:
        parts.append(f"projections {status.projections_done} / {status.projections_total}")
    if status.frames_expected:
        parts.append(f"frames {status.frames_done} / {status.frames_expected}")
        if math.isfinite(status.time_left_s):
            parts.append(f"time left {format_duration(status.time_left_s)}")
    parts.append(interruptions_text(status.suspensions, status.last_suspension_cause, status.discarded,
                                    status.last_discarded_cause))
    if status.suspended_cause:
        parts.append(f"SUSPENDED for {format_duration(status.suspended_s)}: {status.suspended_cause}")
    if status.no_document_s:
        parts.append(f"no document for {status.no_document_s:.0f} s")
    return "  |  ".join(parts)


def interruptions_text(suspensions: int, last_suspension: str, discarded: int, last_discarded: str) -> str:
    """``suspensions N (last: cause), discarded attempts M (last: cause)``."""
    def count(what: str, n: int, last: str) -> str:
        return f"{what} {n}" + (f" (last: {last})" if n and last else "")

    return f"{count('suspensions', suspensions, last_suspension)}, {count('discarded attempts', discarded, last_discarded)}"


class LiveWindow(QtWidgets.QMainWindow):
    """A running acquisition, redrawn from a :class:`LiveState` every ``refresh_s`` s: the newest
    complete stepping scan (frame view and curves), the signals of the newest sample scan against
    the newest reference and that reference's visibility map. Only these are read; scans that
    arrived in between are skipped."""

    def __init__(self, state: LiveState, refresh_s: float = 0.5) -> None:
        super().__init__()
        self.state = state
        self.setWindowTitle("gi-viewer: live")
        self.status_label = QtWidgets.QLabel(status_text(LiveStatus()))
        self.view = ScanView()
        central = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(central)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.status_label, 1)
        top.addWidget(_export_button("PNG...", self, lambda p: save_png(self, p)))
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        self.setCentralWidget(central)
        self.shown_seq = 0
        self._reference: tuple[LiveScan, SteppingScan] | None = None
        self._dark: tuple[int, NDArray | None] = (0, None)
        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self.refresh)
        self.timer.start(int(refresh_s * 1000))

    def refresh(self) -> None:
        """Redraw from the current state (the newest complete scan, if it is new)."""
        status = self.state.status()
        self.status_label.setText(status_text(status))
        scan = status.latest_scan
        if scan is None or scan.seq == self.shown_seq:
            return
        self.shown_seq = scan.seq
        if len(status.dark) != self._dark[0]:
            self._dark = (len(status.dark), read_frames(list(status.dark)) if status.dark else None)
        reference = None
        if status.latest_reference is not None:
            if self._reference is None or self._reference[0] is not status.latest_reference:
                self._reference = (status.latest_reference, status.latest_reference.read())
            reference = self._reference[1]
        shown = reference if scan is status.latest_reference else scan.read()
        sample = None
        if scan.stream == "reference" and status.latest_primary is not None:
            sample = status.latest_primary.read()
        steps = len(scan.frames)
        self.view.show_scan(shown, steps - 1, reference, self._dark[1], status.period_um or 1.0,
                            f"latest: {scan.stream} {scan.angle_index}, step {steps - 1}", sample=sample)


class VolumeWindow(QtWidgets.QMainWindow):
    """Slices of the volumes of a ``gi-process`` result in three planes, MIP slab, contrast,
    CLAHE and non-local means; export of the view (PNG) and of the slab's MIP (TIFF)."""

    def __init__(self, data: VolumeData) -> None:
        super().__init__()
        self.data = data
        self.setWindowTitle(f"gi-viewer: {data.path.parent}")
        self.panel = ImagePanel()
        self.volume = QtWidgets.QComboBox()
        self.volume.addItems(data.names)
        self.plane = QtWidgets.QComboBox()
        self.plane.addItems(list(PLANES))
        self.slice = _slider(0)
        self.thickness = QtWidgets.QSpinBox()
        self.thickness.setRange(1, 4096)
        self.thickness.setPrefix("MIP ")
        self.thickness.setSuffix(" slices")
        self.use_clahe = QtWidgets.QCheckBox("CLAHE")
        self.clahe_block = self._spin(2, 4096, Clahe.block_px, "block ", " px")
        self.clahe_bins = self._spin(2, 4096, Clahe.bins, "bins ", "")
        self.clahe_slope = self._spin(1.0, 100.0, Clahe.slope, "slope ", "")
        self.use_nlm = QtWidgets.QCheckBox("non-local means")
        self.nlm_h = self._spin(0.05, 10.0, NlMeans.h_sigma, "h ", " sigma")
        auto = QtWidgets.QPushButton("auto levels")
        auto.clicked.connect(lambda: self.render(auto_levels=True))
        row1, row2 = QtWidgets.QHBoxLayout(), QtWidgets.QHBoxLayout()
        for widget in (self.volume, self.plane, self.slice, self.thickness, auto):
            row1.addWidget(widget, 1 if widget is self.slice else 0)
        for widget in (self.use_clahe, self.clahe_block, self.clahe_bins, self.clahe_slope, self.use_nlm,
                       self.nlm_h):
            row2.addWidget(widget)
        row2.addStretch(1)
        row2.addWidget(_export_button("PNG...", self, lambda p: save_png(self, p)))
        row2.addWidget(_export_button("MIP TIFF...", self, self.export_tiff))
        central = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(central)
        layout.addLayout(row1)
        layout.addLayout(row2)
        layout.addWidget(self.panel, 1)
        self.setCentralWidget(central)
        self.shown: NDArray | None = None
        """The slab's MIP (or slice) before display processing."""
        self.limits: tuple[float, float] | None = None
        """Contrast limits of the data (CLAHE maps this range)."""
        self._clahe_shown = False
        for signal in (self.volume.currentTextChanged, self.plane.currentTextChanged):
            signal.connect(lambda _: self._reset_slider())
        for widget in (self.slice, self.thickness, self.clahe_block, self.clahe_bins, self.clahe_slope, self.nlm_h):
            widget.valueChanged.connect(lambda _: self.render())
        for box in (self.use_clahe, self.use_nlm):
            box.toggled.connect(lambda _: self.render())
        self._reset_slider()

    @staticmethod
    def _spin(lo: float, hi: float, value: float, prefix: str, suffix: str) -> QtWidgets.QAbstractSpinBox:
        spin = QtWidgets.QSpinBox() if isinstance(value, int) else QtWidgets.QDoubleSpinBox()
        spin.setRange(lo, hi)
        spin.setValue(value)
        spin.setPrefix(prefix)
        spin.setSuffix(suffix)
        return spin

    def _reset_slider(self) -> None:
        depth = self.data.depth(self.volume.currentText(), self.plane.currentText())
        self.slice.blockSignals(True)
        self.slice.setRange(0, depth - 1)
        self.slice.setValue(depth // 2)
        self.slice.blockSignals(False)
        self.render(auto_levels=True)

    def _signal(self) -> str:
        name = self.volume.currentText()
        return "darkfield_volume" if name == "darkfield" else name

    def render(self, auto_levels: bool = False, limits: tuple[float, float] | None = None) -> None:
        """Read the slab and show it with the display options; contrast limits: ``limits``, or the
        image's percentiles (``auto_levels``), or those set on the colour bar."""
        name, plane, index = self.volume.currentText(), self.plane.currentText(), self.slice.value()
        n = self.thickness.value()
        self.shown = self.data.slab(name, plane, index, n)
        image = self.shown
        if self.use_nlm.isChecked():
            image = nl_means(image, NlMeans(h_sigma=self.nlm_h.value()))
        if limits is not None:
            self.limits = limits
        elif auto_levels or self.limits is None:
            self.limits = display_limits([image])
        elif not self._clahe_shown:
            self.limits = tuple(float(v) for v in self.panel.image_item.getLevels())
        self._clahe_shown = self.use_clahe.isChecked()
        levels = self.limits
        if self._clahe_shown:
            image = clahe(image, self.limits, Clahe(self.clahe_block.value(), self.clahe_bins.value(),
                                                    self.clahe_slope.value()))
            levels = (0.0, 1.0)
        self.panel.set_image(image, self._signal(), pixel_m=self.data.voxel_um * 1e-6, levels=levels)
        what = f"MIP of {n} slices around " if n > 1 else ""
        self.panel.set_title(f"{name} [{self.data.unit(name)}], {what}{plane} slice {index}"
                             f"/{self.data.depth(name, plane) - 1}, voxel {self.data.voxel_um:.3g} um")

    def go_to(self, volume: str, plane: str, index: int, thickness: int = 1,
              limits: tuple[float, float] | None = None) -> None:
        """Show ``volume`` in ``plane`` at slice ``index`` (MIP over ``thickness`` slices), with
        contrast ``limits`` (default: percentiles of the image)."""
        self.volume.setCurrentText(volume)
        self.plane.setCurrentText(plane)
        self.thickness.setValue(thickness)
        self.slice.setValue(index)
        self.render(auto_levels=limits is None, limits=limits)

    def export_tiff(self, path: str | Path) -> Path:
        """The current slab's MIP (before display processing) as a float32 TIFF with the voxel
        size, as Fiji opens it."""
        assert self.shown is not None
        return write_tiff_stack(path, self.shown[None], self.data.voxel_um)
