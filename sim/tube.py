"""The simulated X-ray tube (micro-focus + G0 for TLI, structured anode for MAAST)."""

from __future__ import annotations

from caproto import ChannelType
from caproto.server import pvproperty

from gi_instrument.profile import Source
from gi_instrument.pv_groups import TubeLimits
from gi_instrument.pv_interface import INTERLOCK_OPEN, NOT_WARMED_UP, TUBE_STATES, Tube
from gi_instrument.sim.clock import SimClock

__all__ = ["SimTube", "TUBE_STATES"]


class SimTube(TubeLimits):
    """X-ray tube PVs.

    ``Voltage`` / ``Voltage_RBV`` (kV), ``Current`` / ``Current_RBV`` (mA), ``Power_RBV`` (W),
    ``XrayOn`` / ``XrayOn_RBV`` (0/1), ``State_RBV`` (Off, WarmingUp, Ready, XrayOn, Fault),
    ``Interlock_RBV`` (1 = closed, safe to emit), ``WarmedUp_RBV`` (0/1), ``Warmup`` (put 1 to
    start a warm-up of ``WarmupTime_RBV`` s), ``MaxVoltage_RBV`` / ``MaxCurrent_RBV`` /
    ``MaxPower_RBV`` (limits), ``Status_RBV`` (last message).
    Setpoints outside the limits are refused; X-rays cannot be switched on with the interlock
    open or before warm-up. Fault injection: ``InterlockOpen`` (1 opens the interlock, X-rays
    trip off), ``Arc`` (put a duration in nominal s: the high voltage collapses for that long),
    ``ColdStart`` (1 forgets the warm-up).
    """

    voltage = pvproperty(name=Tube.VOLTAGE, value=0.0, precision=2, units="kV")
    voltage_rbv = pvproperty(name=Tube.VOLTAGE_RBV, value=0.0, precision=2, units="kV", read_only=True)
    current = pvproperty(name=Tube.CURRENT, value=0.0, precision=3, units="mA")
    current_rbv = pvproperty(name=Tube.CURRENT_RBV, value=0.0, precision=3, units="mA", read_only=True)
    power_rbv = pvproperty(name=Tube.POWER_RBV, value=0.0, precision=2, units="W", read_only=True)
    xray_on = pvproperty(name=Tube.XRAY_ON, value=0)
    xray_on_rbv = pvproperty(name=Tube.XRAY_ON_RBV, value=0, read_only=True)
    state = pvproperty(name=Tube.STATE_RBV, value="Ready", enum_strings=TUBE_STATES,
                       dtype=ChannelType.ENUM, read_only=True)
    interlock = pvproperty(name=Tube.INTERLOCK_RBV, value=1, read_only=True)
    warmed_up = pvproperty(name=Tube.WARMED_UP_RBV, value=1, read_only=True)
    warmup = pvproperty(name=Tube.WARMUP, value=0)
    status = pvproperty(name=Tube.STATUS_RBV, value="OK", dtype=ChannelType.CHAR, max_length=200,
                        read_only=True)
    # fault injection
    interlock_open = pvproperty(name=Tube.INTERLOCK_OPEN, value=0)
    arc = pvproperty(name=Tube.ARC, value=0.0, units="s")
    cold_start = pvproperty(name=Tube.COLD_START, value=0)

    def __init__(self, *args, clock: SimClock, source: Source, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock
        self.source = source
        self._arcing = False

    @property
    def emitting(self) -> bool:
        """True while X-rays are on at full high voltage (no arc, interlock closed)."""
        return bool(self.xray_on_rbv.value) and not self._arcing and bool(self.interlock.value)

    @voltage.startup
    async def voltage(self, instance, async_lib) -> None:
        s = self.source
        await self.publish_limits(s)
        await instance.write(s.voltage_kV, verify_value=False)
        await self.voltage_rbv.write(s.voltage_kV)
        await self.current.write(s.current_mA, verify_value=False)
        await self.current_rbv.write(s.current_mA)

    async def _fail(self, message: str) -> None:
        await self.status.write(message)
        raise ValueError(f"{self.prefix}: {message}")

    async def _check_power(self, kv: float, ma: float) -> None:
        if kv * ma > self.source.max_power_W:
            await self._fail(f"{kv} kV x {ma} mA = {kv * ma:.1f} W exceeds {self.source.max_power_W} W")

    @voltage.putter
    async def voltage(self, instance, value: float) -> float:
        if not 0 <= value <= self.source.max_voltage_kV:
            await self._fail(f"voltage {value} kV outside [0, {self.source.max_voltage_kV}] kV")
        await self._check_power(value, self.current.value)
        await self.voltage_rbv.write(value)
        await self._update_power()
        return value

    @current.putter
    async def current(self, instance, value: float) -> float:
        if not 0 <= value <= self.source.max_current_mA:
            await self._fail(f"current {value} mA outside [0, {self.source.max_current_mA}] mA")
        await self._check_power(self.voltage.value, value)
        await self.current_rbv.write(value)
        await self._update_power()
        return value

    async def _update_power(self) -> None:
        on = self.emitting
        await self.power_rbv.write(self.voltage_rbv.value * self.current_rbv.value if on else 0.0)

    async def _set_state(self, state: str) -> None:
        await self.state.write(state)
        await self._update_power()

    @xray_on.putter
    async def xray_on(self, instance, value: int) -> int:
        if value:
            if not self.interlock.value:
                await self._fail(f"{INTERLOCK_OPEN}: X-rays stay off")
            if not self.warmed_up.value:
                await self._fail(f"{NOT_WARMED_UP}: run Warmup first")
            await self.xray_on_rbv.write(1)
            await self._set_state("XrayOn")
        else:
            await self.xray_on_rbv.write(0)
            await self._set_state("Ready" if self.warmed_up.value else "Off")
        await self.status.write("OK")
        return 1 if value else 0

    @warmup.putter
    async def warmup(self, instance, value: int) -> int:
        if value:
            await self._set_state("WarmingUp")
            await self.clock.sleep(self.source.warmup_s)
            await self.warmed_up.write(1)
            await self._set_state("Ready")
        return 0

    @interlock_open.putter
    async def interlock_open(self, instance, value: int) -> int:
        await self.interlock.write(0 if value else 1)
        if value and self.xray_on_rbv.value:
            await self.xray_on_rbv.write(0)
            await self.xray_on.write(0, verify_value=False)
            await self.status.write("interlock opened: X-rays tripped off")
            await self._set_state("Fault")
        elif not value:
            await self._set_state("Ready" if self.warmed_up.value else "Off")
        return value

    @arc.putter
    async def arc(self, instance, value: float) -> float:
        if value > 0:
            self._arcing = True
            await self.voltage_rbv.write(0.0)
            await self._set_state("Fault")
            await self.status.write(f"arc: high voltage collapsed for {value} s")
            await self.clock.sleep(value)
            self._arcing = False
            await self.voltage_rbv.write(self.voltage.value)
            await self._set_state("XrayOn" if self.xray_on_rbv.value else "Ready")
            await self.status.write("OK")
        return 0.0

    @cold_start.putter
    async def cold_start(self, instance, value: int) -> int:
        if value:
            await self.warmed_up.write(0)
            await self.xray_on_rbv.write(0)
            await self._set_state("Off")
        return 0
