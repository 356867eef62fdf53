"""Exact chord lengths of the analytic solids against closed forms and brute force."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from gi_instrument.sim.shapes import Cylinder, Ellipsoid, RayGrid, Sphere


def parallel_rays(u: np.ndarray, v: np.ndarray, rotation: np.ndarray | None = None) -> RayGrid:
    """Rays along +y through (u, 0, v) (optionally in a rotated frame)."""
    origin = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    direction = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    rays = RayGrid(u, v, origin, direction)
    return rays if rotation is None else rays.transformed(np.zeros(3), rotation)


def brute_force_chord(shape, rays: RayGrid, half_span: float, n: int = 20001) -> np.ndarray:
    """Chord by sampling each line densely and counting the points inside (units of |d| = 1)."""
    t = np.linspace(-half_span, half_span, n)
    (o0, ou, ov), (d0, _, _) = rays.origin, rays.direction
    out = np.empty((rays.v.size, rays.u.size))
    for i, v in enumerate(rays.v):
        for j, u in enumerate(rays.u):
            pts = (o0 + u * ou + v * ov)[None, :] + t[:, None] * d0[None, :]
            out[i, j] = shape.contains(pts).mean() * 2 * half_span
    return out


U = np.linspace(-1.2e-3, 1.2e-3, 41)
V = np.linspace(-0.9e-3, 0.9e-3, 30)  # no ray on a cap plane


def test_sphere_chord_is_closed_form():
    center = np.array([0.2e-3, 0.5e-3, -0.1e-3])
    sphere = Sphere(center, 0.8e-3)
    chord = sphere.chord_m(parallel_rays(U, V))
    s2 = (U[None, :] - center[0]) ** 2 + (V[:, None] - center[2]) ** 2
    np.testing.assert_allclose(chord, 2 * np.sqrt(np.maximum(0.8e-3**2 - s2, 0)), atol=1e-15)
    assert chord.max() > 1.5e-3 and (chord == 0).any()


def test_axis_aligned_ellipsoid_chord_is_closed_form():
    a, b, c = 1.0e-3, 0.4e-3, 0.7e-3
    ell = Ellipsoid(np.zeros(3), np.array([a, b, c]))
    chord = ell.chord_m(parallel_rays(U, V))
    q = 1 - (U[None, :] / a) ** 2 - (V[:, None] / c) ** 2
    np.testing.assert_allclose(chord, 2 * b * np.sqrt(np.maximum(q, 0)), atol=1e-15)


def test_rotated_ellipsoid_matches_brute_force_and_volume():
    rot = Rotation.from_euler("xyz", [30, -50, 70], degrees=True).as_matrix()
    ell = Ellipsoid(np.array([0.1e-3, -0.2e-3, 0.05e-3]), np.array([1.0e-3, 0.3e-3, 0.6e-3]), rot)
    rays = parallel_rays(U[::4], V[::3])
    np.testing.assert_allclose(ell.chord_m(rays), brute_force_chord(ell, rays, 2e-3), atol=3e-7)
    # Integral of the projection over the detector = volume (4/3 pi abc).
    u = np.linspace(-1.5e-3, 1.5e-3, 601)
    proj = ell.chord_m(parallel_rays(u, u))
    du = u[1] - u[0]
    assert proj.sum() * du * du == pytest.approx(4 / 3 * np.pi * 1.0e-3 * 0.3e-3 * 0.6e-3, rel=1e-3)


def test_vertical_cylinder_across_and_along_its_axis():
    cyl = Cylinder(np.zeros(3), np.array([0.0, 0.0, 1.0]), 0.5e-3, 0.6e-3)
    chord = cyl.chord_m(parallel_rays(U, V))
    expected = 2 * np.sqrt(np.maximum(0.5e-3**2 - U[None, :] ** 2, 0)) * (np.abs(V[:, None]) <= 0.6e-3)
    np.testing.assert_allclose(chord, expected, atol=1e-15)
    # Rays along the axis: the full length inside the radius, nothing outside.
    along = Cylinder(np.zeros(3), np.array([0.0, 1.0, 0.0]), 0.5e-3, 0.6e-3).chord_m(parallel_rays(U, V))
    inside = U[None, :] ** 2 + V[:, None] ** 2 < 0.5e-3**2
    np.testing.assert_allclose(along, np.where(inside, 1.2e-3, 0.0), rtol=1e-9, atol=1e-12)


def test_oblique_cylinder_matches_brute_force_and_volume():
    axis = np.array([1.0, 0.7, -0.4])
    cyl = Cylinder(np.array([0.1e-3, 0.0, 0.2e-3]), axis / np.linalg.norm(axis), 0.25e-3, 0.7e-3)
    rays = parallel_rays(U[::4], V[::3])
    np.testing.assert_allclose(cyl.chord_m(rays), brute_force_chord(cyl, rays, 2e-3), atol=3e-7)
    u = np.linspace(-1.5e-3, 1.5e-3, 601)
    du = u[1] - u[0]
    proj = cyl.chord_m(parallel_rays(u, u))
    assert proj.sum() * du * du == pytest.approx(np.pi * 0.25e-3**2 * 1.4e-3, rel=2e-3)


def test_projection_equals_voxel_sum():
    """Brute force on a voxel grid: summing the indicator along y reproduces the chords."""
    rot = Rotation.from_euler("zyx", [20, 35, -10], degrees=True).as_matrix()
    shapes = [Ellipsoid(np.array([0.1e-3, 0.0, -0.1e-3]), np.array([0.8e-3, 0.5e-3, 0.3e-3]), rot),
              Cylinder(np.zeros(3), rot[:, 0], 0.3e-3, 0.8e-3), Sphere(np.array([0, 0.2e-3, 0]), 0.6e-3)]
    n, half = 160, 1.0e-3
    step = 2 * half / n
    c = (np.arange(n) + 0.5) * step - half
    x, y, z = np.meshgrid(c, c, c, indexing="ij")
    points = np.stack([x, y, z], axis=-1)
    for shape in shapes:
        voxel_proj = shape.contains(points).sum(axis=1).T * step  # (z, x)
        exact = shape.chord_m(parallel_rays(c, c))
        assert np.abs(voxel_proj - exact).mean() < 0.02 * exact.max()
        assert voxel_proj.sum() == pytest.approx(exact.sum(), rel=0.01)


def test_cone_rays_through_a_sphere_centre_cross_a_diameter():
    # Source at y = -0.2 m, rays through (u M, 0.5 m, v M) - source, not unit length.
    m = 2.5
    origin = np.array([[0.0, -0.2, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    direction = np.array([[0.0, 0.5, 0.0], [m, 0.0, 0.0], [0.0, 0.0, m]])
    center = np.array([2e-3, 0.05, -1e-3])
    # The detector point on the line source -> centre, in sample-plane units.
    scale = 0.2 / (0.2 + center[1])
    rays = RayGrid(np.array([center[0] * scale]), np.array([center[2] * scale]), origin, direction)
    assert Sphere(center, 0.4e-3).chord_m(rays)[0, 0] == pytest.approx(0.8e-3, rel=1e-9)
    ell = Ellipsoid(center, np.array([0.4e-3] * 3))
    assert ell.chord_m(rays)[0, 0] == pytest.approx(0.8e-3, rel=1e-9)
