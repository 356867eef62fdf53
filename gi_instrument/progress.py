"""Progress of a running CT on the terminal: frames done / expected and the time left."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from bluesky.callbacks.core import CallbackBase

from gi_instrument.plans.schedule import format_duration

__all__ = ["FrameProgress", "time_left_s"]


def time_left_s(done: int, expected: int, elapsed_s: float) -> float:
    """Seconds left for ``expected - done`` frames at the mean rate so far (inf before the first)."""
    rate = done / max(elapsed_s, 1e-9)
    return (expected - done) / rate if rate else float("inf")


class FrameProgress(CallbackBase):
    """Prints ``frames done / expected``, rate and time left for runs whose start document has
    ``schedule.frames_expected`` (``gi_ct``); one line, refreshed at most every ``every_s``."""

    def __init__(self, stream: TextIO = sys.stderr, every_s: float = 0.5) -> None:
        super().__init__()
        self.stream, self.every_s = stream, every_s
        self._expected = 0
        self._done = 0
        self._t0 = self._last = 0.0

    def start(self, doc: dict[str, Any]) -> None:
        self._expected = int(doc.get("schedule", {}).get("frames_expected", 0))
        self._done, self._t0, self._last = 0, time.monotonic(), 0.0

    def event(self, doc: dict[str, Any]) -> None:
        if not self._expected or "frame_step_index" not in doc["data"]:
            return
        self._done += 1
        now = time.monotonic()
        if now - self._last >= self.every_s or self._done == self._expected:
            self._last = now
            rate = self._done / max(now - self._t0, 1e-9)
            left = time_left_s(self._done, self._expected, now - self._t0)
            self.stream.write(f"\r{self._done}/{self._expected} frames, {rate:.1f} frames/s, "
                              f"{format_duration(left)} left   ")
            self.stream.flush()

    def stop(self, doc: dict[str, Any]) -> None:
        if self._expected:
            self.stream.write("\n")
            self.stream.flush()
        self._expected = 0
