"""Bridge IOCs of one motion axis: the G2 piezo ``{P}G2:`` and the stages ``{P}ROT:`` /
``{P}SAMPLE:`` (:class:`~gi_instrument.pv_interface.Piezo`, :class:`~gi_instrument.pv_interface.Axis`,
:class:`~gi_instrument.pv_interface.SampleStage`).

A put to ``Pos`` is checked against ``LowLimit`` / ``HighLimit`` (at most the controller's own
travel) before the move command is sent, and completes when the controller reports the axis on
target and its measured position is in ``Pos_RBV``. A controller that comes back from a reboot
with its servo off refuses moves; ``Status_RBV`` says so (it is not switched back on behind the
operator's back: a rebooted piezo has lost its position).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from caproto.server import pvproperty

from gi_instrument.drivers import AxisDriver
from gi_instrument.ioc.bridge import ControllerBridge, readback
from gi_instrument.pv_groups import SampleInOut
from gi_instrument.pv_interface import Axis, Piezo

__all__ = ["PiezoBridge", "StageBridge", "SampleStageBridge", "SERVO_OFF"]

SERVO_OFF = "servo off"
"""How ``Status_RBV`` starts while the controller's servo is off."""


class _AxisBridge(ControllerBridge):
    """Common PVs: ``Pos``, ``Pos_RBV``, ``LowLimit``, ``HighLimit``, ``Status_RBV``."""

    pos = pvproperty(name=Axis.POS, value=0.0, precision=4)
    pos_rbv = readback(Axis.POS_RBV, 0.0, precision=4)
    low_limit = pvproperty(name=Axis.LOW_LIMIT, value=0.0, precision=4, read_only=True)
    high_limit = pvproperty(name=Axis.HIGH_LIMIT, value=0.0, precision=4, read_only=True)

    move_margin_s = 10.0
    """Real s a move may take beyond distance / velocity before the put fails."""

    def __init__(self, *args: Any, driver: AxisDriver, egu: str, **kwargs: Any) -> None:
        super().__init__(*args, driver=driver, **kwargs)
        self.egu = egu
        self.travel: tuple[float, float] | None = None

    @pos.startup
    async def pos(self, instance, async_lib) -> None:
        await self.poll_forever()

    async def refresh(self) -> None:
        if self.travel is None:
            self.travel = await self.call(self.driver.travel_limits)
            await self.low_limit.write(self.travel[0], verify_value=False)
            await self.high_limit.write(self.travel[1], verify_value=False)
            await self.on_connect()
        position = await self.call(self.driver.position)
        on_target = await self.call(self.driver.on_target)
        servo = await self.call(self.driver.servo_on)
        await self.pos_rbv.write(position)
        await self.set_moving(not on_target)
        if not servo:
            await self.status.write(f"{SERVO_OFF} (controller restarted?): moves are refused")
        elif SERVO_OFF in str(self.status.value):   # also a move refused while it was off
            await self.status.write("OK")

    async def on_connect(self) -> None:
        """Read what the controller holds once, when it first answers (subclasses)."""

    async def set_moving(self, moving: bool) -> None:
        """Publish the moving state (subclasses)."""

    async def velocity_now(self) -> float | None:
        """Velocity for the move timeout, units/s (None: unknown)."""
        return None

    @pos.putter
    async def pos(self, instance, value: float) -> float:
        lo, hi = self.low_limit.value, self.high_limit.value
        if not lo <= value <= hi:
            await self.refuse(f"setpoint {value} {self.egu} outside the travel [{lo}, {hi}] {self.egu}")
        velocity = await self.velocity_now()
        start = self.pos_rbv.value
        await self.set_moving(True)
        try:
            await self.call(self.driver.move, value)
            distance = abs(value - start) if start == start else 0.0  # NaN after a loss
            deadline = time.monotonic() + self.move_margin_s + (distance / velocity if velocity else 0.0)
            while not await self.call(self.driver.on_target):
                if time.monotonic() > deadline:
                    await self.refuse(f"not on target at {value} {self.egu} in time")
                await asyncio.sleep(0.002)
            await self.settle()
            async with self.exchange:
                await self.pos_rbv.write(await self.call(self.driver.position))
        finally:
            if self.connected:  # a write would clear the COMM alarm (caproto re-checks alarm limits)
                await self.set_moving(False)
        await self.status.write("OK")
        return value

    async def settle(self) -> None:
        """Wait after a move (subclasses)."""


class PiezoBridge(_AxisBridge):
    """G2 piezo (um): adds ``Moving_RBV`` and ``SettleTime`` (real s waited after each move)."""

    moving = readback(Piezo.MOVING_RBV, 0)
    settle_time = pvproperty(name=Piezo.SETTLE_TIME, value=0.01, precision=3, units="s")

    async def set_moving(self, moving: bool) -> None:
        await self.moving.write(int(moving))

    async def settle(self) -> None:
        await asyncio.sleep(max(0.0, float(self.settle_time.value)))


class StageBridge(_AxisBridge):
    """A stage (deg or mm): adds ``Velocity`` (the controller's, units/s) and ``Done_RBV``."""

    velocity = pvproperty(name=Axis.VELOCITY, value=1.0, precision=4)
    done = readback(Axis.DONE_RBV, 1)

    async def on_connect(self) -> None:
        await self.velocity.write(await self.call(self.driver.velocity), verify_value=False)

    async def set_moving(self, moving: bool) -> None:
        await self.done.write(int(not moving))

    async def velocity_now(self) -> float | None:
        return float(self.velocity.value)

    @velocity.putter
    async def velocity(self, instance, value: float) -> float:
        if not value > 0:
            await self.refuse(f"Velocity must be > 0 {self.egu}/s, got {value}")
        await self.call(self.driver.set_velocity, value)
        return value


class SampleStageBridge(SampleInOut, StageBridge):
    """The sample stage (mm): adds ``InPos_RBV`` / ``OutPos_RBV`` (from the profile)."""
