"""Plan stubs shared by the stepping, reference, dark and CT plans (no runs opened here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Generator

from bluesky.utils import Msg

from gi_instrument.devices import GIInstrument
from gi_instrument.devices.axis import PositionError, PutCompletePositioner
from gi_instrument.devices.errors import InstrumentFault
from gi_instrument.devices.puts_together import PutsTogether
from gi_instrument.devices.stepping_camera import SteppingCamera
from gi_instrument.plans.messages import mv, read_value, trigger

__all__ = ["frame_file_settings", "move_checked", "set_checked", "check_setting", "stepping_frames", "step_scan_frames",
           "emit_discarded", "save_reading", "PartialScanError", "PositionError", "SettingRefusedError"]

Plan = Generator[Msg, Any, Any]

SETTING_TIMEOUT_S = 10.0
"""Real s a setting may take to be confirmed by its controller (a lost IOC fails it, not hangs)."""
SCAN_SETTINGS = PutsTogether("stepping scan settings")
"""Sets a stepping scan's settings (Channel Access and soft) together, in one message."""
READ_TRIES = 10
"""Most times one event is bundled again because a suspension cancelled its read."""


class SettingRefusedError(InstrumentFault):
    """The controller did not take a setting (its readback differs after the put)."""


class PartialScanError(RuntimeError):
    """Some events of a stepping scan were emitted when the next failed. Not a failure of one
    try (not :data:`~gi_instrument.plans.recovery.TRANSIENT`): repeating the scan would deliver
    those events twice, so the plan stops."""


def set_checked(signal: Any, value: Any, reason: Any = None) -> Plan:
    """Set ``signal`` and read it back: a controller that refuses a put still completes it, so
    without this check a refused setting (X-rays on with the interlock open, say) would go
    unnoticed. ``reason`` (a signal, e.g. a status message) is quoted in the error."""
    yield from mv(signal, value, timeout=SETTING_TIMEOUT_S)
    yield from check_setting(signal, value, reason)


def check_setting(signal: Any, value: Any, reason: Any = None) -> Plan:
    """Read ``signal`` back after it was set to ``value`` (:func:`set_checked`); raise
    :class:`SettingRefusedError` (quoting ``reason``) unless it holds it."""
    got = yield from read_value(signal)
    if got != value:
        why = f" ({reason.get()})" if reason is not None else ""
        raise SettingRefusedError(f"{signal.name} is {got!r} after setting {value!r}{why}")


def frame_file_settings(camera: SteppingCamera, directory: str | Path, name: str,
                        n_frames: int) -> list[tuple[Any, Any]]:
    """The (signal, value) settings that direct the next ``n_frames`` frames into a new HDF5
    file ``directory/name.h5``."""
    directory = Path(directory)
    if not directory.is_absolute():
        raise ValueError(f"frame directory must be absolute, got {directory}")
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    return [(camera.file_path, str(directory)), (camera.num_capture, int(n_frames)), (camera.file_name, name)]


def move_checked(positioner: PutCompletePositioner, target: float) -> Plan:
    """Move unless the readback is already within tolerance of ``target``, then check the
    readback.

    Raises :class:`PositionError` when |readback - target| exceeds ``positioner.tolerance``,
    before anything is exposed at the wrong position (the camera checks every frame's
    positions too, as recorded at its exposure).
    """
    reading = yield from read_value(positioner.readback)
    if not abs(reading - target) <= positioner.tolerance:
        yield from mv(positioner, target, from_position=reading)
        reading = yield from read_value(positioner.readback)
    if not abs(reading - target) <= positioner.tolerance:  # also a NaN readback (controller lost)
        raise PositionError(f"{positioner.name} at {reading:.4f} after a move to {target:.4f} "
                            f"(tolerance {positioner.tolerance}; {positioner.status_message.get()})")


def stepping_frames(inst: GIInstrument, *, stream: str, angle_index: int, run_dir: Path,
                    g2_origin_um: float, angle_deg: float | None = None, sample_mm: float | None = None) -> Plan:
    """One stepping scan: ``steps`` frames at G2 = origin + k x step, one event each in ``stream``.

    The frames go into a new file ``run_dir/{stream}_{angle_index:05d}_a{attempt}.h5``; every
    event carries ``frame_angle_index`` = ``angle_index``, ``frame_step_index`` = k (the frame's
    index in that file) and ``frame_attempt``. ``angle_deg`` / ``sample_mm``: positions the
    frames must have been taken at (see :func:`step_scan_frames`).
    """
    positions = [g2_origin_um + x for x in inst.profile.stepping_positions_um]
    yield from step_scan_frames(inst, stream=stream, angle_index=angle_index, run_dir=run_dir,
                                file_name=f"{stream}_{angle_index:05d}", positions_um=positions,
                                angle_deg=angle_deg, sample_mm=sample_mm)


def step_scan_frames(inst: GIInstrument, *, stream: str, angle_index: int, run_dir: Path, file_name: str,
                     positions_um: list[float], xray_on: bool = True, angle_deg: float | None = None,
                     sample_mm: float | None = None) -> Plan:
    """Frames at the G2 ``positions_um`` (at most ``camera.max_steps``), one event each in
    ``stream``, into a new attempt file ``file_name_a<k>.h5``.

    The exposure (``camera.exposure_request_s``) and the X-ray state are set again first, so a
    replay after a suspension (an IOC restart forgets them) takes the scan as planned. The
    camera (:class:`~gi_instrument.devices.stepping_camera.SteppingCamera`: the scanner
    layout's IOC in one request, or an areaDetector camera device frame by frame) steps G2 and
    exposes at each position, checking each G2 readback against the piezo's tolerance before
    the exposure; the events are emitted only once every
    frame of this attempt is on disk with an undisturbed dose, the rotation at ``angle_deg`` and
    the sample at ``sample_mm`` (when given) and the exposure as requested. A failed scan raises
    (PositionError, FrameLostError, BeamStateError) and leaves no event. The events are emitted
    with the RunEngine's rewinding off, so a suspension can never replay one of them; first come
    the ``discarded`` and ``suspensions`` streams' records of what happened since the last scan.
    """
    camera = inst.camera
    if not 1 <= len(positions_um) <= camera.max_steps:
        raise ValueError(f"a step scan takes 1 to {camera.max_steps} frames, got {len(positions_um)}")
    exposure_s = float(camera.exposure_request_s.get())
    expected = {f"{camera.name}_exposure_s": (exposure_s, 1e-6)}
    if angle_deg is not None:
        expected[inst.rotation.readback.name] = (angle_deg, inst.rotation.tolerance)
    if sample_mm is not None:
        expected[inst.sample.readback.name] = (sample_mm, inst.sample.tolerance)
    yield from mv(SCAN_SETTINGS, [(camera.exposure_s, exposure_s), (inst.tube.xray_on, int(xray_on)),
                                  *frame_file_settings(camera, run_dir, file_name, len(positions_um)),
                                  (camera.step_tolerance_um, inst.g2.tolerance),
                                  (camera.step_positions, list(positions_um)),
                                  (camera.angle_index, angle_index), (camera.scan_stream, stream),
                                  (camera.step_mode, True), (camera.xray_on_expected, int(xray_on)),
                                  (camera.expected, expected)], timeout=SETTING_TIMEOUT_S)
    yield from check_setting(inst.tube.xray_on, int(xray_on), inst.tube.status_message)
    yield from trigger(camera, wait=True)
    yield from read_value(camera.frames_checked)
    yield Msg("rewindable", None, False)
    yield from emit_discarded(camera)
    for k in range(len(positions_um)):
        # the camera reads everything a frame needs: the G2, rotation and sample positions
        # recorded at the exposure, the beam over it, and the frame's identity
        try:
            yield from save_reading(stream, camera)
        except Exception as exc:
            if k == 0:      # nothing of the scan is in the run: it may be repeated
                raise
            raise PartialScanError(f"{stream} projection {angle_index}: {k} of {len(positions_um)} frames are "
                                   f"in the run when the next failed ({exc}); not repeated") from exc
    yield Msg("rewindable", None, True)
    yield from mv(camera.step_mode, False)


def emit_discarded(camera: SteppingCamera) -> Plan:
    """One event in the ``discarded`` stream per try, and in the ``suspensions`` stream per
    ended suspension, recorded since the last call."""
    if camera.attempt_log is None:     # none outside a run
        return
    discarded, suspensions = camera.attempt_log.take_new()
    for stream, device, records in (("discarded", camera.discarded, discarded),
                                    ("suspensions", camera.suspension, suspensions)):
        for record in records:
            device.show(record)
            yield from save_reading(stream, device)


def save_reading(stream: str, device: Any) -> Plan:
    """One event in ``stream`` holding ``device``'s reading, with rewinding off (no replay).

    A bluesky suspension cancels the message the RunEngine is working on. When that is the
    ``read`` (the first read of a device into a stream awaits its description), bluesky answers
    it with None, the reading is not in the event and the ``save`` emits nothing; the event is
    then bundled again. The device must give the same reading again: a camera hands out a frame
    only once its reading is in an event (:mod:`gi_instrument.devices.frame_handout`).
    """
    for _ in range(READ_TRIES):
        # the messages of bps.create / read / save, yielded directly: each bps call records the
        # call stack, ~0.2 ms, to warn about plans never iterated
        yield Msg("create", name=stream)
        try:
            reading = yield Msg("read", device)
        except Exception:
            yield Msg("drop")               # a failed read leaves no half-bundled event behind
            raise
        yield Msg("save")
        if reading is not None:
            return
    raise RuntimeError(f"{device.name}: no reading reached the {stream} stream in {READ_TRIES} tries "
                       "(each read was cancelled)")
