"""Standard bluesky at the instrument: bp.count / bp.scan with the camera, bps.mv on every axis,
BestEffortCallback on every plan, the tube warm-up and the test image."""

from __future__ import annotations

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import numpy as np
import pytest

from gi_instrument.plans import gi_ct, phase_step, take_test_image, warm_up_tube

pytestmark = pytest.mark.ioc


def test_count_takes_each_frame_into_a_new_file(RE, instrument, catalog):
    camera = instrument.camera
    single = camera.single_frames_dir
    before = set(single.glob("*.h5")) if single.exists() else set()
    camera.step_mode.put(True)  # as a failed stepping scan may leave it: staging resets it
    uids = [RE(bp.count([camera], num=3))[0] for _ in range(2)]  # twice: no file is reused
    files = set(single.glob("*.h5")) - before
    assert len(files) == 6
    frames = np.concatenate([np.asarray(catalog[uid]["primary"]["camera_image"].read()) for uid in uids])
    assert frames.shape == (6, 256, 256) and frames.std() > 0
    table = catalog[uids[0]]["primary"].read()
    assert list(np.asarray(table["camera_frame_step_index"])) == [0, 0, 0]


def test_scan_reads_the_camera_beside_the_positioner(RE, instrument, catalog):
    (uid,) = RE(bp.scan([instrument.camera], instrument.g2, 0.0, 1.2, 3))
    table = catalog[uid]["primary"].read()
    g2_um = np.asarray(table["g2_position_um"])  # the positioner's readback
    at_exposure_um = np.asarray(table["camera_g2_position_um"])  # what the camera IOC recorded
    np.testing.assert_allclose(g2_um, [0.0, 0.6, 1.2], atol=instrument.g2.tolerance)
    np.testing.assert_allclose(at_exposure_um, g2_um, atol=0.02)
    assert table["camera_image"].shape == (3, 256, 256)


def test_mv_moves_every_axis(RE, instrument):
    inst = instrument
    start = inst.rotation.position, inst.sample.position, inst.g2.position
    try:
        RE(bps.mv(inst.rotation, 33.0, inst.sample, inst.profile.sample_stage.out_mm, inst.g2, 1.5))
        assert inst.rotation.position == pytest.approx(33.0, abs=inst.rotation.tolerance)
        assert inst.sample.position == pytest.approx(inst.profile.sample_stage.out_mm, abs=inst.sample.tolerance)
        assert inst.g2.position == pytest.approx(1.5, abs=inst.g2.tolerance)
    finally:
        RE(bps.mv(inst.rotation, start[0], inst.sample, start[1], inst.g2, start[2]))


def test_best_effort_callback_tables_every_plan(RE, instrument, capsys):
    from bluesky.callbacks.best_effort import BestEffortCallback

    bec = BestEffortCallback()
    bec.disable_plots()
    token = RE.subscribe(bec)
    try:
        RE(gi_ct(instrument, exposure_s=1, angle_step_deg=37, range_deg=74, reference_every_deg=74, n_darks=1))
        ct_out = capsys.readouterr().out
        RE(phase_step(instrument, exposure_s=1))
        RE(bp.count([instrument.camera]))
        RE(bp.scan([instrument.camera], instrument.g2, 0.0, 0.6, 2))
        other_out = capsys.readouterr().out
    finally:
        RE.unsubscribe(token)
    header = next(line for line in ct_out.splitlines() if "rotation_angle_deg" in line)
    assert "frame_step_index" in header and "g2_position_um" in header and "camera_image" not in header
    rows = [line for line in ct_out.splitlines() if line.startswith("|") and "37.000" in line]
    assert len(rows) == 5  # one row per frame of the second projection
    assert "camera_real_exposure_s" in other_out and "camera_image" not in other_out


def test_warm_up_after_a_cold_start(RE, instrument, catalog, sim_pv):
    sim_pv("TUBE:ColdStart").put(1, wait=True)
    try:
        with pytest.raises(RuntimeError, match=r"not warmed up .*warm_up_tube"):
            take_test_image(instrument, exposure_s=2)
    finally:
        RE(warm_up_tube(instrument))
    assert instrument.tube.warmed_up.get() == 1
    (uid,) = RE(take_test_image(instrument, exposure_s=2, md={"purpose": "beam check"}))
    run = catalog[uid]
    assert run.metadata["start"]["plan_name"] == "take_test_image"
    frame = np.asarray(run["primary"]["camera_image"][0])
    assert frame.shape == (256, 256) and frame.mean() > 100  # X-rays were on
    assert instrument.tube.xray_on.get() == 0  # back to the state before the plan
