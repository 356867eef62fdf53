"""Processing a gi_ct run made through the RunEngine against the simulated IOC (lead's fixtures):
the catalog layout, the reader and the sinograms against the simulator's exact projections."""

from __future__ import annotations

import numpy as np
import pytest

from gi_instrument.processing.catalog_reader import open_ct_run

pytestmark = pytest.mark.ioc

STEP_DEG, RANGE_DEG, REF_EVERY_DEG, N_DARK = 30.0, 180.0, 90.0, 2


@pytest.fixture(scope="module")
def ct_uid(RE, instrument):
    from gi_instrument.plans import gi_ct

    uids: list[str] = []
    token = RE.subscribe(lambda name, doc: uids.append(doc["uid"]) if name == "start" else None)
    try:
        RE(gi_ct(instrument, exposure_s=60.0, angle_step_deg=STEP_DEG, range_deg=RANGE_DEG,
                 reference_every_deg=REF_EVERY_DEG, final_reference=True, n_darks=N_DARK))
    finally:
        RE.unsubscribe(token)
    return uids[-1]


def test_sinograms_of_a_simulated_ct_match_the_exact_projections(
    ct_uid, catalog, instrument, sim_ioc, tmp_path
) -> None:
    from gi_instrument.sim.forward import BeamGeometry, Projector
    from gi_instrument.sim.materials import breast_materials
    from gi_instrument.sim.phantom import breast_specimen

    ct = open_ct_run(catalog, ct_uid)
    n_proj = round(RANGE_DEG / STEP_DEG)
    rows, cols = instrument.camera.frame_shape()
    assert ct.shape == (rows, cols) and ct.n_dark == 2 * N_DARK and ct.steps == 5  # start and end
    assert sorted(set(ct.reference.angle_index)) == [0, 3, n_proj]
    sino = ct.sinograms(out_dir=tmp_path)
    assert sino.dpc.shape == (n_proj, rows, cols)
    np.testing.assert_allclose(sino.angles_deg, np.arange(n_proj) * STEP_DEG, atol=1e-3)
    assert np.count_nonzero(sino.flags) < 1e-3 * sino.flags.size

    # the simulator's exact pixel-averaged signals at the first angle (tests/sim convention)
    profile = ct.profile
    projector = Projector(breast_specimen(profile, seed=sim_ioc.seed),
                          breast_materials(profile.source.design_energy_keV),
                          BeamGeometry.from_profile(profile))
    pix_m = ct.voxel_um * 1e-6
    edges = (np.arange(cols + 1) - cols / 2) * pix_m
    v = (rows / 2 - np.arange(rows) - 0.5) * pix_m
    exact = projector.pixel_signals(0.0, 0.0, edges, v)
    centre = (slice(rows // 4, 3 * rows // 4), slice(cols // 4, 3 * cols // 4))
    t_ratio = sino.transmission[0][centre] / np.exp(-exact.attenuation[centre])
    assert abs(np.median(t_ratio) - 1) < 0.005  # measured: 3e-4
    dphi = 2 * np.pi * ct.lever_arm_cm * 1e-2 * exact.refraction_rad / (ct.period_um * 1e-6)
    measured, expected = sino.dpc[0][centre].ravel(), dphi[centre].ravel()
    assert np.corrcoef(measured, expected)[0, 1] > 0.9  # sign, orientation, drift (0.975)
    slope = np.polyfit(expected, measured, 1)[0]
    assert 0.9 < slope < 1.1  # measured 0.99
