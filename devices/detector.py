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
when bluesky replays it after a suspension; a try that does not reach the run (interrupted by a
suspension, refused by the checks) goes into ``attempt_log`` (:class:`~.attempts.AttemptLog`,
set by the plan for a run), which also bounds the tries. ``pause`` (called by the RunEngine
when it suspends) aborts a running step scan on the IOC.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

from ophyd import Component as Cpt
from ophyd import Device, DeviceStatus, EpicsSignal, EpicsSignalRO, Signal
from ophyd.utils import InvalidState

from gi_instrument.devices.attempts import AttemptLog, DiscardedAttemptRecord, SuspensionRecord
from gi_instrument.devices.axis import PositionError
from gi_instrument.devices.errors import InstrumentFault
from gi_instrument.devices.frame_handout import FrameHandout, FrameLostError
from gi_instrument.devices.soft import SoftSetting
from gi_instrument.pv_interface import FRAME_DATASET, MAX_STEPS, STEP_POSITION_ERROR, Camera

__all__ = ["SCMOSDetector", "FrameLostError", "BeamStateError", "FRAME_DATASET", "STEP_POSITION_ERROR"]

FRAME_KEYS = {
    "angle_deg": "rotation_angle_deg",
    "g2_setpoint_um": "g2_setpoint_um",
    "g2_position_um": "g2_position_um",
    "sample_x_mm": "sample_x_mm",
    "exposure_s": "{name}_exposure_s",
    "real_exposure_s": "{name}_real_exposure_s",
    "time_s": "{name}_ioc_time_s",
    "voltage_kV": "tube_voltage_kV",
    "current_mA": "tube_current_mA",
    "xray_on": "tube_xray_on",
    "voltage_set_kV": "tube_voltage_set_kV",
    "current_set_mA": "tube_current_set_mA",
    "voltage_min_kV": "tube_voltage_min_kV",
    "voltage_max_kV": "tube_voltage_max_kV",
    "current_min_mA": "tube_current_min_mA",
    "current_max_mA": "tube_current_max_mA",
    "arc": "tube_arc",
    "interlock_open": "tube_interlock_open",
    "attempt": "frame_attempt",
    "frame_index": "frame_step_index",
}
"""Data key of each value the camera IOC records with a frame (``FrameAttrs_RBV``); names the
IOC adds beyond these become ``{name}_<attribute>``. A frame's index in its file is its phase
step (one file per stepping scan), hence ``frame_step_index``. Single frames (no ``step_mode``)
name them all ``{name}_<key>`` (``camera_g2_position_um``), so that a plan reading the camera
beside the positioners (``bp.scan([camera], g2, ...)``) has no colliding keys."""


class BeamStateError(InstrumentFault):
    """A frame of a stepping scan was exposed with the X-rays in the wrong state (an arc, a
    tripped interlock, kV or mA out of tolerance): the whole scan is refused."""


def beam_disturbance(row: dict[str, float], xray_on: bool, tolerance_pct: float) -> str:
    """Why a frame's dose was disturbed ('' if it was not): ``row`` holds the tube values the
    IOC recorded over its exposure (:data:`FRAME_KEYS` names)."""
    if xray_on and row.get("tube_arc"):
        return "arc"
    if xray_on and row.get("tube_interlock_open"):
        return "interlock open"
    if int(row["tube_xray_on"]) != int(xray_on):
        return f"X-rays {'off' if xray_on else 'on'}"
    if not xray_on:
        return ""
    tol = tolerance_pct / 100.0
    for quantity, unit in (("voltage", "kV"), ("current", "mA")):
        setpoint = row.get(f"tube_{quantity}_set_{unit}", math.nan)
        low, high = row.get(f"tube_{quantity}_min_{unit}", math.nan), row.get(f"tube_{quantity}_max_{unit}", math.nan)
        if not (abs(low - setpoint) <= tol * abs(setpoint) and abs(high - setpoint) <= tol * abs(setpoint)):
            return f"{quantity} {low:g}..{high:g} {unit} outside {tolerance_pct:g} % of {setpoint:g} {unit}"
    return ""


def _finish(status: DeviceStatus) -> None:
    """Mark ``status`` finished unless it already is: the IOC's put completion (also when the
    IOC goes away), a suspension (:meth:`SCMOSDetector.pause`) and the status's own timeout may
    each get there first, from different threads."""
    try:
        status.set_finished()
    except InvalidState:
        pass


class _ScanCheck(Signal):
    """Reading it checks the stepping scan just taken (:meth:`SCMOSDetector.check_scan`) and
    gives its number of frames; a plan reads it before it emits the scan's events."""

    def get(self, **kwargs: Any) -> int:
        return self.parent.check_scan()


class SCMOSDetector(Device):
    """sCMOS camera (PVs under ``{prefix}``). Data key of the frames: ``{name}_image``
    (rows, cols) uint16, external. With each frame it reads, in one get, the values the IOC
    recorded at that exposure (see :data:`FRAME_KEYS`): G2 setpoint and readback (um), rotation
    angle (deg), sample position (mm), nominal and real exposure (s), tube kV / mA. Every frame
    carries its identity: ``frame_angle_index`` (projection index, set by the plan; for a
    reference, the projection it precedes; -1 for darks) and ``frame_step_index`` (its index in
    its stepping-scan file, 0..steps-1).

    Hints (what BestEffortCallback tables): in step mode the frame's angle and step index and G2
    readback, for single frames the real exposure; never the image."""

    angle_index = Cpt(SoftSetting, value=-1, kind="normal")
    scan_stream = Cpt(SoftSetting, value="", kind="omitted")
    step_mode = Cpt(SoftSetting, value=False, kind="omitted")
    xray_on_expected = Cpt(SoftSetting, value=1, kind="omitted")
    beam_tolerance_pct = Cpt(SoftSetting, value=2.0, kind="omitted")
    exposure_request_s = Cpt(SoftSetting, value=math.nan, kind="omitted")
    expected = Cpt(SoftSetting, value={}, kind="omitted")
    frames_checked = Cpt(_ScanCheck, kind="omitted")
    discarded = Cpt(DiscardedAttemptRecord, kind="omitted")
    suspension = Cpt(SuspensionRecord, kind="omitted")
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

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._triggered = False
        self._time_scale: float | None = None
        self._attr_names: list[str] = []
        self.frames = FrameHandout(self.name, self.image_key, lambda: (self.full_file_name.get(), self.frame_shape()),
                                   lambda: self.status_message.get())
        """Frames taken and not yet handed out into events (:meth:`read`)."""
        self._steps_expected = 0
        self._in_flight: dict[str, Any] | None = None
        self._status: DeviceStatus | None = None
        self.attempt_log: AttemptLog | None = None
        self.angle_index.name = "frame_angle_index"
        for record, prefix in ((self.discarded, "discarded"), (self.suspension, "suspension")):
            for child in record.component_names:
                getattr(record, child).name = f"{prefix}_{child}"

    @property
    def image_key(self) -> str:
        """Data key of the frames."""
        return f"{self.name}_image"

    def frame_shape(self) -> tuple[int, int]:
        """(rows, cols) of the frames at the current binning."""
        return int(self.size_y.get()), int(self.size_x.get())

    def frame_attribute_keys(self) -> list[str]:
        """Data keys of the IOC's per-frame values, in ``FrameAttrs_RBV`` order (names read once);
        prefixed with the camera's name for single frames (see :data:`FRAME_KEYS`)."""
        if not self._attr_names:
            self._attr_names = [n for n in self.frame_attr_names.get().split(",") if n]
        keys = [FRAME_KEYS.get(n, "{name}_" + n).format(name=self.name) for n in self._attr_names]
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
        rows, cols = self.frame_shape()
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
            if self._in_flight is not None:     # a replay after a suspension: the try before is void
                self._discard_in_flight("interrupted before its events were emitted")
            identity = self.scan_identity
            if self.attempt_log is not None:
                self.attempt_log.begin(*identity)
            self._in_flight = {"identity": identity, "start_time": time.time(), "cause": ""}
            frames = self._steps_expected = len(self.step_positions.get())
            target = self.step_scan
        else:
            self._open_single_frame_file()
        self._triggered = True
        exposure_s = float(self.exposure_request_s.get())   # in step mode, what the plan just set
        if not (self.step_mode.get() and math.isfinite(exposure_s)):
            exposure_s = float(self.exposure_s.get())
        real_s = frames * exposure_s * self._time_scale
        status = self._status = DeviceStatus(self, timeout=real_s + self.acquire_margin_s)

        target.put(1, callback=lambda **kwargs: _finish(status))
        return status

    @property
    def scan_identity(self) -> tuple[str, int]:
        """(stream, projection index) of the stepping scan the plan set up."""
        return str(self.scan_stream.get()), int(self.angle_index.get())

    def pause(self) -> None:
        """The RunEngine suspends: abort a running step scan on the IOC (it will be taken again
        as a new attempt) and finish its status, so it cannot fail into the resumed plan."""
        status = self._status
        if self._in_flight is None or status is None or status.done:
            return
        self._in_flight["cause"] = self._in_flight["cause"] or "suspended"
        try:
            self.step_abort.put(1, wait=False)
        except Exception as exc:  # the IOC may be the thing that went away
            logging.getLogger(__name__).info("%s: step scan abort not delivered: %s", self.name, exc)
        _finish(status)

    def note_interruption(self, cause: str) -> None:
        """Name the cause of the interruption of the attempt in flight."""
        if self._in_flight is not None:
            self._in_flight["cause"] = cause

    def note_suspension(self, cause: str) -> None:
        """A suspender suspended the run (``cause``: its justification): recorded in
        ``attempt_log`` with the stepping scan in flight, whose cause it becomes."""
        if self.attempt_log is not None:
            stream, index = self._in_flight["identity"] if self._in_flight is not None else ("", -1)
            self.attempt_log.suspended(cause, stream, index)
        self.note_interruption(f"suspended: {cause}")

    def note_resumption(self) -> None:
        """The suspension ended."""
        if self.attempt_log is not None:
            self.attempt_log.resumed()

    def abandon(self, cause: str) -> bool:
        """Give up the attempt in flight (the plan repeats the scan): it is recorded as
        discarded with ``cause``. False when there was none."""
        self._triggered = False
        self.frames.clear()
        if self._in_flight is None:
            return False
        self._discard_in_flight(cause)
        return True

    def _discard_in_flight(self, cause: str) -> None:
        """Record the attempt in flight as discarded (in ``attempt_log``) and forget it."""
        flight, self._in_flight = self._in_flight, None
        if flight is None or self.attempt_log is None:
            return
        try:
            attempt, path = int(self.attempt.get(timeout=2)), self.full_file_name.get(timeout=2)
        except Exception:  # IOC unreachable: the file is the attempt's, on the IOC's disk
            attempt, path = -1, ""
        self.attempt_log.discard(*flight["identity"], cause=flight["cause"] or cause, attempt=attempt, file=path,
                                 start_time=flight["start_time"])

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
        """Scalar readings; after a trigger, the values recorded with its next frame (checked to
        be in the file). The frame is handed out (its documents and the next read's frame) only
        when the RunEngine collects its documents (:meth:`collect_asset_docs`), i.e. once its
        reading is in an event: a read cancelled by a suspension gives the same frame again."""
        reading = super().read()
        if self.step_mode.get():
            if self._triggered:
                raise RuntimeError(f"{self.name}: stepping scan read before it was checked (read frames_checked)")
        elif self._triggered:
            self._triggered = False
            self.frames.load([(self._rows(self.frame_attrs.get())[0], self.frame_attrs.timestamp)],
                             f"{self.name}_frame_step_index")
        frame = self.frames.offer()
        if frame is not None:
            reading.update({key: {"value": value, "timestamp": frame[1]} for key, value in frame[0].items()})
        return reading

    def _rows(self, values: Any) -> list[dict[str, float]]:
        """Split a FrameAttrs / StepAttrs array into one dict (data key -> value) per frame."""
        keys = self.frame_attribute_keys()
        flat = [float(v) for v in values]
        rows = [dict(zip(keys, flat[i:i + len(keys)])) for i in range(0, len(flat) - len(keys) + 1, len(keys))]
        return rows or [dict.fromkeys(keys, math.nan)]

    def check_scan(self) -> int:
        """Check the stepping scan just triggered (frames of this attempt all there, dose
        undisturbed, positions and exposure as ``expected``); its frames are then handed out by
        the following reads. A scan that fails raises and stays in flight: the plan that repeats
        it names the cause and abandons it (:meth:`abandon`), else the next trigger discards it."""
        if not self._triggered:
            return len(self.frames)
        self._triggered = False
        self.frames.load(self._step_frames(), "frame_step_index")
        self._in_flight = None
        return len(self.frames)

    def _step_frames(self) -> list[tuple[dict[str, float], float]]:
        """The frames of the stepping scan just taken; raises unless all of them are there."""
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
        for key, (value, tol) in self.expected.get().items():
            off = [k for k, row in enumerate(rows) if not abs(row[key] - value) <= tol]
            if off:
                raise PositionError(f"{self.name}: {key} of frame(s) {off} is {rows[off[0]][key]:g}, "
                                    f"not {value:g} (tolerance {tol:g})")
        expected, tolerance = bool(self.xray_on_expected.get()), float(self.beam_tolerance_pct.get())
        wrong = {k: why for k, row in enumerate(rows) if (why := beam_disturbance(row, expected, tolerance))}
        if wrong:
            detail = ", ".join(f"frame {k}: {why}" for k, why in wrong.items())
            raise BeamStateError(f"{self.name}: dose disturbed during the stepping scan ({detail}; tube: "
                                 f"{self.status_message.get()})")
        return [(row, timestamp) for row in rows]

    def collect_asset_docs(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Hand out the frame the last :meth:`read` gave: its stream_resource (first frame of a
        file) and stream_datum documents."""
        yield from self.frames.take()

    def unstage(self) -> list[Any]:
        self._triggered, self._in_flight = False, None
        self.frames.clear()
        return super().unstage()
