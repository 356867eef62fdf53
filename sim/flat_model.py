"""A frame model without physics: every frame is the detector's dark offset, made at no cost.

For measuring the acquisition's own overhead (``gi-sim-ioc --frame-model flat``,
``benchmarks/bench_acquisition.py``): the IOC then does all it does per frame (exposure, G2
steps, HDF5 writes, Channel Access) except compute the frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gi_instrument.profile import Profile

__all__ = ["FlatFrameModel"]


class FlatFrameModel:
    """Frames of ``profile``'s detector (binned), all at its dark offset, ADU."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    def frame(self, *, angle_deg: float, g2_um: float, sample_offset_mm: float, exposure_s: float,
              current_mA: float, xray_on: bool, time_s: float, binning: int = 1) -> np.ndarray:
        """A frame (height_px // binning, width_px // binning) uint16 at the dark offset."""
        det = self.profile.detector
        offset_adu = round(self.profile.simulation.dark_offset_adu)
        return np.full((det.height_px // binning, det.width_px // binning), offset_adu, dtype=np.uint16)

    def prefetch(self, *, angle_deg: float, sample_offset_mm: float, binning: int = 1) -> None:
        """Nothing to compute ahead."""

    @property
    def noise_state(self) -> dict[str, Any]:
        """No noise generator: an empty state (an IOC restart carries nothing)."""
        return {}

    @noise_state.setter
    def noise_state(self, state: dict[str, Any]) -> None:
        pass
