"""The simulated G2 piezo stage that steps the analyser grating."""

from __future__ import annotations

import numpy as np
from caproto import ChannelType
from caproto.server import PVGroup, pvproperty

from gi_instrument.pv_interface import Piezo
from gi_instrument.sim.axis import check_travel
from gi_instrument.sim.clock import SimClock

__all__ = ["SimPiezo"]


class SimPiezo(PVGroup):
    """G2 piezo PVs (positions in um).

    ``Pos`` setpoint (a put completes after the move and ``SettleTime``), ``Pos_RBV`` readback
    (the true position: setpoint plus a few nm of jitter), ``Moving_RBV`` (0/1), ``SettleTime``
    (nominal s), ``LowLimit`` / ``HighLimit`` (travel, um), ``Status_RBV``. Fault injection:
    ``Stall`` (1: the next move stops short), ``PositionError`` (um added to every readback).
    """

    pos = pvproperty(name=Piezo.POS, value=0.0, precision=4, units="um")
    pos_rbv = pvproperty(name=Piezo.POS_RBV, value=0.0, precision=4, units="um", read_only=True)
    moving = pvproperty(name=Piezo.MOVING_RBV, value=0, read_only=True)
    settle_time = pvproperty(name=Piezo.SETTLE_TIME, value=0.05, precision=3, units="s")
    low_limit = pvproperty(name=Piezo.LOW_LIMIT, value=0.0, units="um", read_only=True)
    high_limit = pvproperty(name=Piezo.HIGH_LIMIT, value=100.0, units="um", read_only=True)
    status = pvproperty(name=Piezo.STATUS_RBV, value="OK", dtype=ChannelType.CHAR, max_length=200,
                        read_only=True)
    stall = pvproperty(name=Piezo.STALL, value=0)
    position_error = pvproperty(name=Piezo.POSITION_ERROR, value=0.0, units="um")

    def __init__(self, *args, clock: SimClock, settle_s: float, jitter_nm: float, seed: int = 0,
                 start_um: float = 0.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock
        self._settle_s = settle_s
        self._jitter_um = jitter_nm * 1e-3
        self._start_um = start_um
        self.rng = np.random.default_rng(seed)
        """Draws the positioning jitter."""

    @pos.startup
    async def pos(self, instance, async_lib) -> None:
        await self.settle_time.write(self._settle_s)
        await self.pos_rbv.write(self._start_um)
        await instance.write(self._start_um, verify_value=False)

    @pos.putter
    async def pos(self, instance, value: float) -> float:
        await self.move_to(value)
        return value

    async def move_to(self, value: float) -> float:
        """Move to ``value`` um and settle; returns the true position (readback), um. Raises on a
        setpoint outside the travel or a stall. Used by ``Pos`` and by the camera's step scan."""
        await check_travel(self, value, "um")
        if self.pos.value != value:
            await self.pos.write(value, verify_value=False)
        await self.moving.write(1)
        try:
            await self.clock.sleep(self.settle_time.value)
            target = value
            if self.stall.value:
                await self.stall.write(0)
                target = self.pos_rbv.value + 0.5 * (value - self.pos_rbv.value)
            true_um = target + self.position_error.value + self.rng.normal(0.0, self._jitter_um)
            await self.pos_rbv.write(true_um)
            if target != value:
                await self.status.write(f"stalled at {target:.4f} um on the way to {value} um")
                raise RuntimeError(f"{self.prefix} stalled on the way to {value} um")
            await self.status.write("OK")
        finally:
            await self.moving.write(0)
        return true_um
