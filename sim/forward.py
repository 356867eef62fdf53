"""Exact projections of the phantom: line integrals of mu, delta and epsilon along the rays.

Frames (all in metres). Sample frame: z is the rotation axis (vertical, detector rows). Lab frame:
the beam travels along +y; the detector column coordinate ``u`` is lab x, the row coordinate
``v`` is lab z (up), both given in the sample plane (detector coordinate / magnification), with the
rotation axis at ``u = 0``. At rotation angle ``theta`` a sample point p sits at
``Rz(theta) p + (offset, 0, 0)`` in the lab (``offset`` = sample stage translation along x), so an
off-axis point (x, y, z) projects to ``u = x cos(theta) - y sin(theta) + offset``, ``v = z``.
A misaligned axis (:class:`BeamGeometry` ``axis_offset_m``, ``axis_tilt_deg``) makes that
``Ry(tilt) Rz(theta) p + (offset + axis_offset, 0, 0)``: the axis leans in the detector plane (its
top towards +x for a positive tilt) and crosses the beam's central ray ``axis_offset`` to the side.

Geometries: ``parallel`` (rays along +y through (u, ., v): the magnified parallel beam) and
``cone`` (rays from the source point at ``y = -source_sample`` to the detector point
(u M, source_detector - source_sample, v M), M = source_detector / source_sample).

Refraction: the refraction angle averaged over a pixel of width ``w`` along ``u`` is exactly
``(P(u + w/2) - P(u - w/2)) / w`` with ``P = integral of delta dl`` (the box-filtered derivative
``alpha = dP/du``), so it is computed from the exact projections at the pixel edges: no aliasing at
sharp edges, no finite-difference step to choose. Along ``v`` pixels are sub-sampled.

Cost: :meth:`Projector.at` computes an angle's per-solid part once (shadow boxes, chord
coefficients, batched per solid kind); each solid's chords are then evaluated only on the grid
window its shadow box covers (:mod:`gi_instrument.sim.shapes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping

import numpy as np
from numpy.typing import NDArray

from gi_instrument.profile import Profile
from gi_instrument.sim.materials import Material
from gi_instrument.sim.phantom import Phantom
from gi_instrument.sim.shapes import ChordFields, Cylinder, CylinderSet, QuadricSet, RayGrid

__all__ = ["BeamGeometry", "PixelSignals", "Projector", "Projection"]


@dataclass(frozen=True)
class BeamGeometry:
    """Projection geometry: beam kind, the source-sample / source-detector distances, m, and the
    rotation axis' misalignment (module docstring)."""

    beam: Literal["parallel", "cone"]
    source_sample_m: float
    source_detector_m: float
    axis_offset_m: float = 0.0
    axis_tilt_deg: float = 0.0

    @classmethod
    def from_profile(cls, profile: Profile) -> BeamGeometry:
        """Geometry of ``profile`` (detector at G2; ``simulation.beam`` picks the beam kind,
        ``simulation.axis_offset_um`` / ``axis_tilt_deg`` the axis)."""
        sim = profile.simulation
        return cls(sim.beam, profile.source_sample_cm * 1e-2, profile.source_g2_cm * 1e-2,
                   sim.axis_offset_um * 1e-6, sim.axis_tilt_deg)

    def sample_to_lab(self, angle_deg: float) -> NDArray[np.float64]:
        """Rotation taking sample coordinates to the lab at ``angle_deg``: ``Ry(tilt) Rz(angle)``."""
        c, s = np.cos(np.radians(self.axis_tilt_deg)), np.sin(np.radians(self.axis_tilt_deg))
        return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]) @ _rz(angle_deg)

    @property
    def magnification(self) -> float:
        """Source-detector / source-sample."""
        return self.source_detector_m / self.source_sample_m


@dataclass(frozen=True)
class PixelSignals:
    """Per (sub-)pixel projected signals, arrays (rows, cols)."""

    attenuation: NDArray[np.float64]
    """integral of mu dl (dimensionless): transmission T = exp(-attenuation)."""
    refraction_rad: NDArray[np.float64]
    """Refraction angle alpha = d/du integral of delta dl, rad (pixel-averaged)."""
    darkfield: NDArray[np.float64]
    """integral of epsilon dl (dimensionless): dark-field D = exp(-darkfield)."""


def _rz(angle_deg: float) -> NDArray[np.float64]:
    c, s = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _index_ranges(coords: NDArray, lo: NDArray, hi: NDArray) -> tuple[NDArray, NDArray]:
    """Per interval [lo_i, hi_i]: first and one-past-last index of the ``coords`` inside it (an
    empty range 0, 0 when none is)."""
    if coords.size == 0:
        return np.zeros(lo.size, dtype=int), np.zeros(lo.size, dtype=int)
    inside = (coords >= lo[:, None]) & (coords <= hi[:, None])
    hit = inside.any(axis=1)
    first = np.argmax(inside, axis=1)
    last = coords.size - np.argmax(inside[:, ::-1], axis=1)
    return np.where(hit, first, 0), np.where(hit, last, 0)


class Projector:
    """Exact line integrals through a phantom's inclusions.

    Args:
        phantom: the specimen.
        materials: optical constants by material name.
        geometry: parallel or cone beam.
    """

    def __init__(self, phantom: Phantom, materials: Mapping[str, Material], geometry: BeamGeometry) -> None:
        self.geometry = geometry
        contrasts = phantom.contrasts(materials)
        is_cylinder = np.array([isinstance(inc.shape, Cylinder) for inc in phantom.inclusions], dtype=bool)
        shapes = [inc.shape for inc in phantom.inclusions]
        # Solids of a kind are batched; each set with its inclusions' contrasts (n, 3).
        self._sets: list[tuple[QuadricSet | CylinderSet, NDArray[np.float64]]] = [
            (QuadricSet([s for s, c in zip(shapes, is_cylinder) if not c]), contrasts[~is_cylinder]),
            (CylinderSet([s for s, c in zip(shapes, is_cylinder) if c]), contrasts[is_cylinder]),
        ]

    def _footprints(self, center_lab: NDArray, half_m: NDArray) -> tuple[NDArray, NDArray, NDArray, NDArray]:
        """(u_lo, u_hi, v_lo, v_hi), sample-plane metres, each (n,), of the shadows of the lab-frame
        boxes ``center_lab +- half_m`` (n, 3)."""
        if self.geometry.beam == "parallel":
            lo, hi = center_lab - half_m, center_lab + half_m
            return lo[:, 0], hi[:, 0], lo[:, 2], hi[:, 2]
        ds = self.geometry.source_sample_m
        signs = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).reshape(3, -1).T
        corners = center_lab[:, None, :] + signs * half_m[:, None, :]
        depth = ds + corners[..., 1]
        if np.any(depth <= 0):
            raise ValueError("an inclusion reaches behind the source")
        u, v = corners[..., 0] * ds / depth, corners[..., 2] * ds / depth
        return u.min(axis=1), u.max(axis=1), v.min(axis=1), v.max(axis=1)

    def _ray_rows(self, angle_deg: float, offset_m: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Coefficient rows (o0, ou, ov) and (d0, du, dv) of the rays in the sample frame
        (:class:`RayGrid`)."""
        g = self.geometry
        if g.beam == "parallel":  # o = (u, 0, v), d = +y
            origin = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
            direction = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
        else:  # o = source, d = detector point (u M, source_detector, v M) - source
            m = g.magnification
            origin = np.array([[0.0, -g.source_sample_m, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
            direction = np.array([[0.0, g.source_detector_m, 0.0], [m, 0.0, 0.0], [0.0, 0.0, m]])
        lab = RayGrid(np.empty(0), np.empty(0), origin, direction)
        sample = lab.transformed(np.array([offset_m + g.axis_offset_m, 0.0, 0.0]), g.sample_to_lab(angle_deg))
        return sample.origin, sample.direction

    def rays(self, angle_deg: float, offset_m: float, u_m: NDArray, v_m: NDArray) -> RayGrid:
        """The rays through the sample-plane points (u_m[j], v_m[i]) in the sample frame."""
        origin, direction = self._ray_rows(angle_deg, offset_m)
        return RayGrid(np.asarray(u_m, dtype=np.float64), np.asarray(v_m, dtype=np.float64), origin, direction)

    def at(self, angle_deg: float, offset_m: float) -> Projection:
        """The projections at rotation angle ``angle_deg`` and sample offset ``offset_m``, m."""
        return Projection(self, angle_deg, offset_m)

    def line_integrals(self, angle_deg: float, offset_m: float, u_m: NDArray, v_m: NDArray
                       ) -> NDArray[np.float64] | None:
        """:meth:`Projection.line_integrals` at ``angle_deg`` and ``offset_m``."""
        return self.at(angle_deg, offset_m).line_integrals(u_m, v_m)

    def pixel_signals(self, angle_deg: float, offset_m: float, u_edges_m: NDArray, v_m: NDArray
                      ) -> PixelSignals | None:
        """:meth:`Projection.pixel_signals` at ``angle_deg`` and ``offset_m``."""
        return self.at(angle_deg, offset_m).pixel_signals(u_edges_m, v_m)


class Projection:
    """Exact line integrals through the phantom at one rotation angle and sample offset, on any
    grid of sample-plane points: the per-angle part (the solids' shadow boxes and the coefficients
    of their chords) is computed once, so a frame can be projected in row blocks.

    Args:
        projector: the phantom and geometry.
        angle_deg: rotation angle, deg.
        offset_m: sample stage offset along x, m.
    """

    def __init__(self, projector: Projector, angle_deg: float, offset_m: float) -> None:
        rot = projector.geometry.sample_to_lab(angle_deg)
        origin, direction = projector._ray_rows(angle_deg, offset_m)
        shift = np.array([offset_m + projector.geometry.axis_offset_m, 0.0, 0.0])
        self._sets: list[tuple[tuple[NDArray, ...], ChordFields, NDArray[np.float64]]] = []
        for solids, contrasts in projector._sets:
            center_lab = solids.centers_m @ rot.T + shift
            footprints = projector._footprints(center_lab, solids.half_extents_m(rot))
            self._sets.append((footprints, solids.chord_fields(origin, direction), contrasts))

    def line_integrals(self, u_m: NDArray, v_m: NDArray) -> NDArray[np.float64] | None:
        """(integral mu dl, integral delta dl, integral epsilon dl) along the rays through the
        sample-plane points (u_m[j], v_m[i]), shape (3, len(v_m), len(u_m)); ``None`` when no
        inclusion's shadow touches the grid (an open-beam field)."""
        u_m, v_m = np.asarray(u_m, dtype=np.float64), np.asarray(v_m, dtype=np.float64)
        out: NDArray[np.float64] | None = None
        for (u_lo, u_hi, v_lo, v_hi), chords, contrasts in self._sets:
            col0, col1 = _index_ranges(u_m, u_lo, u_hi)
            row0, row1 = _index_ranges(v_m, v_lo, v_hi)
            windows = [(i, (slice(row0[i], row1[i]), slice(col0[i], col1[i])))
                       for i in np.flatnonzero((col1 > col0) & (row1 > row0)).tolist()]
            for (i, (rows, cols)), chord in zip(windows, chords(u_m, v_m, windows)):
                if out is None:
                    out = np.zeros((3, v_m.size, u_m.size))
                for k, contrast in enumerate(contrasts[i].tolist()):  # window-sized temporaries
                    if contrast:
                        out[k, rows, cols] += contrast * chord
        return out

    def pixel_signals(self, u_edges_m: NDArray, v_m: NDArray) -> PixelSignals | None:
        """Signals of the pixels between consecutive ``u_edges_m`` (equally spaced) on the rows
        ``v_m``, shapes (len(v_m), len(u_edges_m) - 1); ``None`` for an open-beam field.

        Attenuation and dark-field are the mean of the two edge values (trapezoid), refraction the
        exact pixel average of dP/du."""
        edges = self.line_integrals(u_edges_m, v_m)
        if edges is None:
            return None
        width_m = float(u_edges_m[1] - u_edges_m[0])
        mu, delta, eps = edges
        return PixelSignals(
            attenuation=0.5 * (mu[:, 1:] + mu[:, :-1]),
            refraction_rad=np.diff(delta, axis=1) / width_m,
            darkfield=0.5 * (eps[:, 1:] + eps[:, :-1]),
        )
