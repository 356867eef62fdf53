"""FBP: analytic phantoms (ramp and Hilbert), orientation, short scans, volumes, units, backends."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import beta as beta_fn

from gi_instrument.processing.fbp import (
    astra_reference_fbp,
    angular_weights,
    attenuation_per_m,
    delta_from_dpc,
    fbp,
)
from gi_instrument.processing.reconstruction.filters import filter_response
from gi_instrument.processing.retrieval import refraction_angle_rad
from gi_instrument.profile import load_profile

N = 96
C = (N - 1) / 2
S = np.arange(N) - C
ROWS, COLS = np.mgrid[:N, :N]
X, Y = COLS - C, C - ROWS                    # x right, y up (module convention)

# value, x0, y0, radius, k: f = value * (1 - r^2 / R^2)^k inside R (k = 0: a uniform disc)
SMOOTH = [(1.0, 8.0, 4.0, 24.0, 2), (0.5, -20.0, -8.0, 10.0, 2), (-0.3, 5.0, -20.0, 6.0, 2)]
DISCS = [(1.0, 6.0, 3.0, 25.0, 0), (0.5, -28.0, -12.0, 9.0, 0)]


def image_of(blobs) -> np.ndarray:
    out = np.zeros((N, N))
    for v, x0, y0, r, k in blobs:
        u = np.clip(1 - ((X - x0) ** 2 + (Y - y0) ** 2) / r**2, 0, None)
        out += v * (u > 0) * u**k
    return out


def projection(s, theta, blobs) -> np.ndarray:
    """Exact line integrals: R B(1/2, k + 1) (1 - s'^2 / R^2)^(k + 1/2) for each blob."""
    p = 0.0
    for v, x0, y0, r, k in blobs:
        sp = s - (x0 * np.cos(theta) + y0 * np.sin(theta))
        p = p + v * r * beta_fn(0.5, k + 1) * np.clip(1 - (sp / r) ** 2, 0, None) ** (k + 0.5)
    return p


def sinogram(angles_deg, blobs, derivative: bool = False, centre: float = C) -> np.ndarray:
    """(angles, N) line integrals, or their pixel-averaged derivative along the column."""
    th = np.deg2rad(np.asarray(angles_deg))[:, None]
    s = (np.arange(N) - centre)[None, :]
    if derivative:
        return projection(s + 0.5, th, blobs) - projection(s - 0.5, th, blobs)
    return projection(s, th, blobs)


def centroid(img: np.ndarray) -> tuple[float, float]:
    m = np.where(img > 0.5 * img.max(), img, 0.0)
    return float((m * ROWS).sum() / m.sum()), float((m * COLS).sum() / m.sum())


A360 = np.arange(1200) * 0.3                 # TLI
A185 = np.arange(740) * 0.25                 # MAAST
A180 = np.arange(720) * 0.25


def test_disc_values_ramp() -> None:
    rec = fbp(sinogram(A360, DISCS), A360)
    assert rec.shape == (N, N) and rec.dtype == np.float32
    r1 = np.hypot(X - 6, Y - 3)
    r2 = np.hypot(X + 28, Y + 12)
    inner1 = (r1 < 18) & (r2 > 14)
    inner2 = r2 < 5
    outside = (r1 > 30) & (r2 > 14) & (np.hypot(X, Y) < 45)
    assert abs(rec[inner1].mean() - 1.0) < 0.005
    assert abs(rec[inner2].mean() - 0.5) < 0.005
    assert abs(rec[outside].mean()) < 0.005
    assert rec[inner1].std() < 0.02


@pytest.mark.parametrize("interpolation, tol_ramp, tol_hilbert",
                         [("linear", 0.008, 0.012), ("sinc", 0.0015, 0.004)])
def test_smooth_phantom_ramp_and_hilbert(
    interpolation: str, tol_ramp: float, tol_hilbert: float
) -> None:
    # worst pixel: the peak of the small blob (-0.3 at r = 6 px), blurred by the interpolation
    truth = image_of(SMOOTH)
    ramp = fbp(sinogram(A360, SMOOTH), A360, "ramp", interpolation=interpolation)
    # Hilbert-filtered back-projection of the derivative sinogram gives the object itself
    hil = fbp(sinogram(A360, SMOOTH, derivative=True), A360, "hilbert",
              interpolation=interpolation)
    assert np.abs(ramp - truth).max() < tol_ramp
    assert np.abs(hil - truth).max() < tol_hilbert
    assert abs(hil[np.hypot(X, Y) > 40].mean()) < 1e-3      # no constant offset


def test_hilbert_of_derivative_is_not_ramp_of_derivative() -> None:
    g = sinogram(A180, SMOOTH, derivative=True)
    truth = image_of(SMOOTH)
    assert np.abs(fbp(g, A180, "ramp") - truth).max() > 0.3
    with pytest.raises(ValueError, match="filter"):
        fbp(g, A180, "shepp")


def test_orientation_of_an_off_centre_point() -> None:
    # a small disc at x = +20 (right), y = +10 (up): col = C + 20, row = C - 10
    point = [(1.0, 20.0, 10.0, 2.5, 0)]
    row, col = centroid(fbp(sinogram(A180, point), A180))
    assert abs(row - (C - 10)) < 0.1 and abs(col - (C + 20)) < 0.1
    # at theta = 0 it sits at a higher detector column; at 90 deg too (it is above the centre)
    sino = sinogram(np.array([0.0, 90.0]), point)
    assert abs(np.argmax(sino[0]) - (C + 20)) <= 0.5
    assert abs(np.argmax(sino[1]) - (C + 10)) <= 0.5


def test_rotation_axis_off_centre() -> None:
    centre = C + 3.3
    shifted = sinogram(A360, SMOOTH, centre=centre)
    rec = fbp(shifted, A360, center_px=centre)
    assert np.abs(rec - image_of(SMOOTH)).max() < 0.008
    # ignoring the offset puts the object elsewhere
    assert np.abs(fbp(shifted, A360) - image_of(SMOOTH)).max() > 0.1


@pytest.mark.parametrize("filt", ["ramp", "hilbert"])
def test_short_scan_185_equals_180_and_360(filt: str) -> None:
    deriv = filt == "hilbert"
    r360 = fbp(sinogram(A360, SMOOTH, deriv), A360, filt)
    r185 = fbp(sinogram(A185, SMOOTH, deriv), A185, filt)
    r180 = fbp(sinogram(A180, SMOOTH, deriv), A180, filt)
    assert np.abs(r185 - r180).max() < 1e-4            # same angular step: smooth weights vanish
    assert np.abs(r185 - r360).max() < 2e-3
    # weighting the 5 redundant degrees fully would count those lines twice
    with pytest.warns(UserWarning, match="limited-angle"):
        extra = fbp(sinogram(A185[720:], SMOOTH, deriv), A185[720:], filt)   # one step each
    naive = r180 + extra
    assert np.abs(naive - r180).max() > 5 * np.abs(r185 - r180).max()


def test_short_scan_with_data_inconsistency_is_smooth() -> None:
    # a 185-deg scan starting at 37 deg, with a 2 % intensity drift over the scan
    angles = 37.0 + A185
    sino = sinogram(angles, SMOOTH) * np.linspace(1.0, 1.02, angles.size)[:, None]
    rec = fbp(sino, angles)
    assert np.abs(rec - image_of(SMOOTH)).max() < 0.03


def test_truncated_projections_edge_padding() -> None:
    """An object wider than the field (the formalin cylinder): edge padding limits the cupping."""
    big = [(1.0, 3.0, -2.0, 70.0, 0), (0.5, 10.0, 5.0, 12.0, 0), (-0.3, -15.0, -10.0, 8.0, 0)]
    error = image_of(big)
    central = np.hypot(X, Y) < 45
    spread = {}
    for filt in ("ramp", "hilbert"):
        g = sinogram(A360, big, derivative=filt == "hilbert")
        for pad in ("zero", "edge"):
            e = (fbp(g, A360, filt, padding=pad) - error)[central]
            spread[filt, pad] = (abs(e.mean()), e.std())
    assert spread["ramp", "edge"][1] < 0.5 * spread["ramp", "zero"][1]
    assert spread["hilbert", "edge"][0] < 0.5 * spread["hilbert", "zero"][0]
    with pytest.raises(ValueError, match="padding"):
        fbp(np.zeros((4, N)), np.arange(4) * 45.0, padding="mirror")


def test_angular_weights() -> None:
    w = angular_weights(A185)
    step = np.deg2rad(0.25)
    assert w.sum() == pytest.approx(np.pi)
    # the two measurements of each of the first 20 lines sum to one step, smoothly
    np.testing.assert_allclose(w[:20] + w[720:], step, rtol=1e-12)
    assert np.all(np.diff(w[:20]) > 0) and np.all(np.diff(w[720:]) < 0)
    np.testing.assert_allclose(w[20:720], step)
    np.testing.assert_allclose(angular_weights(A360), np.deg2rad(0.3) / 2)
    np.testing.assert_allclose(angular_weights(A180), step)
    irregular = np.array([0.0, 10.0, 100.0, 190.0])        # 190 = 10 + 180: shares with 10
    wi = angular_weights(irregular)
    assert wi.sum() == pytest.approx(np.pi)
    with pytest.warns(UserWarning, match="limited-angle"):
        angular_weights(np.arange(100) * 1.0)


def test_angles_on_the_fold() -> None:
    """A projection within rounding of 360 deg is the 0-deg one (same line, same spectrum)."""
    angles = np.r_[A180[::2], 360.0 - 1e-13]
    ref = fbp(sinogram(A180[::2], SMOOTH), A180[::2])
    assert np.abs(fbp(sinogram(angles, SMOOTH), angles) - ref).max() < 1e-5
    neg = A180[::2] - 180.0                                  # -180 .. -0.5 deg
    deriv = fbp(sinogram(neg, SMOOTH, True), neg, "hilbert")
    assert np.abs(deriv - fbp(sinogram(A180[::2], SMOOTH, True), A180[::2], "hilbert")).max() < 1e-4


def test_volume_equals_slices() -> None:
    angles = A180[::2]
    s1 = sinogram(angles, SMOOTH)
    s2 = sinogram(angles, DISCS)
    stack = np.stack([s1, s2, 0.5 * s1 - s2], axis=1)        # (angles, rows, cols)
    vol = fbp(stack, angles)
    assert vol.shape == (3, N, N)
    for k, sino in enumerate((s1, s2, 0.5 * s1 - s2)):
        np.testing.assert_allclose(vol[k], fbp(sino, angles), atol=1e-5)


def test_volume_streams_from_memmap_to_out(tmp_path) -> None:
    angles = A180[::4]
    s1 = sinogram(angles, SMOOTH).astype(np.float32)
    stack = np.lib.format.open_memmap(tmp_path / "sino.npy", "w+", np.float32, (angles.size, 2, N))
    stack[:, 0], stack[:, 1] = s1, 2 * s1
    out = np.lib.format.open_memmap(tmp_path / "vol.npy", "w+", np.float32, (2, N, N))
    assert fbp(stack, angles, out=out) is out
    np.testing.assert_allclose(out[1], 2 * fbp(s1, angles), atol=1e-5)
    with pytest.raises(ValueError, match="out has shape"):
        fbp(stack, angles, out=np.empty((N, N), np.float32))


def test_gridding_equals_exact_sum() -> None:
    """The gridded sum equals the direct trigonometric back-projection sum to ~1e-4."""
    n, cols = 40, 32
    angles = np.arange(n) * 4.5 + 1.0
    rng = np.random.default_rng(3)
    sino = rng.normal(size=(n, cols))
    theta = np.deg2rad(angles)
    m_pad = 2 * cols
    spec = np.fft.rfft(sino, m_pad, axis=1)[:, :cols]
    c = (cols - 1) / 2
    om = np.arange(cols) / m_pad
    eps = np.r_[1.0, np.full(cols - 1, 2.0)]
    rr, cc = np.mgrid[:cols, :cols]
    x, y = cc - c, c - rr
    for filt in ("ramp", "hilbert"):
        coef = (angular_weights(angles)[:, None] * eps * filter_response(filt, cols, m_pad, None)
                * spec * np.exp(2j * np.pi * om * c) / m_pad)
        s = x[..., None] * np.cos(theta) + y[..., None] * np.sin(theta)   # (cols, cols, n)
        exact = np.real(np.einsum("ijk,km,ijkm->ij", np.ones_like(s), coef,
                                  np.exp(2j * np.pi * s[..., None] * om)))
        rec = fbp(sino, angles, filt, interpolation="sinc", padding="zero")
        assert np.abs(rec - exact).max() < 2e-4 * np.abs(exact).max()


@pytest.mark.parametrize("name", ["tli", "maast"])
def test_physical_units_cylinder(name: str) -> None:
    """Each instrument's geometry and scan: a cylinder of mu = 80 1/m and delta = 4e-7."""
    prof = load_profile(name)
    voxel_um, period_um = prof.voxel_um, prof.gratings.g2_period_um
    g1_g2_cm = prof.geometry.g1_g2_cm
    angles = prof.ct.start_deg + np.arange(round(prof.ct.range_deg / prof.ct.angle_step_deg)) * (
        prof.ct.angle_step_deg)
    assert angles.size == {"tli": 1200, "maast": 740}[name]
    v = voxel_um * 1e-6
    mu, delta, radius_m = 80.0, 4e-7, 30 * v                 # radius 30 voxels
    th = np.deg2rad(angles)[:, None]
    s_m = (np.arange(N) - C)[None, :] * v + 0 * th

    def path_m(s):                          # chord length through the cylinder, m
        return 2 * np.sqrt(np.clip(radius_m**2 - s**2, 0, None))

    minus_ln_t = mu * path_m(s_m)
    # alpha = d/dx of the phase projection (integral of delta dl, m), pixel-averaged
    alpha = delta * (path_m(s_m + v / 2) - path_m(s_m - v / 2)) / v
    dpc = alpha * 2 * np.pi * g1_g2_cm * 1e-2 / (period_um * 1e-6)
    np.testing.assert_allclose(refraction_angle_rad(dpc, period_um, g1_g2_cm), alpha, rtol=1e-12)
    inside = np.hypot(X, Y) * v < radius_m - 6 * v
    outside = (np.hypot(X, Y) * v > radius_m + 4 * v) & (np.hypot(X, Y) < 45)
    mu_rec = attenuation_per_m(fbp(minus_ln_t, angles), voxel_um)
    assert mu_rec[inside].mean() == pytest.approx(mu, rel=2e-3)
    assert abs(mu_rec[outside].mean()) < 0.005 * mu
    delta_rec = delta_from_dpc(dpc, angles, period_um, g1_g2_cm)
    assert delta_rec[inside].mean() == pytest.approx(delta, rel=4e-3)   # edge ringing: +0.2 %
    assert abs(delta_rec[outside].mean()) < 0.005 * delta


def test_input_checks() -> None:
    with pytest.raises(ValueError, match="angles"):
        fbp(np.zeros((10, N)), A180)
    bad = np.zeros((4, N))
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        fbp(bad, np.arange(4) * 45.0)
    with pytest.raises(ValueError, match="backend"):
        fbp(np.zeros((4, N)), np.arange(4) * 45.0, backend="gpu")


def test_textbook_iradon_agrees() -> None:
    """skimage's iradon (axis at cols // 2: the same as ours for an odd width) agrees."""
    transform = pytest.importorskip("skimage.transform")
    n = 95
    angles = A180[::2]
    th = np.deg2rad(angles)[:, None]
    sino = projection((np.arange(n) - (n - 1) / 2)[None, :], th, SMOOTH)
    ours = fbp(sino, angles)
    theirs = transform.iradon(sino.T, angles, filter_name="ramp", circle=False, output_size=n)
    # compared inside the inscribed circle: iradon reads zeros beyond the detector (the corners
    # lose the filter's negative tails), this module keeps them
    rr, cc = np.mgrid[:n, :n]
    circle = np.hypot(rr - (n - 1) / 2, cc - (n - 1) / 2) < n / 2 - 2
    assert np.abs(ours - theirs)[circle].max() < 0.01
    assert np.abs(ours[::-1] - theirs)[circle].max() > 0.3


def test_astra_backend_and_astra_fbp_agree() -> None:
    pytest.importorskip("astra")
    angles = A360[::2]
    sino = sinogram(angles, SMOOTH).astype(np.float32)
    ours = fbp(sino, angles, backend="numpy")
    via_astra = fbp(sino, angles, backend="astra")
    # Inside the inscribed circle (astra, like iradon, reads zeros beyond the detector). Linear
    # interpolation aliases coherently at the rotation axis of an even-width detector (every
    # angle interpolates a peak between the samples at s = +-1/2): ~2 % there, RMS ~0.2 %.
    circle = np.hypot(X, Y) < N / 2 - 2
    diff = (via_astra - ours)[circle]
    assert np.abs(diff).max() < 0.035 and np.sqrt(np.mean(diff**2)) < 0.004
    # astra's own FBP, unmodified: same orientation (no flip) and scale on this geometry
    raw = astra_reference_fbp(sino, angles)
    assert np.abs(raw - via_astra)[circle].max() < 1e-3
    assert np.abs(raw[::-1] - ours)[circle].max() > 0.3     # a flip would be caught
    assert np.abs(raw.T - ours)[circle].max() > 0.3
    # a shifted rotation axis goes through astra too
    centre = C - 2.7
    shifted = sinogram(angles, SMOOTH, centre=centre)
    rec = fbp(shifted, angles, backend="astra", center_px=centre)
    assert np.abs(rec - fbp(shifted, angles, center_px=centre))[circle].max() < 0.035


def test_simulated_specimen_round_trip() -> None:
    """The simulator's exact MAAST projections reconstruct onto its ground-truth slice grid.

    Checks sign (alpha = +d/du of the delta projection), units (delta dimensionless, mu in 1/m)
    and orientation against :mod:`gi_instrument.sim.truth` (binning 16: 128 columns, 0.5 deg steps
    over 185 deg; a specimen narrower than the field so the projections are not truncated).
    """
    from scipy.ndimage import gaussian_filter

    from gi_instrument.sim.forward import BeamGeometry, Projector
    from gi_instrument.sim.materials import breast_materials
    from gi_instrument.sim.phantom import breast_specimen
    from gi_instrument.sim.truth import render_slice, slice_height_um

    prof = load_profile("maast")
    binning = 16
    phantom = breast_specimen(prof, seed=0, diameter_mm=15.0)
    materials = breast_materials(20.0)
    projector = Projector(phantom, materials, BeamGeometry.from_profile(prof))
    cols = prof.detector.width_px // binning
    voxel_m = prof.voxel_um * binning * 1e-6
    edges = (np.arange(cols + 1) - cols / 2) * voxel_m
    row = prof.detector.height_px // binning // 2 - 3
    z_m = np.array([slice_height_um(prof, row, binning) * 1e-6])
    angles = np.arange(370) * 0.5
    att = np.zeros((angles.size, cols))
    alpha = np.zeros_like(att)
    for i, a in enumerate(angles):
        sig = projector.pixel_signals(a, 0.0, edges, z_m)
        att[i], alpha[i] = sig.attenuation[0], sig.refraction_rad[0]
    truth = render_slice(phantom, materials, prof, row=row, binning=binning, supersampling=2)
    delta = fbp(alpha, angles, "hilbert")
    mu = attenuation_per_m(fbp(att, angles), prof.voxel_um * binning)
    c = (cols - 1) / 2
    rr, cc = np.mgrid[:cols, :cols]
    disc = np.hypot(rr - c, cc - c) < cols / 2 - 6
    for rec, true in ((delta, truth.delta), (mu, truth.mu_per_m)):
        ts = gaussian_filter(true, 1.5)[disc]          # compare at the reconstruction's resolution

        def rel_rms(image):
            return np.sqrt(np.mean((gaussian_filter(image, 1.5)[disc] - ts) ** 2)) / np.ptp(ts)

        slope, _ = np.polyfit(ts, gaussian_filter(rec, 1.5)[disc], 1)
        assert slope == pytest.approx(1.0, abs=0.03)
        assert rel_rms(rec) < 0.01
        for wrong in (rec[::-1], rec[:, ::-1], rec.T, -rec):
            assert rel_rms(wrong) > 2.5 * rel_rms(rec)
