"""An emulated KOU-style tube controller (command set in :mod:`gi_instrument.drivers.kou_tube`)."""

from __future__ import annotations

import time

from gi_instrument.emulators.line_server import LineServer

__all__ = ["KouTubeEmulator"]


class KouTubeEmulator(LineServer):
    """A tube controller: setpoints within ``max_kV`` / ``max_uA`` / ``max_W``, X-rays only with
    the interlock closed and after a warm-up of ``warmup_s`` (nominal s, times ``time_scale``).
    Powers on warm, X-rays off. Extra faults: :meth:`arc` (overload for a while),
    :meth:`cold_start`, :attr:`interlock_closed` (False: open)."""

    terminator = b"\r"

    def __init__(self, *, max_kV: float = 60.0, max_uA: float = 1500.0, max_W: float = 75.0,
                 warmup_s: float = 600.0, time_scale: float = 1e-3, port: int = 0) -> None:
        self.max_kV, self.max_uA, self.max_W = max_kV, max_uA, max_W
        self.warmup_s, self.time_scale = warmup_s, time_scale
        self.kV, self.uA = 0, 0
        self.warm_until = 0.0
        super().__init__(port)

    def power_on(self) -> None:
        self.on = False
        self.error = 0
        self.interlock_closed = True
        self.overload_until = 0.0

    def arc(self, duration_s: float) -> None:
        """The high voltage collapses for ``duration_s`` nominal s (state ``overload``)."""
        with self.lock:
            self.overload_until = time.monotonic() + duration_s * self.time_scale

    def cold_start(self) -> None:
        """The tube needs a warm-up (``WUP``) before X-rays go on."""
        with self.lock:
            self.on, self.warm_until = False, -1.0

    def _state(self) -> int:
        now = time.monotonic()
        if not self.interlock_closed:
            return 5
        if now < self.warm_until:
            return 1
        if self.warm_until < 0:
            return 0
        if self.on and now < self.overload_until:
            return 4
        return 3 if self.on else 2

    def _refuse(self, code: int) -> str:
        self.error = code
        return f"ERR {code}"

    def handle(self, line: str) -> str | None:
        if not self.interlock_closed:
            self.on = False
        head, _, arg = line.partition(" ")
        if head in ("HIV", "CUR"):
            try:
                value = int(arg)
            except ValueError:
                return self._refuse(1)
            kV, uA = (value, self.uA) if head == "HIV" else (self.kV, value)
            if not (0 <= kV <= self.max_kV and 0 <= uA <= self.max_uA and kV * uA * 1e-3 <= self.max_W):
                return self._refuse(2)
            self.kV, self.uA = kV, uA
            return f"{head} {value}"
        emitting = self._state() == 3
        replies = {
            "STS": lambda: f"STS {self._state()}",
            "SHV": lambda: f"SHV {self.kV}",
            "SCU": lambda: f"SCU {self.uA}",
            "SPV": lambda: f"SPV {self.kV if emitting else 0}",
            "SPC": lambda: f"SPC {self.uA if emitting else 0}",
            "SER": lambda: f"SER {self.error}",
            "SIN": lambda: f"SIN {int(self.interlock_closed)}",
        }
        if head in replies and not arg:
            return replies[head]()
        if line == "XON":
            if not self.interlock_closed:
                return self._refuse(3)
            if self._state() in (0, 1):
                return self._refuse(4)
            self.on = True
            return "XON"
        if line == "XOF":
            self.on = False
            return "XOF"
        if line == "WUP":
            self.on = False
            self.warm_until = time.monotonic() + self.warmup_s * self.time_scale
            return "WUP"
        return self._refuse(1)
