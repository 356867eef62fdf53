"""Emulated controllers speaking the drivers' protocols on loopback sockets, with faults on demand
(garbage, partial replies, silence, reboot, cable pulled): the bridge IOCs run against them in the
tests and in rehearsals without hardware (``gi-emulator tube|pi --port N``)."""

from gi_instrument.emulators.kou_tube import KouTubeEmulator
from gi_instrument.emulators.line_server import FAULTS, LineServer
from gi_instrument.emulators.pi_gcs import PIGCSEmulator

__all__ = ["LineServer", "FAULTS", "KouTubeEmulator", "PIGCSEmulator"]
