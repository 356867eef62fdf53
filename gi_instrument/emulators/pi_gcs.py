"""An emulated PI GCS motion controller (command subset in :mod:`gi_instrument.drivers.pi_gcs`)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from gi_instrument.emulators.line_server import LineServer

__all__ = ["PIGCSEmulator"]


@dataclass
class _Axis:
    low: float
    high: float
    velocity: float
    position: float = 0.0
    start: float = 0.0
    target: float = 0.0
    t0: float = 0.0
    t1: float = 0.0
    servo: bool = True
    referenced: bool = True


class PIGCSEmulator(LineServer):
    """One or more GCS axes with travel ``limits`` (axis units) moving at ``velocity`` (units per
    nominal s, times ``time_scale``). Powers on with the servo on and referenced; after
    :meth:`~LineServer.reboot` the servo is off and the axis unreferenced, at its last position."""

    terminator = b"\n"

    def __init__(self, *, axes: tuple[str, ...] = ("1",), limits: tuple[float, float] = (0.0, 100.0),
                 velocity: float = 100.0, time_scale: float = 1e-3, idn: str = "gi-instrument GCS emulator, E-709",
                 port: int = 0) -> None:
        self.idn, self.time_scale = idn, time_scale
        self.axes = {name: _Axis(*limits, velocity) for name in axes}
        super().__init__(port)

    def power_on(self) -> None:
        rebooted = hasattr(self, "error")
        for axis in self.axes.values():
            axis.position = axis.target = axis.start = self._where(axis)
            axis.t0 = axis.t1 = 0.0
            axis.servo = axis.referenced = not rebooted
        self.error = 0

    def _where(self, axis: _Axis) -> float:
        now = time.monotonic()
        if now >= axis.t1:
            return axis.target
        return axis.start + (axis.target - axis.start) * (now - axis.t0) / (axis.t1 - axis.t0)

    def _fail(self, code: int) -> None:
        if not self.error:
            self.error = code

    def handle(self, line: str) -> str | None:
        words = line.split()
        if not words:
            return None
        head, args = words[0], words[1:]
        if head == "*IDN?":
            return self.idn
        if head == "ERR?":
            code, self.error = self.error, 0
            return str(code)
        axis = self.axes.get(args[0]) if args else None
        if axis is None:
            self._fail(2 if head not in _KNOWN else 1)
            return None
        name = args[0]
        queries = {"POS?": lambda: f"{self._where(axis):.6f}", "ONT?": lambda: int(time.monotonic() >= axis.t1),
                   "SVO?": lambda: int(axis.servo), "FRF?": lambda: int(axis.referenced),
                   "TMN?": lambda: f"{axis.low:.6f}", "TMX?": lambda: f"{axis.high:.6f}",
                   "VEL?": lambda: f"{axis.velocity:.6f}"}
        if head in queries:
            return f"{name}={queries[head]()}"
        try:
            value = float(args[1]) if len(args) > 1 else None
        except ValueError:
            value = None
        if head == "SVO" and value is not None:
            axis.servo = bool(value)
        elif head == "FRF":
            if not axis.servo:
                self._fail(5)
            else:
                axis.referenced = True
        elif head == "VEL" and value is not None and value > 0:
            axis.velocity = value
        elif head == "MOV" and value is not None:
            if not (axis.servo and axis.referenced):
                self._fail(5)
            elif not axis.low <= value <= axis.high:
                self._fail(7)
            else:
                axis.start, axis.target = self._where(axis), value
                axis.t0 = time.monotonic()
                axis.t1 = axis.t0 + abs(value - axis.start) / axis.velocity * self.time_scale
        else:
            self._fail(1 if head in _KNOWN else 2)
        return None


_KNOWN = {"POS?", "ONT?", "SVO?", "FRF?", "TMN?", "TMX?", "VEL?", "SVO", "FRF", "VEL", "MOV"}
