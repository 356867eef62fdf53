"""The CT schedule: which angles, where the reference scans go, and how long it takes.

Pure functions of a profile and plan arguments; no hardware. ``gi_ct`` follows this schedule,
and so do the time estimate and a resumed CT (``start_index``), so they always agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Literal

from gi_instrument.plans.arguments import check_bool, is_real
from gi_instrument.profile import Profile, whole_multiple

__all__ = ["CTSchedule", "ScheduleItem", "ct_schedule", "estimate_ct_seconds", "format_duration"]


@dataclass(frozen=True)
class ScheduleItem:
    """One atomic stepping scan of a CT.

    ``kind`` is ``"reference"`` (sample out) or ``"projection"`` (sample in); ``angle_index``
    is the projection index it belongs to (a reference taken before projection i carries i;
    the optional final reference carries n_projections); ``angle_deg`` the rotation angle.
    """

    kind: Literal["reference", "projection"]
    angle_index: int
    angle_deg: float


@dataclass(frozen=True)
class CTSchedule:
    """Angles (deg) of a CT and the projection indices before which a reference scan is taken."""

    start_deg: float
    angle_step_deg: float
    n_projections: int
    reference_interval: int
    final_reference: bool = False

    def angle_deg(self, index: int) -> float:
        """Rotation angle of projection ``index``, deg."""
        return self.start_deg + index * self.angle_step_deg

    @property
    def reference_indices(self) -> list[int]:
        """Projection indices before which a reference scan is taken (every interval from 0)."""
        refs = list(range(0, self.n_projections, self.reference_interval))
        if self.final_reference:
            refs.append(self.n_projections)
        return refs

    @property
    def n_references(self) -> int:
        """Number of reference stepping scans in the whole CT."""
        return len(self.reference_indices)

    def items(self, start_index: int = 0) -> Iterator[ScheduleItem]:
        """Stepping scans in acquisition order, from projection ``start_index`` on.

        A CT resumed at ``start_index`` repeats the reference that belongs to that projection
        (the last one at or before it), so every projection keeps a reference before it.
        ``start_index == n_projections`` (only with a final reference) is the final reference alone.
        """
        if not 0 <= start_index < self.n_projections + self.final_reference:
            raise ValueError(f"start_index must be in [0, {self.n_projections + self.final_reference}), "
                             f"got {start_index}")
        if start_index == self.n_projections:
            yield ScheduleItem("reference", start_index, self.angle_deg(start_index - 1))
            return
        first_ref = start_index - start_index % self.reference_interval
        if first_ref != start_index:
            yield ScheduleItem("reference", first_ref, self.angle_deg(first_ref))
        for i in range(start_index, self.n_projections):
            if i % self.reference_interval == 0:
                yield ScheduleItem("reference", i, self.angle_deg(i))
            yield ScheduleItem("projection", i, self.angle_deg(i))
        if self.final_reference:
            n = self.n_projections
            yield ScheduleItem("reference", n, self.angle_deg(n - 1))

    def resume_index(self, complete: Iterable[tuple[str, int]]) -> int:
        """The ``start_index`` that continues this CT after the stepping scans ``complete``
        ((kind, angle index) pairs of every run of it so far) were taken: the first item of the
        schedule, in acquisition order, that is not among them (``n_projections`` when only the
        final reference is missing). Raises ValueError when nothing is missing."""
        done = set(complete)
        for item in self.items():
            if (item.kind, item.angle_index) not in done:
                return item.angle_index
        raise ValueError("every stepping scan of the CT is complete: nothing to resume")


def _whole_ratio(name: str, total: float, step: float, step_name: str) -> int:
    try:
        return whole_multiple(total, step)
    except ValueError:
        raise ValueError(f"{name} {total} deg must be a whole multiple of {step_name} {step} deg") from None


def ct_schedule(profile: Profile, *, angle_step_deg: float | None = None, range_deg: float | None = None,
                reference_every_deg: float | None = None, final_reference: bool = False) -> CTSchedule:
    """The CT schedule of ``profile``, optionally with another angular step, range or reference
    interval (deg; e.g. a short dry-run). Raises ValueError for inconsistent values."""
    ct = profile.ct
    step = ct.angle_step_deg if angle_step_deg is None else angle_step_deg
    total = ct.range_deg if range_deg is None else range_deg
    every = ct.reference_every_deg if reference_every_deg is None else reference_every_deg
    for name, value in (("angle_step_deg", step), ("range_deg", total), ("reference_every_deg", every)):
        if not is_real(value) or not 0 < value <= 720:
            raise ValueError(f"{name} must be a number in (0, 720] deg, got {value!r}")
    return CTSchedule(
        start_deg=ct.start_deg,
        angle_step_deg=float(step),
        n_projections=_whole_ratio("range_deg", total, step, "angle_step_deg"),
        reference_interval=_whole_ratio("reference_every_deg", every, step, "angle_step_deg"),
        final_reference=check_bool("final_reference", final_reference),
    )


def estimate_ct_seconds(profile: Profile, exposure_s: float | None = None, *,
                        final_reference: bool = False) -> float:
    """Exposure-only duration of a full CT, s: (projections + references) x steps x exposure.

    ``exposure_s`` is the exposure per phase step (default: the profile's). Darks, motion and
    read-out are not included, as in the paper's totals.
    """
    exposure = profile.ct.exposure_s if exposure_s is None else float(exposure_s)
    if not exposure > 0:
        raise ValueError(f"exposure_s must be > 0, got {exposure_s}")
    sched = ct_schedule(profile, final_reference=final_reference)
    return (sched.n_projections + sched.n_references) * profile.stepping.steps * exposure


def format_duration(seconds: float) -> str:
    """A duration as hours, minutes and seconds, zero parts left out, rounded to the second:
    ``330000`` -> ``'91 h 40 min'``, ``3725`` -> ``'1 h 2 min 5 s'``, ``42.4`` -> ``'42 s'``;
    ``inf`` (unknown) -> ``'?'``. The one format of every duration the package prints."""
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return "?"
    total = int(round(abs(seconds)))
    parts = [(total // 3600, "h"), (total // 60 % 60, "min"), (total % 60, "s")]
    text = " ".join(f"{value} {unit}" for value, unit in parts if value) or "0 s"
    return f"-{text}" if seconds < 0 and total else text
