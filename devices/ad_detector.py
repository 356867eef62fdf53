"""The sCMOS camera on a standard areaDetector IOC (camera driver ``cam1:`` + HDF5 plugin
``HDF1:``), through ophyd's areaDetector classes: an ADAndor3 / ADPCO-type camera needs no code.

What crosses the wire: settings, the Acquire request and counters; frames go from the camera
driver into the HDF5 plugin's file on the IOC side and never through Channel Access. Such an IOC
does not step G2, so this device does, frame by frame: each step-mode ``trigger`` is a new
attempt of the stepping scan, into a file of its own, ``FileName_a<k>.h5`` (``FileTemplate``
``%s%s_a%d.h5``, ``FileNumber`` = k, the first attempt number not on disk: a file is never
overwritten), opened in Stream mode with ``NumCapture`` = steps. For each step it moves G2 (put
completion), checks its readback against ``step_tolerance_um`` before exposing, watches the beam
over the exposure (:class:`~.beam_watch.BeamWatch`: kV / mA extremes, the tube's fault flag and
last fault, interlock, X-rays), acquires one frame, and checks that the frame reached the file as
its next frame. Each frame's values (G2 setpoint and readback, rotation angle, sample position,
exposure, the beam over the exposure, attempt) are read from the other devices at the exposure,
under the same data keys as the scanner layout's. The scan's frames are then checked and handed
out into events exactly as :class:`~.stepping_camera.SteppingCamera` does for both cameras
(attempts, retry budget, suspensions): plans cannot tell the two apart.

The scan runs on a worker thread started by ``trigger``. A suspension (``pause``) stops it after
the present exposure (its file is closed, left partial on disk); the replayed attempt's thread
starts its scan once the stopped one has ended.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from ophyd import Component as Cpt
from ophyd import DeviceStatus, Signal
from ophyd.areadetector.cam import AreaDetectorCam
from ophyd.areadetector.plugins import HDF5Plugin
from ophyd.utils.epics_pvs import AlarmSeverity

from gi_instrument.devices.axis import PositionError
from gi_instrument.devices.beam_watch import BeamWatch
from gi_instrument.devices.errors import InstrumentFault
from gi_instrument.devices.frame_handout import FrameLostError
from gi_instrument.devices.puts_together import PutsTogether
from gi_instrument.devices.soft import SoftSetting
from gi_instrument.devices.stepping_camera import Row, SteppingCamera, finish_status, frame_data_key
from gi_instrument.pv_interface import ADCam, ADHDF5, CONTROLLER_LOST, DOSE_ATTRIBUTES, FRAME_ATTRIBUTES

__all__ = ["ADSCMOSDetector", "ControllerLostError"]


class ControllerLostError(InstrumentFault):
    """A value the scan depends on is in INVALID alarm: its controller does not answer."""


class ADSCMOSDetector(SteppingCamera):
    """sCMOS camera on an areaDetector IOC under ``{prefix}`` (``cam1:``, ``HDF1:``). Same data keys,
    signals the plans use and guarantees as :class:`~gi_instrument.devices.detector.SCMOSDetector`;
    :meth:`attach` gives it the tube, G2, rotation and sample devices it reads with each frame."""

    cam = Cpt(AreaDetectorCam, ADCam.SUFFIX, kind="omitted")
    hdf = Cpt(HDF5Plugin, ADHDF5.SUFFIX, kind="omitted")
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
    file_template = "%s%s_a%d.h5"
    """HDF5 plugin template: ``FilePath`` + ``FileName`` + ``_a`` + ``FileNumber`` (the attempt) + .h5."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._devices: dict[str, Any] = {}
        self._worker: threading.Thread | None = None
        self._outcome: dict[str, Any] = {}
        self._stop = threading.Event()
        self._last_attempt: tuple[str, int] = ("", -1)
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
                hdf.file_template, hdf.file_number, hdf.file_write_mode, hdf.auto_increment, hdf.num_capture,
                hdf.capture, hdf.num_captured, hdf.full_file_name, hdf.write_message]

    def wait_for_connection(self, all_signals: bool = False, timeout: float = 10.0) -> None:
        """Connect the signals this device uses (areaDetector components are lazy)."""
        super().wait_for_connection(all_signals=all_signals, timeout=timeout)
        for signal in self.used_signals():
            signal.wait_for_connection(timeout=timeout)

    def frame_shape(self) -> tuple[int, int]:
        """(rows, cols) of the frames at the current binning."""
        return int(self.cam.array_size.array_size_y.get()), int(self.cam.array_size.array_size_x.get())

    def frame_attribute_keys(self) -> list[str]:
        """Data keys of the per-frame values (those of the scanner layout)."""
        return [frame_data_key(n, self.name) for n in [*FRAME_ATTRIBUTES, *DOSE_ATTRIBUTES, "frame_index"]]

    def describe(self) -> dict[str, dict[str, Any]]:
        desc = super().describe()
        for key in self.frame_attribute_keys():
            desc[key] = {"source": f"PV:{self.prefix}{ADCam.SUFFIX}", "dtype": "number", "shape": []}
        rows, cols = self.described_frame_shape(refresh=True)
        desc[self.image_key] = {"source": f"PV:{self.hdf.prefix}{ADHDF5.FULL_FILE_NAME_RBV}", "dtype": "array",
                                "dtype_numpy": "<u2", "shape": [rows, cols], "dims": ["row", "col"],
                                "external": "STREAM:"}
        return desc

    def stage(self) -> list[Any]:
        """Stage this device only: the camera and plugin are configured per stepping scan
        (:meth:`_open_file`), their many other PVs are left alone."""
        return [self]

    def unstage(self) -> list[Any]:
        self._forget_scan()
        return [self]

    def trigger(self) -> DeviceStatus:
        """A new attempt of the stepping scan the plan set up, run on a worker thread; the status
        finishes when it has ended (:meth:`check_scan` then says whether it succeeded)."""
        if not self.step_mode.get():
            raise RuntimeError(f"{self.name}: an areaDetector camera takes frames in stepping scans (step_mode)")
        if not self._devices:
            raise RuntimeError(f"{self.name}: attach() the tube, G2, rotation and sample devices first")
        self.frames.clear()
        flight = self._begin_attempt()
        flight["attempt"], flight["file"] = self._next_attempt_file()
        self._triggered = True
        status = self._status = DeviceStatus(self)
        outcome: dict[str, Any] = {}
        stop = threading.Event()
        self._outcome, self._stop = outcome, stop
        positions = list(self.step_positions.get())
        previous = self._worker

        def run() -> None:
            try:
                if previous is not None:        # stopped by a suspension: it ends after its present exposure
                    previous.join()
                outcome["rows"] = self._scan(positions, flight["attempt"], flight["file"], stop)
                outcome["timestamp"] = time.time()
            except Exception as exc:  # raised by check_scan, as the scanner layout's camera raises
                outcome["error"] = exc
            finish_status(status)

        self._worker = threading.Thread(target=run, daemon=True, name=f"{self.name}-scan")
        self._worker.start()
        return status

    def _next_attempt_file(self) -> tuple[int, str]:
        """(attempt number, file) of a new attempt: the first number whose file is not on disk
        and above the last one this device used for the same name (its file may not exist yet)."""
        directory, name = str(self.hdf.file_path.get()), str(self.hdf.file_name.get())
        last_stem, last = self._last_attempt
        k = last + 1 if last_stem == directory + name else 0
        while Path(self.file_template % (directory, name, k)).exists():
            k += 1
        self._last_attempt = (directory + name, k)
        return k, self.file_template % (directory, name, k)

    def _stop_scan(self) -> None:
        """Stop the scan after the present exposure (which is aborted where the camera can)."""
        self._stop.set()
        try:
            self.cam.acquire.put(0, wait=False)
        except Exception as exc:  # the IOC may be the thing that went away
            logging.getLogger(__name__).info("%s: acquisition abort not delivered: %s", self.name, exc)

    def _attempt_file(self, flight: dict[str, Any]) -> tuple[int, str]:
        """The attempt's number and file, as chosen when it was triggered."""
        return int(flight.get("attempt", -1)), str(flight.get("file", ""))

    def _scan_rows(self) -> tuple[list[Row], float]:
        """The rows of the scan just taken; its failure if it failed."""
        if "error" in self._outcome:
            raise self._outcome["error"]
        return self._outcome["rows"], self._outcome["timestamp"]

    def _tube_status(self) -> str:
        return str(self._devices["tube"].last_fault.get())

    # ------------------------------------------------------------------ the frame-by-frame scan
    def _fresh(self, signal: Any) -> float:
        """A fresh value of ``signal``; ControllerLostError if its controller is lost."""
        value = signal.get(use_monitor=False)
        if signal.alarm_severity == AlarmSeverity.INVALID:
            raise ControllerLostError(f"{signal.name}: {CONTROLLER_LOST} (INVALID alarm)")
        return float(value)

    def _open_file(self, n_frames: int, attempt: int, path: str) -> None:
        """Start the HDF5 plugin on the new file ``path`` (attempt ``attempt``) of ``n_frames``
        frames; the run directory is made here (the catalog reads the frames from the same,
        shared, path)."""
        hdf = self.hdf
        if int(hdf.capture.get(use_monitor=False)) == 1:
            # a capture left running (the process that started it was killed mid-scan): close its
            # file as it is first, so that Capture_RBV below tells of this file, not of that one
            logging.getLogger(__name__).warning("%s: closing the capture left open in %s", self.name,
                                                hdf.full_file_name.get(use_monitor=False))
            self._close_file()
            self._wait_for_capture(0, "stop the capture left open")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        PutsTogether(f"{self.name} file settings").set([
            (hdf.file_template, self.file_template), (hdf.file_number, attempt),
            (hdf.file_write_mode, 2),                # Stream
            (hdf.auto_increment, 0), (hdf.num_capture, n_frames),
            (self.cam.image_mode, 0),                # Single
        ]).wait(10)
        hdf.capture.put(1)                           # its put-completion comes when the file closes
        self._wait_for_capture(1, f"open {path}")
        opened = hdf.full_file_name.get(use_monitor=False)
        if opened != path:
            raise FrameLostError(f"{self.name}: the HDF5 plugin opened {opened}, not {path}")

    def _wait_for_capture(self, value: int, what: str, timeout_s: float = 10.0) -> None:
        """Wait until the HDF5 plugin's Capture_RBV reads ``value``; FrameLostError naming ``what``
        it did not do after ``timeout_s`` real s."""
        deadline = time.monotonic() + timeout_s
        while int(self.hdf.capture.get(use_monitor=False)) != value:
            if time.monotonic() > deadline:
                raise FrameLostError(f"{self.name}: the HDF5 plugin did not {what} ({self.hdf.write_message.get()})")
            time.sleep(0.005)

    def _scan(self, positions: list[float], attempt: int, path: str, stop: threading.Event) -> list[Row]:
        """Take one frame per G2 position into ``path``; raises unless every frame is in the
        file with G2 on its step. Stops (raises) once ``stop`` is set."""
        if stop.is_set():
            raise FrameLostError(f"{self.name}: stepping scan stopped before it began")
        d = self._devices
        self._open_file(len(positions), attempt, path)
        exposure_s = float(self.cam.acquire_time.get())
        tolerance = float(self.step_tolerance_um.get())
        tube = d["tube"]
        setpoints = float(tube.voltage_kV.get_setpoint()), float(tube.current_mA.get_setpoint())
        rows = []
        try:
            with BeamWatch(tube, self._fresh) as beam:
                for k, target in enumerate(positions):
                    if stop.is_set():
                        raise FrameLostError(f"{self.name}: stepping scan stopped after {k} of {len(positions)} "
                                             f"frames ({path} left partial)")
                    d["g2"].set(target).wait(d["g2"].move_timeout_s(target))
                    position = self._fresh(d["g2"].readback)
                    if not abs(position - target) <= tolerance:
                        raise PositionError(f"{self.name}: G2 at {position:.4f} um for step {target} um "
                                            f"(tolerance {tolerance} um; {d['g2'].status_message.get()})")
                    last_fault = beam.open()
                    t0 = time.monotonic()
                    done = DeviceStatus(self, timeout=exposure_s + self.acquire_margin_s)
                    self.cam.acquire.put(1, use_complete=True, callback=lambda **kw: finish_status(done))
                    done.wait()
                    real_s = time.monotonic() - t0
                    dose = beam.close(last_fault)
                    self._wait_for_frame(k, len(positions))
                    values = {
                        "angle_deg": self._fresh(d["rotation"].readback),
                        "g2_setpoint_um": target,
                        "g2_position_um": self._fresh(d["g2"].readback),
                        "sample_x_mm": self._fresh(d["sample"].readback),
                        "exposure_s": exposure_s,
                        "real_exposure_s": real_s,
                        "time_s": t0 - self._t0,
                        "voltage_kV": beam.value(tube.voltage_kV),      # read when the window closed
                        "current_mA": beam.value(tube.current_mA),
                        "voltage_set_kV": setpoints[0],
                        "current_set_mA": setpoints[1],
                        **dose.frame_values(),
                        "attempt": float(attempt),
                        "frame_index": float(k),
                    }
                    rows.append({frame_data_key(name, self.name): value for name, value in values.items()})
        except BaseException:
            self._close_file()
            raise
        return rows

    def _wait_for_frame(self, k: int, n_frames: int) -> None:
        """Wait until frame ``k`` is in the file; FrameLostError if it does not come."""
        deadline = time.monotonic() + self.file_wait_s
        while int(self.hdf.num_captured.get(use_monitor=False)) < k + 1:
            if time.monotonic() > deadline:
                raise FrameLostError(f"{self.name}: frame {k} of {n_frames} did not reach "
                                     f"{self.hdf.full_file_name.get()} ({self.status_message.get()})")
            time.sleep(0.002)

    def _close_file(self) -> None:
        """Stop capturing: a failed attempt's file is closed as it is (never reopened)."""
        try:
            self.hdf.capture.put(0, wait=False)
        except Exception as exc:  # the IOC may be the thing that went away
            logging.getLogger(__name__).info("%s: capture stop not delivered: %s", self.name, exc)
