"""PV groups that the simulated IOC and the bridge IOCs serve alike (values not from a controller)."""

from __future__ import annotations

from typing import Any

from caproto.server import PVGroup, pvproperty

from gi_instrument.profile import ProfileError, Source, check_field
from gi_instrument.pv_interface import SampleStage, Tube

__all__ = ["SampleInOut", "TubeLimits"]


class SampleInOut(PVGroup):
    """``InPos_RBV`` / ``OutPos_RBV``: sample-stage positions (mm) with the sample in the beam and
    clear of the field of view, served from ``in_mm`` / ``out_mm`` (the profile's)."""

    in_pos = pvproperty(name=SampleStage.IN_POS_RBV, value=0.0, precision=3, read_only=True)
    out_pos = pvproperty(name=SampleStage.OUT_POS_RBV, value=0.0, precision=3, read_only=True)

    def __init__(self, *args: Any, in_mm: float, out_mm: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_out = (in_mm, out_mm)

    @in_pos.startup
    async def in_pos(self, instance, async_lib) -> None:
        await instance.write(self._in_out[0])
        await self.out_pos.write(self._in_out[1])


class TubeLimits(PVGroup):
    """``MaxVoltage_RBV`` (kV), ``MaxCurrent_RBV`` (mA), ``MaxPower_RBV`` (W), ``WarmupTime_RBV``
    (s): the tube's limits, from the profile's source (:meth:`publish_limits`); and
    ``WatchdogTimeout`` (wall-clock s), whose puts outside the profile's range of
    ``recovery.watchdog_timeout_s`` (0, a negative or a larger value) are refused, so no client
    can switch the watchdog off. A subclass provides ``refuse(message)``: say why in
    ``Status_RBV`` and fail the put."""

    warmup_time = pvproperty(name=Tube.WARMUP_TIME_RBV, value=0.0, units="s", read_only=True)
    max_voltage = pvproperty(name=Tube.MAX_VOLTAGE_RBV, value=0.0, units="kV", read_only=True)
    max_current = pvproperty(name=Tube.MAX_CURRENT_RBV, value=0.0, units="mA", read_only=True)
    max_power = pvproperty(name=Tube.MAX_POWER_RBV, value=0.0, units="W", read_only=True)
    watchdog_timeout = pvproperty(name=Tube.WATCHDOG_TIMEOUT, value=0.0, units="s")

    @watchdog_timeout.putter
    async def watchdog_timeout(self, instance, value: float) -> float:
        try:
            return check_field("recovery.watchdog_timeout_s", value, Tube.WATCHDOG_TIMEOUT)
        except ProfileError as exc:
            await self.refuse(str(exc))  # raises: the put fails, the timeout is kept

    async def publish_limits(self, source: Source) -> None:
        """Serve ``source``'s limits and warm-up time."""
        await self.max_voltage.write(source.max_voltage_kV)
        await self.max_current.write(source.max_current_mA)
        await self.max_power.write(source.max_power_W)
        await self.warmup_time.write(source.warmup_s)
