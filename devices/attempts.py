"""Attempts of stepping scans: which were discarded, why, and how many more a CT may make;
the suspensions of a run. Bookkeeping without I/O (the record devices are soft signals). A stepping scan (identity: stream and projection index) is taken
again after a fault, either replayed by a bluesky suspender or repeated by the plan; each try
counts against ``attempts_per_scan`` (of that scan) and every discarded one against
``repeats_per_ct`` (of the run). :meth:`AttemptLog.begin` refuses a try past either bound.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields

from ophyd import Component as Cpt
from ophyd import Device, Signal

__all__ = ["AttemptLog", "DiscardedAttempt", "DiscardedAttemptRecord", "RetryBudgetExceeded", "Suspension",
           "SuspensionRecord"]


class RetryBudgetExceeded(RuntimeError):
    """A stepping scan, or the CT, used up its attempts: the plan stops."""


@dataclass(frozen=True)
class DiscardedAttempt:
    """One try of a stepping scan that did not reach the run. ``attempt`` is the camera's
    attempt number (-1: failed before its file was opened, ``file`` then ''); times in s since
    the epoch."""

    stream: str
    angle_index: int
    attempt: int
    file: str
    cause: str
    start_time: float
    end_time: float

    def as_dict(self) -> dict[str, str | int | float]:
        """Plain values, for documents and JSON."""
        return asdict(self)


@dataclass(frozen=True)
class Suspension:
    """One suspension of a run by a bluesky suspender: its cause (the suspenders'
    justification), the stepping scan it interrupted (``stream`` '' and ``angle_index`` -1 when
    none) and when it began and ended (s since the epoch)."""

    cause: str
    stream: str
    angle_index: int
    start_time: float
    end_time: float


class AttemptLog:
    """The discarded tries and the suspensions of one run, and the bounds on the tries."""

    def __init__(self, attempts_per_scan: int, repeats_per_ct: int, settle_real_s: float = 0.0) -> None:
        if attempts_per_scan < 1 or repeats_per_ct < 0:
            raise ValueError(f"attempts_per_scan must be >= 1 and repeats_per_ct >= 0, got "
                             f"{attempts_per_scan}, {repeats_per_ct}")
        self.attempts_per_scan = attempts_per_scan
        self.repeats_per_ct = repeats_per_ct
        self.settle_real_s = settle_real_s
        """Real s to wait before a failed try is repeated."""
        self.discarded: list[DiscardedAttempt] = []
        self.suspensions: list[Suspension] = []
        self._open: tuple[str, str, int, float] | None = None
        self._emitted = 0
        self._emitted_suspensions = 0

    def failures(self, stream: str, angle_index: int) -> list[DiscardedAttempt]:
        """Discarded tries of one stepping scan, oldest first."""
        return [d for d in self.discarded if (d.stream, d.angle_index) == (stream, angle_index)]

    def begin(self, stream: str, angle_index: int) -> None:
        """Before a try of a stepping scan: RetryBudgetExceeded if it would be one too many."""
        failed = self.failures(stream, angle_index)
        if len(failed) >= self.attempts_per_scan:
            causes = "; ".join(f"attempt {d.attempt}: {d.cause}" for d in failed)
            raise RetryBudgetExceeded(
                f"{stream} stepping scan of projection {angle_index} failed {len(failed)} times "
                f"(recovery.attempts_per_scan = {self.attempts_per_scan}): {causes}")
        if len(self.discarded) > self.repeats_per_ct:
            raise RetryBudgetExceeded(
                f"{len(self.discarded)} stepping scans repeated in this CT (recovery.repeats_per_ct = "
                f"{self.repeats_per_ct}); last: {self.discarded[-1].stream} projection "
                f"{self.discarded[-1].angle_index}: {self.discarded[-1].cause}")

    def discard(self, stream: str, angle_index: int, *, cause: str, start_time: float, attempt: int = -1,
                file: str = "", end_time: float | None = None) -> DiscardedAttempt:
        """Record a try that will not reach the run."""
        record = DiscardedAttempt(stream, int(angle_index), int(attempt), file, cause, float(start_time),
                                  time.time() if end_time is None else float(end_time))
        self.discarded.append(record)
        return record

    def suspended(self, cause: str, stream: str, angle_index: int) -> None:
        """A suspension begins (now)."""
        self._open = (cause, stream, int(angle_index), time.time())

    def resumed(self) -> None:
        """The suspension that began last ends (now)."""
        if self._open is not None:
            self.suspensions.append(Suspension(*self._open, end_time=time.time()))
            self._open = None

    def take_new(self) -> tuple[list[DiscardedAttempt], list[Suspension]]:
        """Discarded tries and ended suspensions added since the last call (to be written into
        the run once)."""
        new = self.discarded[self._emitted:], self.suspensions[self._emitted_suspensions:]
        self._emitted, self._emitted_suspensions = len(self.discarded), len(self.suspensions)
        return new


class _Record(Device):
    """Soft signals holding one record (a dataclass with the same field names), for an event."""

    def show(self, record: DiscardedAttempt | Suspension) -> None:
        """Hold ``record``'s values."""
        for f in fields(record):
            getattr(self, f.name).put(getattr(record, f.name))


class SuspensionRecord(_Record):
    """A :class:`Suspension`, for an event in a run's ``suspensions`` stream."""

    cause = Cpt(Signal, value="")
    stream = Cpt(Signal, value="")
    angle_index = Cpt(Signal, value=0)
    start_time = Cpt(Signal, value=0.0)
    end_time = Cpt(Signal, value=0.0)


class DiscardedAttemptRecord(_Record):
    """A :class:`DiscardedAttempt`, for an event in a run's ``discarded`` stream."""

    stream = Cpt(Signal, value="")
    angle_index = Cpt(Signal, value=0)
    attempt = Cpt(Signal, value=0)
    file = Cpt(Signal, value="")
    cause = Cpt(Signal, value="")
    start_time = Cpt(Signal, value=0.0)
    end_time = Cpt(Signal, value=0.0)
