"""Time interpolation of reference curves: weights, and exact cancellation of a linear drift."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gi_instrument.processing.references import ReferenceSeries, interpolation_weights
from gi_instrument.processing.retrieval import compare, fit_stepping

P2_UM, STEPS = 3.0, 5
X_UM = np.arange(STEPS) * P2_UM / STEPS


def stepping_scan(a0, vis, phi) -> np.ndarray:
    return a0 * (1 + vis * np.cos(2 * np.pi * X_UM[:, None, None] / P2_UM + phi))


def test_weights_linear_nearest_and_clamped() -> None:
    ref_t = [100.0, 0.0, 50.0]  # unsorted on purpose
    i0, i1, w = interpolation_weights(ref_t, [-5.0, 0.0, 10.0, 50.0, 80.0, 100.0, 130.0])
    assert list(i0) == [1, 1, 1, 2, 2, 0, 0]
    assert list(i1) == [1, 1, 2, 2, 0, 0, 0]
    np.testing.assert_allclose(w, [0, 0, 0.2, 0, 0.6, 0, 0])
    n0, n1, nw = interpolation_weights(ref_t, [10.0, 30.0, 80.0], mode="nearest")
    assert list(n0) == [1, 2, 0] and list(n1) == list(n0) and not nw.any()
    s0, s1, sw = interpolation_weights([7.0], [0.0, 7.0, 9.0])
    assert list(s0) == [0, 0, 0] and list(s1) == [0, 0, 0] and not sw.any()
    with pytest.raises(ValueError):
        interpolation_weights([0.0, 1.0], [0.5], mode="cubic")


def test_linear_drift_cancels_exactly() -> None:
    """Phase, a0 and visibility drifting linearly in time; an empty 'projection' must give
    dpc = 0, T = 1, D = 1 with linear interpolation, but not with the nearest reference."""
    rng = np.random.default_rng(7)
    shape = (4, 6)
    phi0 = rng.uniform(-np.pi, np.pi, shape)
    rate = rng.uniform(-0.2, 0.2, shape)  # rad / s, up to 2 rad between the references
    a0 = lambda t: 1000.0 + 3.0 * t  # noqa: E731
    vis = lambda t: 0.2 - 0.004 * t  # noqa: E731
    ref_times = np.array([0.0, 10.0, 20.0])
    refs = ReferenceSeries.from_fits([fit_stepping(stepping_scan(a0(t), vis(t), phi0 + rate * t),
                                    dtype=np.float64) for t in ref_times])
    for t in (2.5, 7.0, 13.3):
        flat_now = fit_stepping(stepping_scan(a0(t), vis(t), phi0 + rate * t), dtype=np.float64)
        (i0,), (i1,), (w,) = interpolation_weights(ref_times, [t])
        res = compare(flat_now, refs.at(i0, i1, w), dtype=np.float64)
        np.testing.assert_allclose(res.dpc, 0.0, atol=1e-12)
        np.testing.assert_allclose(res.transmission, 1.0, atol=1e-12)
        np.testing.assert_allclose(res.darkfield, 1.0, atol=1e-12)
        (n0,), (n1,), (nw,) = interpolation_weights(ref_times, [t], mode="nearest")
        nearest = compare(flat_now, refs.at(n0, n1, nw), dtype=np.float64)
        assert np.abs(nearest.dpc).max() > 0.1
        # mixing the raw curves (complex first harmonic) follows the chord: not exact
        chord_fit = type(flat_now)(*((1 - w) * getattr(refs.fits[i0], k) + w *
                                     getattr(refs.fits[i1], k) for k in ("a0", "b", "c")))
        chord = compare(flat_now, chord_fit, dtype=np.float64)
        assert np.abs(chord.dpc).max() > 1e-3


def test_dark_reference_pixels_stay_finite_and_flagged() -> None:
    a = fit_stepping(stepping_scan(1000.0, 0.2, np.zeros((2, 2))), dtype=np.float64)
    b = fit_stepping(stepping_scan(1000.0, 0.2, np.ones((2, 2))), dtype=np.float64)
    a.a0[0, 0] = 0.0
    a.b[0, 0] = a.c[0, 0] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mixed = ReferenceSeries.from_fits([a, b]).at(0, 1, 0.5)
        res = compare(b, mixed)
    assert np.isfinite(res.dpc).all() and res.flags[0, 0] and res.valid.sum() == 3
