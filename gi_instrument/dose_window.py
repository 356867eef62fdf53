"""What the beam did during one exposure, as the tube side saw it: kV and mA extremes and whether
an arc, an interlock opening or an X-ray trip happened. Kept by the simulated tube for its
camera (:mod:`gi_instrument.sim.tube`) and by the areaDetector camera device from the tube's
readbacks (:mod:`gi_instrument.devices.beam_watch`); a frame whose window shows a disturbance
is refused (:func:`gi_instrument.devices.stepping_camera.beam_disturbance`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DoseWindow"]


@dataclass
class DoseWindow:
    """What the beam did during one exposure: kV and mA readback extremes and fault flags."""

    voltage_min_kV: float
    voltage_max_kV: float
    current_min_mA: float
    current_max_mA: float
    arc: bool = False
    interlock_open: bool = False
    xray_off: bool = False

    def note(self, kv: float, ma: float, *, arcing: bool, interlock_open: bool, emitting: bool) -> None:
        """Fold the tube's present values into the window."""
        self.voltage_min_kV, self.voltage_max_kV = min(self.voltage_min_kV, kv), max(self.voltage_max_kV, kv)
        self.current_min_mA, self.current_max_mA = min(self.current_min_mA, ma), max(self.current_max_mA, ma)
        self.arc |= arcing
        self.interlock_open |= interlock_open
        self.xray_off |= not emitting

    def frame_values(self) -> dict[str, float]:
        """The window as values recorded with a frame (names of
        :data:`~gi_instrument.pv_interface.FRAME_ATTRIBUTES` and ``DOSE_ATTRIBUTES``)."""
        return {"xray_on": float(not self.xray_off), "voltage_min_kV": self.voltage_min_kV,
                "voltage_max_kV": self.voltage_max_kV, "current_min_mA": self.current_min_mA,
                "current_max_mA": self.current_max_mA, "arc": float(self.arc),
                "interlock_open": float(self.interlock_open)}
