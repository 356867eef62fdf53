"""Plan stubs shared by the stepping, reference, dark and CT plans (no runs opened here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Generator

import bluesky.plan_stubs as bps
from bluesky.utils import Msg

from gi_instrument.devices import GIInstrument, SCMOSDetector
from gi_instrument.devices.axis import PositionError, PutCompletePositioner

__all__ = ["open_frame_file", "move_checked", "set_checked", "stepping_frames", "step_scan_frames",
           "PositionError", "SettingRefusedError"]

Plan = Generator[Msg, Any, Any]


class SettingRefusedError(RuntimeError):
    """The controller did not take a setting (its readback differs after the put)."""


def set_checked(signal: Any, value: Any, reason: Any = None) -> Plan:
    """Set ``signal`` and read it back: a controller that refuses a put still completes it, so
    without this check a refused setting (X-rays on with the interlock open, say) would go
    unnoticed. ``reason`` (a signal, e.g. a status message) is quoted in the error."""
    yield from bps.mv(signal, value)
    got = yield from bps.rd(signal)
    if got != value:
        why = f" ({reason.get()})" if reason is not None else ""
        raise SettingRefusedError(f"{signal.name} is {got!r} after setting {value!r}{why}")


def open_frame_file(camera: SCMOSDetector, directory: str | Path, name: str, n_frames: int) -> Plan:
    """Direct the next ``n_frames`` frames into a new HDF5 file ``directory/name.h5``."""
    directory = Path(directory)
    if not directory.is_absolute():
        raise ValueError(f"frame directory must be absolute, got {directory}")
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    yield from bps.mv(camera.file_path, str(directory), camera.num_capture, int(n_frames))
    yield from bps.mv(camera.file_name, name)


def move_checked(positioner: PutCompletePositioner, target: float) -> Plan:
    """Move, then check the readback.

    Raises :class:`PositionError` when |readback - target| exceeds ``positioner.tolerance``,
    before anything is exposed at the wrong position.
    """
    yield from bps.mv(positioner, target)
    reading = yield from bps.rd(positioner.readback)
    if not abs(reading - target) <= positioner.tolerance:  # also a NaN readback (controller lost)
        raise PositionError(f"{positioner.name} at {reading:.4f} after a move to {target:.4f} "
                            f"(tolerance {positioner.tolerance}; {positioner.status_message.get()})")


def stepping_frames(inst: GIInstrument, *, stream: str, angle_index: int, run_dir: Path,
                    g2_origin_um: float) -> Plan:
    """One stepping scan: ``steps`` frames at G2 = origin + k x step, one event each in ``stream``.

    The frames go into one new file ``run_dir/{stream}_{angle_index:05d}.h5``; every event
    carries ``frame_angle_index`` = ``angle_index`` and ``frame_step_index`` = k (the frame's
    index in that file).
    """
    positions = [g2_origin_um + x for x in inst.profile.stepping_positions_um]
    yield from step_scan_frames(inst, stream=stream, angle_index=angle_index, run_dir=run_dir,
                                file_name=f"{stream}_{angle_index:05d}", positions_um=positions)


def step_scan_frames(inst: GIInstrument, *, stream: str, angle_index: int, run_dir: Path, file_name: str,
                     positions_um: list[float], xray_on: bool = True) -> Plan:
    """Frames at the G2 ``positions_um``, one event each in ``stream``, into ``file_name``.h5.

    The camera IOC steps G2 and exposes at each position in one request, checking each G2
    readback against the piezo's tolerance before the exposure; the events are emitted only
    once every frame of the scan is on disk with the X-rays in state ``xray_on`` throughout (a
    failed scan raises PositionError, FrameLostError or BeamStateError and leaves no event).
    """
    camera = inst.camera
    yield from open_frame_file(camera, run_dir, file_name, len(positions_um))
    yield from bps.mv(camera.angle_index, angle_index, camera.step_tolerance_um, inst.g2.tolerance,
                      camera.step_mode, True, camera.xray_on_expected, int(xray_on))
    for start in range(0, len(positions_um), camera.max_steps):
        chunk = list(positions_um[start:start + camera.max_steps])
        yield from bps.mv(camera.step_positions, chunk)
        for _ in chunk:
            # the camera reads everything a frame needs: the G2, rotation and sample positions its
            # IOC recorded at the exposure, and the frame's angle and step index
            yield from bps.trigger_and_read([camera], name=stream)
    yield from bps.mv(camera.step_mode, False)
