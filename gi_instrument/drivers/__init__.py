"""Drivers of real controllers on pyserial, one module per controller family.

A bridge IOC (``gi_instrument.ioc``) picks a driver by name: ``--driver kou`` for a tube,
``--driver pi-gcs`` for the G2 piezo or a stage. Adding a controller family: one module with a
class that has the methods of :class:`TubeDriver` or :class:`AxisDriver` and an ``open(url,
...)`` class method, registered below.
"""

from __future__ import annotations

from typing import Protocol

from gi_instrument.drivers.kou_tube import KouTube, TubeStatus
from gi_instrument.drivers.pi_gcs import PIGCSAxis
from gi_instrument.drivers.serial_link import CommandRefused, ControllerError, SerialLink

__all__ = ["ControllerError", "CommandRefused", "SerialLink", "KouTube", "PIGCSAxis", "TubeDriver", "AxisDriver",
           "TUBE_DRIVERS", "AXIS_DRIVERS"]


class TubeDriver(Protocol):
    """What a tube bridge IOC needs from a tube controller (kV, mA)."""

    link: SerialLink

    def status(self) -> TubeStatus: ...
    def set_voltage(self, kV: float) -> None: ...
    def set_current(self, mA: float) -> None: ...
    def xray_on(self) -> None: ...
    def xray_off(self) -> None: ...
    def warm_up(self) -> None: ...


class AxisDriver(Protocol):
    """What a positioner bridge IOC needs from a motion controller (axis units)."""

    link: SerialLink

    def identify(self) -> str: ...
    def move(self, position: float) -> None: ...
    def position(self) -> float: ...
    def on_target(self) -> bool: ...
    def servo_on(self) -> bool: ...
    def travel_limits(self) -> tuple[float, float]: ...
    def velocity(self) -> float: ...
    def set_velocity(self, velocity: float) -> None: ...


TUBE_DRIVERS = {KouTube.family: KouTube}
"""Tube driver classes by ``--driver`` name."""
AXIS_DRIVERS = {PIGCSAxis.family: PIGCSAxis}
"""Positioner driver classes by ``--driver`` name."""
