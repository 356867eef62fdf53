"""Detector noise from two flat scans (photon transfer) and the dark-field's noise bias."""

from __future__ import annotations

import numpy as np
import pytest

from gi_instrument.processing import retrieve
from gi_instrument.processing.noise import AmplitudeNoise, noise_from_scan

STEPS = 5
GAIN, READ_ADU, OFFSET_ADU = 2.0, 3.0, 100.0


def stepping_scan(rng, photons, visibility, phase, gain=GAIN):
    """(steps, rows, cols) ADU: Poisson photons times gain, Gaussian read noise, dark offset."""
    theta = 2 * np.pi * np.arange(STEPS)[:, None, None] / STEPS
    expected = photons * (1 + visibility * np.cos(theta + phase))
    return gain * rng.poisson(expected) + rng.normal(0, READ_ADU, expected.shape) + OFFSET_ADU


def test_noise_from_one_scan_measures_gain_and_read_noise():
    """The fit residuals of one flat scan give the photon-transfer line (also with measured,
    uneven G2 positions: the residuals are those of the least-squares fit of those positions)."""
    rng = np.random.default_rng(0)
    photons = np.linspace(50, 2000, 128)[None, :] * np.ones((128, 1))
    phase = rng.uniform(-np.pi, np.pi, photons.shape)
    noise = noise_from_scan(stepping_scan(rng, photons, 0.2, phase), dark=OFFSET_ADU)
    assert noise.gain_adu_per_photon == pytest.approx(GAIN, rel=0.03)
    # the frame variance at the dimmest pixels (50 photons: g m + r^2 = 209 ADU^2)
    assert noise.gain_adu_per_photon * 100.0 + noise.read_variance_adu2 == pytest.approx(
        GAIN * 100.0 + READ_ADU**2, rel=0.1)
    assert noise.steps == STEPS
    x_um = np.array([0.0, 0.63, 1.18, 1.83, 2.41])
    theta = 2 * np.pi * x_um[:, None, None] / 3.0
    uneven = GAIN * rng.poisson(photons * (1 + 0.2 * np.cos(theta + phase))) + OFFSET_ADU
    assert noise_from_scan(uneven, OFFSET_ADU, x_um, 3.0).gain_adu_per_photon == pytest.approx(GAIN, rel=0.03)
    with pytest.raises(ValueError, match="no photon noise"):
        exact = photons * (1 + 0.2 * np.cos(2 * np.pi * np.arange(STEPS)[:, None, None] / STEPS + phase))
        noise_from_scan(exact)  # noise-free curves: no residuals
    with pytest.raises(ValueError, match="steps >= 4"):
        noise_from_scan(np.ones((3, 8, 8)))


def test_darkfield_noise_bias_is_removed():
    """Behind an absorber (500 photons per step, visibility 0.2 x D with D = 0.6: s^2 / A^2 =
    0.056) the plain dark-field reads ~3 % high (Rice bias s^2 / 2 A^2); with the bias removed its
    mean is within 0.8 % of D."""
    rng = np.random.default_rng(1)
    shape = (200, 200)
    phase = rng.uniform(-np.pi, np.pi, shape)
    reference = stepping_scan(rng, np.full(shape, 2000.0), 0.2, phase)
    sample = stepping_scan(rng, np.full(shape, 500.0), 0.2 * 0.6, phase + 0.3)
    noise = AmplitudeNoise(GAIN, READ_ADU**2, STEPS)
    plain = retrieve(sample, reference, dark=OFFSET_ADU).darkfield
    corrected = retrieve(sample, reference, dark=OFFSET_ADU, noise=noise).darkfield
    assert plain.mean() / 0.6 - 1 > 0.02
    assert corrected.mean() == pytest.approx(0.6, rel=0.008)
    # an open field keeps D = 1 either way (both visibilities biased alike; corrected: unbiased)
    open_ = retrieve(stepping_scan(rng, np.full(shape, 2000.0), 0.2, phase), reference,
                     dark=OFFSET_ADU, noise=noise).darkfield
    assert open_.mean() == pytest.approx(1.0, abs=0.005)
