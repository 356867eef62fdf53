"""Analytic solids with exact chord lengths: ellipsoid, sphere and finite cylinder.

Coordinates are metres in the sample frame (z = rotation axis, vertical). A chord is the length of
the intersection of a whole line ``o + t d`` with the solid; the lines come as a :class:`RayGrid`
(origins and directions affine in the detector coordinates), so every quadratic form of the
intersection is a polynomial evaluated on the grid by outer sums: no (N, 3) ray arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = ["RayGrid", "Ellipsoid", "Sphere", "Cylinder", "Shape"]


def _dot(a: NDArray, b: NDArray) -> NDArray:
    return np.sum(a * b, axis=-1)


_TINY = 1e-20
"""Regularises divisions for rays parallel to a cylinder's axis or to its caps (gives |t| ~ 1e6 m)."""


@dataclass(frozen=True)
class RayGrid:
    """Lines ``o(u, v) + t d(u, v)`` on a grid, ``o`` and ``d`` affine in the grid coordinates:
    ``o = o0 + u ou + v ov``, ``d = d0 + u du + v dv`` (``d`` need not be a unit vector).

    ``u`` (cols,) and ``v`` (rows,) are the grid coordinates; ``origin`` and ``direction`` are
    (3, 3) arrays whose rows are (o0, ou, ov) and (d0, du, dv). Fields on the grid are arrays
    (rows, cols). A parallel beam has ``du = dv = 0``; a cone beam ``ou = ov = 0``.
    """

    u: NDArray[np.float64]
    v: NDArray[np.float64]
    origin: NDArray[np.float64]
    direction: NDArray[np.float64]

    def transformed(self, shift: NDArray, matrix: NDArray) -> RayGrid:
        """The same lines in coordinates ``(x - shift) @ matrix``."""
        origin = self.origin.copy()
        origin[0] = origin[0] - shift
        return RayGrid(self.u, self.v, origin @ matrix, self.direction @ matrix)

    def dot(self, p: NDArray, q: NDArray) -> NDArray[np.float64]:
        """Scalar product of two affine vector fields given as (3, 3) coefficient rows, (rows, cols)."""
        (p0, pu, pv), (q0, qu, qv) = p, q
        u, v = self.u, self.v
        row = p0 @ q0 + u * ((p0 @ qu + pu @ q0) + (pu @ qu) * u)
        col = v * ((p0 @ qv + pv @ q0) + (pv @ qv) * v)
        out = np.add.outer(col, row)
        cross = pu @ qv + pv @ qu
        if cross != 0.0:
            out += cross * np.multiply.outer(v, u)
        return out

    def linear(self, p: NDArray, w: NDArray) -> NDArray[np.float64]:
        """Scalar product of an affine vector field (3, 3) with a constant vector w, (rows, cols)."""
        c0, cu, cv = p @ w
        return np.add.outer(c0 + cv * self.v, cu * self.u)

    def direction_sq(self) -> float | NDArray[np.float64]:
        """|d|^2 on the grid: a scalar for a parallel beam, else (rows, cols)."""
        d0, du, dv = self.direction
        if du.any() or dv.any():
            return self.dot(self.direction, self.direction)
        return float(d0 @ d0)

    def direction_norm(self) -> float | NDArray[np.float64]:
        """|d| on the grid: a scalar for a parallel beam, else (rows, cols)."""
        return np.sqrt(self.direction_sq())


def _ball_interval(rays: RayGrid, radius: float) -> NDArray[np.float64]:
    """Length of the t-interval inside the ball of ``radius`` around the frame's origin."""
    a = rays.direction_sq()
    b = rays.dot(rays.origin, rays.direction)
    disc = b * b - a * (rays.dot(rays.origin, rays.origin) - radius**2)
    np.maximum(disc, 0.0, out=disc)
    np.sqrt(disc, out=disc)
    disc *= 2.0 / a
    return disc


@dataclass(frozen=True, eq=False)
class Sphere:
    """Ball of ``radius_m`` around ``center_m`` (3,)."""

    center_m: NDArray[np.float64]
    radius_m: float

    @property
    def bounding_radius_m(self) -> float:
        """Radius of a ball around ``center_m`` that contains the solid, m."""
        return self.radius_m

    def half_extents_m(self, rotation: NDArray) -> NDArray[np.float64]:
        """Half sizes, m, of the solid's bounding box along the axes of the frame ``rotation @ x``."""
        return np.full(3, self.radius_m)

    def chord_m(self, rays: RayGrid) -> NDArray[np.float64]:
        """Chord lengths, m, (rows, cols)."""
        return _ball_interval(rays.transformed(self.center_m, np.eye(3)), self.radius_m) * rays.direction_norm()

    def contains(self, points_m: NDArray) -> NDArray[np.bool_]:
        """Whether points (..., 3) lie inside."""
        rel = points_m - self.center_m
        return _dot(rel, rel) <= self.radius_m**2


@dataclass(frozen=True, eq=False)
class Ellipsoid:
    """Ellipsoid with ``semi_axes_m`` (3,) along the columns of ``rotation`` (3, 3)."""

    center_m: NDArray[np.float64]
    semi_axes_m: NDArray[np.float64]
    rotation: NDArray[np.float64] = field(default_factory=lambda: np.eye(3))

    @property
    def bounding_radius_m(self) -> float:
        """Radius of a ball around ``center_m`` that contains the solid, m."""
        return float(np.max(self.semi_axes_m))

    def half_extents_m(self, rotation: NDArray) -> NDArray[np.float64]:
        """Half sizes, m, of the solid's bounding box along the axes of the frame ``rotation @ x``."""
        return np.sqrt((((rotation @ self.rotation) * self.semi_axes_m) ** 2).sum(axis=1))

    @property
    def _to_unit(self) -> NDArray[np.float64]:
        # Maps sample-frame offsets to the frame where the ellipsoid is the unit ball.
        return self.rotation / self.semi_axes_m

    def chord_m(self, rays: RayGrid) -> NDArray[np.float64]:
        """Chord lengths, m, (rows, cols)."""
        return _ball_interval(rays.transformed(self.center_m, self._to_unit), 1.0) * rays.direction_norm()

    def contains(self, points_m: NDArray) -> NDArray[np.bool_]:
        """Whether points (..., 3) lie inside."""
        o = (points_m - self.center_m) @ self._to_unit
        return _dot(o, o) <= 1.0


@dataclass(frozen=True, eq=False)
class Cylinder:
    """Finite circular cylinder: ``radius_m`` around the unit ``axis`` through ``center_m``,
    extending ``half_length_m`` either way along it (flat caps)."""

    center_m: NDArray[np.float64]
    axis: NDArray[np.float64]
    radius_m: float
    half_length_m: float

    @property
    def bounding_radius_m(self) -> float:
        """Radius of a ball around ``center_m`` that contains the solid, m."""
        return float(np.hypot(self.radius_m, self.half_length_m))

    def half_extents_m(self, rotation: NDArray) -> NDArray[np.float64]:
        """Half sizes, m, of the solid's bounding box along the axes of the frame ``rotation @ x``."""
        axis = rotation @ self.axis
        return self.half_length_m * np.abs(axis) + self.radius_m * np.sqrt(np.maximum(1.0 - axis**2, 0.0))

    @property
    def end_points_m(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Centres of the two caps, m."""
        half = self.half_length_m * self.axis
        return self.center_m - half, self.center_m + half

    def chord_m(self, rays: RayGrid) -> NDArray[np.float64]:
        """Chord lengths, m, (rows, cols)."""
        local = rays.transformed(self.center_m, np.eye(3))
        s0 = local.linear(local.origin, self.axis)  # axial coordinate of o
        d_sq = local.direction_sq()
        # Axial component of d: a number for a parallel beam (constant direction).
        sd = float(local.direction[0] @ self.axis) if np.isscalar(d_sq) else local.linear(local.direction, self.axis)
        a = d_sq - sd * sd + _TINY
        b = local.dot(local.origin, local.direction) - s0 * sd
        c = local.dot(local.origin, local.origin) - s0 * s0 - self.radius_m**2
        root = b * b - a * c
        hit = root > 0.0
        np.sqrt(np.maximum(root, 0.0), out=root)
        if np.isscalar(sd) and abs(sd) < _TINY:  # rays across the axis: caps cut whole chords
            length = np.where(hit & (np.abs(s0) <= self.half_length_m), 2.0 / a * root, 0.0)
            return length * np.sqrt(d_sq)
        t0, t1 = (-b - root) / a, (-b + root) / a  # inside the infinite cylinder
        sd = np.where(np.abs(sd) < _TINY, _TINY, sd)
        ta, tb = (-self.half_length_m - s0) / sd, (self.half_length_m - s0) / sd  # between caps
        length = np.minimum(t1, np.maximum(ta, tb)) - np.maximum(t0, np.minimum(ta, tb))
        return np.where(hit, np.maximum(length, 0.0), 0.0) * np.sqrt(d_sq)

    def contains(self, points_m: NDArray) -> NDArray[np.bool_]:
        """Whether points (..., 3) lie inside."""
        rel = points_m - self.center_m
        s = _dot(rel, self.axis)
        perp = rel - s[..., None] * self.axis
        return (np.abs(s) <= self.half_length_m) & (_dot(perp, perp) <= self.radius_m**2)


Shape = Sphere | Ellipsoid | Cylinder
