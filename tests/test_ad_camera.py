"""The detector through ophyd's areaDetector classes against the simulated camera in the standard
areaDetector layout: the same plans, frame by frame, with the same guarantees."""

from __future__ import annotations

import time

import h5py
import numpy as np
import pytest

from gi_instrument.devices import make_instrument
from gi_instrument.devices.ad_detector import ADSCMOSDetector
from gi_instrument.plans import dark_scan, gi_ct, phase_step
from gi_instrument.plans.recovery import ScanFailedError
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


def _events(documents, stream):
    descriptors = {doc["uid"] for name, doc in documents if name == "descriptor" and doc["name"] == stream}
    return [doc for name, doc in documents if name == "event" and doc["descriptor"] in descriptors]


def test_dropped_frame_is_taken_again_into_a_new_file(RE, ad_inst, documents, ad_ioc, monkeypatch):
    from ophyd import EpicsSignal

    monkeypatch.setattr(ad_inst.camera, "file_wait_s", 0.3)      # real s the missing frame is waited for
    EpicsSignal(ad_ioc.prefix + "CAM:DropFrame", name="drop").put(1, wait=True)
    RE(phase_step(ad_inst, exposure_s=1.0, angle_index=7))
    frames = _frames(documents)
    assert [ev["data"]["frame_step_index"] for ev in frames] == list(range(ad_inst.profile.stepping.steps))
    assert {ev["data"]["frame_attempt"] for ev in frames} == {1}
    (discarded,) = [ev["data"] for ev in _events(documents, "discarded")]
    assert (discarded["discarded_stream"], discarded["discarded_angle_index"]) == ("primary", 7)
    assert discarded["discarded_attempt"] == 0 and "did not reach" in discarded["discarded_cause"]
    assert discarded["discarded_file"].endswith("primary_00007_a0.h5")
    with h5py.File(discarded["discarded_file"], "r") as f:     # left on disk as the camera wrote it
        assert f[FRAME_DATASET].shape[1:] == ad_inst.camera.frame_shape()
    resources = [doc["uri"] for name, doc in documents if name == "stream_resource"]
    assert len(resources) == 1 and resources[0].endswith("primary_00007_a1.h5")


def test_g2_off_its_step_uses_up_the_budget_and_stops_the_plan(RE, ad_inst, documents, ad_ioc):
    from ophyd import EpicsSignal

    error = EpicsSignal(ad_ioc.prefix + "G2:PositionError", name="g2_error")
    counter = ad_inst.camera.frame_counter.get()
    attempts = ad_inst.profile.recovery.attempts_per_scan
    error.put(0.2, wait=True)
    try:
        with pytest.raises(ScanFailedError, match=rf"primary projection 0: .*failed {attempts} times.*G2 at"):
            RE(phase_step(ad_inst, exposure_s=1.0))
    finally:
        error.put(0.0, wait=True)
    assert ad_inst.camera.frame_counter.get() == counter  # nothing exposed at the wrong position
    assert not _frames(documents)
    discarded = [ev["data"] for ev in _events(documents, "discarded")]
    assert [d["discarded_attempt"] for d in discarded] == list(range(attempts))   # recorded although it failed
    assert next(doc for name, doc in documents if name == "stop")["exit_status"] == "fail"


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


def test_small_ct_rides_out_an_arc_inside_an_exposure(RE, ad_inst, documents, ad_ioc):
    """An arc shorter than an exposure, in the first stepping scan of a CT: that attempt is
    refused (the client saw the tube's fault) and the scan is taken again into a new file; the
    run holds every reference and projection frame exactly once."""
    from ophyd import EpicsSignal

    EpicsSignal(ad_ioc.prefix + "TUBE:ArcInExposure", name="arc").put(0.3, wait=True)  # inside a 1 s exposure
    RE(gi_ct(ad_inst, exposure_s=1.0, angle_step_deg=5.0, range_deg=10.0, reference_every_deg=10.0, n_darks=0))
    stop = next(doc for name, doc in documents if name == "stop")
    assert stop["exit_status"] == "success"
    assert stop["num_events"] == {"reference": 5, "primary": 10, "baseline": 2, "discarded": 1}
    steps = ad_inst.profile.stepping.steps
    for stream, angles in (("reference", [0]), ("primary", [0, 1])):
        frames = [(ev["data"]["frame_angle_index"], ev["data"]["frame_step_index"]) for ev in _events(documents, stream)]
        assert sorted(frames) == [(a, k) for a in angles for k in range(steps)]
    (discarded,) = [ev["data"] for ev in _events(documents, "discarded")]
    assert (discarded["discarded_stream"], discarded["discarded_angle_index"]) == ("reference", 0)
    assert "frame 0: arc" in discarded["discarded_cause"] and "arc" in ad_inst.tube.last_fault.get()
    assert {ev["data"]["frame_attempt"] for ev in _events(documents, "reference")} == {1}
    with h5py.File(discarded["discarded_file"], "r") as f:     # the refused attempt's file, as written
        assert f[FRAME_DATASET].shape[0] == steps
        assert list(f["/entry/instrument/NDAttributes/arc"][:]) == [1] + [0] * (steps - 1)   # the IOC's record agrees
    assert discarded["discarded_file"].endswith("reference_00000_a0.h5")


def test_interlock_opening_inside_a_scan_suspends_and_the_scan_is_taken_again(RE, ad_inst, documents, ad_ioc):
    """The interlock opens once the first frame of a stepping scan is in its file: the run
    suspends, the camera stops the scan, and once the interlock is closed (and the settle time
    passed) the scan is taken again from its first step into a new file."""
    from ophyd import EpicsSignal

    interlock = EpicsSignal(ad_ioc.prefix + "TUBE:InterlockOpen", name="interlock")

    def open_for_half_a_second() -> None:
        interlock.put(1, wait=True)
        time.sleep(0.5)
        interlock.put(0, wait=True)

    _fault_after_the_first_frame(RE, ad_inst, open_for_half_a_second, angle_index=2)
    frames = _frames(documents)
    assert [ev["data"]["frame_step_index"] for ev in frames] == list(range(ad_inst.profile.stepping.steps))
    assert {ev["data"]["frame_attempt"] for ev in frames} == {1}
    (suspension,) = [ev["data"] for ev in _events(documents, "suspensions")]
    assert "interlock" in suspension["suspension_cause"] and suspension["suspension_angle_index"] == 2
    (discarded,) = [ev["data"] for ev in _events(documents, "discarded")]
    assert discarded["discarded_cause"].startswith("suspended") and "interlock" in discarded["discarded_cause"]
    assert discarded["discarded_file"].endswith("primary_00002_a0.h5") and discarded["discarded_attempt"] == 0
    with h5py.File(discarded["discarded_file"], "r") as f:
        assert f[FRAME_DATASET].shape[0] >= 1                     # the stopped attempt's frames stay on disk


def _fault_after_the_first_frame(RE, inst, fault, *, angle_index: int) -> None:
    """``phase_step`` (60 s exposures: 6 ms real per frame) with the session's suspenders, and
    ``fault()`` called from another thread once the scan's first frame is in its file."""
    import threading

    from gi_instrument.suspenders import install_suspenders

    first_frame = threading.Event()
    cid = inst.camera.hdf.num_captured.subscribe(lambda value, **kw: value == 1 and first_frame.set(), run=False)

    def when_the_first_frame_is_in() -> None:
        if first_frame.wait(timeout=30):
            fault()

    suspenders = install_suspenders(RE, inst)
    thread = threading.Thread(target=when_the_first_frame_is_in)
    try:
        thread.start()
        RE(phase_step(inst, exposure_s=60.0, angle_index=angle_index))
    finally:
        thread.join()
        inst.camera.hdf.num_captured.unsubscribe(cid)
        for suspender in suspenders:
            RE.remove_suspender(suspender)
        RE.record_interruptions = False
    assert first_frame.is_set(), "the scan's first frame never reached its file"


def test_ct_stopped_halfway_resumes_with_one_call(ad_inst, data_dir):
    """An areaDetector CT whose process died after its first projection (its journal has no stop
    document: the failure below, with the stop removed) continues with ``gi_ct_resume``: the
    chain of runs holds every stepping scan of the schedule, the new run's in files of its own."""
    import json

    from bluesky import RunEngine

    from gi_instrument.catalog import catalog_paths, document_journal
    from gi_instrument.plans import ct_schedule, gi_ct_resume
    from gi_instrument.plans.resume import chain, complete_scans, journal_runs
    from test_resume import _fail_after

    paths = catalog_paths(data_dir)
    RE = RunEngine({}, call_returns_result=False)
    RE.subscribe(document_journal(paths))
    token = RE.subscribe(_fail_after(1))
    geometry = dict(angle_step_deg=10.0, range_deg=20.0, reference_every_deg=20.0, final_reference=True)
    with pytest.raises(RuntimeError, match="simulated failure"):
        RE(gi_ct(ad_inst, exposure_s=1.0, n_darks=0, **geometry))
    RE.unsubscribe(token)
    first = journal_runs(paths.documents)[-1]
    journal = paths.documents / f"{first.uid}.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    assert json.loads(lines[-1])["name"] == "stop"
    journal.write_text("".join(lines[:-1]))                       # as a killed process leaves it
    docs = []
    RE.subscribe(lambda name, doc: docs.append((name, doc)))
    (second,) = RE(gi_ct_resume(ad_inst, first.uid[:8]))
    assert docs[0][1]["resumes"] == first.uid and docs[0][1]["plan_args"]["start_index"] == 1
    runs = chain(journal_runs(paths.documents), first.uid)
    assert [r.uid for r in runs] == [first.uid, second] and runs[0].stop["exit_status"] == "abort"
    held = [complete_scans(r.items(), ad_inst.profile.stepping.steps) for r in runs]
    assert held[0] | held[1] == {(i.kind, i.angle_index) for i in ct_schedule(ad_inst.profile, **geometry).items()}
    uris = [doc["uri"] for name, doc in docs if name == "stream_resource"]
    assert all(second in uri for uri in uris) and len(set(uris)) == len(uris)   # files of the new run only


def test_ioc_restart_inside_a_scan_suspends_and_the_scan_is_taken_again(RE, ad_inst, documents, ad_ioc):
    """The IOC restarts (its process replaced, every PV back at its start-up value) once the
    first frame of a stepping scan is in its file: the run suspends on the lost connection,
    the attempt is discarded, and once every PV is back the scan is taken again, from its first
    step, into a new file of a camera configured anew (an IOC restart forgets the plugin's
    settings)."""
    from ophyd import EpicsSignal

    restart = EpicsSignal(ad_ioc.prefix + "SIM:Restart", name="restart")
    _fault_after_the_first_frame(RE, ad_inst, lambda: restart.put(1.0), angle_index=3)   # 1 s (real) down
    stop = next(doc for name, doc in documents if name == "stop")
    assert stop["exit_status"] == "success", stop
    frames = _frames(documents)
    assert [ev["data"]["frame_step_index"] for ev in frames] == list(range(ad_inst.profile.stepping.steps))
    assert len({ev["data"]["frame_attempt"] for ev in frames}) == 1
    discarded = [ev["data"] for ev in _events(documents, "discarded")]
    causes = [ev["data"]["suspension_cause"] for ev in _events(documents, "suspensions")]
    causes += [d["discarded_cause"] for d in discarded]
    assert any("connection lost" in c for c in causes), causes
    assert discarded and all(d["discarded_angle_index"] == 3 for d in discarded)
    (uri,) = {doc["uri"] for name, doc in documents if name == "stream_resource"}
    assert all(d["discarded_file"] not in uri for d in discarded)   # the events' frames are the new try's
    with h5py.File(uri.removeprefix("file://localhost"), "r") as f:
        assert f[FRAME_DATASET].shape[0] == ad_inst.profile.stepping.steps


def test_ct_killed_inside_a_scan_resumes_with_one_call(ad_ioc, ad_inst, data_dir):
    """``kill -9`` of a session's process in the middle of an areaDetector stepping scan (two of
    its five frames in the file, the HDF5 plugin still capturing): the tube's watchdog switches
    the X-rays off; ``gi_ct_resume`` in a new session takes that scan again into a file of its
    own and completes the CT. The chain holds every stepping scan of the schedule once, and the
    frames the killed scan had written stay in their file."""
    import json
    import os
    import signal
    import threading

    from gi_instrument.catalog import catalog_paths, read_journal
    from gi_instrument.plans import ct_schedule
    from gi_instrument.plans.resume import chain, complete_scans, journal_runs

    from ct_process import kill_ct_process, start_ct_process, wait_for_complete_scan

    paths = catalog_paths(data_dir)
    steps = ad_inst.profile.stepping.steps
    geometry = dict(angle_step_deg=10.0, range_deg=20.0, reference_every_deg=20.0, final_reference=True)
    layout = ("--camera-layout", "areadetector")
    before = set(paths.documents.glob("*.jsonl"))
    armed, killed = threading.Event(), threading.Event()
    ct = None

    def kill_at_the_second_frame(value, **kwargs) -> None:
        if armed.is_set() and value == 2 and not killed.is_set():
            os.kill(ct.proc.pid, signal.SIGKILL)
            killed.set()

    cid = ad_inst.camera.hdf.num_captured.subscribe(kill_at_the_second_frame, run=False)
    try:
        ct = start_ct_process(data_dir, ad_ioc.prefix, *layout, json.dumps(dict(exposure_s=60.0, n_darks=0, **geometry)))
        # projection 0 complete: arm for the next scan (polled often: its frames take 6 ms each)
        journal = wait_for_complete_scan(paths.documents, before, ("projection", 0), ct, steps, poll_s=0.002)
        armed.set()
        assert killed.wait(60), "no second frame of the next stepping scan"
    finally:
        ad_inst.camera.hdf.num_captured.unsubscribe(cid)
    assert kill_ct_process(ct, ad_inst.tube, ad_inst.profile.recovery.watchdog_timeout_s)   # on when killed
    killed_uid = read_journal(journal)[0][1]["uid"]
    partial = paths.frames / killed_uid / "primary_00001_a0.h5"     # still open: the plugin captures on

    resume = start_ct_process(data_dir, ad_ioc.prefix, *layout, "--resume", killed_uid)
    out, _ = resume.proc.communicate(timeout=180)
    assert resume.proc.returncode == 0, out
    resumed = out.split("run ")[-1].strip()
    runs = chain(journal_runs(paths.documents), resumed)
    assert [r.uid for r in runs] == [killed_uid, resumed]
    held = [complete_scans(r.items(), steps) for r in runs]
    assert not {s for s in held[0] & held[1] if s[0] == "projection"}   # a resume repeats the reference only
    assert held[0] | held[1] == {(i.kind, i.angle_index) for i in ct_schedule(ad_inst.profile, **geometry).items()}
    with h5py.File(partial, "r") as f:     # closed by the new session, with what the killed scan had taken
        assert f[FRAME_DATASET].shape[0] >= 2
