"""The detector through ophyd's areaDetector classes against the simulated camera in the standard
areaDetector layout: the same plans, frame by frame, with the same guarantees."""

from __future__ import annotations

import time

import h5py
import numpy as np
import pytest

from gi_instrument.devices import FrameLostError, make_instrument
from gi_instrument.devices.ad_detector import ADSCMOSDetector
from gi_instrument.plans import PositionError, dark_scan, gi_ct, phase_step
from gi_instrument.pv_interface import FRAME_DATASET
from gi_instrument.sim.launcher import SimIOC

pytestmark = pytest.mark.ioc


@pytest.fixture(scope="module")
def ad_ioc(tmp_path_factory, spare_ca_port):
    log = tmp_path_factory.mktemp("ad-ioc") / "ioc.log"
    with SimIOC("maast", time_scale=1e-4, binning=8, seed=2, log_path=log, port=spare_ca_port(),
                extra_args=("--camera-layout", "areadetector"), data_root=tmp_path_factory.getbasetemp()) as ioc:
        yield ioc


@pytest.fixture(scope="module")
def ad_inst(ad_ioc, data_dir):
    from gi_instrument.catalog import catalog_paths
    from gi_instrument.profile import load_profile

    inst = make_instrument(load_profile("maast"), ad_ioc.prefix, catalog_paths(data_dir).frames,
                           camera_layout="areadetector")
    inst.camera.time_scale.put(ad_ioc.time_scale)
    return inst


def _frames(documents):
    return [doc for name, doc in documents if name == "event" and "frame_step_index" in doc["data"]]


def test_stepping_scan_frame_by_frame(RE, ad_inst, documents, catalog):
    assert isinstance(ad_inst.camera, ADSCMOSDetector)
    RE(phase_step(ad_inst, exposure_s=1.0, angle_index=3))
    events = _frames(documents)
    steps = ad_inst.profile.stepping_positions_um
    assert [ev["data"]["frame_step_index"] for ev in events] == list(range(len(steps)))
    assert {ev["data"]["frame_angle_index"] for ev in events} == {3}
    g2 = [ev["data"]["g2_position_um"] for ev in events]
    assert np.allclose(g2, steps, atol=ad_inst.g2.tolerance) and g2 != list(steps)  # measured readbacks
    assert all(ev["data"]["tube_xray_on"] == 1 for ev in events)
    resource = next(doc for name, doc in documents if name == "stream_resource")
    path = resource["uri"].removeprefix("file://localhost")
    with h5py.File(path, "r") as f:
        assert f[FRAME_DATASET].shape == (len(steps), *ad_inst.camera.frame_shape())
        assert np.allclose(f["/entry/instrument/NDAttributes/g2_position_um"][:], g2)   # the IOC's record agrees
    frames = catalog[-1]["primary"]["camera_image"].read()
    assert frames.shape[0] == len(steps) and frames.std() > 0     # the catalog reads them from the file


def test_darks_have_xrays_off(RE, ad_inst, documents):
    RE(dark_scan(ad_inst, n_frames=3, exposure_s=1.0))
    events = _frames(documents)
    assert len(events) == 3 and all(ev["data"]["tube_xray_on"] == 0 for ev in events)
    assert ad_inst.tube.xray_on.get() == 0


def test_dropped_frame_leaves_no_event(RE, ad_inst, documents, ad_ioc):
    from ophyd import EpicsSignal

    drop = EpicsSignal(ad_ioc.prefix + "CAM:DropFrame", name="drop")
    drop.put(1, wait=True)
    with pytest.raises(FrameLostError, match="did not reach"):
        RE(phase_step(ad_inst, exposure_s=1.0))
    assert not _frames(documents)
    RE(phase_step(ad_inst, exposure_s=1.0))            # the next scan is clean


def test_g2_off_its_step_is_refused_before_exposure(RE, ad_inst, documents, ad_ioc):
    from ophyd import EpicsSignal

    error = EpicsSignal(ad_ioc.prefix + "G2:PositionError", name="g2_error")
    counter = ad_inst.camera.frame_counter.get()
    error.put(0.2, wait=True)
    try:
        with pytest.raises(PositionError, match="G2 at"):
            RE(phase_step(ad_inst, exposure_s=1.0))
    finally:
        error.put(0.0, wait=True)
    assert ad_inst.camera.frame_counter.get() == counter  # nothing exposed at the wrong position
    assert not _frames(documents)


def test_arc_refuses_the_scan(RE, ad_inst, documents, ad_ioc):
    """During an arc the tube is in fault and says why (issue 8 item 3): the scan is refused
    before anything moves, and once the arc is over the tube is ready again."""
    from ophyd import EpicsSignal

    EpicsSignal(ad_ioc.prefix + "TUBE:Arc", name="arc").put(2e4, wait=False)   # 2 s real
    _wait_for(lambda: ad_inst.tube.fault.get() == 1)
    with pytest.raises(RuntimeError, match="X-ray tube not ready: tube in fault .arc"):
        RE(phase_step(ad_inst, exposure_s=1.0))
    assert not _frames(documents)
    tolerance_pct = ad_inst.profile.recovery.beam_tolerance_pct
    _wait_for(lambda: ad_inst.tube.fault.get() == 0 and ad_inst.tube.ready_to_emit(tolerance_pct) is None)
    assert ad_inst.tube.voltage_kV.get() == pytest.approx(ad_inst.profile.source.voltage_kV)


def _wait_for(predicate, timeout_s=15.0):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_small_ct(RE, ad_inst, documents):
    RE(gi_ct(ad_inst, exposure_s=1.0, angle_step_deg=5.0, range_deg=10.0, reference_every_deg=10.0, n_darks=2))
    stop = next(doc for name, doc in documents if name == "stop")
    assert stop["exit_status"] == "success"
    assert stop["num_events"] == {"dark": 4, "reference": 5, "primary": 10, "baseline": 2}  # 2 + 2 darks
