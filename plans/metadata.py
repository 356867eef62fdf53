"""Run metadata shared by all plans: profile, derived geometry, plan arguments, stream layout."""

from __future__ import annotations

from typing import Any

from gi_instrument.devices import GIInstrument

__all__ = ["STREAMS", "RESERVED_KEYS", "check_md", "user_metadata", "run_metadata"]

STREAMS = {
    "primary": "sample projections: one event per frame; camera_image (external HDF5), "
               "g2_position_um / g2_setpoint_um, rotation_angle_deg, sample_x_mm, "
               "frame_angle_index (projection index), frame_step_index (0..steps-1)",
    "reference": "reference (flat) stepping scans with the sample out of the beam; same fields; "
                 "frame_angle_index is the projection the reference precedes",
    "dark": "dark frames with X-rays off; frame_angle_index = -1 for those at the start (file "
            "dark.h5), -2 for those at the end of a CT (dark_end.h5), frame_step_index = frame "
            "number in its file",
    "baseline": "tube and camera settings at the start and end of the run",
    "discarded": "one event per stepping-scan attempt that did not reach the run (suspended, refused or "
                 "failed): discarded_stream, discarded_angle_index, discarded_attempt (-1: no frame "
                 "taken), discarded_file (left on disk), discarded_cause, discarded_start_time / "
                 "discarded_end_time (s since the epoch)",
    "suspensions": "one event per suspension by a suspender: suspension_cause (justification), "
                   "suspension_stream / suspension_angle_index (the stepping scan it interrupted; '' / -1 "
                   "if none), suspension_start_time / suspension_end_time (s since the epoch)",
    "interruptions": "bluesky's own record of each suspension: the justification when it began",
}
"""Names and content of the streams a gi-instrument run writes."""


RESERVED_KEYS = frozenset({
    "uid", "time", "scan_id", "versions", "plan_type",                      # set by bluesky
    "plan_name", "plan_args", "profile_name", "profile", "geometry", "streams", "frames_dir",
    "time_scale", "detectors", "motors", "schedule", "resumes",             # set by the plans
})
"""Start-document keys a user's ``md`` may not set."""


def check_md(md: Any) -> dict[str, Any]:
    """A copy of the user's ``md``: a dict with string keys, none of them reserved
    (:data:`RESERVED_KEYS`); ValueError naming the offending key otherwise."""
    if md is None:
        return {}
    if not isinstance(md, dict):
        raise ValueError(f"md must be a dict of metadata, got {type(md).__name__}")
    for key in md:
        if not isinstance(key, str):
            raise ValueError(f"md keys must be strings, got {key!r}")
        if key in RESERVED_KEYS:
            raise ValueError(f"md key {key!r} is reserved (set by the plan or by bluesky); "
                             f"reserved keys: {', '.join(sorted(RESERVED_KEYS))}")
    return dict(md)


def user_metadata(start: dict[str, Any]) -> dict[str, Any]:
    """The user's ``md`` of a run, recovered from its start document (every unreserved key)."""
    return {key: value for key, value in start.items() if key not in RESERVED_KEYS}


def run_metadata(inst: GIInstrument, plan_name: str, plan_args: dict[str, Any],
                 md: dict[str, Any] | None = None, *, dimension: str = "g2_position_um",
                 **extra: Any) -> dict[str, Any]:
    """Start-document metadata: profile (as in its file), derived geometry at the current binning,
    plan name and arguments, stream descriptions, frame directory, and the user's ``md``
    (checked by :func:`check_md`: a reserved key raises ValueError). ``dimension`` is the data
    key the ``primary`` stream is tabled and plotted against (``hints.dimensions``, for
    BestEffortCallback; a user's ``hints`` win)."""
    profile = inst.profile
    binning = int(inst.camera.binning.get())
    geometry = {**profile.geometry_summary(), "binning": binning,
                "pixel_at_sample_um": profile.voxel_um * binning}
    out = check_md(md)
    out.setdefault("hints", {"dimensions": [([dimension], "primary")]})
    out.update({
        "plan_name": plan_name,
        "plan_args": plan_args,
        "profile_name": profile.name,
        "profile": profile.to_dict(),
        "geometry": geometry,
        "streams": STREAMS,
        "frames_dir": str(inst.frames_dir),
        "time_scale": float(inst.camera.time_scale.get()),
        "detectors": [inst.camera.name],
        "motors": [inst.g2.name, inst.rotation.name, inst.sample.name],
        **extra,
    })
    return out
