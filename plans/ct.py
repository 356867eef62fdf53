"""``gi_ct``: the phase-stepping grating-interferometry CT."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gi_instrument.devices import GIInstrument
from gi_instrument.plans.arguments import (check_angles, check_count, check_exposure, check_g2_origin,
                                           check_sample_positions, check_tube_ready)
from gi_instrument.plans.metadata import run_metadata
from gi_instrument.plans.recovery import repeatable_scan
from gi_instrument.plans.schedule import CTSchedule, ScheduleItem, ct_schedule
from gi_instrument.plans.stepping import dark_frames, in_run, reference_frames
from gi_instrument.plans.stubs import Plan, move_checked, stepping_frames

__all__ = ["gi_ct", "gi_ct_resume"]


def gi_ct(inst: GIInstrument, *, exposure_s: float | None = None, angle_step_deg: float | None = None,
          range_deg: float | None = None, reference_every_deg: float | None = None,
          final_reference: bool = False, start_index: int = 0, n_darks: int | None = None,
          n_darks_end: int | None = None, g2_origin_um: float = 0.0, md: dict[str, Any] | None = None) -> Plan:
    """A phase-stepping CT as one run.

    Order: dark frames (X-rays off, stream ``dark``); then for each projection index i from
    ``start_index``: a reference stepping scan (sample out, stream ``reference``) when i is a
    multiple of the reference interval, then the stepping scan at angle start + i x step (stream
    ``primary``); optionally one more reference after the last projection; finally the rotation
    returns to its start angle (also on error or abort); last, dark frames again (stream
    ``dark``, file ``dark_end``, ``frame_angle_index`` -2), so that the processing averages
    darks from both ends of a long CT (the sCMOS offset drifts with temperature). Each stepping
    scan is one atomic unit (a checkpoint before it, its frames in one file per attempt): a fault
    is ridden out inside the run by suspending and repeating the scan
    (:mod:`gi_instrument.plans.recovery`), within the profile's ``recovery`` budget. A resumed
    CT (``start_index``) is a run of its own with its own darks at both ends.

    Args:
        inst: the instrument.
        exposure_s: exposure per phase step, s (default: the profile's; within its min/max).
        angle_step_deg: angular step, deg (default: the profile's).
        range_deg: angular range, deg (default: the profile's); a multiple of the step.
        reference_every_deg: reference interval, deg (default: the profile's); a multiple of
            the step. References are taken from the first angle on.
        final_reference: take one more reference after the last projection.
        start_index: first projection index (resume); the reference that belongs to it is
            repeated first so the schedule of references stays the same. With
            ``final_reference``, ``n_projections`` takes the final reference alone.
            :func:`gi_ct_resume` works it out from the runs so far.
        n_darks: dark frames at the start (default: the profile's; 0 for none).
        n_darks_end: dark frames at the end (default: ``n_darks``; 0 for none).
        g2_origin_um: G2 position of the first phase step, um.
        md: extra start-document metadata.
    """
    return _gi_ct(inst, exposure_s=exposure_s, angle_step_deg=angle_step_deg, range_deg=range_deg,
                  reference_every_deg=reference_every_deg, final_reference=final_reference,
                  start_index=start_index, n_darks=n_darks, n_darks_end=n_darks_end, g2_origin_um=g2_origin_um,
                  md=md, extra={})


def _gi_ct(inst: GIInstrument, *, exposure_s: float | None, angle_step_deg: float | None, range_deg: float | None,
           reference_every_deg: float | None, final_reference: bool, start_index: int, n_darks: int | None,
           n_darks_end: int | None, g2_origin_um: float, md: dict[str, Any] | None, extra: dict[str, Any]) -> Plan:
    profile = inst.profile
    exposure = check_exposure(inst, exposure_s)
    schedule = ct_schedule(profile, angle_step_deg=angle_step_deg, range_deg=range_deg,
                           reference_every_deg=reference_every_deg, final_reference=final_reference)
    check_count("start_index", start_index)
    if start_index >= schedule.n_projections + schedule.final_reference:
        raise ValueError(f"start_index must be < {schedule.n_projections} projections"
                         f"{' (or equal, for the final reference alone)' if schedule.final_reference else ''}"
                         f", got {start_index}")
    n_dark = check_count("n_darks", profile.ct.dark_frames if n_darks is None else n_darks)
    n_dark_end = check_count("n_darks_end", n_dark if n_darks_end is None else n_darks_end)
    origin = check_g2_origin(inst, g2_origin_um)
    check_angles(inst, schedule.angle_deg(0), schedule.angle_deg(schedule.n_projections - 1))
    check_sample_positions(inst)
    check_tube_ready(inst)

    items = list(schedule.items(start_index))
    steps = profile.stepping.steps
    n_frames = n_dark + len(items) * steps + n_dark_end
    args = {"exposure_s": exposure, "angle_step_deg": schedule.angle_step_deg,
            "range_deg": schedule.angle_step_deg * schedule.n_projections,
            "reference_every_deg": schedule.angle_step_deg * schedule.reference_interval,
            "final_reference": schedule.final_reference, "start_index": start_index,
            "n_darks": n_dark, "n_darks_end": n_dark_end, "g2_origin_um": origin}
    meta = run_metadata(inst, "gi_ct", args, md, dimension="rotation_angle_deg", **extra, schedule={
        "n_projections": schedule.n_projections,
        "reference_indices": schedule.reference_indices,
        "angles_deg": [schedule.angle_deg(i) for i in range(schedule.n_projections)],
        "frames_expected": n_frames,
        "stepping_scans": len(items),
        "exposure_only_s": len(items) * steps * exposure,
    })
    return in_run(inst, meta, lambda run_dir: _ct_body(inst, schedule, start_index, (n_dark, n_dark_end),
                                                       run_dir, origin),
                  exposure_s=exposure, restore_angle=schedule.start_deg)


def _ct_body(inst: GIInstrument, schedule: CTSchedule, start_index: int, n_darks: tuple[int, int],
             run_dir: Path, g2_origin_um: float) -> Plan:
    yield from dark_frames(inst, n_frames=n_darks[0], run_dir=run_dir)
    for item in schedule.items(start_index):
        stream = "reference" if item.kind == "reference" else "primary"
        yield from repeatable_scan(inst, stream, item.angle_index,
                                   lambda item=item: _ct_item(inst, item, run_dir, g2_origin_um))
    yield from dark_frames(inst, n_frames=n_darks[1], run_dir=run_dir, file_name="dark_end", angle_index=-2)


def _ct_item(inst: GIInstrument, item: ScheduleItem, run_dir: Path, g2_origin_um: float) -> Plan:
    """One try of a schedule item: rotate, put the sample where the item needs it (out for a
    reference, in for a projection), then its stepping scan. A try sets up all it depends on, so
    a repeat needs nothing from the try before."""
    yield from move_checked(inst.rotation, item.angle_deg)
    if item.kind == "reference":
        yield from reference_frames(inst, angle_index=item.angle_index, run_dir=run_dir,
                                    g2_origin_um=g2_origin_um, angle_deg=item.angle_deg)
    else:
        in_mm = inst.profile.sample_stage.in_mm
        yield from move_checked(inst.sample, in_mm)
        yield from stepping_frames(inst, stream="primary", angle_index=item.angle_index, run_dir=run_dir,
                                   g2_origin_um=g2_origin_um, angle_deg=item.angle_deg, sample_mm=in_mm)


def gi_ct_resume(inst: GIInstrument, uid: str, *, documents_dir: str | Path | None = None,
                 client: Any = None) -> Plan:
    """Continue a CT that stopped before its end (failed, aborted, or its process killed) as a
    new run with the same schedule and settings, from its first missing stepping scan.

    The runs of the CT so far are read from the document journal (the run ``uid`` and those it
    continues or that continue it, through ``resumes``); the first schedule item that none of
    them holds complete is where the new run starts (also when only the final reference is
    missing). The new run's start document records ``resumes: <uid of the latest run>`` and the
    user metadata of that run. A run whose process was killed is closed first: its journal gets
    a stop document (exit status ``abort``, reason ``crashed``), and so does its catalog entry
    when ``client`` is given (:func:`gi_instrument.catalog.ingest_journal`).

    Args:
        inst: the instrument (same profile and binning as the run; checked).
        uid: uid of any run of the CT (or its unique beginning).
        documents_dir: the journal folder (default: ``documents`` beside ``inst.frames_dir``).
        client: the catalog, to close a crashed run's entry too.
    """
    from gi_instrument.catalog import close_journal, ingest_journal
    from gi_instrument.plans.metadata import user_metadata
    from gi_instrument.plans.resume import RESUMES_KEY, chain, complete_scans, journal_runs

    folder = Path(documents_dir) if documents_dir is not None else inst.frames_dir.parent / "documents"
    runs = chain(journal_runs(folder), uid)
    latest = runs[-1]
    start = latest.start
    if start.get("plan_name") != "gi_ct":
        raise ValueError(f"run {latest.uid} is a {start.get('plan_name')!r} run, not gi_ct")
    if start.get("profile") != inst.profile.to_dict():
        raise ValueError(f"run {latest.uid} was taken with another profile ({start.get('profile_name')}) "
                         f"than the instrument's ({inst.profile.name}) or the profile file changed since")
    binning = int(inst.camera.binning.get())
    if start.get("geometry", {}).get("binning") != binning:
        raise ValueError(f"run {latest.uid} was taken at binning {start.get('geometry', {}).get('binning')}, "
                         f"the camera is at {binning}")
    if latest.stop is None:
        if client is not None and latest.uid in client:
            ingest_journal(client, latest.path)
        else:
            close_journal(latest.path)
    args = start["plan_args"]
    schedule = ct_schedule(inst.profile, angle_step_deg=args["angle_step_deg"], range_deg=args["range_deg"],
                           reference_every_deg=args["reference_every_deg"],
                           final_reference=args["final_reference"])
    steps = inst.profile.stepping.steps
    done = set().union(*(complete_scans(run.items(), steps) for run in runs))
    try:
        start_index = schedule.resume_index(done)
    except ValueError as exc:
        ended = latest.stop["exit_status"] if latest.stop else "abort (its process died)"
        hint = ("" if ended == "success" else f" (its last run ended with {ended} after its last scan, e.g. in the "
                "end darks: gi-process --allow-incomplete processes it)")
        raise ValueError(f"CT of run {latest.uid}: {exc}{hint}") from None
    return _gi_ct(inst, exposure_s=args["exposure_s"], angle_step_deg=args["angle_step_deg"],
                  range_deg=args["range_deg"], reference_every_deg=args["reference_every_deg"],
                  final_reference=args["final_reference"], start_index=start_index, n_darks=args["n_darks"],
                  n_darks_end=args.get("n_darks_end"), g2_origin_um=args["g2_origin_um"], md=user_metadata(start),
                  extra={RESUMES_KEY: latest.uid})
