"""The interferometer + detector model: frames, noise, binning, drift, and the stepping curve as
the processing package retrieves it."""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pytest

from gi_instrument.processing import retrieve
from gi_instrument.profile import Profile, load_profile
from gi_instrument.sim.forward import BeamGeometry, Projector
from gi_instrument.sim.interferometer import profile_lever_arm_m
from gi_instrument.sim.materials import breast_materials
from gi_instrument.sim.phantom import Inclusion, Phantom
from gi_instrument.sim.scanner_model import ScannerModel, Window, detector_maps
from gi_instrument.sim.shapes import Cylinder, Ellipsoid

TLI = load_profile("tli")
OUT_MM = TLI.sample_stage.out_mm - TLI.sample_stage.in_mm
CENTRE = Window(992, 992, 32, 32)


def with_simulation(profile: Profile, **changes) -> Profile:
    return dataclasses.replace(profile, simulation=dataclasses.replace(profile.simulation, **changes))


def shot(model: ScannerModel, **kw) -> np.ndarray:
    args = dict(angle_deg=0.0, g2_um=0.0, sample_offset_mm=OUT_MM, exposure_s=1.0, current_mA=1.5,
                xray_on=True, time_s=0.0, binning=1)
    args.update(kw)
    return model.frame(**args)


@pytest.fixture(scope="module")
def model() -> ScannerModel:
    return ScannerModel(TLI, seed=1)


def test_frame_shapes_and_type(model):
    for b in (8, 16):
        f = shot(model, binning=b, sample_offset_mm=0.0)
        assert f.shape == (2048 // b, 2048 // b) and f.dtype == np.uint16
    assert shot(model, window=Window(10, 20, 48, 64)).shape == (48, 64)
    with pytest.raises(ValueError):
        shot(model, binning=3)
    with pytest.raises(ValueError):
        shot(model, binning=8, window=Window(250, 0, 10, 10))


@pytest.mark.parametrize("binning", [1, 2])
def test_dark_frame_is_offset_plus_read_noise(model, binning):
    sim = TLI.simulation
    window = Window(0, 0, 256, 256)
    for dark in (shot(model, xray_on=False, binning=binning, window=window),
                 shot(model, current_mA=0.0, binning=binning, window=window)):
        assert dark.mean() == pytest.approx(sim.dark_offset_adu, abs=0.05)
        read = sim.read_noise_adu / binning  # averaging read-out of b x b pixels
        assert dark.std() == pytest.approx(math.sqrt(read**2 + 1 / 12), rel=0.03)  # + rounding


@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_photon_noise_is_poisson_and_scales_with_exposure_and_current(gain):
    m = ScannerModel(with_simulation(TLI, gain_adu_per_photon=gain), seed=2, phantom=Phantom(()))
    sim = m.profile.simulation
    stats = {}
    for exposure_s, current_mA in ((1.0, 1.5), (4.0, 1.5), (1.0, 0.75)):
        frames = np.stack([shot(m, exposure_s=exposure_s, current_mA=current_mA, window=CENTRE)
                           for _ in range(40)]).astype(np.float64)
        signal = frames.mean(axis=0) - sim.dark_offset_adu
        var = frames.var(axis=0, ddof=1)
        expected_var = gain * signal + sim.read_noise_adu**2 + 1 / 12
        assert var.mean() / expected_var.mean() == pytest.approx(1.0, rel=0.05)
        stats[(exposure_s, current_mA)] = signal.mean(), var.mean()
    s1, v1 = stats[(1.0, 1.5)]
    assert stats[(4.0, 1.5)][0] / s1 == pytest.approx(4.0, rel=0.01)
    assert stats[(1.0, 0.75)][0] / s1 == pytest.approx(0.5, rel=0.01)
    assert stats[(4.0, 1.5)][1] / v1 == pytest.approx(4.0, rel=0.1)


def test_binning_sums_photons_and_reads_out_their_mean(model):
    kw = dict(angle_deg=10.0, g2_um=0.3, exposure_s=2.0, current_mA=1.5, time_s=0.0)
    for offset in (OUT_MM, 0.0):
        fine = model.expected_photons(sample_offset_mm=offset, binning=1, **kw)
        coarse = model.expected_photons(sample_offset_mm=offset, binning=4, **kw)
        assert coarse.shape == (512, 512)
        np.testing.assert_allclose(coarse.sum(), fine.sum(), rtol=2e-3)
        blocks = fine.reshape(512, 4, 512, 4).sum(axis=(1, 3))
        assert np.median(np.abs(coarse / blocks - 1)) < 2e-3
    # ADU level is binning-independent (averaging read-out), its noise is b times lower.
    sim = TLI.simulation
    f1 = np.stack([shot(model, window=Window(64, 64, 64, 64)) for _ in range(8)]).astype(float)
    f4 = np.stack([shot(model, binning=4, window=Window(16, 16, 16, 16)) for _ in range(8)]).astype(float)
    assert f4.mean() == pytest.approx(f1.mean(), rel=0.01)
    n1 = f1.var(axis=0).mean() - sim.read_noise_adu**2
    n4 = f4.var(axis=0).mean() - (sim.read_noise_adu / 4) ** 2
    assert n1 / n4 == pytest.approx(16.0, rel=0.25)


def test_sample_out_is_an_open_beam(model):
    empty = ScannerModel(TLI, seed=1, phantom=Phantom(()))
    kw = dict(angle_deg=33.0, g2_um=0.6, exposure_s=1.0, current_mA=1.5, time_s=50.0, binning=8)
    np.testing.assert_array_equal(model.expected_photons(sample_offset_mm=OUT_MM, **kw),
                                  empty.expected_photons(sample_offset_mm=0.0, **kw))
    assert not np.array_equal(model.expected_photons(sample_offset_mm=0.0, **kw),
                              empty.expected_photons(sample_offset_mm=0.0, **kw))


def stepping_scan(model: ScannerModel, **kw) -> np.ndarray:
    return np.stack([model.expected_photons(g2_um=x, **kw) for x in model.profile.stepping_positions_um])


def test_visibility_map_and_fringe_drift():
    m = ScannerModel(TLI, seed=0, phantom=Phantom(()))
    kw = dict(angle_deg=0.0, sample_offset_mm=0.0, exposure_s=1.0, current_mA=1.5, binning=8)
    t0, t1 = 600.0, 600.0 + 2.5 * 3600
    early, late = stepping_scan(m, time_s=t0, **kw), stepping_scan(m, time_s=t1, **kw)
    r = retrieve(late, early)
    drift = m.fringe_drift_rad(t1) - m.fringe_drift_rad(t0)
    assert abs(drift) > 0.3
    np.testing.assert_allclose(r.dpc, np.angle(np.exp(1j * drift)), atol=1e-4)
    _, vis, _ = detector_maps(TLI, 8)
    np.testing.assert_allclose(r.visibility_reference, vis, rtol=1e-3)
    assert vis.std() / vis.mean() == pytest.approx(TLI.simulation.visibility_nonuniformity, rel=0.1)
    assert detector_maps(TLI, 1)[1].mean() == pytest.approx(TLI.performance.visibility, abs=1e-4)


def test_retrieved_signals_are_the_projected_integrals():
    """Noise-free stepping scans through the processing retrieval give back T, alpha and D."""
    z = np.array([0.0, 0.0, 1.0])
    phantom = Phantom((
        Inclusion(Cylinder(np.zeros(3), z, 10e-3, 12e-3), "formalin", None),
        Inclusion(Ellipsoid(np.array([0.5e-3, 0.0, 0.0]), np.array([3e-3, 2e-3, 2.5e-3])), "adipose", "formalin"),
        Inclusion(Ellipsoid(np.array([-0.5e-3, 1e-3, 0.5e-3]), np.array([1e-3, 1e-3, 1.5e-3])), "necrosis", "adipose"),
    ))
    m = ScannerModel(TLI, seed=0, phantom=phantom)
    b, angle = 8, 25.0
    kw = dict(angle_deg=angle, exposure_s=10.0, current_mA=1.5, time_s=0.0, binning=b)
    r = retrieve(stepping_scan(m, sample_offset_mm=0.0, **kw), stepping_scan(m, sample_offset_mm=OUT_MM, **kw))
    # The same integrals on one sample per binned pixel (smooth region: sub-sampling irrelevant).
    proj = Projector(phantom, breast_materials(20.0), BeamGeometry.from_profile(TLI))
    pix_m = b * TLI.voxel_um * 1e-6
    edges = (np.arange(257) - 128) * pix_m
    v = (128 - np.arange(256) - 0.5) * pix_m
    sig = proj.pixel_signals(angle, 0.0, edges, v)
    u = 0.5 * (edges[1:] + edges[:-1])
    att = sig.attenuation
    step = np.zeros_like(att)  # largest change to a neighbour: excludes the pixels on edges
    step[1:-1, 1:-1] = np.max([np.abs(att[1:-1, 1:-1] - a) for a in
                               (att[:-2, 1:-1], att[2:, 1:-1], att[1:-1, :-2], att[1:-1, 2:])], axis=0)
    smooth = (np.abs(u)[None, :] < 2e-3) & (np.abs(v)[:, None] < 1.5e-3) & (step < 2e-3)
    assert smooth.sum() > 2000
    np.testing.assert_allclose(r.transmission[smooth], np.exp(-sig.attenuation[smooth]), rtol=2e-3)
    np.testing.assert_allclose(r.darkfield[smooth], np.exp(-sig.darkfield[smooth]), rtol=2e-3)
    dphi = 2 * np.pi * profile_lever_arm_m(TLI) * sig.refraction_rad / (TLI.gratings.g2_period_um * 1e-6)
    assert np.abs(dphi[smooth]).max() > 0.1
    np.testing.assert_allclose(r.dpc[smooth], dphi[smooth], atol=0.02 * np.abs(dphi[smooth]).max())


def test_cached_binned_frames_take_milliseconds(model):
    shot(model, binning=8, angle_deg=77.0, sample_offset_mm=0.0)  # computes the angle's integrals
    t = time.perf_counter()
    for k in range(20):
        shot(model, binning=8, angle_deg=77.0, sample_offset_mm=0.0, g2_um=0.6 * (k % 5))
    assert (time.perf_counter() - t) / 20 < 0.03


def test_cone_beam_default_magnifies_the_far_side():
    assert TLI.simulation.beam == "cone" and load_profile("maast").simulation.beam == "cone"
    cone = ScannerModel(TLI, seed=1)
    parallel = ScannerModel(with_simulation(TLI, beam="parallel"), seed=1)
    kw = dict(angle_deg=0.0, g2_um=0.0, exposure_s=1.0, current_mA=1.5, time_s=0.0, binning=8)
    np.testing.assert_array_equal(cone.expected_photons(sample_offset_mm=OUT_MM, **kw),
                                  parallel.expected_photons(sample_offset_mm=OUT_MM, **kw))
    c, p = (m.expected_photons(sample_offset_mm=0.0, **kw) for m in (cone, parallel))
    assert np.abs(c / p - 1).max() > 0.01  # the geometry matters...
    assert c.mean() == pytest.approx(p.mean(), rel=0.02)  # ...but the specimen is the same
    assert shot(cone, binning=8, sample_offset_mm=0.0).shape == (256, 256)
