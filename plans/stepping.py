"""Single-angle plans: a phase-stepping scan, a reference (flat) scan, dark frames.

Each is one bluesky run with the metadata of :func:`~gi_instrument.plans.metadata.run_metadata`;
``gi_ct`` composes the same stubs. All arguments are validated when the plan is called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import Msg

from gi_instrument.devices import GIInstrument
from gi_instrument.devices.attempts import AttemptLog
from gi_instrument.plans.arguments import (check_count, check_exposure, check_g2_origin, check_sample_positions,
                                           check_tube_ready)
from gi_instrument.plans.metadata import run_metadata
from gi_instrument.plans.recovery import cleanup_wrapper, repeatable_scan
from gi_instrument.plans.stubs import (Plan, emit_discarded, move_checked, set_checked, step_scan_frames,
                                       stepping_frames)

__all__ = ["phase_step", "reference_scan", "dark_scan", "reference_frames", "dark_frames", "in_run"]


def reference_frames(inst: GIInstrument, *, angle_index: int, run_dir: Path, g2_origin_um: float,
                     angle_deg: float | None = None) -> Plan:
    """Stub: sample out, a stepping scan into the ``reference`` stream.

    The sample stays out: whatever comes next puts it where it needs it (a CT's next projection
    moves it in as part of its try, the run's end moves it in). Nothing follows the scan's
    events inside a try, so no failure can make a repeat deliver them twice.
    """
    out_mm = inst.profile.sample_stage.out_mm
    yield from move_checked(inst.sample, out_mm)
    yield from stepping_frames(inst, stream="reference", angle_index=angle_index, run_dir=run_dir,
                               g2_origin_um=g2_origin_um, angle_deg=angle_deg, sample_mm=out_mm)


def dark_frames(inst: GIInstrument, *, n_frames: int, run_dir: Path, file_name: str = "dark",
                angle_index: int = -1) -> Plan:
    """Stub: ``n_frames`` frames with X-rays off into the ``dark`` stream
    (``frame_angle_index`` = ``angle_index``), in files ``file_name`` (the first
    ``camera.max_steps`` frames), ``file_name_c1``, ... Each file is one repeatable step scan at
    the present G2 setpoint; the X-rays stay off (the next stepping scan switches them on)."""
    if n_frames == 0:
        return
    g2_um = yield from bps.rd(inst.g2.setpoint)
    per_file = inst.camera.max_steps
    for chunk, start in enumerate(range(0, n_frames, per_file)):
        n = min(per_file, n_frames - start)
        name = file_name if chunk == 0 else f"{file_name}_c{chunk}"
        yield from repeatable_scan(inst, "dark", angle_index, lambda n=n, name=name: step_scan_frames(
            inst, stream="dark", angle_index=angle_index, run_dir=run_dir, file_name=name,
            positions_um=[g2_um] * n, xray_on=False))


def in_run(inst: GIInstrument, md: dict[str, Any], body: Callable[[Path], Plan], *, exposure_s: float,
           xrays: bool = True, restore_angle: float | None = None) -> Plan:
    """Open a run, set the exposure (and X-rays on), run ``body(run_dir)``, close the run.

    ``run_dir`` = ``frames_dir / run uid`` holds the run's frame files. The tube and camera
    settings go into the ``baseline`` stream. For the run, the camera keeps an
    :class:`~gi_instrument.devices.attempts.AttemptLog` with the profile's retry budget; tries
    that did not make it go into the ``discarded`` stream (also when the run fails). On exit,
    also on error or abort: sample back in, rotation back to ``restore_angle`` (if given),
    X-rays off (never "restored" to on: after a crash, the next run must not switch them on
    behind anyone's back); a failing cleanup never hides the error that stopped the run.
    """
    camera, recovery = inst.camera, inst.profile.recovery

    def run() -> Plan:
        camera.exposure_request_s.put(exposure_s)
        camera.attempt_log = AttemptLog(recovery.attempts_per_scan, recovery.repeats_per_ct,
                                        recovery.settle_s * float(camera.time_scale.get()))
        yield from set_checked(camera.exposure_s, exposure_s, camera.status_message)
        if xrays:
            yield from set_checked(inst.tube.xray_on, 1, inst.tube.status_message)
        uid = yield from bps.open_run(md)
        try:
            yield from body(inst.frames_dir / uid)
        except Exception as exc:
            try:
                yield Msg("rewindable", None, True)
                yield from emit_discarded(camera)
            except Exception as record_exc:
                exc.add_note(f"the discarded attempts could not be recorded: {record_exc}")
            raise
        yield from bps.close_run()

    def cleanup() -> Plan:
        camera.attempt_log = None
        yield from bps.mv(inst.sample, inst.profile.sample_stage.in_mm)
        if restore_angle is not None:
            yield from bps.mv(inst.rotation, restore_angle)
        yield from bps.mv(inst.tube.xray_on, 0)

    plan = bpp.baseline_wrapper(run(), [inst.tube, inst.camera.exposure_s, inst.camera.binning])
    return (yield from cleanup_wrapper(plan, cleanup))


def phase_step(inst: GIInstrument, *, exposure_s: float | None = None, angle_index: int = 0,
               g2_origin_um: float = 0.0, md: dict[str, Any] | None = None) -> Plan:
    """A stepping scan at the current angle: ``steps`` frames into the ``primary`` stream.

    Args:
        inst: the instrument.
        exposure_s: exposure per step, s (default: the profile's).
        angle_index: projection index recorded with the frames.
        g2_origin_um: G2 position of the first step, um.
        md: extra start-document metadata.
    """
    exposure = check_exposure(inst, exposure_s)
    origin = check_g2_origin(inst, g2_origin_um)
    check_count("angle_index", angle_index)
    check_tube_ready(inst)
    args = {"exposure_s": exposure, "angle_index": angle_index, "g2_origin_um": origin}
    meta = run_metadata(inst, "phase_step", args, md)
    return in_run(inst, meta, lambda run_dir: repeatable_scan(inst, "primary", angle_index, lambda: stepping_frames(
        inst, stream="primary", angle_index=angle_index, run_dir=run_dir, g2_origin_um=origin)),
        exposure_s=exposure)


def reference_scan(inst: GIInstrument, *, exposure_s: float | None = None, angle_index: int = 0,
                   g2_origin_um: float = 0.0, md: dict[str, Any] | None = None) -> Plan:
    """Sample out, a stepping scan into the ``reference`` stream, sample back in (at the run's end).

    Args: as :func:`phase_step`.
    """
    exposure = check_exposure(inst, exposure_s)
    origin = check_g2_origin(inst, g2_origin_um)
    check_count("angle_index", angle_index)
    check_sample_positions(inst)
    check_tube_ready(inst)
    args = {"exposure_s": exposure, "angle_index": angle_index, "g2_origin_um": origin}
    meta = run_metadata(inst, "reference_scan", args, md)
    return in_run(inst, meta, lambda run_dir: repeatable_scan(inst, "reference", angle_index, lambda: reference_frames(
        inst, angle_index=angle_index, run_dir=run_dir, g2_origin_um=origin)), exposure_s=exposure)


def dark_scan(inst: GIInstrument, *, n_frames: int | None = None, exposure_s: float | None = None,
              md: dict[str, Any] | None = None) -> Plan:
    """Dark frames with X-rays off into the ``dark`` stream.

    Args:
        inst: the instrument.
        n_frames: number of frames (default: the profile's ``ct.dark_frames``).
        exposure_s: exposure per frame, s (default: the profile's).
        md: extra start-document metadata.
    """
    exposure = check_exposure(inst, exposure_s)
    n = check_count("n_frames", inst.profile.ct.dark_frames if n_frames is None else n_frames, minimum=1)
    meta = run_metadata(inst, "dark_scan", {"n_frames": n, "exposure_s": exposure}, md, dimension="time")
    return in_run(inst, meta, lambda run_dir: dark_frames(inst, n_frames=n, run_dir=run_dir),
                  exposure_s=exposure, xrays=False)
