"""Quality measures: MIP, SNR, angular sensitivity from two reference scans, figures."""

from __future__ import annotations

import numpy as np
import pytest

from gi_instrument.processing.quality import (
    AngularSensitivity,
    angular_sensitivity,
    homogeneous_disc,
    mean_visibility,
    mip,
    plot_angular_sensitivity,
    plot_visibility_map,
    region_mask,
    sigma_alpha_rad,
    snr,
)

PNG = b"\x89PNG\r\n\x1a\n"


def test_mip_finds_calcification_in_its_slab() -> None:
    rng = np.random.default_rng(0)
    vol = rng.normal(1.0, 0.05, size=(20, 32, 40)).astype(np.float32)
    vol[12, 5, 7] = 9.0                                    # a calcification in slice 12
    out = mip(vol, axis=0, start=10, n=5)
    assert out.shape == (32, 40) and out[5, 7] == 9.0
    assert mip(vol, 0, 0, 10)[5, 7] < 2                    # slab 0..9 misses it
    assert mip(vol, 0, 13)[5, 7] < 2                       # 13..end misses it
    np.testing.assert_array_equal(mip(vol, axis=2, start=5, n=3), vol[:, :, 5:8].max(axis=2))
    assert mip(vol, axis=-1, start=7, n=1)[12, 5] == 9.0
    with pytest.raises(ValueError):
        mip(vol, 0, 18, 5)


def test_snr_in_region() -> None:
    rng = np.random.default_rng(1)
    img = rng.normal(100.0, 5.0, size=(200, 200))
    img[:, 150:] = rng.normal(10.0, 5.0, size=(200, 50))   # a different material on the right
    assert snr(img, np.s_[:, :140]) == pytest.approx(20.0, rel=0.03)
    mask = np.zeros(img.shape, bool)
    mask[:, 160:] = True
    assert snr(img, mask) == pytest.approx(2.0, rel=0.05)
    assert snr(img) < 5                                     # the whole image is not homogeneous
    with pytest.raises(ValueError, match="mask"):
        region_mask((3, 3), np.ones((2, 2), bool))


def stepping(rng, a0, vis, phi, steps=5, period_um=3.0):
    x = np.arange(steps) * period_um / steps
    mean = a0 * (1 + vis * np.cos(2 * np.pi * x[:, None, None] / period_um + phi))
    return rng.poisson(mean).astype(np.float64)


def test_angular_sensitivity_matches_photon_statistics(tmp_path) -> None:
    """Two MAAST-like reference scans: sigma_alpha = p2 / (2 pi d) * 2 / (V sqrt(N a0))."""
    rng = np.random.default_rng(2)
    shape = (128, 128)
    a0, vis, steps = 2000.0, 0.16, 5
    phi = np.broadcast_to(np.linspace(-2.5, 2.5, shape[1]), shape)  # fringe phase varies
    ref_a = stepping(rng, a0, vis, phi, steps)
    ref_b = stepping(rng, a0, vis, phi, steps)
    period_um, g1_g2_cm = 3.0, 54.4
    res = angular_sensitivity(ref_a, ref_b, period_um, g1_g2_cm)
    expected = period_um * 1e-6 / (2 * np.pi * g1_g2_cm * 1e-2) * 2 / (vis * np.sqrt(steps * a0))
    assert isinstance(res, AngularSensitivity)
    assert res.sigma_rad == pytest.approx(expected, rel=0.05)
    assert res.sigma_one_scan_rad == pytest.approx(expected / np.sqrt(2), rel=0.05)  # one scan
    assert res.mean_visibility == pytest.approx(vis, rel=0.01)
    assert abs(res.alpha_rad.mean()) < 3 * expected / np.sqrt(res.alpha_rad.size)
    # a drift of the fringe between the scans: a tilt that only detrending removes
    drift = np.broadcast_to(np.linspace(0, 1.0, shape[0])[:, None], shape)
    tilted = angular_sensitivity(ref_a, stepping(rng, a0, vis, phi + drift, steps),
                                 period_um, g1_g2_cm, region=np.s_[:, :64])
    assert tilted.sigma_rad > 2 * expected
    flat = angular_sensitivity(ref_a, stepping(rng, a0, vis, phi + drift, steps),
                               period_um, g1_g2_cm, region=np.s_[:, :64], detrend=True)
    assert flat.sigma_rad == pytest.approx(expected, rel=0.07)
    assert flat.mask[:, :64].all() and not flat.mask[:, 64:].any()
    assert sigma_alpha_rad(res.alpha_rad, np.s_[:, :64]) == pytest.approx(expected, rel=0.07)

    out = plot_angular_sensitivity(res, tmp_path / "sigma.png", title="MAAST")
    assert out.read_bytes()[:8] == PNG and out.stat().st_size > 10_000
    out = plot_angular_sensitivity(res.alpha_rad, tmp_path / "sigma2.png", region=np.s_[:, :64])
    assert out.read_bytes()[:8] == PNG
    out = plot_visibility_map(res.visibility, tmp_path / "vis" / "v.png",
                              region=np.s_[10:50, 20:90])
    assert out.read_bytes()[:8] == PNG and out.stat().st_size > 10_000


def test_homogeneous_disc_avoids_structures_and_the_edge() -> None:
    rng = np.random.default_rng(3)
    img = rng.normal(1.0, 0.05, size=(96, 96))
    yy, xx = np.mgrid[:96, :96]
    img[np.hypot(yy - 30, xx - 30) < 12] += 0.5            # an inclusion
    img[:, 90:] = np.nan                                   # not reconstructed
    mask = homogeneous_disc(img, 6)
    rr, cc = np.nonzero(mask)
    assert mask.sum() == np.count_nonzero(np.hypot(yy - 48, xx - 48) <= 6)
    assert np.hypot(rr.mean() - 30, cc.mean() - 30) > 18   # off the inclusion
    assert np.hypot(rr.mean() - 47.5, cc.mean() - 47.5) <= 0.45 * 96 - 6 + 1  # inside the circle
    assert np.isfinite(img[mask]).all()
    cupped = np.where(np.isfinite(img), (0.02 * (xx - 47.5)) ** 2, np.nan)
    flat = homogeneous_disc(cupped, 6)                     # the flattest part of x^2: the middle
    assert abs(np.nonzero(flat)[1].mean() - 47.5) < 3
    with pytest.raises(ValueError, match="radius"):
        homogeneous_disc(img, 50)
    assert mean_visibility(np.array([[0.1, np.nan], [0.3, 0.2]])) == pytest.approx(0.2)
