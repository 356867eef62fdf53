"""The batched, window-culled projections and cached stepping terms equal a straightforward
computation: every ray as an explicit (origin, direction) pair, every solid's chord from its
quadratic in t, the complex stepping term from ``exp(-D + i dphi)``, no caches."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from numpy.typing import NDArray

from gi_instrument.profile import Profile, load_profile
from gi_instrument.sim.forward import BeamGeometry, Projector
from gi_instrument.sim.interferometer import profile_lever_arm_m
from gi_instrument.sim.materials import breast_materials
from gi_instrument.sim.phantom import Phantom
from gi_instrument.sim.scanner_model import ScannerModel, Window, detector_maps
from gi_instrument.sim.shapes import Cylinder, Ellipsoid, Shape, Sphere

_MAAST = load_profile("maast")
MAAST = dataclasses.replace(  # parallel beam, no blur: the reference below computes neither
    _MAAST, source=dataclasses.replace(_MAAST.source, spot_size_um=1e-9),
    simulation=dataclasses.replace(_MAAST.simulation, beam="parallel", psf_fwhm_um=0.0))


def reference_chord_m(shape: Shape, o: NDArray, d: NDArray) -> NDArray:
    """Chords, m, of the lines o (..., 3) + t d (d a unit vector (3,))."""
    if isinstance(shape, (Sphere, Ellipsoid)):
        frame = (np.eye(3) / shape.radius_m if isinstance(shape, Sphere)
                 else shape.rotation / shape.semi_axes_m)
        o1, d1 = (o - shape.center_m) @ frame, d @ frame
        a, b, c = d1 @ d1, o1 @ d1, np.sum(o1 * o1, axis=-1) - 1.0
        return 2.0 * np.sqrt(np.maximum(b * b - a * c, 0.0)) / a
    assert isinstance(shape, Cylinder)
    rel = o - shape.center_m
    s0, sd = rel @ shape.axis, d @ shape.axis
    o_perp, d_perp = rel - s0[..., None] * shape.axis, d - sd * shape.axis
    a, b = d_perp @ d_perp, o_perp @ d_perp
    disc = b * b - a * (np.sum(o_perp * o_perp, axis=-1) - shape.radius_m**2)
    root = np.sqrt(np.maximum(disc, 0.0))
    t0, t1 = np.where(disc > 0, (-b - root) / a, np.inf), np.where(disc > 0, (-b + root) / a, -np.inf)
    if abs(sd) < 1e-15:  # across the axis: all or nothing between the caps
        inside = np.abs(s0) <= shape.half_length_m
        lo, hi = np.where(inside, -np.inf, np.inf), np.where(inside, np.inf, -np.inf)
    else:
        ta, tb = (-shape.half_length_m - s0) / sd, (shape.half_length_m - s0) / sd
        lo, hi = np.minimum(ta, tb), np.maximum(ta, tb)
    length = np.minimum(t1, hi) - np.maximum(t0, lo)
    return np.where(np.isfinite(length), np.maximum(length, 0.0), 0.0)


def reference_line_integrals(phantom: Phantom, angle_deg: float, offset_m: float, u: NDArray,
                             v: NDArray) -> NDArray:
    """(mu, delta, epsilon) integrals (3, len(v), len(u)) of a parallel beam along +y through the
    lab points (u, ., v), the sample rotated by angle_deg about z and shifted by offset_m along x."""
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    d = np.array([s, c, 0.0])  # the beam direction in the sample frame
    contrasts = phantom.contrasts(breast_materials(MAAST.source.design_energy_keV))
    out = np.zeros((3, v.size, u.size))
    for inclusion, contrast in zip(phantom.inclusions, contrasts):
        shape = inclusion.shape
        center_u = shape.center_m[0] * c - shape.center_m[1] * s + offset_m
        r = shape.bounding_radius_m  # only rays within the bounding ball's shadow
        cols = np.flatnonzero(np.abs(u - center_u) <= r)
        rows = np.flatnonzero(np.abs(v - shape.center_m[2]) <= r)
        if cols.size == 0 or rows.size == 0:
            continue
        uu, vv = np.meshgrid(u[cols] - offset_m, v[rows])
        o = np.stack([uu * c, -uu * s, vv], axis=-1)
        chord = reference_chord_m(shape, o, d)
        out[:, rows[:, None], cols[None, :]] += contrast[:, None, None] * chord
    return out


def reference_terms(profile: Profile, phantom: Phantom, angle_deg: float, offset_m: float,
                    binning: int, window: Window) -> tuple[NDArray, NDArray]:
    """A = f (sub-pixel mean of T) and B + i C = f V sinc exp(i phi_m) (sub-pixel mean of
    T D exp(i dphi)), as the scanner model defines them, (rows, cols) each."""
    s, det, voxel_m = profile.simulation.supersampling, profile.detector, profile.voxel_um * 1e-6
    u_edges = ((window.col0 + np.arange(window.cols * s + 1) / s) * binning - det.width_px / 2) * voxel_m
    sub_rows = window.row0 + (np.arange(window.rows * s) + 0.5) / s
    v = (det.height_px / 2 - sub_rows * binning) * voxel_m
    mu, delta, eps = reference_line_integrals(phantom, angle_deg, offset_m, u_edges, v)
    attenuation, darkfield = 0.5 * (mu[:, 1:] + mu[:, :-1]), 0.5 * (eps[:, 1:] + eps[:, :-1])
    dphi = (2 * math.pi * profile_lever_arm_m(profile) / (profile.gratings.g2_period_um * 1e-6)
            * np.diff(delta, axis=1) / (u_edges[1] - u_edges[0]))
    shape = (window.rows, s, window.cols, s)
    s0 = np.exp(-attenuation).reshape(shape).mean(axis=(1, 3))
    s1 = (np.exp(-attenuation) * np.exp(-darkfield + 1j * dphi)).reshape(shape).mean(axis=(1, 3))
    flux, vis, moire = detector_maps(profile, binning, window)
    sim = profile.simulation
    gx = math.pi * sim.moire_fringes * math.cos(math.radians(sim.moire_angle_deg))
    gy = math.pi * sim.moire_fringes * math.sin(math.radians(sim.moire_angle_deg))
    sinc = (np.sinc(gx * binning / det.width_px / math.pi) * np.sinc(gy * binning / det.height_px / math.pi))
    return flux * s0, flux * vis * sinc * s1 * np.exp(1j * moire)


@pytest.fixture(scope="module")
def model() -> ScannerModel:
    return ScannerModel(MAAST, seed=0)


@pytest.mark.parametrize("angle_deg, offset_mm", [(0.0, 0.0), (37.5, 0.0), (211.3, 0.35)])
def test_line_integrals_equal_the_per_ray_computation(model, angle_deg, offset_mm):
    pix_m = 4 * MAAST.voxel_um * 1e-6
    u = (np.arange(513) - 256) * pix_m
    v = (255.5 - np.arange(512)) * pix_m
    got = model.projector.line_integrals(angle_deg, offset_mm * 1e-3, u, v)
    ref = reference_line_integrals(model.phantom, angle_deg, offset_mm * 1e-3, u, v)
    for k in range(3):
        assert np.abs(ref[k]).max() > 0
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-9, atol=1e-9 * np.abs(ref[k]).max())


@pytest.mark.parametrize("angle_deg, offset_mm, binning, window", [
    (0.0, 0.0, 8, None),
    (123.4, 0.0, 8, None),
    (301.7, -0.6, 8, None),
    (56.0, 0.0, 1, Window(900, 1000, 40, 72)),
    (56.0, 0.25, 1, Window(1200, 700, 24, 48)),
])
def test_stepping_terms_equal_the_straightforward_computation(model, angle_deg, offset_mm, binning, window):
    """Expected photons at three G2 positions give A + B, A - C and A - B of the cached terms."""
    full = window or Window(0, 0, MAAST.detector.height_px // binning, MAAST.detector.width_px // binning)
    a, fringe = reference_terms(MAAST, model.phantom, angle_deg, offset_mm * 1e-3, binning, full)
    period = MAAST.gratings.g2_period_um
    kw = dict(angle_deg=angle_deg, sample_offset_mm=offset_mm, exposure_s=1.0, current_mA=1.0,
              time_s=0.0, binning=binning, window=window)
    scale = MAAST.simulation.photon_flux_per_s_mA_px * binning**2
    for g2_um, expected in ((0.0, a + fringe.real), (period / 4, a - fringe.imag), (period / 2, a - fringe.real)):
        got = model.expected_photons(g2_um=g2_um, **kw)
        np.testing.assert_allclose(got, scale * expected, rtol=1e-6, atol=1e-6 * scale * np.abs(a).max())
    assert (a / detector_maps(MAAST, binning, full)[0]).max() < 0.99  # the sample is in the beam
