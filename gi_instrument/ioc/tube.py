"""Bridge IOC of an X-ray tube controller: ``{P}TUBE:`` (:class:`gi_instrument.pv_interface.Tube`).

Setpoints are checked against the tube's limits (kV, mA, W, from the profile) before a command
reaches the controller; everything else is the controller's own answer, polled. ``Fault_RBV`` is
1 while the controller reports an overload or, with X-rays on, kV or mA are out of
``Tolerance_RBV`` of their setpoints; the watchdog switches the X-rays off when the controlling
client's ``Heartbeat`` stops for ``WatchdogTimeout`` s (armed by the first heartbeat; a put outside
the profile's range of ``recovery.watchdog_timeout_s``, such as 0, is refused).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from caproto import ChannelType
from caproto.server import pvproperty

from gi_instrument.drivers import TubeDriver, TubeStatus
from gi_instrument.ioc.bridge import ControllerBridge, readback
from gi_instrument.profile import Source
from gi_instrument.pv_groups import TubeLimits
from gi_instrument.pv_interface import TUBE_STATES, Tube

__all__ = ["TubeBridge"]

_STATE_NAMES = {"cold": "Off", "warming up": "WarmingUp", "ready": "Ready", "X-rays on": "XrayOn",
                "overload": "Fault", "interlock open": "Fault"}
"""Driver state -> ``State_RBV``."""


class TubeBridge(TubeLimits, ControllerBridge):
    """The PVs of :class:`~gi_instrument.pv_interface.Tube` (no fault-injection PVs) for a
    :class:`~gi_instrument.drivers.TubeDriver`; limits and warm-up time from ``source``."""

    voltage = pvproperty(name=Tube.VOLTAGE, value=0.0, precision=2, units="kV")
    voltage_rbv = readback(Tube.VOLTAGE_RBV, 0.0, precision=2, units="kV")
    current = pvproperty(name=Tube.CURRENT, value=0.0, precision=3, units="mA")
    current_rbv = readback(Tube.CURRENT_RBV, 0.0, precision=3, units="mA")
    power_rbv = readback(Tube.POWER_RBV, 0.0, precision=2, units="W")
    xray_on = pvproperty(name=Tube.XRAY_ON, value=0)
    xray_on_rbv = readback(Tube.XRAY_ON_RBV, 0)
    state = readback(Tube.STATE_RBV, "Off", enum_strings=TUBE_STATES, dtype=ChannelType.ENUM)
    interlock = readback(Tube.INTERLOCK_RBV, 0)
    warmed_up = readback(Tube.WARMED_UP_RBV, 0)
    warmup = pvproperty(name=Tube.WARMUP, value=0)
    fault = readback(Tube.FAULT_RBV, 0)
    last_fault = pvproperty(name=Tube.LAST_FAULT_RBV, value="", dtype=ChannelType.CHAR, max_length=200,
                            read_only=True)
    tolerance = readback(Tube.TOLERANCE_RBV, 0.0, units="%")
    heartbeat = pvproperty(name=Tube.HEARTBEAT, value=0)

    def __init__(self, *args: Any, driver: TubeDriver, source: Source, tolerance_pct: float = 2.0,
                 watchdog_timeout_s: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, driver=driver, **kwargs)
        self.source = source
        self._tolerance_pct, self._watchdog_s = tolerance_pct, watchdog_timeout_s
        self._last_beat: float | None = None

    @voltage.startup
    async def voltage(self, instance, async_lib) -> None:
        await self.publish_limits(self.source)
        await self.tolerance.write(self._tolerance_pct)
        await self.watchdog_timeout.write(self._watchdog_s)
        await self.poll_forever()

    @heartbeat.putter
    async def heartbeat(self, instance, value: int) -> int:
        self._last_beat = time.monotonic()
        return value

    def _fault_reason(self, st: TubeStatus) -> str:
        """Why the tube is in fault now ('' if it is not)."""
        if st.state == "overload":
            return "controller reports an overload"
        if st.xray_on:
            tol = self._tolerance_pct / 100.0
            for name, value, setpoint, unit in (("voltage", st.voltage_kV, st.voltage_setpoint_kV, "kV"),
                                                ("current", st.current_mA, st.current_setpoint_mA, "mA")):
                if abs(value - setpoint) > tol * abs(setpoint):
                    return f"{name} {value:g} {unit} out of tolerance ({self._tolerance_pct:g} % of {setpoint:g} {unit})"
        return ""

    async def _watchdog(self, st: TubeStatus) -> None:
        """X-rays off once the heartbeat has been silent for longer than the timeout."""
        timeout = float(self.watchdog_timeout.value)
        if timeout > 0 and self._last_beat is not None and time.monotonic() - self._last_beat > timeout:
            self._last_beat = None
            if st.xray_on:
                await self.call(self.driver.xray_off)
                why = f"watchdog: no heartbeat from the controlling client for {timeout:g} s: X-rays off"
                await self.status.write(why)
                await self.last_fault.write(f"{why} (at {time.strftime('%Y-%m-%d %H:%M:%S')})")

    async def refresh(self) -> TubeStatus:
        st: TubeStatus = await self.call(self.driver.status)
        await self.voltage.write(st.voltage_setpoint_kV, verify_value=False)
        await self.current.write(st.current_setpoint_mA, verify_value=False)
        await self.voltage_rbv.write(st.voltage_kV)
        await self.current_rbv.write(st.current_mA)
        await self.power_rbv.write(st.voltage_kV * st.current_mA if st.xray_on else 0.0)
        await self.xray_on_rbv.write(int(st.xray_on))
        await self.xray_on.write(int(st.xray_on), verify_value=False)
        await self.state.write(_STATE_NAMES[st.state])
        await self.interlock.write(int(st.interlock_closed))
        await self.warmed_up.write(int(st.warmed_up))
        reason = self._fault_reason(st)
        if reason and not self.fault.value:
            await self.last_fault.write(f"{reason} (at {time.strftime('%Y-%m-%d %H:%M:%S')})")
        await self.fault.write(int(bool(reason)))
        await self._watchdog(st)
        return st

    async def _check_setting(self, kV: float, mA: float) -> None:
        s = self.source
        if not 0 <= kV <= s.max_voltage_kV:
            await self.refuse(f"voltage {kV} kV outside [0, {s.max_voltage_kV}] kV")
        if not 0 <= mA <= s.max_current_mA:
            await self.refuse(f"current {mA} mA outside [0, {s.max_current_mA}] mA")
        if kV * mA > s.max_power_W:
            await self.refuse(f"{kV} kV x {mA} mA = {kV * mA:.1f} W exceeds {s.max_power_W} W")

    @voltage.putter
    async def voltage(self, instance, value: float) -> float:
        await self._check_setting(value, self.current.value)
        await self.command(self.driver.set_voltage, value)
        await self.status.write("OK")
        return value

    @current.putter
    async def current(self, instance, value: float) -> float:
        await self._check_setting(self.voltage.value, value)
        await self.command(self.driver.set_current, value)
        await self.status.write("OK")
        return value

    @xray_on.putter
    async def xray_on(self, instance, value: int) -> int:
        st = await self.command(self.driver.xray_on if value else self.driver.xray_off)
        await self.status.write("OK")
        return int(st.xray_on)

    @warmup.putter
    async def warmup(self, instance, value: int) -> int:
        if not value:
            return 0
        await self.call(self.driver.warm_up)
        limit_s = 2 * self.source.warmup_s + 10.0
        deadline = time.monotonic() + limit_s
        while not (await self.refresh()).warmed_up:
            if time.monotonic() > deadline:
                await self.refuse(f"warm-up did not finish within {limit_s} s")
            await asyncio.sleep(self.poll_s)
        return 0
