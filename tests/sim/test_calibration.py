"""The simulated scanner reproduces the paper's angular sensitivity and mean visibility.

The frames are checked against closed-form expectations (Poisson phase noise, known geometry),
with a plain Fourier estimate of the stepping curves written here: the processing package is not
used to check the simulator."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gi_instrument.profile import load_profile
from gi_instrument.sim.calibration import (
    central_window,
    expected_mean_visibility,
    flux_for_sensitivity,
    predicted_sensitivity_nrad,
)
from gi_instrument.sim.interferometer import profile_lever_arm_m
from gi_instrument.sim.phantom import Phantom
from gi_instrument.sim.scanner_model import ScannerModel


def first_harmonic(model: ScannerModel, *, exposure_s: float, time_s: float, binning: int,
                   window=None, dark_adu: float) -> np.ndarray:
    """F1 / F0 of one open-beam stepping scan per pixel (numpy FFT over the steps)."""
    p = model.profile
    out_mm = p.sample_stage.out_mm - p.sample_stage.in_mm
    frames = np.stack([model.frame(angle_deg=0.0, g2_um=x, sample_offset_mm=out_mm, exposure_s=exposure_s,
                                   current_mA=p.source.current_mA, xray_on=True, time_s=time_s,
                                   binning=binning, window=window).astype(np.float64) - dark_adu
                       for x in p.stepping_positions_um])
    f = np.fft.fft(frames, axis=0)
    return f[1] / f[0]


def sigma_alpha_nrad(model: ScannerModel, exposure_s: float) -> float:
    """One scan's refraction-angle noise at the sample: two scans' phase difference / sqrt(2)."""
    p = model.profile
    kw = dict(exposure_s=exposure_s, binning=1, window=central_window(p), dark_adu=p.simulation.dark_offset_adu)
    dphi = np.angle(first_harmonic(model, time_s=0.0, **kw) * np.conj(first_harmonic(model, time_s=0.0, **kw)))
    alpha = p.gratings.g2_period_um * 1e-6 * dphi / (2 * math.pi * profile_lever_arm_m(p))
    return float(np.std(alpha) / math.sqrt(2.0) * 1e9)


@pytest.mark.parametrize("name, sensitivity_nrad, visibility", [("tli", 40.0, 0.195), ("maast", 62.0, 0.16)])
def test_reference_scans_give_the_papers_figures(name, sensitivity_nrad, visibility):
    p = load_profile(name)
    assert p.performance.angular_sensitivity_nrad == sensitivity_nrad  # the paper's numbers
    assert p.performance.visibility == visibility
    # the profile's flux is the closed-form calibration...
    assert flux_for_sensitivity(p) == pytest.approx(p.simulation.photon_flux_per_s_mA_px, rel=0.01)
    assert predicted_sensitivity_nrad(p, p.simulation.photon_flux_per_s_mA_px) == pytest.approx(
        sensitivity_nrad, rel=0.02)
    # ...and the simulated frames have that noise and that visibility
    model = ScannerModel(p, seed=7)
    assert sigma_alpha_nrad(model, p.ct.exposure_s) == pytest.approx(sensitivity_nrad, rel=0.06)
    flat = first_harmonic(ScannerModel(p, seed=7), exposure_s=p.ct.exposure_s, time_s=0.0, binning=8,
                          dark_adu=p.simulation.dark_offset_adu)
    assert float(np.mean(2 * np.abs(flat))) == pytest.approx(visibility, abs=0.005)
    assert expected_mean_visibility(p) == pytest.approx(visibility, abs=0.001)


def test_sensitivity_follows_photon_statistics():
    p = load_profile("maast")
    model = ScannerModel(p, seed=3, phantom=Phantom(()))
    long = sigma_alpha_nrad(model, p.ct.exposure_s)
    short = sigma_alpha_nrad(model, p.ct.exposure_s / 16)
    assert short / long == pytest.approx(4.0, rel=0.1)  # sigma ~ 1 / sqrt(photons)
    assert short == pytest.approx(predicted_sensitivity_nrad(p, p.simulation.photon_flux_per_s_mA_px,
                                                             exposure_s=p.ct.exposure_s / 16), rel=0.06)
