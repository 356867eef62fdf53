"""A scripted night of faults for the simulated IOC: rehearsals and reliability tests.

:class:`FaultScript` runs in a thread and puts fault-injection PVs (see the README's fault
table) once the camera has exposed a given number of frames, e.g. an arc after the 7th frame,
the interlock opened after the 20th and closed a nominal minute later. It talks Channel Access
with caproto's synchronous client, so it needs nothing from the process that runs the plan
(which may be a queue server's worker).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

__all__ = ["FaultStep", "FaultScript"]


@dataclass(frozen=True)
class FaultStep:
    """Put ``value`` to ``{prefix}{pv}`` once ``after_frames`` frames were exposed since the
    script started; with ``hold_s`` (nominal s, scaled by the IOC's time scale) put ``reset``
    that much later."""

    after_frames: int
    pv: str
    value: float
    hold_s: float = 0.0
    reset: float = 0.0


class FaultScript(threading.Thread):
    """Plays :class:`FaultStep` s against the IOC under ``prefix`` (Channel Access settings from
    the environment). ``played`` lists (step, wall-clock time) as they happen; ``error`` holds
    what stopped the script early. Frames are counted with ``CAM:ArrayCounter_RBV``, across an
    IOC restart (which resets the counter)."""

    def __init__(self, prefix: str, steps: list[FaultStep], *, time_scale: float, poll_s: float = 0.005,
                 timeout_s: float = 600.0) -> None:
        super().__init__(name="fault-script", daemon=True)
        self.prefix, self.steps, self.time_scale = prefix, sorted(steps, key=lambda s: s.after_frames), time_scale
        self.poll_s, self.timeout_s = poll_s, timeout_s
        self.played: list[tuple[FaultStep, float]] = []
        self.error: BaseException | None = None
        self._last = self._total = 0

    def _put(self, pv: str, value: float) -> None:
        from caproto.sync.client import write

        write(self.prefix + pv, value, timeout=5, repeater=False)

    def _frames(self) -> int:
        from caproto import CaprotoError
        from caproto.sync.client import read

        try:
            count = int(read(self.prefix + "CAM:ArrayCounter_RBV", timeout=1, repeater=False).data[0])
        except (TimeoutError, OSError, CaprotoError):
            return self._total                     # IOC restarting (or its circuit closing under us)
        self._total += count - self._last if count >= self._last else count
        self._last = count
        return self._total

    def run(self) -> None:
        try:
            self._frames()
            start, deadline = self._total, time.monotonic() + self.timeout_s
            for step in self.steps:
                while self._frames() - start < step.after_frames:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"fault script: {step} not reached within {self.timeout_s} s")
                    time.sleep(self.poll_s)
                self._put(step.pv, step.value)
                self.played.append((step, time.time()))
                if step.hold_s > 0:
                    time.sleep(step.hold_s * self.time_scale)
                    self._put(step.pv, step.reset)
        except BaseException as exc:  # reported by the test or rehearsal that runs the script
            self.error = exc
