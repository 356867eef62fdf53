"""The bead resolution target through the simulator and gi-process's reconstruction, cone beam.

What is simulated. :func:`gi_instrument.sim.beads.bead_target` (calcium-oxalate and adipose beads
of 2.5 unbinned voxels' radius at 0, 0.3, 0.55 and 0.8 of the field radius, at the central plane
and at half the field's half-height; two large spheres of 40 unbinned voxels) in its formalin
cylinder, imaged by :class:`~gi_instrument.sim.scanner_model.ScannerModel` in the profiles'
default cone beam with the source-spot and detector blur, at binning 4 (TLI 22.3 um, MAAST 34.1 um
voxels): noise-free stepping scans (the model's expected photons) at the profiles' angles (TLI
360 deg in 0.3 deg, MAAST 185 deg in 0.25 deg, a short scan), one reference scan, on two windows of ``ROWS``
detector rows around the two bead heights.

What is processed, with gi-process's own functions
(:mod:`gi_instrument.process_cli`): the sinogram builder, the unreliable-pixel repair, the
preparations (``-ln``, refraction angle with the run's lever arm; ring removal off: it takes the
on-axis bead, a stripe of the sinogram, away) and the slab
reconstruction in the run's geometry (:func:`~gi_instrument.process_cli.reconstruct_slab`: it
rebins the cone beam at the central plane and uses FDK at half the half-height, where the cone
angle matters), with the container correction; off the central plane only ``mu`` (the beads).

Metrics. Each bead's image: the reconstructed ``mu`` summed over the ``SLAB`` slices around its
height (a slab projection, independent of where the bead falls between slices) minus the median
of a ring around it; its peak and FWHM are the amplitude and ``2.355 sigma`` of a circular
Gaussian fitted to the 7 x 7 patch around its true centre (so that where the bead falls between
voxels does not matter). Each bead must keep
at least 80 % of the peak and at most 1.3 x the FWHM of the on-axis bead of its material at its
height. Materials: the mean over the voxels within 0.6 radii of the large spheres' centres of
``mu``, ``delta`` and the dark-field coefficient, against the material's own values
(:func:`gi_instrument.sim.materials.breast_materials`: the truth inside a sphere).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.optimize import curve_fit

from gi_instrument.process_cli import preparations, reconstruct_slab
from gi_instrument.processing import sinograms_from_arrays
from gi_instrument.processing.reconstruction import Geometry, attenuation_per_m
from gi_instrument.processing.retrieval import lever_arm_cm
from gi_instrument.processing.unreliable import repair_sinograms
from gi_instrument.profile import Profile, load_profile
from gi_instrument.sim.beads import (AXIAL_SPACING_VOXELS, BEAD_HEIGHTS, BEAD_RADII, CALCIUM, SOFT_TISSUE,
                                     bead_centres, bead_target, large_spheres)
from gi_instrument.sim.materials import breast_materials
from gi_instrument.sim.scanner_model import ScannerModel, Window

BINNING = 4
ROWS = 16
"""Detector rows per window (binned): the beads' shadows at every angle (the on-axis pair 7.5
slices apart) and their summed slabs."""
SLAB = 5
"""Slices summed around a bead's height."""
FWHM_PER_SIGMA = 2 * math.sqrt(2 * math.log(2))


@dataclass
class Reconstruction:
    """Volumes of one window, (ROWS, cols, cols), and how to find sample points in them."""

    mu_per_m: NDArray[np.float32]
    delta: NDArray[np.float32] | None
    """``None`` where only ``mu`` was reconstructed (the windows off the mid-plane)."""
    darkfield_per_m: NDArray[np.float32] | None
    midplane: float
    """Slice (window row) of the cone's mid-plane (height 0)."""
    voxel_m: float

    def index(self, point_m: NDArray) -> tuple[float, float, float]:
        """(slice, row, col) of a sample-frame point (:mod:`gi_instrument.sim.truth` orientation)."""
        c = (self.mu_per_m.shape[1] - 1) / 2
        x, y, z = point_m / self.voxel_m
        return self.midplane - z, c + y, c + x


def _simulate(profile: Profile, row0: int, volumes: tuple[str, ...]) -> Reconstruction:
    """Noise-free CT of the window of ``ROWS`` rows from ``row0`` (binned), reconstructed
    (``volumes``: which of gi-process's volumes)."""
    model = ScannerModel(profile, phantom=bead_target(profile))
    cols = profile.detector.width_px // BINNING
    window = Window(row0, 0, ROWS, cols)
    n = profile.n_projections
    angles = profile.ct.start_deg + profile.ct.angle_step_deg * np.arange(n)
    out_mm = profile.sample_stage.out_mm - profile.sample_stage.in_mm
    kw = dict(exposure_s=profile.ct.exposure_s, current_mA=profile.source.current_mA, time_s=0.0,
              binning=BINNING, window=window)

    def scan(angle: float, offset_mm: float) -> NDArray[np.float32]:
        return np.stack([model.expected_photons(angle_deg=angle, g2_um=x, sample_offset_mm=offset_mm, **kw)
                         for x in profile.stepping_positions_um])

    projections = np.stack([scan(a, 0.0) for a in angles])
    sino = sinograms_from_arrays(None, scan(0.0, out_mm)[None], [0.0], projections, angles,
                                 np.zeros(n))
    repaired = repair_sinograms(sino.dpc, sino.transmission, sino.darkfield, sino.flags)
    sino = dataclasses.replace(sino, dpc=repaired.dpc, darkfield=repaired.darkfield)
    g = profile.geometry_summary()
    midplane = (profile.detector.height_px // BINNING - 1) / 2 - row0
    geometry = dataclasses.replace(
        Geometry.from_run({**g, "binning": BINNING}, profile), midplane_row=midplane)
    d_eff_cm = lever_arm_cm(g["source_g1_cm"], g["g1_g2_cm"], g["source_sample_cm"])
    # without ring removal: an object on the rotation axis is a stripe of the sinogram, which the
    # stripe filter takes away (the on-axis bead, the reference here, would vanish from mu)
    slab = reconstruct_slab(sino, slice(0, ROWS), geometry, preparations(profile.gratings.g2_period_um,
                                                                         d_eff_cm, False), "cylinder",
                            volumes)
    voxel_um = profile.voxel_um * BINNING
    darkfield = slab.get("darkfield")
    return Reconstruction(attenuation_per_m(slab["attenuation"], voxel_um), slab.get("delta"),
                          None if darkfield is None else attenuation_per_m(darkfield, voxel_um),
                          midplane, voxel_um * 1e-6)


def _gaussian(xy: tuple[NDArray, NDArray], amplitude: float, r0: float, c0: float, sigma: float) -> NDArray:
    r, c = xy
    return amplitude * np.exp(-((r - r0) ** 2 + (c - c0) ** 2) / (2 * sigma**2))


def bead_image(rec: Reconstruction, centre_m: NDArray) -> tuple[float, float]:
    """(peak, FWHM in voxels) of a bead in the slab sum of ``mu`` (module docstring)."""
    k, r, c = rec.index(centre_m)
    k0 = int(round(k))
    image = rec.mu_per_m[max(0, k0 - SLAB // 2):k0 + SLAB // 2 + 1].sum(axis=0)
    ri, ci = int(round(r)), int(round(c))
    yy, xx = np.mgrid[-8:9, -8:9]
    patch = image[ri - 8:ri + 9, ci - 8:ci + 9]
    ring = (np.hypot(yy, xx) > 5) & (np.hypot(yy, xx) <= 8)
    patch = patch - np.median(patch[ring])
    near = np.hypot(yy + ri - r, xx + ci - c) <= 1.5
    guess = float(patch[near][np.argmax(np.abs(patch[near]))])
    small = (np.abs(yy) <= 3) & (np.abs(xx) <= 3)
    (amplitude, _, _, sigma), _ = curve_fit(_gaussian, (yy[small], xx[small]), patch[small],
                                            p0=(guess, r - ri, c - ci, 1.0), maxfev=5000)
    return float(amplitude), abs(sigma) * FWHM_PER_SIGMA


def _window_row0(profile: Profile, height: float) -> int:
    """First binned row of the window around the beads at ``height`` (fraction of the half-height)."""
    rows = profile.detector.height_px // BINNING
    return int(round((rows - ROWS) / 2 - height * rows / 2))


@pytest.fixture(scope="module", params=["tli", "maast"])
def target(request) -> tuple[Profile, dict[float, Reconstruction]]:
    profile = load_profile(request.param)
    assert profile.simulation.beam == "cone"  # the default geometry
    # the materials are measured at the mid-plane: elsewhere mu (the beads) is enough
    return profile, {h: _simulate(profile, _window_row0(profile, h),
                                  ("attenuation", "delta", "darkfield") if h == 0.0 else ("attenuation",))
                     for h in BEAD_HEIGHTS}


@pytest.mark.parametrize("height", BEAD_HEIGHTS)
def test_beads_keep_peak_and_width_across_the_field(target, height):
    profile, recs = target
    rec = recs[height]
    voxel_m = profile.voxel_um * 1e-6
    z = height * profile.detector.height_px / 2 * voxel_m
    beads = [(c, m) for c, m in bead_centres(profile) if abs(c[2] - z) < AXIAL_SPACING_VOXELS * voxel_m]
    assert len(beads) == 2 * len(BEAD_RADII)
    reference = {m: bead_image(rec, c) for c, m in beads if math.hypot(c[0], c[1]) == 0.0}
    for centre, material in beads:
        peak, fwhm = bead_image(rec, centre)
        ref_peak, ref_fwhm = reference[material]
        where = f"{profile.name} {material} bead at r = {math.hypot(*centre[:2]) * 1e3:.2f} mm, z = {z * 1e3:.2f} mm"
        assert peak / ref_peak >= 0.8, (where, peak, ref_peak)
        assert fwhm <= 1.3 * ref_fwhm, (where, fwhm, ref_fwhm)


@pytest.mark.parametrize("quantity", ["mu", "delta", "darkfield"])
@pytest.mark.parametrize("name", [CALCIUM, SOFT_TISSUE])
def test_materials_within_three_percent(target, name, quantity):
    profile, recs = target
    rec = recs[0.0]
    material = breast_materials(profile.source.design_energy_keV)[name]
    (centre, radius), = [(c, r) for c, r, m in large_spheres(profile) if m == name]
    k, r, c = rec.index(centre)
    kk, rr, cc = np.mgrid[:ROWS, :rec.mu_per_m.shape[1], :rec.mu_per_m.shape[2]]
    inside = np.sqrt((kk - k) ** 2 + (rr - r) ** 2 + (cc - c) ** 2) * rec.voxel_m < 0.6 * radius
    assert inside.sum() > 100
    got, truth = {"mu": (rec.mu_per_m, material.mu_per_m), "delta": (rec.delta, material.delta),
                  "darkfield": (rec.darkfield_per_m, material.darkfield_per_m)}[quantity]
    assert float(got[inside].mean()) == pytest.approx(truth, rel=0.03)
