"""The simulated X-ray tube (micro-focus + G0 for TLI, structured anode for MAAST).

The tube tells the truth about its beam: while the interlock is open, during an arc, or while
the high voltage or current is out of tolerance with X-rays on, its state is ``Fault`` with the
reason in ``Status_RBV`` (kept in ``LastFault_RBV`` after it clears). Exposures open a
:class:`DoseWindow` that records the extremes of kV and mA and any arc, interlock opening or
X-ray trip while the frame is exposed, so a frame that missed part of its dose can be refused.
"""

from __future__ import annotations

import asyncio
import time

from caproto import ChannelType
from caproto.server import pvproperty

from gi_instrument.dose_window import DoseWindow
from gi_instrument.profile import Source
from gi_instrument.pv_groups import TubeLimits
from gi_instrument.pv_interface import INTERLOCK_OPEN, NOT_WARMED_UP, TUBE_STATES, Tube
from gi_instrument.sim.clock import SimClock

__all__ = ["SimTube", "TUBE_STATES", "DoseWindow"]

class SimTube(TubeLimits):
    """X-ray tube PVs.

    ``Voltage`` / ``Voltage_RBV`` (kV), ``Current`` / ``Current_RBV`` (mA), ``Power_RBV`` (W),
    ``XrayOn`` / ``XrayOn_RBV`` (0/1), ``State_RBV`` (Off, WarmingUp, Ready, XrayOn, Fault),
    ``Fault_RBV`` (1 during an arc or with kV / mA out of tolerance while emitting; an open
    interlock shows in ``Interlock_RBV`` and the state), ``Status_RBV`` (the present fault, or why X-rays went off,
    or OK), ``LastFault_RBV`` (the last fault, never erased), ``Interlock_RBV`` (1 = closed,
    safe to emit), ``WarmedUp_RBV`` (0/1), ``Warmup`` (put 1 to start a warm-up of
    ``WarmupTime_RBV`` s), ``MaxVoltage_RBV`` / ``MaxCurrent_RBV`` / ``MaxPower_RBV`` (limits),
    ``Tolerance_RBV`` (% of the setpoints the kV / mA readbacks may deviate while emitting).
    Setpoints outside the limits are refused; X-rays cannot be switched on with the interlock
    open, in a fault or before warm-up; once tripped they stay off until switched on again.
    Watchdog: ``Heartbeat`` (the controlling client writes it regularly) and ``WatchdogTimeout``
    (wall-clock s, in the profile's range of ``recovery.watchdog_timeout_s``: a put of 0, a negative
    or a larger value is refused): after the first heartbeat, X-rays go off when none came for that long.
    Fault injection: ``InterlockOpen`` (1 opens the interlock, X-rays trip off; 0 closes it),
    ``Arc`` (put a duration in nominal s: high voltage and current collapse for that long),
    ``ArcInExposure`` (a duration in nominal s, shorter than an exposure: the next exposure gets an
    arc that long, starting a quarter into it), ``ColdStart`` (1 forgets the warm-up).
    ``warmed_up`` / ``interlock_open``: the state at start-up (an IOC restart keeps both; X-rays
    always start off).
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
    fault = pvproperty(name=Tube.FAULT_RBV, value=0, read_only=True)
    interlock = pvproperty(name=Tube.INTERLOCK_RBV, value=1, read_only=True)
    warmed_up = pvproperty(name=Tube.WARMED_UP_RBV, value=1, read_only=True)
    warmup = pvproperty(name=Tube.WARMUP, value=0)
    tolerance = pvproperty(name=Tube.TOLERANCE_RBV, value=0.0, units="%", read_only=True)
    status = pvproperty(name=Tube.STATUS_RBV, value="OK", dtype=ChannelType.CHAR, max_length=200,
                        read_only=True)
    last_fault = pvproperty(name=Tube.LAST_FAULT_RBV, value="", dtype=ChannelType.CHAR, max_length=200,
                            read_only=True)
    heartbeat = pvproperty(name=Tube.HEARTBEAT, value=0)
    # fault injection
    interlock_open = pvproperty(name=Tube.INTERLOCK_OPEN, value=0)
    arc = pvproperty(name=Tube.ARC, value=0.0, units="s")
    arc_in_exposure = pvproperty(name=Tube.ARC_IN_EXPOSURE, value=0.0, units="s")
    cold_start = pvproperty(name=Tube.COLD_START, value=0)

    def __init__(self, *args, clock: SimClock, source: Source, tolerance_pct: float,
                 watchdog_timeout_s: float, warmed_up: bool = True, interlock_open: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock
        self._start = (warmed_up, interlock_open)
        self.source = source
        self._tolerance_pct = tolerance_pct
        self._watchdog_s = watchdog_timeout_s
        self._arcing = False
        self._last_beat: float | None = None
        self._tripped = ""
        self._last_reason = ""
        self._windows: list[DoseWindow] = []

    @property
    def emitting(self) -> bool:
        """True while X-rays are on at full high voltage (no arc, interlock closed)."""
        return bool(self.xray_on_rbv.value) and not self._arcing and bool(self.interlock.value)

    @voltage.startup
    async def voltage(self, instance, async_lib) -> None:
        s = self.source
        await self.publish_limits(s)
        await self.tolerance.write(self._tolerance_pct)
        await self.watchdog_timeout.write(self._watchdog_s)
        await instance.write(s.voltage_kV, verify_value=False)
        await self.voltage_rbv.write(s.voltage_kV)
        await self.current.write(s.current_mA, verify_value=False)
        await self.current_rbv.write(s.current_mA)
        warmed_up, interlock_open = self._start
        await self.warmed_up.write(int(warmed_up))
        await self.interlock_open.write(int(interlock_open), verify_value=False)
        await self.interlock.write(0 if interlock_open else 1)
        await self._refresh()

    async def refuse(self, message: str) -> None:
        """Refuse a put: ``Status_RBV`` says why, the put fails."""
        await self.status.write(message)
        raise ValueError(f"{self.prefix}: {message}")

    async def _check_power(self, kv: float, ma: float) -> None:
        if kv * ma > self.source.max_power_W:
            await self.refuse(f"{kv} kV x {ma} mA = {kv * ma:.1f} W exceeds {self.source.max_power_W} W")

    @voltage.putter
    async def voltage(self, instance, value: float) -> float:
        if not 0 <= value <= self.source.max_voltage_kV:
            await self.refuse(f"voltage {value} kV outside [0, {self.source.max_voltage_kV}] kV")
        await self._check_power(value, self.current.value)
        if not self._arcing:
            await self.voltage_rbv.write(value)
        await self._refresh(voltage_kV=value)
        return value

    @current.putter
    async def current(self, instance, value: float) -> float:
        if not 0 <= value <= self.source.max_current_mA:
            await self.refuse(f"current {value} mA outside [0, {self.source.max_current_mA}] mA")
        await self._check_power(self.voltage.value, value)
        if not self._arcing:
            await self.current_rbv.write(value)
        await self._refresh(current_mA=value)
        return value

    def _fault_reason(self, voltage_kV: float | None = None, current_mA: float | None = None) -> str:
        """Why the tube is in fault now ('' when it is not)."""
        if not self.interlock.value:
            return f"{INTERLOCK_OPEN}: X-rays off"
        if self._arcing:
            return "arc: high voltage collapsed"
        if self.xray_on_rbv.value:
            tol = self._tolerance_pct / 100.0
            for name, rbv, set_, unit in (
                    ("voltage", self.voltage_rbv.value, self.voltage.value if voltage_kV is None else voltage_kV, "kV"),
                    ("current", self.current_rbv.value, self.current.value if current_mA is None else current_mA, "mA")):
                if abs(rbv - set_) > tol * abs(set_):
                    return f"{name} {rbv:g} {unit} out of tolerance ({self._tolerance_pct:g} % of {set_:g} {unit})"
        return ""

    async def _refresh(self, *, voltage_kV: float | None = None, current_mA: float | None = None,
                       warming: bool = False) -> None:
        """Derive state, fault flag, status and power from the present values; feed open windows.
        ``voltage_kV`` / ``current_mA``: a setpoint being written (its PV not yet updated)."""
        reason = self._fault_reason(voltage_kV, current_mA)
        if reason and reason != self._last_reason:
            await self.last_fault.write(f"{reason} (at {time.strftime('%Y-%m-%d %H:%M:%S')})")
        self._last_reason = reason
        if reason:
            state = "Fault"
        elif warming:
            state = "WarmingUp"
        elif self.xray_on_rbv.value:
            state = "XrayOn"
        else:
            state = "Ready" if self.warmed_up.value else "Off"
        status = reason or (f"X-rays off since: {self._tripped}" if self._tripped else "OK")
        if self.status.value != status:
            await self.status.write(status)
        if self.state.value != state:
            await self.state.write(state)
        fault = int(bool(reason) and bool(self.interlock.value))   # the interlock has a PV of its own
        if self.fault.value != fault:
            await self.fault.write(fault)
        on = self.emitting
        await self.power_rbv.write(self.voltage_rbv.value * self.current_rbv.value if on else 0.0)
        for window in self._windows:
            window.note(self.voltage_rbv.value, self.current_rbv.value, arcing=self._arcing,
                        interlock_open=not self.interlock.value, emitting=on)

    def open_window(self) -> DoseWindow:
        """Start recording the beam for one exposure (close it with :meth:`close_window`)."""
        kv, ma = self.voltage_rbv.value, self.current_rbv.value
        window = DoseWindow(kv, kv, ma, ma)
        window.note(kv, ma, arcing=self._arcing, interlock_open=not self.interlock.value, emitting=self.emitting)
        self._windows.append(window)
        return window

    def close_window(self, window: DoseWindow) -> DoseWindow:
        """Stop recording ``window`` (its values as they stand)."""
        window.note(self.voltage_rbv.value, self.current_rbv.value, arcing=self._arcing,
                    interlock_open=not self.interlock.value, emitting=self.emitting)
        self._windows.remove(window)
        return window

    async def expose(self, exposure_s: float, until: asyncio.Event | None = None) -> float:
        """Sleep through one exposure of ``exposure_s`` nominal s (shorter once ``until`` is set);
        a pending ``ArcInExposure`` strikes a quarter into it. Returns the real s it took."""
        arc_s = float(self.arc_in_exposure.value)
        if arc_s <= 0:
            return await self.clock.sleep(exposure_s, until=until)
        await self.arc_in_exposure.write(0.0)
        start = time.monotonic()
        await self.clock.sleep(exposure_s / 4.0, until=until)
        await self._arc(arc_s)
        await self.clock.sleep(max(0.0, 0.75 * exposure_s - arc_s), until=until)
        return time.monotonic() - start

    async def _trip(self, why: str) -> None:
        """X-rays off by the tube itself (interlock, watchdog); they stay off until switched on."""
        if self.xray_on_rbv.value:
            self._tripped = why
            await self.xray_on_rbv.write(0)
            await self.xray_on.write(0, verify_value=False)

    @xray_on.putter
    async def xray_on(self, instance, value: int) -> int:
        if value:
            if not self.interlock.value:
                await self.refuse(f"{INTERLOCK_OPEN}: X-rays stay off")
            if not self.warmed_up.value:
                await self.refuse(f"{NOT_WARMED_UP}: run Warmup first")
            if self._arcing:
                await self.refuse("arc in progress: X-rays stay off")
            self._tripped = ""
            await self.xray_on_rbv.write(1)
        else:
            await self.xray_on_rbv.write(0)
        await self._refresh()
        return 1 if value else 0

    @warmup.putter
    async def warmup(self, instance, value: int) -> int:
        if value:
            await self._refresh(warming=True)
            await self.clock.sleep(self.source.warmup_s)
            await self.warmed_up.write(1)
            await self._refresh()
        return 0

    @heartbeat.putter
    async def heartbeat(self, instance, value: int) -> int:
        self._last_beat = time.monotonic()
        return value

    @heartbeat.scan(period=0.1, use_scan_field=False)
    async def heartbeat(self, instance, async_lib) -> None:
        timeout = float(self.watchdog_timeout.value)
        if timeout > 0 and self._last_beat is not None and time.monotonic() - self._last_beat > timeout:
            self._last_beat = None
            if self.xray_on_rbv.value:
                await self._trip(f"watchdog: no heartbeat from the controlling client for {timeout:g} s")
                await self.last_fault.write(f"{self._tripped} (at {time.strftime('%Y-%m-%d %H:%M:%S')})")
                await self._refresh()

    @interlock_open.putter
    async def interlock_open(self, instance, value: int) -> int:
        await self.interlock.write(0 if value else 1)
        if value:
            await self._trip("interlock opened")
        await self._refresh()
        return value

    async def _arc(self, duration_s: float) -> None:
        """High voltage and current collapse for ``duration_s`` nominal s, then recover."""
        self._arcing = True
        await self.voltage_rbv.write(0.0)
        await self.current_rbv.write(0.0)
        await self._refresh()
        await self.clock.sleep(duration_s)
        self._arcing = False
        await self.voltage_rbv.write(self.voltage.value)
        await self.current_rbv.write(self.current.value)
        await self._refresh()

    @arc.putter
    async def arc(self, instance, value: float) -> float:
        if value > 0:
            await self._arc(value)
        return 0.0

    @cold_start.putter
    async def cold_start(self, instance, value: int) -> int:
        if value:
            await self.warmed_up.write(0)
            await self.xray_on_rbv.write(0)
            await self._refresh()
        return 0
