"""Rotation-axis finding: known offsets and tilts are recovered (parallel and cone beam)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gi_instrument.processing.reconstruction import Geometry, find_axis, reconstruct

from ball_projections import cone_projections  # tests/processing helper

BALLS = [(12.0, 5.0, 10.0, 9.0, 1.0), (-20.0, 14.0, -12.0, 6.0, 0.7), (5.0, -25.0, 0.0, 7.0, 0.5),
         (30.0, 22.0, 26.0, 3.0, 0.8), (-8.0, -10.0, -20.0, 8.0, 0.6)]


def tilted_parallel_projections(angles_deg, rows, cols, center, tilt_deg, balls):
    """Parallel projections of balls about an axis leaning by ``tilt_deg`` (detector plane) and
    seen at column ``center`` on the middle row: each detector pixel is mapped back into the
    axis frame ``(u, v)`` (the inverse of the rotation in
    :class:`~gi_instrument.processing.reconstruction.geometry.Geometry`)."""
    mid = (rows - 1) / 2
    tau = math.radians(tilt_deg)
    dc = np.arange(cols)[None, :] - center
    dr = mid - np.arange(rows)[:, None]                 # up
    u = dc * math.cos(tau) - dr * math.sin(tau)
    v = dc * math.sin(tau) + dr * math.cos(tau)
    th = np.deg2rad(angles_deg)[:, None, None]
    out = np.zeros((th.size, rows, cols))
    for x, y, z, a, value in balls:
        s = x * np.cos(th) + y * np.sin(th)
        out += value * 2 * np.sqrt(np.clip(a * a - (u - s) ** 2 - (v - z) ** 2, 0, None))
    return out


@pytest.mark.parametrize("span, n", [(360.0, 360), (185.0, 370)])
def test_offset_and_tilt_are_recovered(span: float, n: int) -> None:
    rows, cols = 64, 96
    angles = np.arange(n) * span / n
    center, tilt = 50.3, 2.0
    sino = tilted_parallel_projections(angles, rows, cols, center, tilt, BALLS)
    fit = find_axis(sino, angles)
    assert fit.center_px == pytest.approx(center, abs=0.1)
    assert fit.tilt_deg == pytest.approx(tilt, abs=0.1)
    # reconstructed with the found axis, a slice far from the mid-plane equals that of the same
    # balls scanned about an upright axis; ignoring the tilt does not
    k = 6
    found = Geometry("parallel").with_axis(fit.center_px, fit.tilt_deg)
    good = reconstruct(sino, angles, found, slices=slice(k, k + 1))[0]
    plain = reconstruct(sino, angles, Geometry("parallel", center_px=fit.center_px),
                        slices=slice(k, k + 1))[0]
    upright = tilted_parallel_projections(angles, rows, cols, center, 0.0, BALLS)
    reference = reconstruct(upright, angles, Geometry("parallel", center_px=center),
                            slices=slice(k, k + 1))[0]
    assert np.abs(good - reference).max() < 0.5 * np.abs(plain - reference).max()
    assert np.sqrt(np.mean((good - reference) ** 2)) < 0.02


def test_cone_beam_offset_is_recovered() -> None:
    rows, cols = 24, 128
    angles = np.arange(360) * 1.0
    sino = cone_projections(angles, rows, cols, 400.0, [(b[0], b[1], b[2] / 2, b[3], b[4])
                                                       for b in BALLS], center=60.7, sub=1)
    fit = find_axis(sino, angles)
    assert fit.center_px == pytest.approx(60.7, abs=0.15)
    assert fit.tilt_deg == pytest.approx(0.0, abs=0.15)


def test_no_opposite_projections_or_no_object() -> None:
    angles = np.arange(100) * 1.0
    with pytest.raises(ValueError, match="180 deg"):
        find_axis(np.zeros((100, 4, 32)), angles)
    with pytest.raises(ValueError, match="object"):
        find_axis(np.zeros((360, 4, 32)), np.arange(360) * 1.0)


def test_outlier_rows_and_non_finite_pixels_do_not_break_the_fit() -> None:
    """Rows that register sharply about another column (dust on the detector: a pattern that
    does not turn with the sample, so it "mirrors" about its own column) and rows with
    non-finite pixels: the fit keeps the majority, it neither fails nor follows the outliers."""
    rows, cols = 64, 96
    angles = np.arange(360) * 1.0
    center = 50.3
    sino = tilted_parallel_projections(angles, rows, cols, center, 0.0, BALLS)
    outliers = np.arange(8, 20)
    dust = np.zeros(cols)
    dust[36:45] = np.random.default_rng(3).uniform(0, 50, 9)
    sino[:, outliers] += dust
    sino[::7, 40, ::5] = np.nan
    sino[::3, 41, 60] = np.inf
    fit = find_axis(sino, angles)
    assert fit.center_px == pytest.approx(center, abs=0.15)
    assert fit.tilt_deg == pytest.approx(0.0, abs=0.15)
    assert not np.isfinite(fit.row_centers_px[np.isin(fit.rows, outliers)]).any()
