"""The simulated scanner reproduces the paper's angular sensitivity and mean visibility."""

from __future__ import annotations

import pytest

from gi_instrument.profile import load_profile
from gi_instrument.sim.calibration import (
    flux_for_sensitivity,
    measure_reference_performance,
    predicted_sensitivity_nrad,
)
from gi_instrument.sim.phantom import Phantom
from gi_instrument.sim.scanner_model import ScannerModel


@pytest.mark.parametrize("name, sensitivity_nrad, visibility", [("tli", 40.0, 0.195), ("maast", 62.0, 0.16)])
def test_reference_scans_give_the_papers_figures(name, sensitivity_nrad, visibility):
    p = load_profile(name)
    assert p.performance.angular_sensitivity_nrad == sensitivity_nrad  # the paper's numbers
    assert p.performance.visibility == visibility
    measured = measure_reference_performance(ScannerModel(p, seed=7))
    assert measured.angular_sensitivity_nrad == pytest.approx(sensitivity_nrad, rel=0.15)
    assert measured.mean_visibility == pytest.approx(visibility, abs=0.01)
    # The noise model the flux was set with predicts the measurement.
    predicted = predicted_sensitivity_nrad(p, p.simulation.photon_flux_per_s_mA_px)
    assert measured.angular_sensitivity_nrad == pytest.approx(predicted, rel=0.05)
    assert flux_for_sensitivity(p) == pytest.approx(p.simulation.photon_flux_per_s_mA_px, rel=0.05)


def test_sensitivity_follows_photon_statistics():
    p = load_profile("maast")
    model = ScannerModel(p, seed=3, phantom=Phantom(()))
    long = measure_reference_performance(model).angular_sensitivity_nrad
    short = measure_reference_performance(model, exposure_s=p.ct.exposure_s / 16).angular_sensitivity_nrad
    assert short / long == pytest.approx(4.0, rel=0.1)  # sigma ~ 1 / sqrt(photons)
