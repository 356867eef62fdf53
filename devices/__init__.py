"""Ophyd devices of the grating-interferometry CT (import as gi_instrument.devices)."""

from gi_instrument.devices.ad_detector import ADSCMOSDetector, ControllerLostError
from gi_instrument.devices.detector import BeamStateError, FrameLostError, SCMOSDetector
from gi_instrument.devices.instrument import GIInstrument, make_instrument
from gi_instrument.devices.piezo import PiezoStepper
from gi_instrument.devices.stages import RotationStage, SampleStage
from gi_instrument.devices.tube import MaastTube, MicrofocusTube, XrayTube

__all__ = ["XrayTube", "MicrofocusTube", "MaastTube", "PiezoStepper", "RotationStage", "SampleStage",
           "SCMOSDetector", "ADSCMOSDetector", "FrameLostError", "BeamStateError", "ControllerLostError",
           "GIInstrument", "make_instrument"]
