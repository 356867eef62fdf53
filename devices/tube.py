"""X-ray tube devices: ``MicrofocusTube`` (TLI, with G0) and ``MaastTube`` (structured anode)."""

from __future__ import annotations

from ophyd import Component as Cpt
from ophyd import Device, EpicsSignal, EpicsSignalRO

from gi_instrument.profile import Source
from gi_instrument.pv_interface import INTERLOCK_OPEN, NOT_WARMED_UP, Tube

__all__ = ["XrayTube", "MicrofocusTube", "MaastTube", "tube_class"]


class XrayTube(Device):
    """X-ray tube (PVs under ``{prefix}``: Voltage, Current, XrayOn, State_RBV, ...). Every read
    is a fresh get (no monitors), so a value read right after a put is the controller's.

    Read keys (device named ``tube``): ``tube_voltage_kV``, ``tube_current_mA``,
    ``tube_power_W``, ``tube_xray_on``. ``validate_setting`` checks a kV / mA pair against the
    tube's limits before anything is written. ``fault`` (1 during an arc or with kV / mA
    out of tolerance while emitting; ``status_message`` says why) and
    ``interlock_closed`` are monitored, for suspenders; ``heartbeat`` is what a session writes
    regularly so that the tube's watchdog (``watchdog_timeout_s``) switches the X-rays off when
    the controlling process is gone.
    """

    source_kind = ""

    voltage_kV = Cpt(EpicsSignal, Tube.VOLTAGE_RBV, write_pv=Tube.VOLTAGE, put_complete=True)
    current_mA = Cpt(EpicsSignal, Tube.CURRENT_RBV, write_pv=Tube.CURRENT, put_complete=True)
    power_W = Cpt(EpicsSignalRO, Tube.POWER_RBV)
    xray_on = Cpt(EpicsSignal, Tube.XRAY_ON_RBV, write_pv=Tube.XRAY_ON, put_complete=True)
    state = Cpt(EpicsSignalRO, Tube.STATE_RBV, string=True, kind="config")
    interlock_closed = Cpt(EpicsSignalRO, Tube.INTERLOCK_RBV, kind="config", auto_monitor=True)
    warmed_up = Cpt(EpicsSignalRO, Tube.WARMED_UP_RBV, kind="config")
    warmup = Cpt(EpicsSignal, Tube.WARMUP, put_complete=True, kind="omitted")
    warmup_time_s = Cpt(EpicsSignalRO, Tube.WARMUP_TIME_RBV, kind="config")
    max_voltage_kV = Cpt(EpicsSignalRO, Tube.MAX_VOLTAGE_RBV, kind="config")
    max_current_mA = Cpt(EpicsSignalRO, Tube.MAX_CURRENT_RBV, kind="config")
    max_power_W = Cpt(EpicsSignalRO, Tube.MAX_POWER_RBV, kind="config")
    status_message = Cpt(EpicsSignalRO, Tube.STATUS_RBV, string=True, kind="omitted")
    last_fault = Cpt(EpicsSignalRO, Tube.LAST_FAULT_RBV, string=True, kind="omitted")
    fault = Cpt(EpicsSignalRO, Tube.FAULT_RBV, kind="omitted", auto_monitor=True)
    heartbeat = Cpt(EpicsSignal, Tube.HEARTBEAT, kind="omitted")
    watchdog_timeout_s = Cpt(EpicsSignal, Tube.WATCHDOG_TIMEOUT, kind="config")

    def validate_setting(self, voltage_kV: float, current_mA: float) -> None:
        """Raise ValueError if ``voltage_kV`` x ``current_mA`` is outside the tube's limits."""
        max_kv, max_ma, max_w = self.max_voltage_kV.get(), self.max_current_mA.get(), self.max_power_W.get()
        if not 0 < voltage_kV <= max_kv:
            raise ValueError(f"{self.name}: voltage {voltage_kV} kV outside (0, {max_kv}] kV")
        if not 0 < current_mA <= max_ma:
            raise ValueError(f"{self.name}: current {current_mA} mA outside (0, {max_ma}] mA")
        if voltage_kV * current_mA > max_w:
            raise ValueError(f"{self.name}: {voltage_kV} kV x {current_mA} mA = {voltage_kV * current_mA:.1f} W "
                             f"exceeds {max_w} W")

    def ready_to_emit(self, tolerance_pct: float) -> str | None:
        """None when X-rays can be switched on, else the reason they cannot: interlock open, a
        fault, not warmed up, or (with X-rays on) kV / mA readbacks further than
        ``tolerance_pct`` % from their setpoints."""
        if not self.interlock_closed.get():
            return INTERLOCK_OPEN
        if self.fault.get():
            return f"tube in fault ({self.status_message.get()})"
        if not self.warmed_up.get():
            return NOT_WARMED_UP
        if not self.xray_on.get():      # high voltage and current are only there while emitting
            return None
        for signal, unit in ((self.voltage_kV, "kV"), (self.current_mA, "mA")):
            value, setpoint = float(signal.get()), float(signal.get_setpoint())
            if abs(value - setpoint) > tolerance_pct / 100.0 * abs(setpoint):
                return f"{signal.name} {value:g} {unit} differs from its setpoint {setpoint:g} {unit} " \
                       f"by more than {tolerance_pct:g} %"
        return None


class MicrofocusTube(XrayTube):
    """Micro-focus tube of the TLI set-up (used with a G0 source grating)."""

    source_kind = "microfocus"


class MaastTube(XrayTube):
    """Sigray MAAST structured-anode tube (replaces G0)."""

    source_kind = "maast"


def tube_class(source: Source) -> type[XrayTube]:
    """The tube device class for a profile's source kind."""
    for cls in (MicrofocusTube, MaastTube):
        if cls.source_kind == source.kind:
            return cls
    raise ValueError(f"no tube device for source kind {source.kind!r}")
