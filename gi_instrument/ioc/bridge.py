"""What every bridge IOC shares: driver calls off the event loop, polling, alarms, reconnection.

A bridge IOC serves the PVs of :mod:`gi_instrument.pv_interface` in front of one controller
reached through a driver of :mod:`gi_instrument.drivers`. Nothing but the driver's typed values
crosses into the IOC. Every blocking driver call runs on a worker thread; the controller is polled
every ``poll_s`` s. When a call fails (:class:`~gi_instrument.drivers.ControllerError`: no reply,
garbage, port gone), every readback (alarm group ``controller``) goes to INVALID severity with
COMM status, float readbacks become NaN (never a stale value), and ``Status_RBV`` starts with
:data:`~gi_instrument.pv_interface.CONTROLLER_LOST`. The driver's link reopens on the next poll,
so the IOC reconnects by itself once the controller answers again; the alarm then clears.
"""

from __future__ import annotations

import asyncio
import math
from functools import partial
from typing import Any, Callable

from caproto import AlarmSeverity, AlarmStatus, ChannelType
from caproto.server import PVGroup, pvproperty

from gi_instrument.drivers import CommandRefused, ControllerError
from gi_instrument.pv_interface import CONTROLLER_LOST, Positioner

__all__ = ["ControllerBridge", "readback", "ALARM_GROUP"]

ALARM_GROUP = "controller"
"""Alarm group of every PV whose value comes from the controller."""


def readback(name: str, value: Any, **kwargs: Any) -> pvproperty:
    """A read-only PV fed by the controller (shares the controller's alarm)."""
    return pvproperty(name=name, value=value, read_only=True, alarm_group=ALARM_GROUP, **kwargs)


class ControllerBridge(PVGroup):
    """Base of the bridge IOCs: ``Status_RBV`` plus the polling and alarm machinery.

    Subclasses implement :meth:`refresh` (read the controller, write the readbacks) and start
    :meth:`poll_forever` from a startup hook.
    """

    status = pvproperty(name=Positioner.STATUS_RBV, value="starting", dtype=ChannelType.CHAR, max_length=300,
                        read_only=True)

    def __init__(self, *args: Any, driver: Any, poll_s: float = 0.2, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if poll_s <= 0:
            raise ValueError(f"poll_s must be > 0, got {poll_s}")
        self.driver, self.poll_s = driver, poll_s
        self.connected = False
        self.exchange = asyncio.Lock()
        """Held while a refresh or a command's read-back runs: a poll that read the controller
        before a command must not publish its stale values after the command's own."""

    async def call(self, method: Callable[..., Any], *args: Any) -> Any:
        """Run a blocking driver method on a worker thread. A refusal goes into ``Status_RBV``;
        any other ControllerError puts the IOC in COMM alarm (see :meth:`lost`); both are raised
        again."""
        try:
            result = await asyncio.get_running_loop().run_in_executor(None, partial(method, *args))
        except CommandRefused as exc:      # the controller answered: the link is fine
            await self.status.write(f"{exc.command}: {exc.why}")
            raise
        except ControllerError as exc:
            await self.lost(exc)
            raise
        return result

    async def command(self, method: Callable[..., Any], *args: Any) -> Any:
        """Send a command and publish the controller's state after it (:meth:`refresh`'s
        result), with no poll in between."""
        async with self.exchange:
            await self.call(method, *args)
            return await self.refresh()

    async def lost(self, error: Exception) -> None:
        """Readbacks to INVALID / COMM alarm, floats to NaN, the reason into ``Status_RBV``.

        The alarm is set after the values: caproto re-evaluates a PV's alarm on every write, so
        nothing may write a readback while the controller is lost (:attr:`connected` False)."""
        self.connected = False
        message = f"{CONTROLLER_LOST}: {error}".encode("ascii", "backslashreplace").decode()
        await self.status.write(message[:299])
        for prop in self._readbacks():
            if isinstance(prop.value, float):
                await prop.write(math.nan)
        await self.alarms[ALARM_GROUP].write(status=AlarmStatus.COMM, severity=AlarmSeverity.INVALID_ALARM)

    async def answered(self) -> None:
        """The controller answered a poll: clear the alarm after a loss."""
        if not self.connected:
            self.connected = True
            await self.alarms[ALARM_GROUP].write(status=AlarmStatus.NO_ALARM, severity=AlarmSeverity.NO_ALARM)
            if str(self.status.value).startswith((CONTROLLER_LOST, "starting")):
                await self.status.write("OK")

    def _readbacks(self) -> list[Any]:
        return [prop for prop in self.attr_pvdb.values() if prop.alarm is self.alarms[ALARM_GROUP]]

    async def refresh(self) -> None:
        """Read the controller and publish its values (subclasses)."""
        raise NotImplementedError

    async def poll_forever(self) -> None:
        """Refresh every ``poll_s`` s; a failed refresh leaves the alarm set until one succeeds."""
        while True:
            try:
                async with self.exchange:
                    await self.refresh()
            except ControllerError:
                pass  # lost() has set the alarm; the link reopens on the next poll
            else:
                await self.answered()
            await asyncio.sleep(self.poll_s)

    async def refuse(self, message: str) -> None:
        """Refuse a put before anything reaches the controller: ``Status_RBV`` says why."""
        await self.status.write(message)
        raise ValueError(f"{self.prefix}: {message}")
