"""Exact projections: refraction term, rotation and translation of the sample, cone beam."""

from __future__ import annotations

import numpy as np
import pytest

from gi_instrument.sim.forward import BeamGeometry, Projector
from gi_instrument.sim.materials import breast_materials
from gi_instrument.sim.phantom import Inclusion, Phantom
from gi_instrument.sim.shapes import Cylinder, Ellipsoid, Sphere

MATERIALS = breast_materials(20.0)
PARALLEL = BeamGeometry("parallel", 0.25, 0.6)
R = 0.5e-3


def projector(*inclusions: Inclusion, geometry: BeamGeometry = PARALLEL) -> Projector:
    return Projector(Phantom(tuple(inclusions)), MATERIALS, geometry)


def ball(center, radius=R, material="hydroxyapatite") -> Inclusion:
    return Inclusion(Sphere(np.asarray(center, dtype=float), radius), material, None)


def test_line_integrals_scale_with_material_constants():
    p = projector(ball([0, 0, 0]))
    u = np.linspace(-0.6e-3, 0.6e-3, 25)
    mu, delta, eps = p.line_integrals(0.0, 0.0, u, np.array([0.0]))
    chord = 2 * np.sqrt(np.maximum(R**2 - u**2, 0))
    m = MATERIALS["hydroxyapatite"]
    np.testing.assert_allclose(mu[0], m.mu_per_m * chord, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(delta[0], m.delta * chord, rtol=1e-12, atol=1e-22)
    np.testing.assert_allclose(eps[0], m.darkfield_per_m * chord, rtol=1e-12, atol=1e-15)


def test_nested_inclusion_displaces_its_surrounding():
    outer = Inclusion(Sphere(np.zeros(3), 2 * R), "formalin", None)
    inner = Inclusion(Sphere(np.zeros(3), R), "adipose", "formalin")
    mu = projector(outer, inner).line_integrals(0.0, 0.0, np.array([0.0]), np.array([0.0]))[0, 0, 0]
    expected = MATERIALS["formalin"].mu_per_m * 2 * R + MATERIALS["adipose"].mu_per_m * 2 * R
    assert mu == pytest.approx(expected, rel=1e-12)


def test_refraction_is_the_analytic_derivative_of_the_phase_projection():
    p = projector(ball([0, 0, 0]))
    delta = MATERIALS["hydroxyapatite"].delta
    v = np.array([0.0, 0.2e-3])
    width = 1e-7
    edges = np.arange(-0.45e-3, 0.45e-3 + width / 2, width)
    alpha = p.pixel_signals(0.0, 0.0, edges, v).refraction_rad
    centers = 0.5 * (edges[1:] + edges[:-1])
    s2 = R**2 - v[:, None] ** 2 - centers[None, :] ** 2
    analytic = -2 * delta * centers[None, :] / np.sqrt(np.maximum(s2, 1e-30))
    inside = s2 > (0.05e-3) ** 2  # away from the rim, where the derivative diverges
    np.testing.assert_allclose(alpha[inside], analytic[inside], rtol=1e-4)


def test_pixel_averaged_refraction_has_no_aliasing_at_edges():
    """Summed over pixels, the refraction angle telescopes to the projection difference, even for
    coarse pixels across the sphere's rim (where point derivatives diverge)."""
    p = projector(ball([0.03e-3, 0, 0]))
    edges = np.linspace(-0.8e-3, 0.8e-3, 17)  # 100 um pixels, coarser than the sphere's rim
    v = np.array([0.1e-3])
    sig = p.pixel_signals(0.0, 0.0, edges, v)
    proj = p.line_integrals(0.0, 0.0, edges, v)[1]
    np.testing.assert_allclose(np.cumsum(sig.refraction_rad[0]) * 1e-4, proj[0, 1:] - proj[0, 0], atol=1e-20)
    assert np.abs(sig.refraction_rad).max() < 2 * MATERIALS["hydroxyapatite"].delta * R / 1e-4 * 2


def test_finite_difference_of_projection_matches_refraction_for_an_ellipsoid():
    ell = Ellipsoid(np.array([0.1e-3, 0.05e-3, 0.0]), np.array([0.6e-3, 0.3e-3, 0.4e-3]),
                    np.array([[0.8, -0.6, 0], [0.6, 0.8, 0], [0, 0, 1.0]]))
    p = projector(Inclusion(ell, "cyst_fluid", None))
    u = np.linspace(-0.4e-3, 0.5e-3, 91)
    h = 1e-8
    v = np.array([0.05e-3])
    fd = (p.line_integrals(40.0, 0.0, u + h, v)[1] - p.line_integrals(40.0, 0.0, u - h, v)[1]) / (2 * h)
    edges = np.stack([u - h, u + h], axis=1).ravel()  # pixels [u-h, u+h]
    alpha = p.pixel_signals(40.0, 0.0, edges, v).refraction_rad[:, ::2]
    np.testing.assert_allclose(alpha, fd, rtol=1e-6, atol=1e-12)


def test_centred_sphere_projection_is_angle_invariant():
    p = projector(ball([0, 0, 0.1e-3]))
    u = np.linspace(-0.7e-3, 0.7e-3, 57)
    v = np.linspace(-0.6e-3, 0.8e-3, 45)
    ref = p.line_integrals(0.0, 0.0, u, v)
    for angle in (17.0, 90.0, 233.5):
        got = p.line_integrals(angle, 0.0, u, v)
        for k in range(3):  # mu, delta, epsilon integrals, each to its own scale
            np.testing.assert_allclose(got[k], ref[k], rtol=1e-9, atol=1e-9 * ref[k].max())


@pytest.mark.parametrize("angle_deg", [0.0, 30.0, 90.0, 145.0, 270.0])
def test_off_axis_sphere_moves_as_x_cos_minus_y_sin(angle_deg):
    x0, y0, z0 = 1.5e-3, -0.8e-3, 0.3e-3
    offset = 0.25e-3
    p = projector(ball([x0, y0, z0], radius=0.2e-3))
    u = np.linspace(-2.5e-3, 2.5e-3, 1001)
    v = np.linspace(-0.2e-3, 0.8e-3, 201)
    mu = p.line_integrals(angle_deg, offset, u, v)[0]
    th = np.radians(angle_deg)
    u_c = (mu.sum(axis=0) * u).sum() / mu.sum()
    v_c = (mu.sum(axis=1) * v).sum() / mu.sum()
    assert u_c == pytest.approx(x0 * np.cos(th) - y0 * np.sin(th) + offset, abs=1e-7)
    assert v_c == pytest.approx(z0, abs=1e-7)


def test_shadow_outside_the_grid_gives_open_beam():
    p = projector(Inclusion(Cylinder(np.zeros(3), np.array([0, 0, 1.0]), 5e-3, 10e-3), "formalin", None))
    u = np.linspace(-1e-3, 1e-3, 11)
    assert p.line_integrals(0.0, 0.0, u, u) is not None
    assert p.line_integrals(0.0, 8e-3, u, u) is None  # sample stage moved out
    assert p.pixel_signals(0.0, 8e-3, u, u) is None


def test_cone_beam_magnifies_by_depth():
    geo = BeamGeometry("cone", 0.25, 0.6)
    x0, y0 = 1.0e-3, 20e-3  # 2 cm towards the detector
    p = projector(ball([x0, y0, 0.0], radius=0.1e-3), geometry=geo)
    u = np.linspace(0.5e-3, 1.5e-3, 801)
    mu = p.line_integrals(0.0, 0.0, u, np.array([0.0]))[0, 0]
    u_c = (mu * u).sum() / mu.sum()
    # Point (x, y) lands at x * source_sample / (source_sample + y) in sample-plane units.
    assert u_c == pytest.approx(x0 * 0.25 / (0.25 + y0), rel=1e-3)
    width = (mu > 0).sum() * (u[1] - u[0])
    assert width == pytest.approx(0.2e-3 * 0.25 / (0.25 + y0), rel=0.02)
    parallel = projector(ball([x0, y0, 0.0], radius=0.1e-3)).line_integrals(0.0, 0.0, u, np.array([0.0]))[0, 0]
    assert (parallel * u).sum() / parallel.sum() == pytest.approx(x0, rel=1e-6)


@pytest.mark.parametrize("beam", ["parallel", "cone"])
def test_shadow_boxes_never_clip_a_projection(beam):
    """The per-inclusion shadow box only saves work: projections equal the chords on the whole grid."""
    rot = np.array([[0.36, 0.48, -0.8], [-0.8, 0.6, 0.0], [0.48, 0.64, 0.6]])
    axis = np.array([0.3, -0.5, 0.81])
    shapes = [Ellipsoid(np.array([0.4e-3, -0.3e-3, 0.2e-3]), np.array([0.9e-3, 0.2e-3, 0.4e-3]), rot),
              Cylinder(np.array([-0.2e-3, 0.1e-3, 0.0]), axis / np.linalg.norm(axis), 0.15e-3, 0.9e-3)]
    geo = BeamGeometry(beam, 0.25, 0.6)
    u = np.linspace(-2e-3, 2e-3, 161)
    for shape in shapes:
        p = projector(Inclusion(shape, "epithelium", None), geometry=geo)
        for angle in (0.0, 33.0, 121.0, 250.0):
            full = shape.chord_m(p.rays(angle, 0.1e-3, u, u)) * MATERIALS["epithelium"].mu_per_m
            np.testing.assert_allclose(p.line_integrals(angle, 0.1e-3, u, u)[0], full, rtol=1e-12, atol=0)
            assert full.max() > 0
