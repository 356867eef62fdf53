"""Cone/fan-beam reconstruction against closed-form projections of balls and discs
(:mod:`ball_projections`, computed independently of the simulator)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gi_instrument.processing.reconstruction import (
    Geometry,
    ScanTooShortError,
    astra_available,
    fan_weights,
    reconstruct,
)
from gi_instrument.processing.truncation import fit_container
from gi_instrument.profile import load_profile

from ball_projections import cone_projections  # tests/processing helper

BINNING = 4


def profile_geometry(name: str) -> tuple[Geometry, np.ndarray, int]:
    profile = load_profile(name)
    geometry = Geometry("cone", profile.source_sample_cm, profile.source_g2_cm,
                        profile.detector.pixel_um * BINNING)
    angles = profile.ct.start_deg + np.arange(profile.n_projections) * profile.ct.angle_step_deg
    return geometry, angles, profile.detector.width_px // BINNING


def bead_figures(sino, angles, geometry, balls, rows, cols):
    """Peak and full width at half maximum (equivalent diameter of the area above half the
    peak, px) of each ball in the reconstructed slice through its centre."""
    c, mid = (cols - 1) / 2, (rows - 1) / 2
    out = []
    for x, y, z, _, _ in balls:
        k = int(round(mid - z))
        sl = reconstruct(sino, angles, geometry, slices=slice(k, k + 1))[0]
        r, k = int(round(c - y)), int(round(c + x))
        window = sl[r - 7:r + 8, k - 7:k + 8]
        peak = float(window.max())
        out.append((peak, math.sqrt(4 * np.count_nonzero(window > peak / 2) / math.pi)))
    return np.array(out)


@pytest.mark.parametrize("name", ["tli", "maast"])
def test_beads_keep_their_resolution_across_the_field(name: str) -> None:
    """Balls of 2 voxels radius at 0, 0.3, 0.6 and 0.9 of the field radius, in and off the
    mid-plane, at binning 4 with the profile's distances and full angular sampling: each keeps
    >= 80 % of the on-axis ball's peak and <= 1.3x its FWHM; the parallel-beam path on the same
    data smears the outer ones into the astroid (< 80 %)."""
    geometry, angles, cols = profile_geometry(name)
    rows = 31
    field = cols / 2
    balls = [(0.0, 0.0, 0.0, 2.0, 1.0)] + [
        (f * field * math.cos(phi), f * field * math.sin(phi), z, 2.0, 1.0)
        for f, phi, z in [(0.3, 1.0, 8.0), (0.6, 2.5, -10.0), (0.9, 4.0, 0.0), (0.9, 5.5, 10.0)]]
    sino = cone_projections(angles, rows, cols, geometry.source_axis_px, balls)
    figures = bead_figures(sino, angles, geometry, balls, rows, cols)
    peak0, fwhm0 = figures[0]
    assert 0.8 < peak0 < 1.2
    assert np.all(figures[1:, 0] >= 0.8 * peak0), figures
    assert np.all(figures[1:, 1] <= 1.3 * fwhm0), figures
    parallel = bead_figures(sino, angles, Geometry("parallel"), balls, rows, cols)
    assert np.min(parallel[3:, 0]) < 0.8 * parallel[0, 0], parallel


def test_hilbert_of_the_derivative_equals_ramp_in_a_cone() -> None:
    """The refraction-angle path (integrated, rebinned, differenced, Hilbert-filtered) gives the
    ramp reconstruction of the line integrals: the balls' values and shapes agree."""
    geometry, angles, cols = profile_geometry("maast")
    rows = 9
    balls = [(0.0, 0.0, 0.0, 5.0, 1.0), (200.0, -60.0, 0.0, 5.0, 0.5), (-90.0, 150.0, 0.0, 5.0, 1.0)]

    def line(du):
        return cone_projections(angles, rows, cols, geometry.source_axis_px, balls,
                                center=(cols - 1) / 2 - du, sub=1)

    # the same boundary samples: their mean for the ramp, their difference for the Hilbert filter
    ramp = reconstruct((line(0.5) + line(-0.5)) / 2, angles, geometry, slices=slice(4, 5))[0]
    hilbert = reconstruct(line(0.5) - line(-0.5), angles, geometry, "hilbert",
                          slices=slice(4, 5))[0]
    c = (cols - 1) / 2
    for x, y, _, _, value in balls:
        r, k = int(round(c - y)), int(round(c + x))
        for image in (ramp, hilbert):
            assert image[r - 2:r + 3, k - 2:k + 3].mean() == pytest.approx(value, rel=0.08)
        area = [image[r - 7:r + 8, k - 7:k + 8].sum() for image in (ramp, hilbert)]
        assert area[1] == pytest.approx(area[0], rel=0.03)          # the same cross-section


def test_wide_fan_discs_exact_values() -> None:
    """A fan of +-12 deg (source 300 voxels from the axis): discs come back at their values,
    360-deg and short scans alike (the rebinning is exact in the mid-plane)."""
    cols = 128
    geometry = Geometry("cone", 300 * 1e-4, 450 * 1e-4, 1.5)      # voxel 1 um, R = 300 voxels
    assert geometry.source_axis_px == pytest.approx(300)
    discs = [(10.0, 5.0, 0.0, 20.0, 1.0), (-30.0, -15.0, 0.0, 10.0, 0.5)]
    # balls in the mid-plane are discs there; a 1-row detector is a fan
    fan = 2 * math.degrees(math.atan(64 / 300))
    for span, n in [(360.0, 720), (180.0 + fan + 2.0, 420)]:
        angles = np.arange(n) * span / n
        sino = cone_projections(angles, 1, cols, 300.0, discs)[:, 0]
        image = reconstruct(sino, angles, geometry)
        c = (cols - 1) / 2
        for x, y, _, a, value in discs:
            r, k = int(round(c - y)), int(round(c + x))
            h = int(a / 2)
            assert image[r - h:r + h, k - h:k + h].mean() == pytest.approx(value, rel=0.02)
        assert abs(image[5:20, 5:20]).mean() < 0.02


def test_short_scan_must_cover_the_fan() -> None:
    geometry, _, cols = profile_geometry("maast")
    fan_deg = 2 * math.degrees(math.atan((cols / 2) / geometry.source_axis_px))
    assert 185.0 >= 180.0 + fan_deg                          # MAAST's own scan is long enough
    angles = np.arange(724) * 0.25                            # 181 deg < 180 + ~2.1 deg
    sino = np.zeros((angles.size, 3, cols))
    with pytest.raises(ScanTooShortError, match="fan angle"):
        reconstruct(sino, angles, geometry)
    with pytest.raises(ValueError, match="equidistant"):
        reconstruct(sino[:3], [0.0, 1.0, 5.0], geometry)


def test_fan_weights_sum_to_one_over_both_measurements() -> None:
    """Parker weights: w(beta, gamma) + w(beta + 180 deg + 2 gamma, -gamma) = 1 for every ray
    measured twice, and 0 <= w <= 1; whole turns weigh 1/2."""
    step = 0.25
    angles = np.arange(740) * step
    m = np.arange(-8, 9)
    gamma = np.deg2rad(m * step / 2)                          # 2 gamma = m steps
    w, periodic = fan_weights(angles, gamma)
    assert not periodic and w.min() >= 0 and w.max() <= 1
    for i, mi in enumerate(m):
        j = np.arange(740)
        jj = j + 720 + mi
        ok = jj < 740
        np.testing.assert_allclose(w[j[ok], i] + w[jj[ok], len(m) - 1 - i], 1.0, atol=1e-12)
        single = (j >= 740 - 720 - mi) & (j + mi >= 20) & (j < 720 - mi)  # measured once only
        assert np.all(w[j[single & (jj >= 740)], i] > 1 - 1e-12)
    w360, periodic = fan_weights(np.arange(1200) * 0.3, gamma)
    assert periodic and np.all(w360 == 0.5)


@pytest.mark.skipif(not astra_available(), reason="astra-toolbox not installed")
def test_astra_backend_agrees_in_a_cone() -> None:
    """The rebinned cone data back-projected by astra equal the numpy gridding's slices."""
    cols, rows = 96, 5
    geometry = Geometry("cone", 400e-4, 700e-4, 1.75)
    angles = np.arange(360) * 1.0
    balls = [(10.0, 5.0, 0.0, 12.0, 1.0), (-25.0, 18.0, 1.0, 6.0, 0.5)]
    sino = cone_projections(angles, rows, cols, geometry.source_axis_px, balls)
    a = reconstruct(sino, angles, geometry, backend="numpy")
    b = reconstruct(sino, angles, geometry, backend="astra")
    yy, xx = np.mgrid[:cols, :cols] - (cols - 1) / 2
    circle = np.hypot(xx, yy) < cols / 2 - 2       # astra reads zeros beyond the detector
    diff = (a - b)[:, circle]
    # uniform balls: linear interpolation (astra) and its transfer function (numpy) differ only
    # at the sharp edges
    assert np.sqrt(np.mean(diff**2)) < 0.015 and np.median(np.abs(diff)) < 0.005
    assert np.abs(a[:, ::-1] - b).max() > 0.5                   # a flip would be caught


def test_truncation_correction_in_a_cone() -> None:
    """A container wider than the field, seen by a fan: with the cylinder correction the inside
    comes back at its value (without it, cupped / offset)."""
    cols = 128
    geometry = Geometry("cone", 2000e-4, 3000e-4, 1.5)
    angles = np.arange(720) * 0.5
    container = (3.0, -2.0, 0.0, 90.0, 0.2)
    inside = (8.0, 10.0, 0.0, 12.0, 0.3)
    sino = cone_projections(angles, 1, cols, geometry.source_axis_px, [container, inside])[:, 0]
    corrected = reconstruct(sino, angles, geometry, truncation="cylinder")
    plain = reconstruct(sino, angles, geometry)
    c = (cols - 1) / 2
    r, k = int(round(c - 10)), int(round(c + 8))
    assert corrected[r - 4:r + 4, k - 4:k + 4].mean() == pytest.approx(0.5, rel=0.03)
    r, k = int(round(c + 30)), int(round(c - 30))              # container only
    assert corrected[r - 4:r + 4, k - 4:k + 4].mean() == pytest.approx(0.2, rel=0.05)
    assert abs(plain[r - 4:r + 4, k - 4:k + 4].mean() - 0.2) > 0.02
    assert fit_container(sino, angles) is not None


def test_geometry_from_the_run() -> None:
    profile = load_profile("maast").to_dict()
    run = {"beam": "cone", "source_sample_cm": 46.7, "source_g2_cm": 108.8, "binning": 4}
    g = Geometry.from_run(run, profile)
    assert g.beam == "cone" and g.pixel_um == pytest.approx(4 * 19.85)
    assert g.voxel_um == pytest.approx(4 * 19.85 * 46.7 / 108.8)
    old = {k: v for k, v in run.items() if k != "beam"}                # runs without "beam"
    profile["simulation"]["beam"] = "cone"
    assert Geometry.from_run(old, profile).beam == "cone"
    del profile["simulation"]["beam"]
    assert Geometry.from_run(old, profile).beam == "parallel"
    with pytest.raises(ValueError, match="source_g2_cm"):
        Geometry.from_run({"beam": "cone", "source_sample_cm": 46.7}, profile)
    with pytest.raises(ValueError, match="source_axis_cm"):
        Geometry("cone", 50.0, 40.0)


def test_gi_process_takes_the_geometry_from_the_run() -> None:
    """gi-process: the beam and distances come from the start document, the axis is found in
    the data unless given, ``--beam`` overrides the kind."""
    from types import SimpleNamespace

    from gi_instrument.process_cli import _geometry, _parse_args

    profile = load_profile("tli")
    run = SimpleNamespace(profile=profile, geometry={
        "beam": "cone", "source_sample_cm": profile.source_sample_cm,
        "source_g2_cm": profile.source_g2_cm, "binning": 16})
    angles = np.arange(180) * 2.0
    cols = profile.detector.width_px // 16
    balls = [(10.0, 5.0, 0.0, 9.0, 0.01), (-20.0, 14.0, 2.0, 6.0, 0.02)]
    sino = cone_projections(angles, 8, cols, 1e9, balls, center=cols / 2 + 3.3, sub=1)
    transmission = np.exp(-sino)
    geometry, record = _geometry(run, None, None, 0.0, True, angles, transmission)
    assert geometry.beam == "cone" and record == {"axis": "found"}
    assert geometry.pixel_um == pytest.approx(16 * profile.detector.pixel_um)
    assert geometry.center_px == pytest.approx(cols / 2 + 3.3, abs=0.2)
    given, record = _geometry(run, "parallel", 60.0, 0.5, True, angles, transmission)
    assert (given.beam, given.center_px, given.tilt_deg, record) == ("parallel", 60.0, 0.5,
                                                                       {"axis": "given"})
    empty, record = _geometry(run, None, None, 0.0, True, angles, np.ones_like(transmission))
    assert empty.center_px is None and record["axis"].startswith("detector centre")
    args = _parse_args(["-1"])
    assert (args.beam, args.center_px, args.no_find_axis, args.no_rings) == (None, None, False,
                                                                             False)
