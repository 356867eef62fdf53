"""Calibration of the simulated scanner against the paper's measured figures.

Measurement (what the paper reports as angular sensitivity and mean visibility, DESIGN.md §2):

- angular sensitivity: two reference stepping scans (sample out, binning 1, ``ct.exposure_s``
  per step, ``source.current_mA``, ``stepping.steps`` equidistant G2 positions, one after the
  other), dark-corrected and compared with :func:`gi_instrument.processing.retrieve`; the
  refraction angle ``alpha = p2 dpc / (2 pi d)`` of one scan against the other over a sample-free
  window at the detector centre. Convention: ``sigma_alpha = std(alpha) / sqrt(2)`` (the
  difference of two equally noisy scans has twice the variance of one), i.e. the noise of one
  scan's alpha;
- mean visibility: mean of the reference visibility map over the whole detector (binning 8,
  where photon noise biases it by far less than 0.1 point).

Model (the one the profile's ``simulation.photon_flux_per_s_mA_px`` was set with): for a pixel
with ``a0`` photons per step, visibility ``V`` and ``N`` steps, the phase of one scan has variance
``2 (a0 + r^2) / (N a0^2 V^2)`` (Poisson plus read and quantisation noise ``r`` in photons), so
``sigma_alpha^2 = (p2 / (2 pi d))^2 * mean over pixels of that variance``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from gi_instrument.processing import refraction_angle_rad, retrieve
from gi_instrument.profile import Profile
from gi_instrument.sim.scanner_model import ScannerModel, Window, detector_maps

__all__ = ["ReferencePerformance", "central_window", "measure_reference_performance",
           "predicted_sensitivity_nrad", "flux_for_sensitivity"]

VISIBILITY_BINNING = 8
"""Binning of the full-field visibility measurement."""


@dataclass(frozen=True)
class ReferencePerformance:
    """Figures measured on simulated reference scans."""

    angular_sensitivity_nrad: float
    """sigma_alpha = std(alpha of scan 2 against scan 1) / sqrt(2), nrad."""
    mean_visibility: float
    """Mean reference visibility over the detector (fraction)."""


def central_window(profile: Profile, size_px: int = 128) -> Window:
    """A ``size_px`` square window at the centre of the unbinned detector."""
    det = profile.detector
    return Window((det.height_px - size_px) // 2, (det.width_px - size_px) // 2, size_px, size_px)


def _reference_scan(model: ScannerModel, *, exposure_s: float, time_s: float, binning: int,
                    window: Window | None) -> np.ndarray:
    p = model.profile
    out_mm = p.sample_stage.out_mm - p.sample_stage.in_mm
    return np.stack([
        model.frame(angle_deg=0.0, g2_um=x, sample_offset_mm=out_mm, exposure_s=exposure_s,
                    current_mA=p.source.current_mA, xray_on=True, time_s=time_s + k * exposure_s,
                    binning=binning, window=window)
        for k, x in enumerate(p.stepping_positions_um)])


def _dark(model: ScannerModel, binning: int, window: Window | None) -> np.ndarray:
    p = model.profile
    return np.stack([
        model.frame(angle_deg=0.0, g2_um=0.0, sample_offset_mm=0.0, exposure_s=p.ct.exposure_s,
                    current_mA=0.0, xray_on=False, time_s=0.0, binning=binning, window=window)
        for _ in range(p.ct.dark_frames)])


def measure_reference_performance(model: ScannerModel, *, exposure_s: float | None = None,
                                  window: Window | None = None) -> ReferencePerformance:
    """Measure angular sensitivity (on ``window``, default :func:`central_window`, binning 1) and
    mean visibility (whole detector, binning 8) from simulated reference scans."""
    p = model.profile
    exposure_s = p.ct.exposure_s if exposure_s is None else exposure_s
    window = central_window(p) if window is None else window
    scan_s = p.stepping.steps * exposure_s
    first = _reference_scan(model, exposure_s=exposure_s, time_s=0.0, binning=1, window=window)
    second = _reference_scan(model, exposure_s=exposure_s, time_s=scan_s, binning=1, window=window)
    result = retrieve(second, first, dark=_dark(model, 1, window))
    alpha = refraction_angle_rad(result.dpc.astype(np.float64), p.gratings.g2_period_um, p.geometry.g1_g2_cm)
    sigma_nrad = float(np.std(alpha) / math.sqrt(2.0) * 1e9)

    flat = _reference_scan(model, exposure_s=exposure_s, time_s=0.0, binning=VISIBILITY_BINNING, window=None)
    vis = retrieve(flat, flat, dark=_dark(model, VISIBILITY_BINNING, None)).visibility_reference
    return ReferencePerformance(angular_sensitivity_nrad=sigma_nrad, mean_visibility=float(np.mean(vis)))


def predicted_sensitivity_nrad(profile: Profile, flux_per_s_mA_px: float, *,
                               exposure_s: float | None = None, window: Window | None = None) -> float:
    """sigma_alpha, nrad, the noise model predicts on ``window`` for a given photon flux."""
    sim = profile.simulation
    exposure_s = profile.ct.exposure_s if exposure_s is None else exposure_s
    window = central_window(profile) if window is None else window
    flux_map, vis, _ = detector_maps(profile, 1, window)
    a0 = flux_per_s_mA_px * exposure_s * profile.source.current_mA * flux_map
    r2 = (sim.read_noise_adu**2 + 1.0 / 12.0) / sim.gain_adu_per_photon**2
    var_phi = 2.0 * (a0 + r2) / (profile.stepping.steps * a0**2 * vis**2)
    scale = profile.gratings.g2_period_um * 1e-6 / (2 * math.pi * profile.geometry.g1_g2_cm * 1e-2)
    return float(math.sqrt(np.mean(var_phi)) * scale * 1e9)


def flux_for_sensitivity(profile: Profile, *, exposure_s: float | None = None,
                         window: Window | None = None) -> float:
    """Photon flux (photons / s / mA / pixel) for which the noise model gives the paper's
    ``performance.angular_sensitivity_nrad`` at ``exposure_s`` (default ``ct.exposure_s``)."""
    target = profile.performance.angular_sensitivity_nrad
    return float(brentq(lambda f: predicted_sensitivity_nrad(profile, f, exposure_s=exposure_s,
                                                             window=window) - target, 1e-3, 1e9))
