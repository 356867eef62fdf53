"""The sCMOS camera: triggers exposures over EPICS and references the HDF5 frames it writes.

Frames never travel through Channel Access: the IOC side writes them into HDF5 files (one file
per stepping scan) and this device emits a ``stream_resource`` document per file and a
``stream_datum`` per frame, so a catalog (tiled) reads them straight from the files.

Two ways to take frames: one per ``trigger`` (``Acquire``), each into a new file of its own under
``single_frames_dir`` (standard bluesky plans: ``bp.count([camera])``, ``bp.scan([camera], g2,
...)``), or, with ``step_mode`` set, a whole stepping scan per request into the file the plan
opened: ``trigger`` asks the IOC to step G2 through ``step_positions`` with one exposure at each
(``StepScan``), and each following ``read`` hands out the next frame of that scan. The scan's
frames are checked before the first is handed out (all there, of this attempt, G2 on its steps,
X-rays as ``xray_on_expected`` throughout with kV and mA within ``beam_tolerance_pct`` of their
setpoints and no arc or interlock opening), so a failed stepping scan yields no event at all.

Every step-mode ``trigger`` is a new attempt with a file of its own (the IOC numbers them), also
when bluesky replays it after a suspension (the attempts and checks both cameras share are
:class:`~.stepping_camera.SteppingCamera`'s); ``pause`` (called by the RunEngine when it
suspends) aborts a running step scan on the IOC.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from pathlib import Path
from typing import Any

from ophyd import Component as Cpt
from ophyd import DeviceStatus, EpicsSignal, EpicsSignalRO

from gi_instrument.devices.axis import PositionError
from gi_instrument.devices.frame_handout import FrameLostError
from gi_instrument.devices.stepping_camera import BeamStateError, Row, SteppingCamera, finish_status, frame_data_key
from gi_instrument.pv_interface import FRAME_DATASET, MAX_STEPS, STEP_POSITION_ERROR, Camera

__all__ = ["SCMOSDetector", "FrameLostError", "BeamStateError", "FRAME_DATASET", "STEP_POSITION_ERROR"]


class SCMOSDetector(SteppingCamera):
    """sCMOS camera (PVs under ``{prefix}``). Data key of the frames: ``{name}_image``
    (rows, cols) uint16, external. With each frame it reads, in one get, the values the IOC
    recorded at that exposure (see :data:`~.stepping_camera.FRAME_KEYS`): G2 setpoint and readback (um), rotation
    angle (deg), sample position (mm), nominal and real exposure (s), tube kV / mA. Every frame
    carries its identity: ``frame_angle_index`` (projection index, set by the plan; for a
    reference, the projection it precedes; -1 for darks) and ``frame_step_index`` (its index in
    its stepping-scan file, 0..steps-1).

    Hints (what BestEffortCallback tables): in step mode the frame's angle and step index and G2
    readback, for single frames the real exposure; never the image."""

    attempt = Cpt(EpicsSignalRO, Camera.ATTEMPT_RBV, kind="omitted")
    step_abort = Cpt(EpicsSignal, Camera.STEP_ABORT, kind="omitted")
    step_positions = Cpt(EpicsSignal, Camera.STEP_POSITIONS, put_complete=True, kind="omitted")
    step_tolerance_um = Cpt(EpicsSignal, Camera.STEP_TOLERANCE, put_complete=True, kind="config")
    step_scan = Cpt(EpicsSignal, Camera.STEP_SCAN, put_complete=True, kind="omitted")
    step_attrs = Cpt(EpicsSignalRO, Camera.STEP_ATTRS_RBV, kind="omitted")
    exposure_s = Cpt(EpicsSignal, Camera.ACQUIRE_TIME, put_complete=True, kind="config")
    acquire = Cpt(EpicsSignal, Camera.ACQUIRE, put_complete=True, kind="omitted")
    frame_counter = Cpt(EpicsSignalRO, Camera.ARRAY_COUNTER_RBV, kind="omitted")
    real_exposure_s = Cpt(EpicsSignalRO, Camera.REAL_ACQUIRE_TIME_RBV, kind="omitted")
    frame_attr_names = Cpt(EpicsSignalRO, Camera.FRAME_ATTR_NAMES_RBV, string=True, kind="omitted")
    frame_attrs = Cpt(EpicsSignalRO, Camera.FRAME_ATTRS_RBV, kind="omitted")
    time_scale = Cpt(EpicsSignalRO, Camera.TIME_SCALE_RBV, kind="config")
    binning = Cpt(EpicsSignal, Camera.BINNING, put_complete=True, kind="config")
    size_x = Cpt(EpicsSignalRO, Camera.SIZE_X_RBV, kind="config")
    size_y = Cpt(EpicsSignalRO, Camera.SIZE_Y_RBV, kind="config")
    file_path = Cpt(EpicsSignal, Camera.FILE_PATH, string=True, put_complete=True, kind="omitted")
    file_name = Cpt(EpicsSignal, Camera.FILE_NAME, string=True, put_complete=True, kind="omitted")
    num_capture = Cpt(EpicsSignal, Camera.NUM_CAPTURE, put_complete=True, kind="omitted")
    file_number = Cpt(EpicsSignal, Camera.FILE_NUMBER, kind="omitted")
    full_file_name = Cpt(EpicsSignalRO, Camera.FULL_FILE_NAME_RBV, string=True, kind="omitted")
    num_captured = Cpt(EpicsSignalRO, Camera.NUM_CAPTURED_RBV, kind="omitted")
    status_message = Cpt(EpicsSignalRO, Camera.STATUS_RBV, string=True, kind="omitted")
    preview = Cpt(EpicsSignalRO, Camera.PREVIEW, kind="omitted")

    max_steps = MAX_STEPS
    """Most frames the IOC takes in one step scan (length of ``StepPositions``)."""
    acquire_margin_s = 30.0
    """Real seconds allowed beyond the scaled exposure before a trigger times out."""
    put_timeout_s = 10.0
    """Real seconds a file setting (path, name, frames per file) may take to be accepted."""
    single_frames_dir: Path | None = None
    """Absolute directory of the files of single frames (``make_instrument``: ``frames/single``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._time_scale: float | None = None
        self._attr_names: list[str] = []
        self._steps_expected = 0

    def frame_shape(self) -> tuple[int, int]:
        """(rows, cols) of the frames at the current binning."""
        return int(self.size_y.get()), int(self.size_x.get())

    def frame_attribute_keys(self) -> list[str]:
        """Data keys of the IOC's per-frame values, in ``FrameAttrs_RBV`` order (names read once);
        prefixed with the camera's name for single frames (see :data:`~.stepping_camera.FRAME_KEYS`)."""
        if not self._attr_names:
            self._attr_names = [n for n in self.frame_attr_names.get().split(",") if n]
        keys = [frame_data_key(n, self.name) for n in self._attr_names]
        if self.step_mode.get():
            return keys
        return [k if k.startswith(f"{self.name}_") else f"{self.name}_{k}" for k in keys]

    @property
    def hints(self) -> dict[str, list[str]]:
        wanted = (["frame_angle_index", "frame_step_index", "g2_position_um"] if self.step_mode.get()
                  else [f"{self.name}_real_exposure_s"])
        keys = {self.angle_index.name, *self.frame_attribute_keys()}
        return {"fields": [k for k in wanted if k in keys]}

    def stage(self) -> list[Any]:
        """Standard plans stage the camera: it then takes single frames (leaves step mode)."""
        self.step_mode.put(False)
        return super().stage()

    def describe(self) -> dict[str, dict[str, Any]]:
        desc = super().describe()
        source = f"PV:{self.prefix}FrameAttrs_RBV"
        for key in self.frame_attribute_keys():
            desc[key] = {"source": source, "dtype": "number", "shape": []}
        rows, cols = self.described_frame_shape(refresh=True)
        desc[self.image_key] = {
            "source": f"PV:{self.prefix}FullFileName_RBV",
            "dtype": "array",
            "dtype_numpy": "<u2",
            "shape": [rows, cols],
            "dims": ["row", "col"],
            "external": "STREAM:",
        }
        return desc

    def trigger(self) -> DeviceStatus:
        """Expose one frame (or, in step mode, a whole stepping scan on the first trigger); done
        when the IOC has written the frame(s) to the file."""
        if self._time_scale is None:
            self._time_scale = float(self.time_scale.get())
        frames = 1
        target = self.acquire
        self.frames.clear()
        if self.step_mode.get():
            self._begin_attempt()
            # the positions last put (ophyd keeps them): no round trip; an IOC that lost them
            # (a restart) takes another number of frames, which check_scan refuses
            frames = self._steps_expected = len(self.step_positions.setpoint)
            target = self.step_scan
        else:
            self._open_single_frame_file()
        self._triggered = True
        exposure_s = float(self.exposure_request_s.get())   # in step mode, what the plan just set
        if not (self.step_mode.get() and math.isfinite(exposure_s)):
            exposure_s = float(self.exposure_s.get())
        real_s = frames * exposure_s * self._time_scale
        status = self._status = DeviceStatus(self, timeout=real_s + self.acquire_margin_s)

        target.put(1, callback=lambda **kwargs: finish_status(status))
        return status

    def _stop_scan(self) -> None:
        """Abort the running step scan on the IOC."""
        try:
            self.step_abort.put(1, wait=False)
        except Exception as exc:  # the IOC may be the thing that went away
            logging.getLogger(__name__).info("%s: step scan abort not delivered: %s", self.name, exc)

    def _attempt_file(self, flight: dict[str, Any]) -> tuple[int, str]:
        """The IOC's attempt number and file (of the last step scan it started)."""
        try:
            return int(self.attempt.get(timeout=2)), self.full_file_name.get(timeout=2)
        except Exception:  # IOC unreachable: the file is the attempt's, on the IOC's disk
            return -1, ""

    def _open_single_frame_file(self) -> None:
        """Direct the next frame into a new file of its own, ``single_frames_dir/{name}_<time>_<id>.h5``
        (a file is never written twice, so each single frame needs a fresh name)."""
        if self.single_frames_dir is None:
            raise RuntimeError(f"{self.name}: single_frames_dir is not set (make_instrument sets it)")
        name = f"{self.name}_{time.strftime('%Y%m%d-%H%M%S')}_{uuid.uuid4().hex[:8]}"
        for signal, value in ((self.file_path, str(self.single_frames_dir)), (self.num_capture, 1),
                              (self.file_name, name)):
            signal.set(value).wait(self.put_timeout_s)

    def read(self) -> dict[str, dict[str, Any]]:
        """As :meth:`SteppingCamera.read`; a single frame is read (checked to be in its file)
        after its trigger."""
        if self._triggered and not self.step_mode.get():
            self._triggered = False
            self.frames.load([(self._rows(self.frame_attrs.get())[0], self.frame_attrs.timestamp)],
                             f"{self.name}_frame_step_index")
        return super().read()

    def _rows(self, values: Any) -> list[dict[str, float]]:
        """Split a FrameAttrs / StepAttrs array into one dict (data key -> value) per frame."""
        keys = self.frame_attribute_keys()
        flat = [float(v) for v in values]
        rows = [dict(zip(keys, flat[i:i + len(keys)])) for i in range(0, len(flat) - len(keys) + 1, len(keys))]
        return rows or [dict.fromkeys(keys, math.nan)]

    def _scan_rows(self) -> tuple[list[Row], float]:
        """The IOC's rows of the stepping scan just taken (``StepAttrs_RBV``); raises unless all
        of them are there and of this attempt."""
        rows = [r for r in self._rows(self.step_attrs.get()) if math.isfinite(r["frame_step_index"])]
        timestamp = self.step_attrs.timestamp
        if len(rows) != self._steps_expected:
            message = self.status_message.get()
            error = PositionError if message.startswith(STEP_POSITION_ERROR) else FrameLostError
            raise error(f"{self.name}: stepping scan gave {len(rows)} of {self._steps_expected} frames ({message})")
        attempt = int(self.attempt.get())
        stale = [k for k, row in enumerate(rows) if int(row["frame_attempt"]) != attempt]
        if stale:
            raise FrameLostError(f"{self.name}: frame(s) {stale} are not of attempt {attempt} of the stepping scan")
        return rows, timestamp
