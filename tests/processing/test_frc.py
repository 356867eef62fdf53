"""FRC: known band limits, threshold crossing, even/odd split, FSC, figure."""

from __future__ import annotations

import numpy as np
import pytest

from gi_instrument.processing.frc import (
    frc,
    frc_even_odd,
    plot_frc,
    resolution_px,
    resolution_um,
    split_even_odd,
)


def band_split(rng: np.random.Generator, shape: tuple[int, ...], f_c: float):
    """White noise low-passed at radius f_c (cycles/pixel), and a high-pass filter mask."""
    radius2 = sum(
        (np.fft.fftfreq(n) ** 2).reshape([-1 if i == k else 1 for i in range(len(shape))])
        for k, n in enumerate(shape)
    )
    low = np.sqrt(radius2) < f_c

    def filtered(mask):
        return np.real(np.fft.ifftn(np.fft.fftn(rng.normal(size=shape)) * mask))

    return filtered, low


@pytest.mark.parametrize("f_c", [0.08, 0.2, 0.33])
def test_band_limit_is_found(f_c: float) -> None:
    """Common signal below f_c, independent noise above: FRC = 1 then 0, crossing at f_c."""
    rng = np.random.default_rng(int(f_c * 100))
    filtered, low = band_split(rng, (256, 256), f_c)
    signal = filtered(low)
    a = signal + filtered(~low)
    b = signal + filtered(~low)
    freq, corr = frc(a, b)
    assert freq[0] == 0 and freq[-1] == pytest.approx(0.5) and freq.size == 129
    assert corr[(freq > 0) & (freq < f_c - 0.02)].min() > 0.99
    assert np.abs(corr[freq > f_c + 0.02]).max() < 0.2
    res = resolution_px(freq, corr)
    assert res == pytest.approx(1 / f_c, rel=0.05)
    assert resolution_um(freq, corr, voxel_um=5.57) == pytest.approx(5.57 * res)


def test_rectangular_and_hann_window() -> None:
    rng = np.random.default_rng(5)
    filtered, low = band_split(rng, (128, 192), 0.15)
    signal = filtered(low)
    freq, corr = frc(signal + filtered(~low), signal + filtered(~low), window="hann")
    assert freq.size == 65
    assert resolution_px(freq, corr) == pytest.approx(1 / 0.15, rel=0.05)


def test_fsc_3d() -> None:
    rng = np.random.default_rng(7)
    filtered, low = band_split(rng, (48, 48, 48), 0.25)
    signal = filtered(low)
    freq, corr = frc(signal + filtered(~low), signal + filtered(~low))
    assert resolution_px(freq, corr) == pytest.approx(4.0, rel=0.05)


def test_identical_scaled_and_independent() -> None:
    rng = np.random.default_rng(9)
    a = rng.normal(size=(64, 64))
    freq, corr = frc(a, 3.0 * a + 2.0)
    np.testing.assert_allclose(corr[1:], 1.0, atol=1e-12)     # scale and offset do not matter
    with pytest.warns(UserWarning, match="Nyquist"):
        assert resolution_px(freq, corr) == pytest.approx(2.0)
    _, corr = frc(a, rng.normal(size=(64, 64)))
    assert np.abs(corr[4:]).mean() < 0.1
    _, corr = frc(a, -a)
    np.testing.assert_allclose(corr[1:], -1.0, atol=1e-12)
    with pytest.raises(ValueError, match="shapes"):
        frc(a, a[:-1])


def test_resolution_interpolates_and_uses_first_crossing() -> None:
    freq = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    corr = np.array([1.0, 0.9, 0.7, 0.3, 0.6, 0.1])       # crosses at 0.25, again at ~0.45
    assert resolution_px(freq, corr) == pytest.approx(4.0)
    # 0.143: between 0.4 (0.6) and 0.5 (0.1) -> f = 0.4 + 0.1 * 0.457 / 0.5
    assert resolution_px(freq, corr, threshold=0.143) == pytest.approx(1 / 0.4914)


def test_split_even_odd_and_noise_lowers_resolution() -> None:
    angles = np.arange(740) * 0.25                            # MAAST 185 deg
    (se, ae), (so, ao) = split_even_odd(np.arange(740 * 3).reshape(740, 3), angles)
    assert ae[1] - ae[0] == 0.5 and ao[0] == 0.25 and se.shape == (370, 3)
    np.testing.assert_array_equal(so[:, 0], np.arange(1, 740, 2) * 3)
    shuffled = np.random.default_rng(0).permutation(740)
    (_, ae2), (_, ao2) = split_even_odd(np.zeros((740, 3)), angles[shuffled])
    np.testing.assert_array_equal(ae2, ae)
    np.testing.assert_array_equal(ao2, ao)

    # a textured object: many random small discs; the noisier scan resolves less
    n, rng = 96, np.random.default_rng(11)
    c = (n - 1) / 2
    s = np.arange(n) - c
    th = np.deg2rad(angles)[:, None]
    sino = np.zeros((angles.size, n))
    for _ in range(150):
        x0, y0 = rng.uniform(-35, 35, size=2)
        r = rng.uniform(1.0, 4.0)
        d = s[None, :] - (x0 * np.cos(th) + y0 * np.sin(th))
        sino += 2 * np.sqrt(np.clip(r * r - d * d, 0, None))
    results = []
    for sigma in (5.0, 20.0):
        noisy = sino + rng.normal(scale=sigma, size=sino.shape)
        freq, corr = frc_even_odd(noisy, angles, crop=72)
        results.append(resolution_px(freq, corr))
    assert 2.0 < results[0] < 0.7 * results[1]


def test_plot_frc(tmp_path) -> None:
    freq = np.linspace(0, 0.5, 65)
    corr = 1 / (1 + np.exp((freq - 0.2) * 40))
    out = plot_frc(freq, corr, tmp_path / "figs" / "frc.png", voxel_um=8.52, title="MAAST")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 10_000
