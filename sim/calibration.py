"""Calibration of the simulated scanner against the paper's measured figures, in closed form.

The simulator is set up from expectations of its own noise model, never by running the processing
on its frames (that would check the simulator with the code it is meant to check).

Angular sensitivity (what the paper quotes, DESIGN.md section 2): the noise of the refraction angle
at the sample of one reference stepping scan. For a pixel with ``a0`` photons per step, visibility
``V`` and ``N`` equidistant steps, the least-squares (Fourier) phase of the stepping curve has,
for Poisson counts, the variance ``sigma_phi^2 = 2 / (N a0 V^2)`` (``a0 N`` photons summed over
the steps: ``sigma_phi = sqrt(2) / (V sqrt(a0 N))``); read and quantisation noise ``r`` (photons
rms per frame) add ``2 r^2 / (N a0^2 V^2)``. The phase is turned into the refraction angle with
the lever arm of the sample position (:func:`gi_instrument.sim.interferometer.lever_arm_m`)::

    sigma_alpha = p2 sigma_phi / (2 pi d_eff),

averaged (in variance) over a window at the detector centre, binning 1, ``ct.exposure_s`` per
step and ``source.current_mA``. ``simulation.photon_flux_per_s_mA_px`` in the profiles is
:func:`flux_for_sensitivity`: the flux for which this equals ``performance.angular_sensitivity_nrad``.

Mean visibility: the open-beam visibility map of the model
(:func:`~gi_instrument.sim.scanner_model.detector_maps`, times the moire's pixel-integration
factor) averaged over the detector; it equals ``performance.visibility`` by construction, up to
that factor.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq

from gi_instrument.profile import Profile
from gi_instrument.sim.interferometer import profile_lever_arm_m
from gi_instrument.sim.scanner_model import Window, detector_maps, moire_pixel_factor

__all__ = ["central_window", "phase_variance_rad2", "predicted_sensitivity_nrad", "flux_for_sensitivity",
           "expected_mean_visibility"]


def central_window(profile: Profile, size_px: int = 128) -> Window:
    """A ``size_px`` square window at the centre of the unbinned detector."""
    det = profile.detector
    return Window((det.height_px - size_px) // 2, (det.width_px - size_px) // 2, size_px, size_px)


def phase_variance_rad2(a0_photons: np.ndarray | float, visibility: np.ndarray | float, steps: int,
                        read_photons: float = 0.0) -> np.ndarray | float:
    """Variance, rad^2, of the fitted stepping-curve phase of one scan: ``a0_photons`` per step,
    ``steps`` equidistant steps, Poisson plus ``read_photons`` rms of Gaussian noise per frame."""
    return 2.0 * (np.asarray(a0_photons) + read_photons**2) / (steps * np.asarray(a0_photons) ** 2
                                                               * np.asarray(visibility) ** 2)


def predicted_sensitivity_nrad(profile: Profile, flux_per_s_mA_px: float, *,
                               exposure_s: float | None = None, window: Window | None = None,
                               binning: int = 1) -> float:
    """sigma_alpha, nrad, of one reference scan on ``window`` (default :func:`central_window`)."""
    sim = profile.simulation
    exposure_s = profile.ct.exposure_s if exposure_s is None else exposure_s
    window = central_window(profile) if window is None else window
    flux_map, vis, _ = detector_maps(profile, binning, window)
    a0 = flux_per_s_mA_px * exposure_s * profile.source.current_mA * binning**2 * flux_map
    # the camera averages b x b pixels: read noise r / b in ADU is r b in photons of the sum
    read_photons = math.sqrt(sim.read_noise_adu**2 + 1.0 / 12.0) * binning / sim.gain_adu_per_photon
    var_phi = phase_variance_rad2(a0, vis * moire_pixel_factor(profile, binning), profile.stepping.steps,
                                  read_photons)
    scale = profile.gratings.g2_period_um * 1e-6 / (2 * math.pi * profile_lever_arm_m(profile))
    return float(math.sqrt(np.mean(var_phi)) * scale * 1e9)


def flux_for_sensitivity(profile: Profile, *, exposure_s: float | None = None,
                         window: Window | None = None) -> float:
    """Photon flux (photons / s / mA / pixel) for which :func:`predicted_sensitivity_nrad` gives the
    paper's ``performance.angular_sensitivity_nrad`` at ``exposure_s`` (default ``ct.exposure_s``)."""
    target = profile.performance.angular_sensitivity_nrad
    return float(brentq(lambda f: predicted_sensitivity_nrad(profile, f, exposure_s=exposure_s,
                                                             window=window) - target, 1e-3, 1e9))


def expected_mean_visibility(profile: Profile, binning: int = 8) -> float:
    """Mean open-beam visibility of the model's frames over the detector at ``binning``."""
    _, vis, _ = detector_maps(profile, binning)
    return float(np.mean(vis * moire_pixel_factor(profile, binning)))
