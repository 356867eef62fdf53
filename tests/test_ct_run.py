"""A small CT through the RunEngine against the simulated IOC, read back from the catalog."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from gi_instrument.plans import gi_ct

pytestmark = pytest.mark.ioc

STEP_DEG, RANGE_DEG, REF_EVERY_DEG = 5.0, 50.0, 25.0   # 10 projections, references before 0 and 5
N_DARK = 3


@pytest.fixture(scope="module")
def ct_run(RE, instrument, catalog):
    docs: list[tuple[str, dict]] = []
    token = RE.subscribe(lambda name, doc: docs.append((name, doc)))
    try:
        RE(gi_ct(instrument, exposure_s=60.0, angle_step_deg=STEP_DEG, range_deg=RANGE_DEG,
                 reference_every_deg=REF_EVERY_DEG, final_reference=True, n_darks=N_DARK,
                 g2_origin_um=1.0, md={"sample": "test phantom"}))
    finally:
        RE.unsubscribe(token)
    start = next(doc for name, doc in docs if name == "start")
    return start["uid"], docs


def _events(docs):
    streams = {doc["uid"]: doc["name"] for name, doc in docs if name == "descriptor"}
    return [(streams[doc["descriptor"]], doc) for name, doc in docs if name == "event"]


def test_frame_order_and_identity(ct_run):
    _, docs = ct_run
    got = [(s, ev["data"]["frame_angle_index"], ev["data"]["frame_step_index"])
           for s, ev in _events(docs) if s != "baseline"]
    expected = [("dark", -1, k) for k in range(N_DARK)]
    for i in range(10):
        if i % 5 == 0:
            expected += [("reference", i, k) for k in range(5)]
        expected += [("primary", i, k) for k in range(5)]
    expected += [("reference", 10, k) for k in range(5)]
    expected += [("dark", -2, k) for k in range(N_DARK)]  # darks at the end too
    assert got == expected


def test_g2_positions_and_sample_moves(ct_run, instrument):
    _, docs = ct_run
    profile = instrument.profile
    for stream, ev in _events(docs):
        if stream in ("primary", "reference"):
            data = ev["data"]
            k = data["frame_step_index"]
            assert data["g2_setpoint_um"] == pytest.approx(1.0 + 0.6 * k)
            assert abs(data["g2_position_um"] - data["g2_setpoint_um"]) < 0.02
            expected_x = profile.sample_stage.out_mm if stream == "reference" else profile.sample_stage.in_mm
            assert data["sample_x_mm"] == pytest.approx(expected_x)
            if stream == "primary":
                assert data["rotation_angle_deg"] == pytest.approx(STEP_DEG * data["frame_angle_index"])
    # after the run: sample in, rotation back at the start angle
    assert instrument.sample.position == pytest.approx(profile.sample_stage.in_mm)
    assert instrument.rotation.position == pytest.approx(profile.ct.start_deg)


def test_metadata(ct_run, instrument):
    _, docs = ct_run
    start = next(doc for name, doc in docs if name == "start")
    assert start["plan_name"] == "gi_ct" and start["sample"] == "test phantom"
    assert start["profile"]["name"] == "maast"
    assert start["profile"]["stepping"]["step_um"] == 0.6
    assert start["geometry"]["voxel_um"] == pytest.approx(8.52, abs=0.01)
    assert start["geometry"]["pixel_at_sample_um"] == pytest.approx(8 * 8.519, rel=1e-3)
    assert start["plan_args"]["exposure_s"] == 60.0 and start["plan_args"]["n_darks"] == N_DARK
    assert start["schedule"]["reference_indices"] == [0, 5, 10]
    assert start["schedule"]["frames_expected"] == 2 * N_DARK + 13 * 5
    assert start["schedule"]["exposure_only_s"] == 13 * 5 * 60.0
    assert start["plan_args"]["n_darks_end"] == N_DARK
    assert start["geometry"]["beam"] == "cone" and start["geometry"]["source_g1_cm"] == 54.4
    stop = next(doc for name, doc in docs if name == "stop")
    assert stop["exit_status"] == "success"
    assert stop["num_events"] == {"baseline": 2, "dark": 2 * N_DARK, "reference": 15, "primary": 50}


def test_frames_from_catalog_show_the_fringe(ct_run, catalog, instrument):
    uid, _ = ct_run
    from gi_instrument.processing import retrieve

    run = catalog[uid]
    assert set(run) >= {"primary", "reference", "dark", "baseline"}
    refs = run["reference"]["camera_image"].read()
    assert refs.shape == (15, 256, 256) and refs.dtype == np.uint16
    dark = run["dark"]["camera_image"].read().astype(np.float32).mean(axis=0)
    primary = run["primary"].read()
    assert primary["camera_image"].shape == (50, 256, 256)
    first_ref = refs[:5].astype(np.float32)
    result = retrieve(first_ref, first_ref, dark=dark)
    rows, cols = first_ref.shape[1:]
    centre = result.visibility_reference[rows // 4: 3 * rows // 4, cols // 4: 3 * cols // 4]
    visibility = float(np.median(centre))
    assert visibility == pytest.approx(instrument.profile.performance.visibility, rel=0.2)


def test_files_one_per_stepping_scan(ct_run, instrument):
    uid, _ = ct_run
    run_dir = instrument.frames_dir / uid
    names = sorted(p.name for p in run_dir.iterdir())
    assert names == sorted(["dark_a0.h5", "dark_end_a0.h5"] + [f"reference_{i:05d}_a0.h5" for i in (0, 5, 10)]
                           + [f"primary_{i:05d}_a0.h5" for i in range(10)])
    with h5py.File(run_dir / "primary_00003_a0.h5", "r") as f:
        assert f["/entry/data/data"].shape == (5, 256, 256)
        assert f["/entry/data/data"].attrs["frames_written"] == 5
        attrs = f["/entry/instrument/NDAttributes"]
        assert np.allclose(attrs["angle_deg"][()], 15.0)
        assert np.allclose(attrs["exposure_s"][()], 60.0)
        # nominal exposure 60 s at time scale 1e-4 -> ~6 ms real
        assert np.all(attrs["real_exposure_s"][()] < 1.0) and np.all(attrs["real_exposure_s"][()] > 0.005)
