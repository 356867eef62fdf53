"""The rotation stage (deg) and the sample translation stage (mm)."""

from __future__ import annotations

from ophyd import Component as Cpt
from ophyd import EpicsSignal, EpicsSignalRO, Kind

from gi_instrument.devices.axis import PutCompletePositioner
from gi_instrument.pv_interface import Axis, SampleStage

__all__ = ["RotationStage", "SampleStage"]


class _Stage(PutCompletePositioner):
    """A stage: its setpoint is configuration (read once per stream), its readback is read with
    every frame. Its velocity is monitored (it changes only when set, unlike the readback), so
    a move's timeout (:meth:`~.axis.PutCompletePositioner.move_timeout_s`) costs no round trip."""

    velocity = Cpt(EpicsSignal, Axis.VELOCITY, kind="config", auto_monitor=True)
    done_moving = Cpt(EpicsSignalRO, Axis.DONE_RBV, kind="omitted")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.setpoint.kind = Kind.config


class RotationStage(_Stage):
    """Rotation stage. Read keys (device ``rotation``): ``rotation_angle_deg``,
    ``rotation_setpoint_deg``; ``velocity`` in deg/s."""

    readback_key = "angle_deg"
    setpoint_key = "setpoint_deg"
    tolerance = 0.01


class SampleStage(_Stage):
    """Sample translation stage. Read keys (device ``sample``): ``sample_x_mm``,
    ``sample_setpoint_mm``; ``in_mm`` / ``out_mm`` (served by the controller, checked against
    the profile by ``make_instrument``) are the positions with the sample in the beam and clear
    of the field of view."""

    readback_key = "x_mm"
    setpoint_key = "setpoint_mm"
    tolerance = 0.01

    in_mm = Cpt(EpicsSignalRO, SampleStage.IN_POS_RBV, kind="config")
    out_mm = Cpt(EpicsSignalRO, SampleStage.OUT_POS_RBV, kind="config")
