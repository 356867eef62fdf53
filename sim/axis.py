"""A simulated motion axis (rotation stage, sample translation stage) as a caproto PV group."""

from __future__ import annotations

from caproto import ChannelType
from caproto.server import PVGroup, pvproperty

from gi_instrument.pv_groups import SampleInOut
from gi_instrument.pv_interface import Axis
from gi_instrument.sim.clock import SimClock

__all__ = ["SimAxis", "SimSampleStage", "check_travel"]


async def check_travel(group: PVGroup, value: float, egu: str) -> None:
    """Refuse a setpoint outside ``group``'s LowLimit/HighLimit: Status_RBV says why, and the
    put fails (the error reaches the client)."""
    lo, hi = group.low_limit.value, group.high_limit.value
    if not lo <= value <= hi:
        message = f"setpoint {value} {egu} outside the travel [{lo}, {hi}] {egu}"
        await group.status.write(message)
        raise ValueError(f"{group.prefix}Pos: {message}")


class SimAxis(PVGroup):
    """One motor axis. Moves at ``Velocity``; a put to the setpoint completes when done.

    PVs (prefix + name): ``Pos`` setpoint, ``Pos_RBV`` readback, ``Velocity`` (units/s),
    ``Done_RBV`` (1 when not moving), ``LowLimit`` / ``HighLimit`` (travel). Fault injection:
    ``Stall`` (1: the next move stops half-way and reports an error), ``Hang`` (1: the next move
    takes ``HangTime`` nominal s, so a client's move times out).
    ``egu`` names the unit (deg or mm) in error messages.
    """

    pos = pvproperty(name=Axis.POS, value=0.0, precision=4, doc="setpoint")
    pos_rbv = pvproperty(name=Axis.POS_RBV, value=0.0, precision=4, read_only=True)
    velocity = pvproperty(name=Axis.VELOCITY, value=1.0, precision=3)
    done = pvproperty(name=Axis.DONE_RBV, value=1, read_only=True)
    low_limit = pvproperty(name=Axis.LOW_LIMIT, value=-1e9, precision=3, read_only=True)
    high_limit = pvproperty(name=Axis.HIGH_LIMIT, value=1e9, precision=3, read_only=True)
    stall = pvproperty(name=Axis.STALL, value=0, doc="fault injection: next move stalls")
    hang = pvproperty(name=Axis.HANG, value=0, doc="fault injection: next move hangs")
    hang_time = pvproperty(name=Axis.HANG_TIME, value=3600.0, units="s")
    status = pvproperty(name=Axis.STATUS_RBV, value="OK", dtype=ChannelType.CHAR, max_length=200,
                        read_only=True)

    def __init__(self, *args, clock: SimClock, start: float, velocity: float, limits: tuple[float, float],
                 egu: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock
        self.egu = egu
        self._init = (start, velocity, limits)

    @pos.startup
    async def pos(self, instance, async_lib) -> None:
        start, velocity, (lo, hi) = self._init
        await self.low_limit.write(lo)
        await self.high_limit.write(hi)
        await self.velocity.write(velocity)
        await self.pos_rbv.write(start)
        await instance.write(start, verify_value=False)

    @pos.putter
    async def pos(self, instance, value: float) -> float:
        await check_travel(self, value, self.egu)
        start = self.pos_rbv.value
        await self.done.write(0)
        try:
            distance = abs(value - start)
            await self.clock.sleep(distance / max(self.velocity.value, 1e-9))
            if self.hang.value:
                await self.hang.write(0)
                await self.clock.sleep(self.hang_time.value)
            if self.stall.value:
                await self.stall.write(0)
                await self.pos_rbv.write(start + 0.5 * (value - start))
                await self.status.write(f"stalled on the way to {value} {self.egu}")
                raise RuntimeError(f"{self.prefix} stalled on the way to {value} {self.egu}")
            await self.pos_rbv.write(value)
            await self.status.write("OK")
        finally:
            await self.done.write(1)
        return value


class SimSampleStage(SampleInOut, SimAxis):
    """The sample translation stage: a :class:`SimAxis` (mm) that also serves ``InPos_RBV`` and
    ``OutPos_RBV``, the positions with the sample in the beam and clear of the field of view."""
