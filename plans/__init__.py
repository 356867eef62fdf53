"""Bluesky plans for phase-stepping CT (import as gi_instrument.plans)."""

from gi_instrument.plans.ct import gi_ct, gi_ct_resume
from gi_instrument.plans.metadata import STREAMS
from gi_instrument.plans.recovery import ScanFailedError
from gi_instrument.plans.service import take_test_image, warm_up_tube
from gi_instrument.plans.schedule import CTSchedule, ct_schedule, estimate_ct_seconds, format_duration
from gi_instrument.plans.stepping import dark_scan, phase_step, reference_scan
from gi_instrument.plans.stubs import PositionError, SettingRefusedError

__all__ = ["gi_ct", "gi_ct_resume", "phase_step", "reference_scan", "dark_scan", "warm_up_tube",
           "take_test_image", "STREAMS", "CTSchedule", "ct_schedule", "estimate_ct_seconds", "format_duration",
           "PositionError", "SettingRefusedError", "ScanFailedError"]
