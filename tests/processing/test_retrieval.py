"""Phase-stepping retrieval: PSI data against the peer's results, LSQ vs FFT, sign, edge cases."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from gi_instrument.processing.retrieval import (
    FLAG_LOW_VISIBILITY,
    FLAG_REFERENCE_DARK,
    FLAG_SAMPLE_DARK,
    estimate_step_positions,
    fit_stepping,
    lever_arm_cm,
    refraction_angle_rad,
    retrieve,
)

PSI_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "psi-microspheres"
P2_UM = 3.0


def curves(x_um: np.ndarray, a0, vis, phi, period_um: float = P2_UM) -> np.ndarray:
    """Stepping curves (steps, rows, cols) of the model I = a0 (1 + V cos(2 pi x / p2 + phi))."""
    x = np.asarray(x_um, dtype=np.float64).reshape(-1, 1, 1) if np.ndim(x_um) == 1 else x_um
    return a0 * (1.0 + vis * np.cos(2 * np.pi * x / period_um + phi))


def wrapped_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.angle(np.exp(1j * (a - b)))


@pytest.mark.parametrize("name", ["S00002_S00021.hdf5", "S00401_S00420.hdf5"])
def test_psi_data_matches_peer(name: str) -> None:
    if not PSI_DIR.is_dir():
        pytest.skip(f"shared data directory {PSI_DIR} absent")
    h5py = pytest.importorskip("h5py")
    with h5py.File(PSI_DIR / name, "r") as f:
        g = f["postprocessing"]
        sample = np.moveaxis(g["phase_stepping_curves"][0], -1, 0)  # (19, 1280, 10)
        flat = np.moveaxis(g["flat_phase_stepping_curves"][0], -1, 0)
        peer = g["dpc_reconstruction"][0]
        peer_vis = g["visibility"][0]
    res = retrieve(sample, flat, dtype=np.float64)
    px = slice(100, 1001)
    t_peer = peer[px, :, 0]
    assert res.valid[px].all()
    np.testing.assert_allclose(res.transmission[px], t_peer, rtol=0, atol=1e-9)
    # same convention (arg S1 - arg F1); only the wrap point differs ([-pi, pi) vs (-pi, pi])
    assert np.abs(wrapped_diff(res.dpc[px], peer[px, :, 1])).max() < 1e-9
    np.testing.assert_allclose(res.darkfield[px], peer[px, :, 2] / t_peer**2, rtol=0, atol=1e-8)
    np.testing.assert_allclose(res.visibility_reference[px], peer_vis[px], rtol=0, atol=1e-9)
    # the default float32 path agrees to single precision
    res32 = retrieve(sample, flat)
    assert res32.dpc.dtype == np.float32
    assert np.abs(wrapped_diff(res32.dpc[px], res.dpc[px])).max() < 1e-4


def test_fourier_weights_equal_numpy_fft() -> None:
    rng = np.random.default_rng(1)
    stack = rng.uniform(100, 200, size=(7, 4, 5))
    fit = fit_stepping(stack, dtype=np.float64)
    f = np.fft.fft(stack, axis=0)
    np.testing.assert_allclose(fit.a0, np.abs(f[0]) / 7, rtol=1e-12)
    np.testing.assert_allclose(fit.amplitude, 2 * np.abs(f[1]) / 7, rtol=1e-12)
    np.testing.assert_allclose(fit.phase, np.angle(f[1]), atol=1e-12)


def test_least_squares_equals_fft_on_equidistant_positions() -> None:
    rng = np.random.default_rng(2)
    steps = 5
    sample = rng.poisson(1000, size=(steps, 6, 8)).astype(np.uint16)
    ref = rng.poisson(1200, size=(steps, 6, 8)).astype(np.uint16)
    x = np.arange(steps) * P2_UM / steps
    fft = retrieve(sample, ref, dtype=np.float64)
    lsq = retrieve(sample, ref, positions_um=x, period_um=P2_UM, dtype=np.float64)
    for name in ("transmission", "dpc", "darkfield", "visibility_sample", "visibility_reference"):
        np.testing.assert_allclose(getattr(lsq, name), getattr(fft, name), atol=1e-10)


def test_least_squares_recovers_phase_at_jittered_positions() -> None:
    rng = np.random.default_rng(3)
    steps, shape = 5, (3, 4)
    phi_r = rng.uniform(-np.pi, np.pi, shape)
    dphi = rng.uniform(-2.5, 2.5, shape)
    x_s = np.arange(steps) * 0.6 + rng.normal(0, 0.08, steps)
    x_r = np.arange(steps) * 0.6 + rng.normal(0, 0.08, steps) + 0.2
    sample = curves(x_s, 800.0, 0.12, phi_r + dphi)
    ref = curves(x_r, 1000.0, 0.2, phi_r)
    lsq = retrieve(sample, ref, positions_um=x_s, period_um=P2_UM,
                   reference_positions_um=x_r, dtype=np.float64)
    np.testing.assert_allclose(lsq.dpc, dphi, atol=1e-10)
    np.testing.assert_allclose(lsq.transmission, 0.8, atol=1e-12)
    np.testing.assert_allclose(lsq.darkfield, 0.6, atol=1e-12)
    # ignoring the jitter (FFT path) is measurably wrong: the positions matter
    assert np.abs(retrieve(sample, ref, dtype=np.float64).dpc - dphi).max() > 0.05


def test_per_pixel_positions() -> None:
    steps, rows, cols = 6, 4, 3
    rng = np.random.default_rng(4)
    x = np.arange(steps)[:, None, None] * 0.5 + rng.normal(0, 0.05, (steps, rows, 1))
    phi = rng.uniform(-3, 3, (rows, cols))
    fit = fit_stepping(curves(x, 500.0, 0.3, phi), positions_um=x, period_um=P2_UM,
                       dtype=np.float64)
    np.testing.assert_allclose(fit.phase, phi, atol=1e-10)
    np.testing.assert_allclose(fit.amplitude / fit.a0, 0.3, atol=1e-12)
    per_row = fit_stepping(curves(x, 500.0, 0.3, phi), positions_um=x[:, :, 0],
                           period_um=P2_UM, dtype=np.float64)  # (steps, rows)
    np.testing.assert_allclose(per_row.phase, phi, atol=1e-10)


def test_sign_convention_positive_refraction_gives_positive_dpc() -> None:
    """alpha > 0 moves the fringe by -d alpha along the G2 stepping axis (module docstring)."""
    d_cm, steps = 60.3, 5
    x = np.arange(steps) * P2_UM / steps
    alpha = np.array([[2e-7, -3e-7, 5e-7]])  # rad
    ref = curves(x, 1000.0, 0.2, 0.7)
    sample = curves(x[:, None, None] + d_cm * 1e4 * alpha, 900.0, 0.15, 0.7)
    res = retrieve(sample, np.broadcast_to(ref, sample.shape), dtype=np.float64)
    assert np.array_equal(np.sign(res.dpc), np.sign(alpha))
    np.testing.assert_allclose(refraction_angle_rad(res.dpc, P2_UM, d_cm), alpha, rtol=1e-9)


def test_dpc_wrapped_to_half_open_interval() -> None:
    x = np.arange(4) * P2_UM / 4
    ref = curves(x, 100.0, 0.5, np.zeros((1, 3)))
    sample = curves(x, 100.0, 0.5, np.array([[np.pi, -np.pi, 3 * np.pi / 2]]))
    res = retrieve(sample, ref, dtype=np.float64)
    np.testing.assert_allclose(res.dpc, [[np.pi, np.pi, -np.pi / 2]], atol=1e-12)
    assert (res.dpc > -np.pi).all() and (res.dpc <= np.pi).all()


def test_dark_subtraction_acts_on_mean_only() -> None:
    rng = np.random.default_rng(5)
    x = np.arange(5) * 0.6
    phi = rng.uniform(-3, 3, (4, 4))
    dark = rng.uniform(90, 110, (4, 4))
    sample = curves(x, 500.0, 0.1, phi + 0.3) + dark
    ref = curves(x, 1000.0, 0.2, phi) + dark
    darks = np.stack([dark - 1, dark + 1])
    res = retrieve(sample, ref, dark=darks, dtype=np.float64)
    np.testing.assert_allclose(res.transmission, 0.5, atol=1e-12)
    np.testing.assert_allclose(res.darkfield, 0.5, atol=1e-12)
    np.testing.assert_allclose(res.dpc, 0.3, atol=1e-12)


def test_dead_pixels_and_zeros_give_flagged_finite_output_without_warnings() -> None:
    x = np.arange(5) * 0.6
    sample = curves(x, 500.0, 0.1, np.zeros((3, 4))).astype(np.float32)
    ref = curves(x, 1000.0, 0.2, np.zeros((3, 4))).astype(np.float32)
    ref[:, 0, 0] = 0  # dead reference pixel
    sample[:, 0, 1] = 0  # dead sample pixel
    ref[:, 0, 2] = 1000.0  # flat reference curve: no visibility
    sample[:, 1, 0] = np.nan  # corrupt frame value
    ref[:, 1, 1] = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = retrieve(sample, ref, dark=np.zeros((3, 4), np.float32))
        zeros = retrieve(np.zeros((5, 3, 4), np.uint16), np.zeros((5, 3, 4), np.uint16))
    for r in (res, zeros):
        for name in ("transmission", "dpc", "darkfield", "visibility_sample",
                     "visibility_reference"):
            arr = getattr(r, name)
            assert arr.dtype == np.float32 and arr.shape == (3, 4)
            assert np.isfinite(arr).all(), name
    assert res.flags[0, 0] & FLAG_REFERENCE_DARK
    assert res.flags[0, 1] & FLAG_SAMPLE_DARK
    assert res.flags[0, 2] & FLAG_LOW_VISIBILITY
    assert res.flags[1, 0] and res.flags[1, 1]
    assert res.valid.sum() == 12 - 5
    assert (res.transmission[~res.valid] == 1).all() and (res.dpc[~res.valid] == 0).all()
    assert (zeros.flags != 0).all() and (zeros.darkfield == 1).all()


def test_large_frame_blocks_and_threads_agree() -> None:
    rng = np.random.default_rng(6)
    sample = rng.poisson(800, size=(5, 70, 1500)).astype(np.uint16)
    ref = rng.poisson(1000, size=(5, 70, 1500)).astype(np.uint16)
    one = retrieve(sample, ref, workers=1)
    two = retrieve(sample, ref, workers=2)
    assert np.array_equal(one.dpc, two.dpc) and np.array_equal(one.flags, two.flags)


def test_stepping_error_correction_recovers_common_position_errors() -> None:
    rng = np.random.default_rng(8)
    shape, steps = (64, 64), 5
    nominal = np.arange(steps) * P2_UM / steps
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    phi_r = 2 * np.pi * (xx / 23.0 + yy / 41.0)  # moire fringes: a spread of phases
    dphi = 0.8 * np.exp(-((xx - 32) ** 2 + (yy - 32) ** 2) / 200.0)
    err_s = np.array([0.0, 0.06, -0.08, 0.03, 0.05])
    err_r = np.array([0.02, -0.05, 0.04, 0.07, -0.03])
    sample = rng.poisson(curves(nominal + err_s, 3e5, 0.2, phi_r + dphi)).astype(np.float64)
    ref = rng.poisson(curves(nominal + err_r, 4e5, 0.25, phi_r)).astype(np.float64)
    found = estimate_step_positions(ref, P2_UM)
    np.testing.assert_allclose(found - nominal, err_r - err_r.mean(), atol=5e-4)  # measured 1.3e-4
    plain = retrieve(sample, ref, dtype=np.float64)
    fixed = retrieve(sample, ref, period_um=P2_UM, correct_steps=True, dtype=np.float64)
    err_plain = np.abs(wrapped_diff(plain.dpc, dphi + 2 * np.pi * (err_s - err_r).mean() / P2_UM))
    err_fixed = np.abs(wrapped_diff(fixed.dpc, dphi + 2 * np.pi * (err_s - err_r).mean() / P2_UM))
    assert np.median(err_fixed) < np.median(err_plain) / 10  # measured / 15
    with pytest.raises(ValueError, match="does not vary"):
        estimate_step_positions(curves(nominal, 1000.0, 0.2, np.zeros((8, 8))), P2_UM)


@pytest.mark.parametrize("source_sample_cm, expected_cm", [
    (20.1, 60.3),                 # sample at G1: the G1-G2 distance
    (80.4 / 3.56, 80.4 - 80.4 / 3.56),   # TLI: behind G1, L - l_s
    (108.8 / 2.33, 54.4 * (108.8 / 2.33) / 54.4),  # MAAST-like upstream: d l_s / L1
    (10.0, 60.3 * 10.0 / 20.1),
])
def test_lever_arm_of_the_sample_position(source_sample_cm, expected_cm):
    """Donath et al. 2009: d_eff = L - l_s downstream of G1, d l_s / L1 upstream (TLI distances
    20.1 + 60.3 cm, except the MAAST row, 54.4 + 54.4 cm)."""
    l1, d = (54.4, 54.4) if source_sample_cm == 108.8 / 2.33 else (20.1, 60.3)
    assert lever_arm_cm(l1, d, source_sample_cm) == pytest.approx(expected_cm, rel=1e-12)
    with pytest.raises(ValueError, match="before G2"):
        lever_arm_cm(l1, d, l1 + d + 1.0)
