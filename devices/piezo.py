"""The G2 piezo that steps the analyser grating through one period."""

from __future__ import annotations

from ophyd import Component as Cpt
from ophyd import EpicsSignal, EpicsSignalRO

from gi_instrument.devices.axis import PutCompletePositioner
from gi_instrument.pv_interface import Piezo

__all__ = ["PiezoStepper"]


class PiezoStepper(PutCompletePositioner):
    """G2 piezo, positions in um. Read keys (device ``g2``): ``g2_position_um`` (measured,
    stored with every frame for least-squares retrieval) and ``g2_setpoint_um``."""

    readback_key = "position_um"
    setpoint_key = "setpoint_um"
    tolerance = 0.05
    """Largest |readback - setpoint| accepted after a step, um (1/60 of a 3 um period)."""

    moving = Cpt(EpicsSignalRO, Piezo.MOVING_RBV, kind="omitted")
    settle_time_s = Cpt(EpicsSignal, Piezo.SETTLE_TIME, kind="config")
