"""What both camera devices share: a stepping scan as one repeatable attempt.

:class:`SteppingCamera` is the interface the plans (:mod:`gi_instrument.plans.stubs`,
:mod:`gi_instrument.plans.recovery`) and the suspenders (:mod:`gi_instrument.suspenders`) use,
whichever IOC takes the frames: the scanner layout's camera IOC, which steps G2 itself
(:class:`~gi_instrument.devices.detector.SCMOSDetector`), or a standard areaDetector IOC, for
which the device steps G2 frame by frame
(:class:`~gi_instrument.devices.ad_detector.ADSCMOSDetector`).

A plan sets the scan up (stream, projection index, G2 positions, expected X-ray state and
positions, the file's name), triggers it, reads ``frames_checked`` and then emits one event per
frame. Every step-mode ``trigger`` is a new attempt with a file of its own, also when bluesky
replays it after a suspension; the frames are checked as a whole (all there and of this attempt,
the dose undisturbed: :func:`beam_disturbance`, the positions and exposure as ``expected``)
before the first is handed out, so a failed scan yields no event. A try that does not reach the
run (interrupted by a suspension, refused by the checks) goes into ``attempt_log``
(:class:`~.attempts.AttemptLog`, set by the plan for a run), which also bounds the tries.
``pause`` (called by the RunEngine when it suspends) stops a running scan.

A subclass says how its IOC takes and reports a scan: :meth:`SteppingCamera._stop_scan`,
:meth:`SteppingCamera._scan_rows` and :meth:`SteppingCamera._attempt_file`.
"""

from __future__ import annotations

import math
import time
from typing import Any, Iterator

from ophyd import Component as Cpt
from ophyd import Device, DeviceStatus, Signal
from ophyd.utils import InvalidState

from gi_instrument.devices.attempts import AttemptLog, DiscardedAttemptRecord, SuspensionRecord
from gi_instrument.devices.axis import PositionError
from gi_instrument.devices.errors import InstrumentFault
from gi_instrument.devices.frame_handout import FrameHandout
from gi_instrument.devices.soft import SoftSetting

__all__ = ["SteppingCamera", "BeamStateError", "beam_disturbance", "finish_status", "frame_data_key", "FRAME_KEYS",
           "Row"]

Row = dict[str, float]
"""A frame's recorded values, by data key."""

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
"""Data key of each value recorded with a frame (the scanner layout's ``FrameAttrs_RBV``
names); names beyond these become ``{name}_<attribute>``. A frame's index in its file is its
phase step (one file per stepping scan), hence ``frame_step_index``. Single frames (no
``step_mode``) name them all ``{name}_<key>`` (``camera_g2_position_um``), so that a plan reading
the camera beside the positioners (``bp.scan([camera], g2, ...)``) has no colliding keys."""


def frame_data_key(attribute: str, camera_name: str) -> str:
    """Data key of the per-frame value ``attribute`` of camera ``camera_name`` (:data:`FRAME_KEYS`)."""
    return FRAME_KEYS.get(attribute, "{name}_" + attribute).format(name=camera_name)


class BeamStateError(InstrumentFault):
    """A frame of a stepping scan was exposed with the X-rays in the wrong state (an arc, a
    tripped interlock, kV or mA out of tolerance): the whole scan is refused."""


def beam_disturbance(row: Row, xray_on: bool, tolerance_pct: float) -> str:
    """Why a frame's dose was disturbed ('' if it was not): ``row`` holds the tube values
    recorded over its exposure (:data:`FRAME_KEYS` names)."""
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


def finish_status(status: DeviceStatus) -> None:
    """Mark ``status`` finished unless it already is: the IOC's put completion (also when the
    IOC goes away), a suspension (:meth:`SteppingCamera.pause`) and the status's own timeout may
    each get there first, from different threads."""
    try:
        status.set_finished()
    except InvalidState:
        pass


class _ScanCheck(Signal):
    """Reading it checks the stepping scan just taken (:meth:`SteppingCamera.check_scan`) and
    gives its number of frames; a plan reads it before it emits the scan's events."""

    def get(self, **kwargs: Any) -> int:
        return self.parent.check_scan()


class SteppingCamera(Device):
    """The stepping-scan attempts of a camera (see the module docstring). Data key of the
    frames: ``{name}_image``; every frame carries ``frame_angle_index`` (projection index, set by
    the plan; for a reference, the projection it precedes; -1 for darks), ``frame_step_index``
    and ``frame_attempt``."""

    angle_index = Cpt(SoftSetting, value=-1, kind="normal")
    scan_stream = Cpt(SoftSetting, value="", kind="omitted")
    step_mode = Cpt(SoftSetting, value=False, kind="omitted")
    xray_on_expected = Cpt(SoftSetting, value=1, kind="omitted")
    beam_tolerance_pct = Cpt(SoftSetting, value=2.0, kind="omitted")
    exposure_request_s = Cpt(SoftSetting, value=math.nan, kind="omitted")
    expected = Cpt(SoftSetting, value={}, kind="omitted")
    """Data key -> (value, tolerance) every frame of the scan must show."""
    frames_checked = Cpt(_ScanCheck, kind="omitted")
    discarded = Cpt(DiscardedAttemptRecord, kind="omitted")
    suspension = Cpt(SuspensionRecord, kind="omitted")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._triggered = False
        self._described_shape: tuple[int, int] | None = None
        self.frames = FrameHandout(self.name, self.image_key,
                                   lambda: (self.full_file_name.get(), self.described_frame_shape()),
                                   lambda: self.status_message.get())
        """Frames taken and not yet handed out into events (:meth:`read`)."""
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

    @property
    def scan_identity(self) -> tuple[str, int]:
        """(stream, projection index) of the stepping scan the plan set up."""
        return str(self.scan_stream.get()), int(self.angle_index.get())

    # ------------------------------------------------------------------ what a subclass provides
    def frame_shape(self) -> tuple[int, int]:
        """(rows, cols) of the frames at the current binning."""
        raise NotImplementedError

    def described_frame_shape(self, refresh: bool = False) -> tuple[int, int]:
        """(rows, cols) of the frames as the camera's last :meth:`describe` declared them (the
        shape of its streams' frames, read again with ``refresh`` or when never described):
        each file's ``stream_resource`` gives it without two gets per stepping scan."""
        if refresh or self._described_shape is None:
            self._described_shape = self.frame_shape()
        return self._described_shape

    def _stop_scan(self) -> None:
        """Stop the stepping scan running on the IOC (a suspension); it then fails."""
        raise NotImplementedError

    def _scan_rows(self) -> tuple[list[Row], float]:
        """The frames of the stepping scan just taken (one row each, in file order) and their
        timestamp; raises unless every frame of this attempt is in its file."""
        raise NotImplementedError

    def _attempt_file(self, flight: dict[str, Any]) -> tuple[int, str]:
        """Attempt number and file of the attempt ``flight`` (-1, '' when unknown)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ attempts
    def _begin_attempt(self) -> dict[str, Any]:
        """A step-mode trigger: a new attempt of the scan the plan set up (a replay after a
        suspension voids the try before); RetryBudgetExceeded past the budget."""
        if self._in_flight is not None:
            self._discard_in_flight("interrupted before its events were emitted")
        identity = self.scan_identity
        if self.attempt_log is not None:
            self.attempt_log.begin(*identity)
        self._in_flight = {"identity": identity, "start_time": time.time(), "cause": ""}
        return self._in_flight

    def pause(self) -> None:
        """The RunEngine suspends: stop a running stepping scan (it will be taken again as a new
        attempt) and finish its status, so it cannot fail into the resumed plan."""
        status = self._status
        if self._in_flight is None or status is None or status.done:
            return
        self._in_flight["cause"] = self._in_flight["cause"] or "suspended"
        self._stop_scan()
        finish_status(status)

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
        attempt, path = self._attempt_file(flight)
        self.attempt_log.discard(*flight["identity"], cause=flight["cause"] or cause, attempt=attempt, file=path,
                                 start_time=flight["start_time"])

    # ------------------------------------------------------------------ checks and hand-out
    def check_scan(self) -> int:
        """Check the stepping scan just triggered (frames of this attempt all there, dose
        undisturbed, positions and exposure as ``expected``); its frames are then handed out by
        the following reads. A scan that fails raises and stays in flight: the plan that repeats
        it names the cause and abandons it (:meth:`abandon`), else the next trigger discards it."""
        if not self._triggered:
            return len(self.frames)
        self._triggered = False
        rows, timestamp = self._scan_rows()
        self._refuse_disturbed(rows)
        self.frames.load([(row, timestamp) for row in rows], "frame_step_index")
        self._in_flight = None
        return len(self.frames)

    def _refuse_disturbed(self, rows: list[Row]) -> None:
        """Raise unless every frame shows the ``expected`` values and an undisturbed dose."""
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
                                 f"{self._tube_status()})")

    def _tube_status(self) -> str:
        """What the tube says about itself, for errors."""
        return str(self.status_message.get())

    def read(self) -> dict[str, dict[str, Any]]:
        """Scalar readings; after a checked stepping scan, the values recorded with its next
        frame. The frame is handed out (its documents and the next read's frame) only when the
        RunEngine collects its documents (:meth:`collect_asset_docs`), i.e. once its reading is
        in an event: a read cancelled by a suspension gives the same frame again."""
        reading = super().read()
        if self.step_mode.get() and self._triggered:
            raise RuntimeError(f"{self.name}: stepping scan read before it was checked (read frames_checked)")
        frame = self.frames.offer()
        if frame is not None:
            reading.update({key: {"value": value, "timestamp": frame[1]} for key, value in frame[0].items()})
        return reading

    def collect_asset_docs(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Hand out the frame the last :meth:`read` gave: its stream_resource (first frame of a
        file) and stream_datum documents."""
        yield from self.frames.take()

    def _forget_scan(self) -> None:
        """Forget the scan in flight and its frames (unstaging)."""
        self._triggered, self._in_flight = False, None
        self.frames.clear()

    def unstage(self) -> list[Any]:
        self._forget_scan()
        return super().unstage()
