"""A resolution target: small and large beads of a calcium and a soft-tissue material in formalin.

Layout (sample frame of :mod:`gi_instrument.sim.forward`, z the rotation axis), in units of the
profile's imaged half-width ``w = width_px * voxel_um / 2`` and half-height ``h``:

- a formalin cylinder on the axis, wider than the imaged field (``geometry.field_of_view_cm``),
  as the breast specimen's container, so projections are truncated in the same way;
- point-like beads (radius ``BEAD_RADIUS_VOXELS`` unbinned voxels) at the radii
  ``BEAD_RADII`` from the axis and the heights ``BEAD_HEIGHTS``: for each height, one bead of
  each radius, alternately calcium oxalate (:data:`CALCIUM`) and adipose tissue
  (:data:`SOFT_TISSUE`), the radii spread over the azimuths so no two shadow each other at every
  angle; one bead of each material sits on the axis (radius 0) at every height, the two
  ``AXIAL_SPACING_VOXELS`` apart in z, centred on the height;
- two large spheres (radius ``LARGE_RADIUS_VOXELS`` unbinned voxels), one of each material, in
  the central plane at ``LARGE_OFFSET`` either side of the axis, whose interiors give the
  materials' reconstructed values.

:func:`bead_centres` lists the beads (centre, m; material) so that tests can find them. The
``seed`` argument only keeps the maker's signature the same as :func:`breast_specimen`'s: the
target is deterministic.
"""

from __future__ import annotations

import math

import numpy as np

from gi_instrument.profile import Profile
from gi_instrument.sim.phantom import Inclusion, Phantom
from gi_instrument.sim.shapes import Cylinder, Sphere

__all__ = ["CALCIUM", "SOFT_TISSUE", "BEAD_RADII", "BEAD_HEIGHTS", "BEAD_RADIUS_VOXELS",
           "LARGE_RADIUS_VOXELS", "LARGE_OFFSET", "AXIAL_SPACING_VOXELS", "bead_target", "bead_centres", "large_spheres"]

CALCIUM = "calcium_oxalate"
"""Material of the calcium beads (:mod:`gi_instrument.sim.materials`)."""
SOFT_TISSUE = "adipose"
"""Material of the soft-tissue beads."""
BEAD_RADII = (0.0, 0.3, 0.55, 0.8)
"""Bead distances from the axis, fractions of the imaged half-width."""
BEAD_HEIGHTS = (0.0, 0.5)
"""Bead heights above the central plane, fractions of the imaged half-height."""
BEAD_RADIUS_VOXELS = 2.5
"""Small-bead radius, unbinned voxels (TLI 14 um, MAAST 21 um)."""
AXIAL_SPACING_VOXELS = 30.0
"""Distance in z of the two on-axis beads of a height, unbinned voxels (7.5 slices at binning 4)."""
LARGE_RADIUS_VOXELS = 40.0
"""Large-sphere radius, unbinned voxels (TLI 0.22 mm, MAAST 0.34 mm)."""
LARGE_OFFSET = 0.3
"""Large spheres' distance from the axis, fraction of the imaged half-width (along -y, +y)."""


def _half_sizes_m(profile: Profile) -> tuple[float, float, float]:
    """(imaged half-width, imaged half-height, unbinned voxel), m."""
    voxel_m = profile.voxel_um * 1e-6
    return (0.5 * profile.detector.width_px * voxel_m, 0.5 * profile.detector.height_px * voxel_m, voxel_m)


def bead_centres(profile: Profile) -> list[tuple[np.ndarray, str]]:
    """Centres (x, y, z), m, and materials of the small beads; the on-axis ones first per height."""
    half_w, half_h, _ = _half_sizes_m(profile)
    out: list[tuple[np.ndarray, str]] = []
    for k, height in enumerate(BEAD_HEIGHTS):
        z = height * half_h
        # the on-axis pair: stacked AXIAL_SPACING_VOXELS apart in z, either side of the height
        half_gap_m = 0.5 * AXIAL_SPACING_VOXELS * profile.voxel_um * 1e-6
        out.append((np.array([0.0, 0.0, z - half_gap_m]), CALCIUM))
        out.append((np.array([0.0, 0.0, z + half_gap_m]), SOFT_TISSUE))
        for i, radius in enumerate(BEAD_RADII[1:]):
            for j, material in enumerate((CALCIUM, SOFT_TISSUE)):
                phi = math.radians(37.0 * (i + 1) + 180.0 * j + 23.0 * k)
                out.append((np.array([radius * half_w * math.cos(phi), radius * half_w * math.sin(phi), z]),
                            material))
    return out


def large_spheres(profile: Profile) -> list[tuple[np.ndarray, float, str]]:
    """Centres (x, y, z), m, radii, m, and materials of the two large spheres."""
    half_w, _, voxel_m = _half_sizes_m(profile)
    r = LARGE_RADIUS_VOXELS * voxel_m
    return [(np.array([0.0, -LARGE_OFFSET * half_w, 0.0]), r, CALCIUM),
            (np.array([0.0, LARGE_OFFSET * half_w, 0.0]), r, SOFT_TISSUE)]


def bead_target(profile: Profile, *, seed: int = 0) -> Phantom:
    """The bead resolution target for ``profile``'s imaged field (module docstring)."""
    del seed  # deterministic target
    _, half_h, voxel_m = _half_sizes_m(profile)
    radius_m = 0.5 * profile.geometry.field_of_view_cm * 1e-2
    container = Cylinder(np.zeros(3), np.array([0.0, 0.0, 1.0]), radius_m, 4.0 * half_h)
    out = [Inclusion(container, "formalin", None)]
    bead_m = BEAD_RADIUS_VOXELS * voxel_m
    out += [Inclusion(Sphere(c, bead_m), material, "formalin") for c, material in bead_centres(profile)]
    out += [Inclusion(Sphere(c, r), material, "formalin") for c, r, material in large_spheres(profile)]
    return Phantom(tuple(out))
