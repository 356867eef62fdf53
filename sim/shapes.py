"""Analytic solids with exact chord lengths: ellipsoid, sphere and finite cylinder.

Coordinates are metres in the sample frame (z = rotation axis, vertical). A chord is the length of
the intersection of a whole line ``o + t d`` with the solid; the lines come as a :class:`RayGrid`
(origins and directions affine in the detector coordinates, one of the two constant: a parallel or
a cone beam). Every quantity of the intersection is then a polynomial of degree <= 2 in the grid
coordinates (u, v); its 6 coefficients (of 1, u, v, u^2, u v, v^2) are computed once per solid and
ray grid, vectorised over all solids of a kind (:class:`QuadricSet`, :class:`CylinderSet`), and a
chord field is evaluated on a window of the grid by an outer sum of its column and row parts: no
(N, 3) ray arrays, a few window-sized passes per solid. A solid's chords depend only on the
coefficients and the window's (u, v), so they are the same bit for bit whichever window or set
they are computed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = ["RayGrid", "Ellipsoid", "Sphere", "Cylinder", "Shape", "QuadricSet", "CylinderSet", "ChordFields"]


def _dot(a: NDArray, b: NDArray) -> NDArray:
    return np.sum(a * b, axis=-1)


_TINY = 1e-20
"""Regularises divisions for rays parallel to a cylinder's axis or to its caps (gives |t| ~ 1e6 m)."""

GridWindow = tuple[slice, slice]
"""(rows, cols) of a ray grid."""


@dataclass(frozen=True)
class RayGrid:
    """Lines ``o(u, v) + t d(u, v)`` on a grid, ``o`` and ``d`` affine in the grid coordinates:
    ``o = o0 + u ou + v ov``, ``d = d0 + u du + v dv`` (``d`` need not be a unit vector).

    ``u`` (cols,) and ``v`` (rows,) are the grid coordinates; ``origin`` and ``direction`` are
    (3, 3) arrays whose rows are (o0, ou, ov) and (d0, du, dv). Fields on the grid are arrays
    (rows, cols). A parallel beam has ``du = dv = 0``; a cone beam ``ou = ov = 0``; one of the two
    must hold (it keeps the intersection quadratic in u and v).
    """

    u: NDArray[np.float64]
    v: NDArray[np.float64]
    origin: NDArray[np.float64]
    direction: NDArray[np.float64]

    def __post_init__(self) -> None:
        if self.origin[1:].any() and self.direction[1:].any():
            raise ValueError("either the origins or the directions of a ray grid must be constant")

    def transformed(self, shift: NDArray, matrix: NDArray) -> RayGrid:
        """The same lines in coordinates ``(x - shift) @ matrix``."""
        origin = self.origin.copy()
        origin[0] = origin[0] - shift
        return RayGrid(self.u, self.v, origin @ matrix, self.direction @ matrix)


# ---- quadratic polynomials in (u, v): coefficient arrays (..., 6) of 1, u, v, u^2, u v, v^2 ----

def _times(rows: NDArray, matrix: NDArray) -> NDArray:
    """``rows @ matrix`` for stacks of (3, 3) arrays, as explicit sums (same rounding in any stack)."""
    return (rows[..., :, 0, None] * matrix[..., None, 0, :] + rows[..., :, 1, None] * matrix[..., None, 1, :]
            + rows[..., :, 2, None] * matrix[..., None, 2, :])


def _field_dot(p: NDArray, q: NDArray) -> NDArray:
    """Coefficients of ``p . q`` for affine vector fields given as coefficient rows (..., 3, 3)."""
    def e(i: int, j: int) -> NDArray:
        return p[..., i, 0] * q[..., j, 0] + p[..., i, 1] * q[..., j, 1] + p[..., i, 2] * q[..., j, 2]

    return np.stack([e(0, 0), e(0, 1) + e(1, 0), e(0, 2) + e(2, 0), e(1, 1), e(1, 2) + e(2, 1), e(2, 2)],
                    axis=-1)


def _field_along(p: NDArray, w: NDArray) -> NDArray:
    """Coefficients of ``p . w`` for an affine vector field p (..., 3, 3) and vectors w (..., 3)."""
    lin = p[..., 0] * w[..., None, 0] + p[..., 1] * w[..., None, 1] + p[..., 2] * w[..., None, 2]
    return np.concatenate([lin, np.zeros(lin.shape)], axis=-1)


def _product(p: NDArray, q: NDArray) -> NDArray:
    """Coefficients of ``p q`` for polynomials whose degrees add up to at most 2."""
    p0, pu, pv, puu, puv, pvv = np.moveaxis(p, -1, 0)
    q0, qu, qv, quu, quv, qvv = np.moveaxis(q, -1, 0)
    return np.stack([p0 * q0, p0 * qu + pu * q0, p0 * qv + pv * q0, p0 * quu + puu * q0 + pu * qu,
                     p0 * quv + puv * q0 + (pu * qv + pv * qu), p0 * qvv + pvv * q0 + pv * qv], axis=-1)


def _constant(value: NDArray | float) -> NDArray:
    """Coefficients of constant polynomials (..., 6)."""
    value = np.asarray(value, dtype=np.float64)
    out = np.zeros(value.shape + (6,))
    out[..., 0] = value
    return out


def _grid(p: NDArray, u: NDArray, v: NDArray, full: bool = True) -> NDArray[np.float64]:
    """The polynomial with coefficients ``p`` (6,) on the grid, a new array (len(v), len(u)); with
    ``full=False`` a polynomial of u (or v) alone comes as one row (1, len(u)) (one column)."""
    c0, cu, cv, cuu, cuv, cvv = p.tolist()
    if not (full or cv or cvv or cuv):
        return (c0 + u * (cu + cuu * u))[None, :]
    if not (full or cu or cuu or cuv):
        return (v * (cv + cvv * v) + c0)[:, None]
    out = np.add.outer(v * (cv + cvv * v), c0 + u * (cu + cuu * u))
    if cuv:
        out += np.multiply.outer(v, cuv * u)
    return out


def _root(field: NDArray[np.float64]) -> NDArray[np.float64]:
    """``sqrt(max(field, 0))``, in place."""
    np.maximum(field, 0.0, out=field)
    return np.sqrt(field, out=field)


def _clipped(rho: NDArray, upper: NDArray, width: float | NDArray) -> NDArray[np.float64]:
    """``max(min(rho, upper) + min(rho, width - upper), 0)``: the length of the overlap of
    ``[-rho, rho]`` with ``[upper - width, upper]`` (``upper`` is overwritten)."""
    rest = width - upper
    np.minimum(rest, rho, out=rest)
    np.minimum(upper, rho, out=upper)
    upper += rest
    return np.maximum(upper, 0.0, out=upper)


_WHOLE: list[tuple[int, GridWindow]] = [(0, (slice(None), slice(None)))]
"""The whole grid for the first solid of a set."""

ChordFields = Callable[[NDArray, NDArray, Iterable[tuple[int, GridWindow]]], Iterator[NDArray[np.float64]]]
"""``chords(u, v, windows)``: chord lengths, m, of solid i on the window (rows, cols) of the grid
(len(v), len(u)), for each (i, window), a new array each."""


class QuadricSet:
    """Spheres and ellipsoids, vectorised: solid i is the ball of radius ``scale_i`` in the
    coordinates ``(x - center_i) @ frame_i`` (a sphere: its radius in the sample frame, m; an
    ellipsoid: the unit ball in its principal axes scaled by the semi-axes).

    Args:
        shapes: the solids, in order.
    """

    def __init__(self, shapes: Sequence[Sphere | Ellipsoid]) -> None:
        spheres = [isinstance(s, Sphere) for s in shapes]
        self.centers_m = np.array([s.center_m for s in shapes], dtype=np.float64).reshape(-1, 3)
        self._rotations = np.array([np.eye(3) if sphere else s.rotation for s, sphere in zip(shapes, spheres)],
                                   dtype=np.float64).reshape(-1, 3, 3)
        self._semi_axes_m = np.array([np.full(3, s.radius_m) if sphere else s.semi_axes_m
                                      for s, sphere in zip(shapes, spheres)], dtype=np.float64).reshape(-1, 3)
        self._frames = np.array([np.eye(3) if sphere else s.rotation / s.semi_axes_m
                                 for s, sphere in zip(shapes, spheres)], dtype=np.float64).reshape(-1, 3, 3)
        self._scales = np.array([s.radius_m if sphere else 1.0 for s, sphere in zip(shapes, spheres)],
                                dtype=np.float64)

    def half_extents_m(self, rotation: NDArray) -> NDArray[np.float64]:
        """Half sizes, m, (n, 3) of the solids' bounding boxes along the axes of the frame
        ``rotation @ x``."""
        axes = np.einsum("jk,nkl->njl", rotation, self._rotations) * self._semi_axes_m[:, None, :]
        return np.sqrt((axes**2).sum(axis=2))

    def chord_fields(self, origin: NDArray, direction: NDArray) -> ChordFields:
        """The chords of the lines with coefficient rows ``origin`` and ``direction`` (as in
        :class:`RayGrid`), evaluated per window by the returned function."""
        origin = np.broadcast_to(origin, self._frames.shape).copy()
        origin[:, 0] -= self.centers_m
        o, d = _times(origin, self._frames), _times(direction, self._frames)
        a, b = _field_dot(d, d), _field_dot(o, d)
        disc = _product(b, b) - _product(a, _field_dot(o, o) - _constant(self._scales**2))
        # chord = 2 sqrt(disc) |d| / a
        dd = _field_dot(direction, direction)
        if not direction[1:].any():  # parallel beam: a and |d| are numbers, folded into disc
            disc = disc * (4.0 * dd[0] / a[:, 0] ** 2)[:, None]

            def parallel(u: NDArray, v: NDArray, windows: Iterable[tuple[int, GridWindow]]) -> Iterator[NDArray]:
                for i, (rows, cols) in windows:
                    yield _root(_grid(disc[i], u[cols], v[rows]))

            return parallel

        def cone(u: NDArray, v: NDArray, windows: Iterable[tuple[int, GridWindow]]) -> Iterator[NDArray]:
            for i, (rows, cols) in windows:  # a and |d| vary over the grid
                uw, vw = u[cols], v[rows]
                field = _grid(disc[i], uw, vw)
                np.maximum(field, 0.0, out=field)
                field *= 4.0 * _grid(dd, uw, vw) / _grid(a[i], uw, vw) ** 2
                yield np.sqrt(field, out=field)

        return cone


class CylinderSet:
    """Finite cylinders, vectorised.

    Args:
        shapes: the solids, in order.
    """

    def __init__(self, shapes: Sequence[Cylinder]) -> None:
        self.centers_m = np.array([s.center_m for s in shapes], dtype=np.float64).reshape(-1, 3)
        self._axes = np.array([s.axis for s in shapes], dtype=np.float64).reshape(-1, 3)
        self._radii_m = np.array([s.radius_m for s in shapes], dtype=np.float64)
        self._half_lengths_m = np.array([s.half_length_m for s in shapes], dtype=np.float64)

    def half_extents_m(self, rotation: NDArray) -> NDArray[np.float64]:
        """Half sizes, m, (n, 3) of the solids' bounding boxes along the axes of the frame
        ``rotation @ x``."""
        axis = self._axes @ rotation.T
        return (self._half_lengths_m[:, None] * np.abs(axis)
                + self._radii_m[:, None] * np.sqrt(np.maximum(1.0 - axis**2, 0.0)))

    def chord_fields(self, origin: NDArray, direction: NDArray) -> ChordFields:
        """The chords of the lines with coefficient rows ``origin`` and ``direction`` (as in
        :class:`RayGrid`), evaluated per window by the returned function.

        With ``s`` the axial and the rest the radial part: the line is inside the infinite
        cylinder for t in ``-b/a +- rho`` (a = |d_radial|^2, b = o_radial . d_radial,
        rho = sqrt(b^2 - a c) / a) and between the caps for t in ``[lo, hi]``; the chord is
        ``|d| (min(rho, L) + min(rho, W - L))`` clipped at 0, with L = hi + b/a and W = hi - lo.
        """
        origin = np.broadcast_to(origin, (len(self._radii_m), 3, 3)).copy()
        origin[:, 0] -= self.centers_m
        s0, sd = _field_along(origin, self._axes), _field_along(direction, self._axes)
        dd = _field_dot(direction, direction)
        a = dd - _product(sd, sd) + _constant(_TINY)
        b = _field_dot(origin, direction) - _product(s0, sd)
        c = _field_dot(origin, origin) - _product(s0, s0) - _constant(self._radii_m**2)
        disc = _product(b, b) - _product(a, c)
        h = self._half_lengths_m
        if not direction[1:].any():  # parallel beam: a, sd and |d| are numbers per cylinder
            norm, a0, sd0 = float(np.sqrt(dd[0])), a[:, 0], sd[:, 0]
            across = np.abs(sd0) < _TINY  # rays across the axis: the caps cut whole chords
            disc = disc * (np.where(across, 4.0, 1.0) * dd[0] / a0**2)[:, None]  # (2 rho |d|)^2, (rho |d|)^2
            sd_cut = np.where(across, 1.0, sd0)
            upper = ((s0 - _constant(np.copysign(h, sd_cut))) * (-norm / sd_cut)[:, None]
                     + b * (norm / a0)[:, None])  # L |d|: affine in u, v
            width = 2.0 * h * norm / np.abs(sd_cut)

            def parallel(u: NDArray, v: NDArray, windows: Iterable[tuple[int, GridWindow]]) -> Iterator[NDArray]:
                for i, (rows, cols) in windows:
                    yield chord(i, u[cols], v[rows])

            def chord(i: int, u: NDArray, v: NDArray) -> NDArray[np.float64]:
                if across[i]:  # e.g. a vertical cylinder: rho of u, s0 of v alone
                    out = np.zeros((v.size, u.size))
                    np.multiply(_root(_grid(disc[i], u, v, full=False)),
                                np.abs(_grid(s0[i], u, v, full=False)) <= h[i], out=out)
                    return out
                return _clipped(_root(_grid(disc[i], u, v)), _grid(upper[i], u, v), width[i])

            return parallel

        def cone(u: NDArray, v: NDArray, windows: Iterable[tuple[int, GridWindow]]) -> Iterator[NDArray]:
            for i, (rows, cols) in windows:  # everything on the grid
                uw, vw = u[cols], v[rows]
                dd_i, a_i, sd_i, s0_i = (_grid(p, uw, vw) for p in (dd, a[i], sd[i], s0[i]))
                rho = _grid(disc[i], uw, vw)
                np.maximum(rho, 0.0, out=rho)
                rho *= dd_i / a_i**2
                np.sqrt(rho, out=rho)  # rho |d|, m
                sd_i = np.where(np.abs(sd_i) < _TINY, _TINY, sd_i)
                ta, tb = (-h[i] - s0_i) / sd_i, (h[i] - s0_i) / sd_i
                norm = np.sqrt(dd_i)
                yield _clipped(rho, (np.maximum(ta, tb) + _grid(b[i], uw, vw) / a_i) * norm,
                               np.abs(tb - ta) * norm)

        return cone


@dataclass(frozen=True, eq=False)
class Sphere:
    """Ball of ``radius_m`` around ``center_m`` (3,)."""

    center_m: NDArray[np.float64]
    radius_m: float

    @property
    def bounding_radius_m(self) -> float:
        """Radius of a ball around ``center_m`` that contains the solid, m."""
        return self.radius_m

    def chord_m(self, rays: RayGrid) -> NDArray[np.float64]:
        """Chord lengths, m, (rows, cols)."""
        return next(QuadricSet([self]).chord_fields(rays.origin, rays.direction)(rays.u, rays.v, _WHOLE))

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

    def chord_m(self, rays: RayGrid) -> NDArray[np.float64]:
        """Chord lengths, m, (rows, cols)."""
        return next(QuadricSet([self]).chord_fields(rays.origin, rays.direction)(rays.u, rays.v, _WHOLE))

    def contains(self, points_m: NDArray) -> NDArray[np.bool_]:
        """Whether points (..., 3) lie inside."""
        o = (points_m - self.center_m) @ (self.rotation / self.semi_axes_m)
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

    def chord_m(self, rays: RayGrid) -> NDArray[np.float64]:
        """Chord lengths, m, (rows, cols)."""
        return next(CylinderSet([self]).chord_fields(rays.origin, rays.direction)(rays.u, rays.v, _WHOLE))

    def contains(self, points_m: NDArray) -> NDArray[np.bool_]:
        """Whether points (..., 3) lie inside."""
        rel = points_m - self.center_m
        s = _dot(rel, self.axis)
        perp = rel - s[..., None] * self.axis
        return (np.abs(s) <= self.half_length_m) & (_dot(perp, perp) <= self.radius_m**2)


Shape = Sphere | Ellipsoid | Cylinder
