"""Analytic solids with exact chord lengths: ellipsoid, sphere and finite cylinder.

Coordinates are metres in the sample frame (z = rotation axis, vertical). A chord is the length of
the intersection of a whole line ``o + t d`` (``d`` a unit vector) with the solid. ``origins_m`` and
``directions`` broadcast against each other: (N, 3) or (3,) each.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = ["Ellipsoid", "Sphere", "Cylinder", "Shape"]

_EPS = 1e-12


def _dot(a: NDArray, b: NDArray) -> NDArray:
    return np.sum(a * b, axis=-1)


@dataclass(frozen=True, eq=False)
class Sphere:
    """Ball of ``radius_m`` around ``center_m`` (3,)."""

    center_m: NDArray[np.float64]
    radius_m: float

    @property
    def bounding_radius_m(self) -> float:
        """Radius of a ball around ``center_m`` that contains the solid, m."""
        return self.radius_m

    def chord_m(self, origins_m: NDArray, directions: NDArray) -> NDArray[np.float64]:
        """Chord lengths, m, shape broadcast(origins, directions)[:-1]."""
        rel = origins_m - self.center_m
        b = _dot(rel, directions)
        disc = b * b - (_dot(rel, rel) - self.radius_m**2)
        return 2.0 * np.sqrt(np.maximum(disc, 0.0))

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

    @property
    def _to_unit(self) -> NDArray[np.float64]:
        # Maps sample-frame offsets to the frame where the ellipsoid is the unit ball.
        return self.rotation / self.semi_axes_m

    def chord_m(self, origins_m: NDArray, directions: NDArray) -> NDArray[np.float64]:
        """Chord lengths, m, shape broadcast(origins, directions)[:-1]."""
        m = self._to_unit
        o = (origins_m - self.center_m) @ m
        d = directions @ m
        a = _dot(d, d)
        b = _dot(o, d)
        disc = b * b - a * (_dot(o, o) - 1.0)
        return 2.0 * np.sqrt(np.maximum(disc, 0.0)) / a

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

    @property
    def end_points_m(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Centres of the two caps, m."""
        half = self.half_length_m * self.axis
        return self.center_m - half, self.center_m + half

    def chord_m(self, origins_m: NDArray, directions: NDArray) -> NDArray[np.float64]:
        """Chord lengths, m, shape broadcast(origins, directions)[:-1]."""
        rel = origins_m - self.center_m
        s0 = _dot(rel, self.axis)
        du = _dot(directions, self.axis)
        o_perp = rel - s0[..., None] * self.axis
        d_perp = directions - np.asarray(du)[..., None] * self.axis
        a = _dot(d_perp, d_perp)
        b = _dot(o_perp, d_perp)
        c = _dot(o_perp, o_perp) - self.radius_m**2
        a, b, c, s0, du = np.broadcast_arrays(a, b, c, s0, du)
        # Interval of t inside the infinite cylinder (a ~ 0: ray parallel to the axis).
        parallel = a < _EPS
        a_safe = np.where(parallel, 1.0, a)
        root = np.sqrt(np.maximum(b * b - a_safe * c, 0.0))
        hit = np.where(parallel, c <= 0.0, b * b - a_safe * c > 0.0)
        t0 = np.where(parallel, -np.inf, (-b - root) / a_safe)
        t1 = np.where(parallel, np.inf, (-b + root) / a_safe)
        # Interval of t between the caps (du ~ 0: ray perpendicular to the axis).
        across = np.abs(du) < _EPS
        du_safe = np.where(across, 1.0, du)
        ta = (-self.half_length_m - s0) / du_safe
        tb = (self.half_length_m - s0) / du_safe
        inside_caps = np.abs(s0) <= self.half_length_m
        c0 = np.where(across, np.where(inside_caps, -np.inf, np.inf), np.minimum(ta, tb))
        c1 = np.where(across, np.where(inside_caps, np.inf, -np.inf), np.maximum(ta, tb))
        length = np.minimum(t1, c1) - np.maximum(t0, c0)
        return np.where(hit & np.isfinite(length), np.maximum(length, 0.0), 0.0)

    def contains(self, points_m: NDArray) -> NDArray[np.bool_]:
        """Whether points (..., 3) lie inside."""
        rel = points_m - self.center_m
        s = _dot(rel, self.axis)
        perp = rel - s[..., None] * self.axis
        return (np.abs(s) <= self.half_length_m) & (_dot(perp, perp) <= self.radius_m**2)


Shape = Sphere | Ellipsoid | Cylinder
