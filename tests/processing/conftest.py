"""Shared synthetic data for the processing tests."""

from __future__ import annotations

import numpy as np
import pytest

P2_UM, STEPS, D_CM = 3.0, 5, 60.3


def synthetic_ct(n_proj: int = 12, n_ref: int = 4, rows: int = 7, cols: int = 9, seed: int = 0):
    """A drifting interferometer and a known object; exact (noise-free) curves."""
    rng = np.random.default_rng(seed)
    a0 = rng.uniform(2000, 3000, (rows, cols))
    vis = rng.uniform(0.15, 0.25, (rows, cols))
    phi0 = rng.uniform(-np.pi, np.pi, (rows, cols))
    dark = rng.uniform(90, 110, (rows, cols))
    drift = 0.03  # rad / s of fringe phase
    nominal = np.arange(STEPS) * P2_UM / STEPS

    def scan(t0, trans, dpc, dfield):
        x = nominal + rng.normal(0, 0.05, STEPS)
        t = t0 + np.arange(STEPS)
        theta = 2 * np.pi * x[:, None, None] / P2_UM
        phase = phi0 + drift * t.mean() + dpc  # drift evaluated at the scan's mean time
        curves = a0 * trans * (1 + vis * dfield * np.cos(theta + phase)) + dark
        return curves, x, t

    truth = {k: np.empty((n_proj, rows, cols)) for k in ("transmission", "dpc", "darkfield")}
    proj, proj_x, proj_t, refs, ref_x, ref_t = [], [], [], [], [], []
    clock = 0.0
    every = n_proj // (n_ref - 1)
    for i in range(n_proj):
        if i % every == 0:
            c, x, t = scan(clock, 1.0, 0.0, 1.0)
            refs.append(c), ref_x.append(x), ref_t.append(t)
            clock += STEPS
        truth["transmission"][i] = rng.uniform(0.3, 1.0, (rows, cols))
        truth["dpc"][i] = rng.uniform(-2.0, 2.0, (rows, cols))
        truth["darkfield"][i] = rng.uniform(0.4, 1.0, (rows, cols))
        c, x, t = scan(clock, *(truth[k][i] for k in ("transmission", "dpc", "darkfield")))
        proj.append(c), proj_x.append(x), proj_t.append(t)
        clock += STEPS
    c, x, t = scan(clock, 1.0, 0.0, 1.0)
    refs.append(c), ref_x.append(x), ref_t.append(t)
    darks = np.stack([dark - 0.5, dark + 0.5]).astype(np.float32)
    arrays = dict(
        darks=darks, references=np.stack(refs).astype(np.float32),
        reference_times_s=np.stack(ref_t), projections=np.stack(proj).astype(np.float32),
        angles_deg=np.arange(n_proj) * 360.0 / n_proj, projection_times_s=np.stack(proj_t),
        reference_positions_um=np.stack(ref_x), projection_positions_um=np.stack(proj_x))
    return arrays, truth



@pytest.fixture
def drifting_ct():
    """``(arrays, truth)`` of :func:`synthetic_ct` with its defaults."""
    return synthetic_ct()
