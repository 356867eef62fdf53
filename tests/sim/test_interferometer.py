"""The simulator's interferometer geometry against an independent ray-optics computation: the
fringe shift of a refraction angle for a sample anywhere between source and G2, the penumbra of
the source spot, the blur it and the detector PSF put on the frames, the misaligned axis."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy.optimize import brentq

from gi_instrument.profile import Profile, load_profile
from gi_instrument.sim.forward import BeamGeometry, Projector
from gi_instrument.sim.interferometer import lever_arm_m, penumbra_factor, profile_lever_arm_m
from gi_instrument.sim.materials import breast_materials
from gi_instrument.sim.phantom import Inclusion, Phantom
from gi_instrument.sim.scanner_model import ScannerModel, Window
from gi_instrument.sim.shapes import Cylinder, Sphere

PROFILES = {name: load_profile(name) for name in ("tli", "maast")}


def trace_ray(slope: float, alpha: float, sample_m: float, planes_m: tuple[float, ...]) -> list[float]:
    """Lateral positions, m, at ``planes_m`` of a ray leaving the source (z = 0, x = 0) with
    ``slope`` and bent by ``alpha`` where it crosses the sample plane, segment by segment."""
    events = sorted([(sample_m, "sample")] + [(z, i) for i, z in enumerate(planes_m)], key=lambda e: e[0])
    x, z, out = 0.0, 0.0, [0.0] * len(planes_m)
    for z_next, what in events:
        x += slope * (z_next - z)
        z = z_next
        if what == "sample":
            slope += alpha
        else:
            out[what] = x
    return out


def traced_fringe_shift_periods(alpha: float, sample_m: float, source_g1_m: float, g1_g2_m: float,
                                period_m: float, g1_line_m: float = 1e-3) -> float:
    """Shift at G2, in G2 periods, of the shadow of the G1 line at ``g1_line_m`` cast from the
    source when the sample at ``sample_m`` bends the rays by ``alpha``: the ray through that G1
    line is found by root finding on its launch slope, then followed to G2."""
    planes = (source_g1_m, source_g1_m + g1_g2_m)

    def at_g2(a: float) -> float:
        slope = brentq(lambda s: trace_ray(s, a, sample_m, planes)[0] - g1_line_m, -1.0, 1.0, xtol=1e-18)
        return trace_ray(slope, a, sample_m, planes)[1]

    return (at_g2(alpha) - at_g2(0.0)) / period_m


@pytest.mark.parametrize("name", ["tli", "maast"])
@pytest.mark.parametrize("where", [0.1, 0.5, 0.85, 0.999, 1.0, 1.2, 1.6, 1.95])
def test_fringe_shift_per_refraction_angle_follows_ray_optics(name, where):
    """Sample at ``where`` x L1 (upstream of G1 below 1, downstream above; 2 would be G2 for the
    symmetric MAAST): the simulator's phase per radian equals the traced shadow's shift."""
    p = PROFILES[name]
    l1, d = p.geometry.source_g1_cm * 1e-2, p.geometry.g1_g2_cm * 1e-2
    sample_m = min(where * l1, 0.999 * (l1 + d))
    alpha, period_m = 3e-6, p.gratings.g2_period_um * 1e-6
    traced = traced_fringe_shift_periods(alpha, sample_m, l1, d, period_m)
    simulated_rad_per_rad = 2 * math.pi * lever_arm_m(l1, d, sample_m) / period_m
    assert simulated_rad_per_rad * alpha == pytest.approx(2 * math.pi * traced, rel=1e-6)


def test_profiles_lever_arms_sit_on_the_right_side_of_g1():
    """TLI's sample is downstream of G1 (d_eff = 0.96 d), MAAST's upstream (0.86 d): using d
    alone would bias delta by 4 % and 14 % (DESIGN.md section 2)."""
    ratios = {n: profile_lever_arm_m(p) / (p.geometry.g1_g2_cm * 1e-2) for n, p in PROFILES.items()}
    assert ratios["tli"] == pytest.approx(0.959, abs=0.002)
    assert ratios["maast"] == pytest.approx(0.858, abs=0.002)
    with pytest.raises(ValueError, match="between the source and G2"):
        lever_arm_m(0.5, 0.5, 1.2)


def test_penumbra_is_the_spread_of_a_point_seen_from_the_spot_edges():
    """Two source points a spot width apart image one sample point penumbra x width apart."""
    spot_m, sample_m, detector_m, point_x = 20e-6, 0.226, 0.804, 1.3e-3
    hits = [xs + (point_x - xs) * detector_m / sample_m for xs in (-spot_m / 2, spot_m / 2)]
    assert abs(hits[0] - hits[1]) == pytest.approx(spot_m * penumbra_factor(sample_m, detector_m), rel=1e-9)


def _with(profile: Profile, **changes) -> Profile:
    return dataclasses.replace(profile, simulation=dataclasses.replace(profile.simulation, **changes))


def _edge_spread_variance(model: ScannerModel, window: Window) -> float:
    """Variance, pixels^2, of the line-spread function across the vertical edge of an absorbing
    slab (noise-free transmission term, one row)."""
    a = model.expected_photons(angle_deg=0.0, g2_um=0.0, sample_offset_mm=0.0, exposure_s=1.0,
                               current_mA=1.0, time_s=0.0, binning=1, window=window)
    lsf = np.abs(np.diff(a[window.rows // 2].astype(np.float64)))
    x = np.arange(lsf.size)
    mean = (lsf * x).sum() / lsf.sum()
    return float((lsf * (x - mean) ** 2).sum() / lsf.sum())


def test_spot_and_psf_blur_adds_their_variance_to_an_edge():
    """Variances add under convolution: the edge of a slab blurred by the spot (through the
    penumbra factor) and the PSF spreads by sigma^2 = (spot_det^2 + psf^2) / (8 ln 2) more than
    the sharp edge."""
    p = _with(PROFILES["tli"], beam="parallel", moire_fringes=0.0, flux_nonuniformity=0.0,
              psf_fwhm_um=40.0)
    radius = 5e-3  # a disc 0.2 mm thick across the beam: a straight edge 0.3 mm right of the centre
    slab = Phantom((Inclusion(Cylinder(np.array([radius + 0.3e-3, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]),
                                       radius, 0.1e-3), "hydroxyapatite", None),))
    edge_px = round(0.3e3 / p.voxel_um)
    window = Window(1020, 1024 + edge_px - 24, 8, 48)
    blurred = ScannerModel(p, phantom=slab)
    sharp = ScannerModel(dataclasses.replace(_with(p, psf_fwhm_um=0.0),
                                             source=dataclasses.replace(p.source, spot_size_um=1e-9)),
                         phantom=slab)
    spot_det_um = p.source.spot_size_um * penumbra_factor(p.source_sample_cm, p.source_g2_cm)
    sigma_px = math.hypot(spot_det_um, 40.0) / (2 * math.sqrt(2 * math.log(2))) / p.detector.pixel_um
    grown = _edge_spread_variance(blurred, window) - _edge_spread_variance(sharp, window)
    assert grown == pytest.approx(sigma_px**2, rel=0.05)


def test_axis_offset_and_tilt_move_an_on_axis_bead():
    """A bead on the rotation axis at height z stays, at every angle, at detector u = offset +
    z sin(tilt) (parallel beam): the centroid of its shadow."""
    p = _with(PROFILES["maast"], beam="parallel", axis_offset_um=150.0, axis_tilt_deg=2.0)
    z = 2e-3
    bead = Phantom((Inclusion(Sphere(np.array([0.0, 0.0, z]), 60e-6), "hydroxyapatite", None),))
    proj = Projector(bead, breast_materials(20.0), BeamGeometry.from_profile(p))
    u = np.linspace(-1e-3, 1e-3, 801)
    v = np.linspace(z - 0.5e-3, z + 0.5e-3, 401)
    tilt = math.radians(2.0)
    for angle in (0.0, 70.0, 155.0):
        mu = proj.line_integrals(angle, 0.0, u, v)[0]
        cu = (mu.sum(axis=0) * u).sum() / mu.sum()
        cv = (mu.sum(axis=1) * v).sum() / mu.sum()
        assert cu == pytest.approx(150e-6 + z * math.sin(tilt), abs=1e-7)
        assert cv == pytest.approx(z * math.cos(tilt), abs=1e-7)
