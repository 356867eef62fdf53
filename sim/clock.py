"""Nominal instrument time for the simulated IOC, with a time scale for dry-runs."""

from __future__ import annotations

import asyncio
import time

__all__ = ["SimClock"]

_PRECISE_BELOW_S = 2e-3


class SimClock:
    """Maps nominal durations (what the instrument would take) to real ones.

    ``time_scale`` = real seconds per nominal second: 1.0 runs in real time, 0.001 makes a
    "50 s" exposure take 50 ms. Nominal time (``now_s``) drives the simulated fringe drift.
    """

    def __init__(self, time_scale: float = 1.0) -> None:
        if not 0 < time_scale <= 1000:
            raise ValueError(f"time_scale must be in (0, 1000], got {time_scale}")
        self.time_scale = float(time_scale)
        self._t0 = time.monotonic()

    def now_s(self) -> float:
        """Nominal seconds since the IOC started."""
        return (time.monotonic() - self._t0) / self.time_scale

    def real_s(self, nominal_s: float) -> float:
        """Real duration, s, of a nominal duration."""
        return nominal_s * self.time_scale

    async def sleep(self, nominal_s: float, until: asyncio.Event | None = None) -> float:
        """Sleep for a nominal duration, or less once ``until`` is set; returns the real seconds
        slept.

        Real durations under ``_PRECISE_BELOW_S`` block for exactly that long instead of going
        through the event loop, whose timers round up to whole milliseconds.
        """
        real = self.real_s(max(0.0, nominal_s))
        start = time.monotonic()
        if real < _PRECISE_BELOW_S:
            time.sleep(real)
        elif until is None:
            await asyncio.sleep(real)
        else:
            try:
                await asyncio.wait_for(until.wait(), real)
            except asyncio.TimeoutError:
                pass
        return time.monotonic() - start
