"""Nominal instrument time for the simulated IOC, with a time scale for dry-runs."""

from __future__ import annotations

import asyncio
import time

__all__ = ["SimClock", "instrument_real_s"]

_PRECISE_BELOW_S = 2e-3


def instrument_real_s(nominal_span_s: float, real_span_s: float, time_scale: float) -> float:
    """Real seconds the instrument spent in its own work (sleeps: exposures, moves, settling)
    during an interval that took ``real_span_s`` real and ``nominal_span_s`` nominal seconds on
    a :class:`SimClock` at ``time_scale`` (< 1): the inverse of :meth:`SimClock.now_s`'s mapping,
    ``nominal = (real - asleep) + asleep / time_scale``."""
    if not 0 < time_scale < 1:
        raise ValueError(f"time_scale must be in (0, 1), got {time_scale}")
    return (nominal_span_s - real_span_s) / (1 / time_scale - 1)


class SimClock:
    """Maps nominal durations (what the instrument would take) to real ones.

    ``time_scale`` = real seconds per nominal second: 1.0 runs in real time, 0.001 makes a
    "50 s" exposure take 50 ms. Nominal time (``now_s``) drives the simulated fringe drift; it
    starts at ``start_s`` (an IOC restarted by ``SIM:Restart`` goes on from the time before it,
    :mod:`gi_instrument.sim.world`).

    Only what the instrument itself takes is scaled: while at least one :meth:`sleep` (exposure,
    move, settle, warm-up) is in progress, nominal time runs ``1 / time_scale`` times faster than
    real time; between sleeps (Channel Access traffic, file writes, the client's own work) it runs
    at the real rate. On a real instrument that overhead takes its real time too, so a dry-run's
    nominal timeline is the instrument's, and a loaded machine adds seconds, not the hours of
    fringe drift that scaling its delays by ``1 / time_scale`` would invent.
    """

    def __init__(self, time_scale: float = 1.0, start_s: float = 0.0) -> None:
        if not 0 < time_scale <= 1000:
            raise ValueError(f"time_scale must be in (0, 1000], got {time_scale}")
        if not start_s >= 0:
            raise ValueError(f"start_s must be >= 0, got {start_s}")
        self.time_scale = float(time_scale)
        self.start_s = float(start_s)
        self._t0 = time.monotonic()
        self._sleeping = 0            # sleeps in progress
        self._asleep_since = 0.0      # monotonic time the current sleeping period began, s
        self._asleep_real_s = 0.0     # real seconds of the finished sleeping periods

    def _asleep_s(self, now: float) -> float:
        """Real seconds so far during which at least one sleep was in progress."""
        return self._asleep_real_s + (now - self._asleep_since if self._sleeping else 0.0)

    def now_s(self) -> float:
        """Instrument time, nominal s: ``start_s``, plus since then real time outside sleeps
        and the nominal duration of the time spent sleeping."""
        now = time.monotonic()
        asleep = self._asleep_s(now)
        return self.start_s + (now - self._t0 - asleep) + asleep / self.time_scale

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
        if self._sleeping == 0:
            self._asleep_since = start
        self._sleeping += 1
        try:
            if real < _PRECISE_BELOW_S:
                time.sleep(real)
            elif until is None:
                await asyncio.sleep(real)
            else:
                try:
                    await asyncio.wait_for(until.wait(), real)
                except asyncio.TimeoutError:
                    pass
        finally:
            end = time.monotonic()
            self._sleeping -= 1
            if self._sleeping == 0:
                self._asleep_real_s += end - self._asleep_since
        return end - start
