"""Positioners whose moves complete on EPICS put-completion: the G2 piezo and the two stages.

Readbacks hold no Channel Access monitor (a monitor on a value that changes with every move
delays the next get by ~40 ms with the caproto server), so every read is a fresh get; only values
that rarely change are monitored: the travel limits (a limit check costs no round trip) and a
stage's velocity.
"""

from __future__ import annotations

import math
from typing import Any

from ophyd import Component as Cpt
from ophyd import Device, DeviceStatus, EpicsSignal, EpicsSignalRO
from ophyd.status import StatusBase, StatusTimeoutError, WaitTimeoutError

from gi_instrument.devices.errors import InstrumentFault
from gi_instrument.pv_interface import Positioner

__all__ = ["PutCompletePositioner", "PositionError"]


class PositionError(InstrumentFault):
    """A positioner ended a move further from its setpoint than its tolerance."""


class PutCompletePositioner(Device):
    """A positioner: ``set(x)`` writes the setpoint and finishes when the IOC completes the put.

    Subclasses set ``readback_key`` / ``setpoint_key`` (unit in the name, e.g. ``"angle_deg"``):
    the read keys become ``{name}_{readback_key}`` and ``{name}_{setpoint_key}``. ``tolerance``
    (same unit) is how far the readback may be from the setpoint after a move.
    """

    readback_key = "position"
    setpoint_key = "setpoint"
    tolerance = 0.0
    move_margin_s = 10.0
    """Real seconds a move may take beyond distance / velocity before it fails as timed out."""

    setpoint = Cpt(EpicsSignal, Positioner.POS, put_complete=True, kind="normal")
    readback = Cpt(EpicsSignalRO, Positioner.POS_RBV, kind="hinted")
    low_limit_travel = Cpt(EpicsSignalRO, Positioner.LOW_LIMIT, kind="config", auto_monitor=True)
    high_limit_travel = Cpt(EpicsSignalRO, Positioner.HIGH_LIMIT, kind="config", auto_monitor=True)
    status_message = Cpt(EpicsSignalRO, Positioner.STATUS_RBV, string=True, kind="omitted")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.readback.name = f"{self.name}_{self.readback_key}"
        self.setpoint.name = f"{self.name}_{self.setpoint_key}"

    @property
    def position(self) -> float:
        """Current readback."""
        return float(self.readback.get())

    @property
    def limits(self) -> tuple[float, float]:
        """(low, high) travel limits from the controller."""
        return float(self.low_limit_travel.get()), float(self.high_limit_travel.get())

    def check_value(self, value: float) -> None:
        """Raise ValueError if ``value`` is outside the travel limits (nothing moves)."""
        lo, hi = self.limits
        if not lo <= value <= hi:
            raise ValueError(f"{self.name}: {value} outside travel limits [{lo}, {hi}]")

    def move_timeout_s(self, value: float, from_position: float | None = None) -> float:
        """Real seconds allowed for a move to ``value`` from ``from_position`` (default: the
        readback, one get): travel time at ``velocity``, if the positioner has one, plus
        ``move_margin_s``."""
        velocity = getattr(self, "velocity", None)
        if velocity is None:
            return self.move_margin_s
        start = from_position if from_position is not None and math.isfinite(from_position) else self.position
        return self.move_margin_s + abs(value - start) / max(float(velocity.get()), 1e-9)

    def set(self, value: float, *, from_position: float | None = None, **kwargs: Any) -> StatusBase:
        """Move to ``value``; the status finishes when the controller reports the move done and
        fails if that takes longer than :meth:`move_timeout_s` (``from_position``: the readback
        just read, if the caller has it, which spares a get)."""
        self.check_value(value)
        kwargs.setdefault("timeout", self.move_timeout_s(value, from_position))
        move = self.setpoint.set(value, **kwargs)
        status = self._move_status = DeviceStatus(self)

        def relay(done: StatusBase) -> None:
            if not status.done:
                exc = done.exception()
                if isinstance(exc, (StatusTimeoutError, WaitTimeoutError)):
                    # ophyd refuses its own timeout classes in set_exception: say it as a position fault
                    timed_out = PositionError(f"{self.name}: move to {value} not done within "
                                              f"{kwargs['timeout']:.1f} s (the controller did not complete it)")
                    timed_out.__cause__, exc = exc, timed_out
                status.set_finished() if exc is None else status.set_exception(exc)

        move.add_callback(relay)
        return status

    def stop(self, *, success: bool = False) -> None:
        """Give up waiting for the move in progress (the RunEngine calls this when it suspends
        or ends a plan): its status finishes now, as done with ``success``, so a move that hangs
        on the controller cannot fail into a resumed plan; a resumed plan moves again."""
        status = getattr(self, "_move_status", None)
        if status is not None and not status.done:
            if success:
                status.set_finished()
            else:
                status.set_exception(PositionError(f"{self.name}: move stopped"))
        super().stop(success=success)

    def move(self, value: float, timeout_s: float = 60.0) -> None:
        """Move and wait (for interactive use)."""
        self.set(value).wait(timeout_s)
