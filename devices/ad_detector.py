"""The sCMOS camera on a standard areaDetector IOC (camera driver ``cam1:`` + HDF5 plugin
``HDF1:``), through ophyd's areaDetector classes: an ADAndor3 / ADPCO-type camera needs no code.

What crosses the wire: settings, the Acquire request and counters; frames go from the camera
driver into the HDF5 plugin's file on the IOC side and never through Channel Access. Such an IOC
does not step G2, so this device does, frame by frame: in step mode the first ``trigger`` of a
stepping scan opens the scan's file (Stream mode, ``NumCapture`` = steps), and for each step moves
G2 (put completion), checks its readback against ``step_tolerance_um`` before exposing, reads the
X-ray state (on, at high voltage) before and after the exposure, acquires one frame, and checks that the frame reached
the file as its next frame. Each frame's values (G2 setpoint and readback, rotation angle, sample
position, exposure, tube kV / mA, X-rays on) are read from the other devices at the exposure. The
events are handed out only once the whole scan is in the file, with the same checks as
:class:`~gi_instrument.devices.detector.SCMOSDetector` (all frames there, G2 on its steps, X-rays
as expected throughout): a failed stepping scan leaves no event. Plans cannot tell the two apart.
The scan runs on a worker thread inside the first ``trigger``: a RunEngine pause or abort takes
effect once the scan in progress has ended (its file is then complete).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from ophyd import Component as Cpt
from ophyd import Device, DeviceStatus, Signal
from ophyd.areadetector.cam import AreaDetectorCam
from ophyd.areadetector.plugins import HDF5Plugin
from ophyd.utils.epics_pvs import AlarmSeverity

from gi_instrument.devices.axis import PositionError
from gi_instrument.devices.detector import FRAME_KEYS, BeamStateError, SCMOSDetector
from gi_instrument.devices.errors import InstrumentFault
from gi_instrument.devices.frame_handout import FrameHandout, FrameLostError
from gi_instrument.devices.soft import SoftSetting
from gi_instrument.pv_interface import ADCam, ADHDF5, CONTROLLER_LOST, FRAME_ATTRIBUTES

__all__ = ["ADSCMOSDetector", "ControllerLostError"]


class ControllerLostError(InstrumentFault):
    """A value the scan depends on is in INVALID alarm: its controller does not answer."""


class ADSCMOSDetector(Device):
    """sCMOS camera on an areaDetector IOC under ``{prefix}`` (``cam1:``, ``HDF1:``). Same data keys,
    signals the plans use and guarantees as :class:`~gi_instrument.devices.detector.SCMOSDetector`;
    :meth:`attach` gives it the tube, G2, rotation and sample devices it reads with each frame."""

    cam = Cpt(AreaDetectorCam, ADCam.SUFFIX, kind="omitted")
    hdf = Cpt(HDF5Plugin, ADHDF5.SUFFIX, kind="omitted")
    angle_index = Cpt(SoftSetting, value=-1, kind="normal")
    step_mode = Cpt(SoftSetting, value=False, kind="omitted")
    xray_on_expected = Cpt(SoftSetting, value=1, kind="omitted")
    step_positions = Cpt(SoftSetting, value=[], kind="omitted")
    step_tolerance_um = Cpt(SoftSetting, value=0.05, kind="config")
    time_scale = Cpt(Signal, value=1.0, kind="config")
    """Real s per nominal s of the camera (1 on hardware; a simulated camera's ``--time-scale``)."""

    max_steps = 10**6
    """Frames of one stepping scan taken in one go (no IOC-side limit here)."""
    acquire_margin_s = 30.0
    """Real seconds allowed beyond the exposure before an acquisition times out."""
    file_wait_s = 2.0
    """Real seconds a frame may take to reach the file after its acquisition completed."""
    file_template = "%s%s.h5"
    """HDF5 plugin template: ``FilePath`` + ``FileName`` + .h5 (one file per stepping scan)."""

    # the SCMOSDetector logic that does not depend on its PVs: frames handed out into events
    collect_asset_docs = SCMOSDetector.collect_asset_docs
    image_key = SCMOSDetector.image_key

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.angle_index.name = "frame_angle_index"
        self._devices: dict[str, Any] = {}
        self._triggered = False
        self._error: Exception | None = None
        self.frames = FrameHandout(self.name, self.image_key, lambda: (self.full_file_name.get(), self.frame_shape()),
                                   lambda: self.status_message.get())
        """Frames of the stepping scan not yet handed out into events (see SCMOSDetector.read)."""
        self._t0 = time.monotonic()

    def attach(self, *, tube: Any, g2: Any, rotation: Any, sample: Any) -> None:
        """The devices this camera steps (G2) and reads with each frame."""
        self._devices = {"tube": tube, "g2": g2, "rotation": rotation, "sample": sample}

    # the signals plans use, under the names of SCMOSDetector
    @property
    def exposure_s(self) -> Any:
        return self.cam.acquire_time

    @property
    def binning(self) -> Any:
        return self.cam.bin_x

    @property
    def status_message(self) -> Any:
        return self.cam.status_message

    @property
    def full_file_name(self) -> Any:
        return self.hdf.full_file_name

    @property
    def file_path(self) -> Any:
        return self.hdf.file_path

    @property
    def file_name(self) -> Any:
        return self.hdf.file_name

    @property
    def num_capture(self) -> Any:
        return self.hdf.num_capture

    @property
    def frame_counter(self) -> Any:
        return self.cam.array_counter

    def used_signals(self) -> list[Any]:
        """The areaDetector signals this device uses (ophyd connects the others never)."""
        cam, hdf = self.cam, self.hdf
        return [cam.acquire_time, cam.acquire, cam.image_mode, cam.array_counter, cam.bin_x, cam.status_message,
                cam.array_size.array_size_x, cam.array_size.array_size_y, hdf.file_path, hdf.file_name,
                hdf.file_template, hdf.file_write_mode, hdf.auto_increment, hdf.num_capture, hdf.capture,
                hdf.num_captured, hdf.full_file_name, hdf.write_message]

    def wait_for_connection(self, all_signals: bool = False, timeout: float = 10.0) -> None:
        """Connect the signals this device uses (areaDetector components are lazy)."""
        super().wait_for_connection(all_signals=all_signals, timeout=timeout)
        for signal in self.used_signals():
            signal.wait_for_connection(timeout=timeout)

    def frame_shape(self) -> tuple[int, int]:
        """(rows, cols) of the frames at the current binning."""
        return int(self.cam.array_size.array_size_y.get()), int(self.cam.array_size.array_size_x.get())

    def frame_attribute_keys(self) -> list[str]:
        """Data keys of the per-frame values."""
        return [FRAME_KEYS.get(n, "{name}_" + n).format(name=self.name) for n in [*FRAME_ATTRIBUTES, "frame_index"]]

    def describe(self) -> dict[str, dict[str, Any]]:
        desc = super().describe()
        for key in self.frame_attribute_keys():
            desc[key] = {"source": f"PV:{self.prefix}{ADCam.SUFFIX}", "dtype": "number", "shape": []}
        rows, cols = self.frame_shape()
        desc[self.image_key] = {"source": f"PV:{self.hdf.prefix}{ADHDF5.FULL_FILE_NAME_RBV}", "dtype": "array",
                                "dtype_numpy": "<u2", "shape": [rows, cols], "dims": ["row", "col"],
                                "external": "STREAM:"}
        return desc

    def stage(self) -> list[Any]:
        """Stage this device only: the camera and plugin are configured per stepping scan
        (:meth:`_open_file`), their many other PVs are left alone."""
        return [self]

    def unstage(self) -> list[Any]:
        self._triggered, self._error = False, None
        self.frames.clear()
        return [self]

    def trigger(self) -> DeviceStatus:
        """One frame (Acquire), or in step mode the whole stepping scan on the first trigger; the
        status finishes when the frame(s) are in the file, and fails with the reason otherwise."""
        if not self.step_mode.get():
            raise RuntimeError(f"{self.name}: an areaDetector camera takes frames in stepping scans (step_mode)")
        self._triggered = True
        status = DeviceStatus(self)
        if self.frames:
            status.set_finished()
            return status
        positions = list(self.step_positions.get())

        def run() -> None:
            try:
                self.frames.load(self._scan(positions), "frame_step_index")
            except Exception as exc:  # raised by read(), as SCMOSDetector raises a failed scan
                self._error = exc
            status.set_finished()

        threading.Thread(target=run, daemon=True, name=f"{self.name}-scan").start()
        return status

    def read(self) -> dict[str, dict[str, Any]]:
        reading = super().read()
        if not self._triggered:
            return reading
        self._triggered = False
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        frame = self.frames.offer()
        if frame is not None:
            reading.update({key: {"value": value, "timestamp": frame[1]} for key, value in frame[0].items()})
        return reading

    # ------------------------------------------------------------------ the frame-by-frame scan
    def _fresh(self, signal: Any) -> float:
        """A fresh value of ``signal``; ControllerLostError if its controller is lost."""
        value = signal.get(use_monitor=False)
        if signal.alarm_severity == AlarmSeverity.INVALID:
            raise ControllerLostError(f"{signal.name}: {CONTROLLER_LOST} (INVALID alarm)")
        return float(value)

    def _emitting(self) -> bool:
        """X-rays on at high voltage (an arc collapses the voltage but leaves them switched on)."""
        tube = self._devices["tube"]
        return bool(self._fresh(tube.xray_on)) and self._fresh(tube.voltage_kV) > 0

    def _open_file(self, n_frames: int) -> None:
        """Start the HDF5 plugin on a new file of ``n_frames`` frames; the run directory is made
        here (the catalog reads the frames from the same, shared, path)."""
        hdf = self.hdf
        Path(hdf.file_path.get()).mkdir(parents=True, exist_ok=True)
        hdf.file_template.set(self.file_template).wait(10)
        hdf.file_write_mode.set(2).wait(10)          # Stream
        hdf.auto_increment.set(0).wait(10)
        hdf.num_capture.set(n_frames).wait(10)
        self.cam.image_mode.set(0).wait(10)          # Single
        hdf.capture.put(1)                           # its put-completion comes when the file closes
        deadline = time.monotonic() + 10
        while hdf.capture.get() != 1:                # Capture_RBV
            if time.monotonic() > deadline:
                raise FrameLostError(f"{self.name}: the HDF5 plugin did not open {hdf.file_name.get()} "
                                     f"({hdf.write_message.get()})")
            time.sleep(0.005)

    def _scan(self, positions: list[float]) -> list[tuple[dict[str, float], float]]:
        """Take one frame per G2 position; raises unless every frame is in the file, G2 on its
        step and the X-rays as expected throughout."""
        d = self._devices
        if not d:
            raise RuntimeError(f"{self.name}: attach() the tube, G2, rotation and sample devices first")
        self._open_file(len(positions))
        exposure_s = float(self.cam.acquire_time.get())
        tolerance = float(self.step_tolerance_um.get())
        expected = int(self.xray_on_expected.get())
        rows = []
        for k, target in enumerate(positions):
            d["g2"].set(target).wait(d["g2"].move_timeout_s(target))
            position = self._fresh(d["g2"].readback)
            if not abs(position - target) <= tolerance:
                raise PositionError(f"{self.name}: G2 at {position:.4f} um for step {target} um "
                                    f"(tolerance {tolerance} um; {d['g2'].status_message.get()})")
            on_before = self._emitting()
            t0 = time.monotonic()
            done = DeviceStatus(self, timeout=exposure_s + self.acquire_margin_s)
            self.cam.acquire.put(1, use_complete=True, callback=lambda **kw: done.set_finished())
            done.wait()
            real_s = time.monotonic() - t0
            deadline = time.monotonic() + self.file_wait_s
            while int(self.hdf.num_captured.get(use_monitor=False)) < k + 1:
                if time.monotonic() > deadline:
                    raise FrameLostError(f"{self.name}: frame {k} of {len(positions)} did not reach "
                                         f"{self.hdf.full_file_name.get()} ({self.status_message.get()})")
                time.sleep(0.002)
            values = {
                "angle_deg": self._fresh(d["rotation"].readback),
                "g2_setpoint_um": target,
                "g2_position_um": self._fresh(d["g2"].readback),
                "sample_x_mm": self._fresh(d["sample"].readback),
                "exposure_s": exposure_s,
                "real_exposure_s": real_s,
                "time_s": t0 - self._t0,
                "voltage_kV": self._fresh(d["tube"].voltage_kV),
                "current_mA": self._fresh(d["tube"].current_mA),
                "xray_on": float(on_before and self._emitting()),
                "frame_index": float(k),
            }
            rows.append({key: values[name] for key, name in zip(self.frame_attribute_keys(), values)})
        wrong = [k for k, row in enumerate(rows) if int(row["tube_xray_on"]) != expected]
        if wrong:
            raise BeamStateError(f"{self.name}: X-rays were {'off' if expected else 'on'} during frame(s) "
                                 f"{wrong} of the stepping scan ({d['tube'].status_message.get()})")
        timestamp = time.time()
        return [(row, timestamp) for row in rows]

