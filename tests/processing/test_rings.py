"""Ring suppression: a synthetic stripe is removed, a uniform object is not biased."""

from __future__ import annotations

import numpy as np

from gi_instrument.processing.reconstruction import fbp, remove_stripes

N = 128
C = (N - 1) / 2
ANGLES = np.arange(360) * 0.5
RADIUS = 40.0


X0, Y0 = 14.0, -6.0


def disc_sinogram() -> np.ndarray:
    """A uniform disc of value 1 centred at (X0, Y0)."""
    th = np.deg2rad(ANGLES)[:, None]
    s = np.arange(N)[None, :] - C - (X0 * np.cos(th) + Y0 * np.sin(th))
    return 2 * np.sqrt(np.clip(RADIUS**2 - s**2, 0, None))


def test_stripe_removed_uniform_object_unbiased() -> None:
    clean = disc_sinogram()
    striped = clean.copy()
    striped[:, 70] += 0.8                                   # one bad pixel: a ring of radius 6.5
    striped[:, 40:42] -= 0.5                                # a two-pixel stripe
    yy, xx = np.mgrid[:N, :N] - C
    r = np.hypot(xx, yy)
    inside = np.hypot(xx - X0, -yy - Y0) < RADIUS - 4
    before = fbp(striped, ANGLES)
    after = fbp(remove_stripes(striped), ANGLES)
    reference = fbp(clean, ANGLES)
    ring = (np.abs(r - 6.5) < 1.5)
    assert np.abs(before - reference)[ring].max() > 0.05
    assert np.abs(after - reference)[ring].max() < 0.2 * np.abs(before - reference)[ring].max()
    # no bias: the uniform disc keeps its value
    assert abs(float(after[inside].mean()) - float(reference[inside].mean())) < 2e-3
    filtered = remove_stripes(clean)
    assert np.abs(filtered - clean).max() < 2e-3 * clean.max()   # only the disc edges' kinks


def test_stack_shape_and_options() -> None:
    stack = np.stack([disc_sinogram(), 2 * disc_sinogram()], axis=1)
    out = remove_stripes(stack, size=11)
    assert out.shape == stack.shape and out.dtype == np.float32
    np.testing.assert_allclose(out[:, 1], 2 * out[:, 0], rtol=1e-5, atol=1e-4)
