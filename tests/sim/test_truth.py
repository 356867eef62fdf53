"""Ground-truth slices agree with the projections (and with the FBP orientation)."""

from __future__ import annotations

import numpy as np
import pytest

from gi_instrument.profile import load_profile
from gi_instrument.sim.forward import BeamGeometry, Projector
from gi_instrument.sim.materials import breast_materials
from gi_instrument.sim.phantom import breast_specimen
from gi_instrument.sim.truth import render_slice, slice_height_um

MATERIALS = breast_materials(20.0)


@pytest.mark.parametrize("name", ["tli", "maast"])
def test_slice_sums_are_the_projections_at_0_and_90_deg(name):
    p = load_profile(name)
    ph = breast_specimen(p, seed=2)
    projector = Projector(ph, MATERIALS, BeamGeometry("parallel", 1.0, 1.0))
    b, row = 8, 128
    truth = render_slice(ph, MATERIALS, p, row=row, binning=b, supersampling=3)
    n = truth.delta.shape[0]
    voxel_m = truth.voxel_um * 1e-6
    u = (np.arange(n) + 0.5 - n / 2) * voxel_m
    v = np.array([truth.z_um * 1e-6])
    # Only the part of the formalin cylinder inside the square grid is rendered: compare the
    # tissue (delta above formalin's) with the projection minus the cylinder's.
    base = MATERIALS["formalin"].delta
    container = 2 * np.sqrt(np.maximum(ph.inclusions[0].shape.radius_m**2 - u**2, 0)) * base
    tissue = truth.delta - base
    # At 0 deg rays run along +y (down the rows); at 90 deg along -x, with u = -y.
    for angle, summed in ((0.0, tissue.sum(axis=0)), (90.0, tissue.sum(axis=1)[::-1])):
        proj = projector.line_integrals(angle, 0.0, u, v)[1, 0] - container
        assert np.abs(proj).max() > 5e-11  # tissue contrast, not round-off
        assert np.abs(summed * voxel_m - proj).mean() < 0.02 * np.abs(proj).max(), angle

def test_slice_height_follows_the_detector_rows():
    p = load_profile("tli")
    assert slice_height_um(p, 1023) == pytest.approx(0.5 * p.voxel_um)
    assert slice_height_um(p, 0, binning=8) == pytest.approx((1024 - 4) * p.voxel_um)
    with pytest.raises(ValueError):
        render_slice(breast_specimen(p), MATERIALS, p, row=256, binning=8)
