"""A 40 um calcification at binning 1: its phase wraps at the edges (issue 7, item 4).

What is simulated. A hydroxyapatite sphere (type II calcification) of ``RADIUS_UM`` radius, 0.3 mm
from the rotation axis, in a 3 mm formalin tube, imaged by
:class:`~gi_instrument.sim.scanner_model.ScannerModel` in the TLI profile's default cone beam with
its source-spot and detector blur, binning 1 (5.57 um voxels): noise-free stepping scans (the
model's expected photons) at the profile's 1200 angles, on a window of ``ROWS`` x ``COLS``
detector pixels around the central ray (the calcification spans 7 voxels). Its fringe phase
reaches several rad at the edges (past +-pi: the closed form is checked below).

What is processed, with gi-process's functions: the sinogram builder, the repair of unreliable
pixels and refraction edges (:func:`~gi_instrument.processing.unreliable.repair_sinograms`), the
refraction angle with the run's lever arm, and the slab reconstruction of delta in the run's
geometry (the window's axis column and mid-plane row; container correction).

Metrics. **Star artefact**: the standard deviation of delta in the annulus 2-8 radii around the
calcification in its central slice, relative to the calcification's delta contrast (a star of
streaks from wrapped pixels would put it at several per cent). **delta**: the integral of delta
minus the background (median of the shell 2.5-3.5 radii) over the ball of 2 radii, over the
truth ``(delta_HA - delta_formalin) * 4/3 pi R^3`` (blur-independent).

Known limit (the strict xfail below): ~18 % of the truth. The blur (source spot through the
penumbra factor and detector PSF, 2.9 px FWHM here) spreads a 7-voxel object whose fringe phase
passes +-pi inside its outer pixels; a pixel records the argument of a mean over wraps. Measured
outside this suite: 24 % for a 50 um calcification (26 % with MAAST), 15 % with the simulator's
sub-pixels raised from 2 x 2 to 8 x 8 (not a sampling artefact of the simulator); with the blur
deconvolved and the calcification's own phase-to-attenuation ratio supplied, 101 %; that ratio
fitted from the data comes out 50-75 against the true 115, so only a prior on the material
(the quantity being measured) would reach 10 %.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from gi_instrument.process_cli import preparations, reconstruct_slab
from gi_instrument.processing import sinograms_from_arrays
from gi_instrument.processing.reconstruction import Geometry
from gi_instrument.processing.retrieval import lever_arm_cm
from gi_instrument.processing.unreliable import repair_sinograms
from gi_instrument.profile import load_profile
from gi_instrument.sim.interferometer import profile_lever_arm_m
from gi_instrument.sim.materials import breast_materials
from gi_instrument.sim.phantom import Inclusion, Phantom
from gi_instrument.sim.scanner_model import ScannerModel, Window
from gi_instrument.sim.shapes import Cylinder, Sphere

RADIUS_UM = 20.0
MATERIAL = "hydroxyapatite"
CENTRE_M = np.array([0.3e-3, 0.1e-3, 0.0])
TUBE_RADIUS_M = 1.5e-3
ROWS, COLS = 12, 256


@pytest.fixture(scope="module")
def calcification() -> tuple[np.ndarray, float, float, dict]:
    """(delta volume (ROWS, COLS, COLS), voxel m, delta contrast, repair record)."""
    profile = load_profile("tli")
    tube = Cylinder(np.zeros(3), np.array([0.0, 0.0, 1.0]), TUBE_RADIUS_M, 0.01)
    phantom = Phantom((Inclusion(tube, "formalin", None),
                       Inclusion(Sphere(CENTRE_M, RADIUS_UM * 1e-6), MATERIAL, "formalin")))
    model = ScannerModel(profile, phantom=phantom)
    rows, cols = profile.detector.height_px, profile.detector.width_px
    row0, col0 = (rows - ROWS) // 2, (cols - COLS) // 2
    n = profile.n_projections
    angles = profile.ct.start_deg + profile.ct.angle_step_deg * np.arange(n)
    kw = dict(exposure_s=profile.ct.exposure_s, current_mA=profile.source.current_mA, time_s=0.0,
              binning=1, window=Window(row0, col0, ROWS, COLS))

    def scan(angle: float, offset_mm: float) -> np.ndarray:
        return np.stack([model.expected_photons(angle_deg=angle, g2_um=x, sample_offset_mm=offset_mm, **kw)
                         for x in profile.stepping_positions_um])

    out_mm = profile.sample_stage.out_mm - profile.sample_stage.in_mm
    sino = sinograms_from_arrays(None, scan(0.0, out_mm)[None], [0.0], np.stack([scan(a, 0.0) for a in angles]),
                                 angles, np.zeros(n))
    repaired = repair_sinograms(sino.dpc, sino.transmission, sino.darkfield, sino.flags)
    sino = dataclasses.replace(sino, dpc=repaired.dpc, darkfield=repaired.darkfield)
    g = profile.geometry_summary()
    geometry = dataclasses.replace(Geometry.from_run(g, profile), midplane_row=(rows - 1) / 2 - row0,
                                   center_px=(cols - 1) / 2 - col0)
    prepare = preparations(profile.gratings.g2_period_um,
                           lever_arm_cm(g["source_g1_cm"], g["g1_g2_cm"], g["source_sample_cm"]), False)
    delta = reconstruct_slab(sino, slice(0, ROWS), geometry, prepare, "cylinder", ("delta",))["delta"]
    materials = breast_materials(profile.source.design_energy_keV)
    contrast = materials[MATERIAL].delta - materials["formalin"].delta
    return delta, profile.voxel_um * 1e-6, contrast, {"fraction": repaired.fraction,
                                                       "object_fraction": repaired.object_fraction, "profile": profile,
                                                       "midplane": geometry.midplane(ROWS)}


def _distances(delta: np.ndarray, voxel_m: float, midplane: float) -> tuple[np.ndarray, int]:
    """Distance of every voxel from the calcification's centre, m, and its slice."""
    c = (COLS - 1) / 2
    k0, r0, c0 = midplane - CENTRE_M[2] / voxel_m, c + CENTRE_M[1] / voxel_m, c + CENTRE_M[0] / voxel_m
    kk, rr, cc = np.mgrid[:ROWS, :COLS, :COLS]
    return np.sqrt((kk - k0) ** 2 + (rr - r0) ** 2 + (cc - c0) ** 2) * voxel_m, int(round(k0))


def test_the_edges_wrap(calcification):
    """The closed form: the refraction angle of a sphere at impact parameter s is
    ``2 d_delta s / sqrt(R^2 - s^2)``, so half a voxel inside the edge the fringe phase
    ``2 pi d_eff alpha / p2`` is past pi; the repair found pixels to work on."""
    _, voxel_m, contrast, record = calcification
    profile = record["profile"]
    r, s = RADIUS_UM * 1e-6, RADIUS_UM * 1e-6 - voxel_m / 2
    alpha = 2 * contrast * s / math.sqrt(r**2 - s**2)
    assert 2 * math.pi * profile_lever_arm_m(profile) * alpha / (profile.gratings.g2_period_um * 1e-6) > math.pi
    assert record["fraction"] > 0
    assert record["object_fraction"] > 0  # left as measured, and counted: its delta is low


def test_no_star_artefact(calcification):
    delta, voxel_m, contrast, record = calcification
    dist, k = _distances(delta, voxel_m, record["midplane"])
    annulus = (dist[k] > 2 * RADIUS_UM * 1e-6) & (dist[k] < 8 * RADIUS_UM * 1e-6)
    assert delta[k][annulus].std() < 0.005 * contrast


@pytest.mark.xfail(strict=True, reason="the blur averages the fringe phase over the wrapped edges of a "
                                       "calcification of 7 voxels, which has no interior to fit the "
                                       "phase-attenuation relation on: measured ~18 % of the truth")
def test_delta_within_ten_percent(calcification):
    delta, voxel_m, contrast, record = calcification
    dist, _ = _distances(delta, voxel_m, record["midplane"])
    r = RADIUS_UM * 1e-6
    background = np.median(delta[(dist > 2.5 * r) & (dist < 3.5 * r)])
    integral = float((delta[dist < 2 * r] - background).sum())
    assert integral == pytest.approx(contrast * 4 / 3 * math.pi * (r / voxel_m) ** 3, rel=0.10)
