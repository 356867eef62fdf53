"""Validation of plan arguments against the profile and the hardware limits.

Every public plan validates all its arguments when it is *called*, before it yields a single
message, so a bad argument raises a clear ValueError and nothing moves.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from gi_instrument.devices import GIInstrument

__all__ = ["is_real", "check_bool", "check_exposure", "check_g2_origin", "check_angles", "check_count", "check_tube_ready",
           "check_sample_positions"]


def check_exposure(inst: GIInstrument, exposure_s: float | None) -> float:
    """Exposure per frame, s (default: the profile's), within the profile's [min, max]."""
    ct = inst.profile.ct
    value = ct.exposure_s if exposure_s is None else exposure_s
    if not is_real(value) or not math.isfinite(value):
        raise ValueError(f"exposure_s must be a number of seconds, got {exposure_s!r}")
    if not ct.min_exposure_s <= value <= ct.max_exposure_s:
        raise ValueError(f"exposure_s {value} s outside the profile's range "
                         f"[{ct.min_exposure_s}, {ct.max_exposure_s}] s")
    return float(value)


def check_g2_origin(inst: GIInstrument, g2_origin_um: float) -> float:
    """G2 position of the first step, um; every step must lie within the piezo's travel."""
    if not is_real(g2_origin_um) or not math.isfinite(g2_origin_um):
        raise ValueError(f"g2_origin_um must be a number of um, got {g2_origin_um!r}")
    positions = inst.profile.stepping_positions_um
    inst.g2.check_value(g2_origin_um + positions[0])
    inst.g2.check_value(g2_origin_um + positions[-1])
    return float(g2_origin_um)


def check_angles(inst: GIInstrument, *angles_deg: float) -> None:
    """Every angle (deg) within the rotation stage's travel."""
    for angle in angles_deg:
        inst.rotation.check_value(angle)


def check_count(name: str, value: int, minimum: int = 0) -> int:
    """A whole number >= ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def is_real(value: object) -> bool:
    """A real number (Python or numpy, integer or float), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_bool(name: str, value: object) -> bool:
    """A real boolean (Python or numpy); a string such as ``'no'`` is refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_sample_positions(inst: GIInstrument) -> None:
    """The profile's in/out sample positions lie within the stage's travel."""
    stage = inst.profile.sample_stage
    inst.sample.check_value(stage.in_mm)
    inst.sample.check_value(stage.out_mm)


def check_tube_ready(inst: GIInstrument) -> None:
    """Raise RuntimeError if X-rays cannot be switched on (interlock open, fault, not warmed up,
    kV / mA off their setpoints by more than the profile's ``recovery.beam_tolerance_pct``)."""
    reason = inst.tube.ready_to_emit(inst.profile.recovery.beam_tolerance_pct)
    if reason is not None:
        fix = "" if inst.tube.warmed_up.get() else " (warm it up: RE(warm_up_tube(inst)), or queue warm_up_tube)"
        raise RuntimeError(f"X-ray tube not ready: {reason}{fix}")
