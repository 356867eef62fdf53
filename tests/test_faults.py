"""Faults injected through the simulated IOC's PVs: the tube tells the truth, a disturbed or
failed stepping scan is refused and taken again inside the run (recorded in its ``discarded``
stream), past the budget the plan stops naming stream, projection and cause, and the X-rays go
off when the controlling process is gone."""

from __future__ import annotations

import asyncio
import threading
import time

import bluesky.plan_stubs as bps
import numpy as np
import pytest
from ophyd.utils.errors import StatusTimeoutError

from gi_instrument.plans import gi_ct, phase_step
from gi_instrument.plans.recovery import ScanFailedError
from gi_instrument.suspenders import Heartbeat, install_suspenders

pytestmark = pytest.mark.ioc

SMALL_CT = dict(exposure_s=1.0, angle_step_deg=5.0, range_deg=10.0, reference_every_deg=5.0, n_darks=0)


def _wait_for(predicate, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.02)


def _events(documents, stream: str) -> list[dict]:
    descriptors = {doc["uid"] for name, doc in documents if name == "descriptor" and doc["name"] == stream}
    return [doc for name, doc in documents if name == "event" and doc["descriptor"] in descriptors]


def test_tube_state_is_a_fault_during_an_arc_and_with_the_interlock_open(instrument, sim_pv):
    tube = instrument.tube
    tolerance = instrument.profile.recovery.beam_tolerance_pct
    tube.xray_on.set(1).wait(5)
    sim_pv("TUBE:Arc").put(2e4)                       # 2e4 nominal s = 2 s real at time scale 1e-4
    _wait_for(lambda: tube.state.get() == "Fault")
    assert tube.fault.get() == 1 and "arc" in tube.status_message.get()
    assert "arc" in tube.ready_to_emit(tolerance)
    _wait_for(lambda: tube.state.get() == "XrayOn")
    assert tube.fault.get() == 0 and "arc" in tube.last_fault.get()       # the trip is not erased
    sim_pv("TUBE:InterlockOpen").put(1, wait=True)
    try:
        assert tube.state.get() == "Fault" and tube.xray_on.get() == 0
        _wait_for(lambda: tube.ready_to_emit(tolerance) == "interlock open")   # monitored, as below
    finally:
        sim_pv("TUBE:InterlockOpen").put(0, wait=True)
    # closed again: no fault, but the X-rays stay off until switched on, and the status says why
    assert tube.state.get() == "Ready" and tube.xray_on.get() == 0
    assert "interlock opened" in tube.status_message.get()
    # the interlock readback is monitored: the IOC's update may follow the put's completion
    _wait_for(lambda: tube.ready_to_emit(tolerance) is None)


def test_arc_shorter_than_an_exposure_refuses_the_scan_and_it_is_repeated(RE, instrument, documents, sim_pv):
    sim_pv("TUBE:ArcInExposure").put(0.3, wait=True)   # 0.3 nominal s inside a 1 s exposure
    RE(phase_step(instrument, exposure_s=1.0))
    frames = _events(documents, "primary")
    assert len(frames) == instrument.profile.stepping.steps
    assert {ev["data"]["frame_attempt"] for ev in frames} == {1}
    assert all(ev["data"]["tube_arc"] == 0 and ev["data"]["tube_voltage_min_kV"] > 0 for ev in frames)
    (discarded,) = [ev["data"] for ev in _events(documents, "discarded")]
    assert discarded["discarded_stream"] == "primary" and discarded["discarded_attempt"] == 0
    assert "arc" in discarded["discarded_cause"] and discarded["discarded_file"].endswith("primary_00000_a0.h5")
    assert discarded["discarded_end_time"] >= discarded["discarded_start_time"]
    assert instrument.tube.xray_on.get() == 0           # a run leaves the X-rays off


def test_rotation_stall_is_repeated_inside_the_run(RE, instrument, documents, sim_pv):
    instrument.rotation.move(3.0)
    sim_pv("ROT:Stall").put(1, wait=True)
    RE(gi_ct(instrument, **{**SMALL_CT, "reference_every_deg": 10.0}, md={"case": "stall"}))
    angles = sorted({ev["data"]["frame_angle_index"] for ev in _events(documents, "primary")})
    assert angles == [0, 1] and len(_events(documents, "primary")) == 2 * instrument.profile.stepping.steps
    (discarded,) = [ev["data"] for ev in _events(documents, "discarded")]
    assert "rotation" in discarded["discarded_cause"] and discarded["discarded_attempt"] == -1
    assert (discarded["discarded_stream"], discarded["discarded_angle_index"]) == ("reference", 0)
    stop = next(doc for name, doc in documents if name == "stop")
    assert stop["exit_status"] == "success"


def test_past_the_budget_the_plan_stops_naming_stream_projection_and_cause(RE, instrument, documents, sim_pv):
    sim_pv("G2:PositionError").put(0.5, wait=True)      # every G2 readback 0.5 um off its step
    try:
        with pytest.raises(ScanFailedError, match=r"primary projection 0: .*failed 3 times.*G2 position error"):
            RE(phase_step(instrument, exposure_s=1.0))
    finally:
        sim_pv("G2:PositionError").put(0.0, wait=True)
    assert not _events(documents, "primary")
    discarded = [ev["data"] for ev in _events(documents, "discarded")]
    assert [d["discarded_attempt"] for d in discarded] == [0, 1, 2]     # recorded although the run failed
    assert next(doc for name, doc in documents if name == "stop")["exit_status"] == "fail"


def test_interlock_opening_suspends_and_the_scan_is_taken_again(RE, instrument, documents, sim_pv):
    suspenders = install_suspenders(RE, instrument)
    interlock = sim_pv("TUBE:InterlockOpen")

    sim_pv("CAM:HangTime").put(2e4, wait=True)          # the first frame hangs 2 s (real): time to open it
    sim_pv("CAM:AcquireTimeout").put(1, wait=True)

    def open_during_the_scan() -> None:
        _wait_for(lambda: sim_pv("CAM:DetectorState_RBV").get() == 1, timeout_s=20)
        interlock.put(1, wait=True)
        time.sleep(0.5)
        interlock.put(0, wait=True)

    thread = threading.Thread(target=open_during_the_scan)
    try:
        thread.start()
        RE(phase_step(instrument, exposure_s=1.0))
    finally:
        thread.join()
        for suspender in suspenders:
            RE.remove_suspender(suspender)
        RE.record_interruptions = False
    frames = _events(documents, "primary")
    assert len(frames) == instrument.profile.stepping.steps and {ev["data"]["frame_attempt"] for ev in frames} == {1}
    (suspension,) = [ev["data"] for ev in _events(documents, "suspensions")]
    assert "interlock" in suspension["suspension_cause"] and suspension["suspension_angle_index"] == 0
    assert suspension["suspension_end_time"] - suspension["suspension_start_time"] >= 0.3
    assert any("interlock" in ev["data"]["interruption"] for ev in _events(documents, "interruptions"))
    (discarded,) = [ev["data"] for ev in _events(documents, "discarded")]
    assert discarded["discarded_cause"].startswith("suspended") and "interlock" in discarded["discarded_cause"]


def test_watchdog_switches_the_xrays_off_when_the_heartbeat_stops(instrument, sim_pv):
    tube = instrument.tube
    sim_pv("TUBE:WatchdogTimeout").put(0.5, wait=True)
    heartbeat = Heartbeat(tube.heartbeat, period_s=0.1)
    try:
        tube.xray_on.set(1).wait(5)
        time.sleep(1.0)
        assert tube.xray_on.get() == 1                   # beating: X-rays stay on
        heartbeat.stop()                                  # the controlling process is gone
        _wait_for(lambda: tube.xray_on.get() == 0, timeout_s=5)
        assert "watchdog" in tube.status_message.get() and "watchdog" in tube.last_fault.get()
    finally:
        heartbeat.stop()
        sim_pv("TUBE:WatchdogTimeout").put(instrument.profile.recovery.watchdog_timeout_s, wait=True)


def test_acquisition_timeout(instrument, sim_pv):
    camera = instrument.camera
    camera.single_frames_dir.mkdir(parents=True, exist_ok=True)
    before = set(camera.single_frames_dir.iterdir())
    camera.exposure_s.put(1.0)
    sim_pv("CAM:HangTime").put(2e4, wait=True)         # 2 s real
    sim_pv("CAM:AcquireTimeout").put(1, wait=True)
    margin = camera.acquire_margin_s
    camera.acquire_margin_s = 0.3
    try:
        with pytest.raises(StatusTimeoutError):
            camera.trigger().wait()
    finally:
        camera.acquire_margin_s = margin
        camera._triggered = False
    # the hung frame still lands in a file of its own once the IOC gets to it
    _wait_for(lambda: len(set(camera.single_frames_dir.iterdir()) - before) == 1, timeout_s=10)


def test_ioc_restart_and_reconnect(RE, instrument, sim_pv, documents):
    """The IOC process restarts (its PVs back at their start-up values) and clients reconnect;
    the physical world it simulates goes on: instrument time (the fringe drift's clock), the
    stage positions, the noise."""
    camera, steps = instrument.camera, instrument.profile.stepping.steps
    RE(phase_step(instrument, exposure_s=60.0))        # 5 min of instrument time
    RE(bps.mv(instrument.rotation, 33.0, instrument.g2, 1.2))
    before = _events(documents, "primary")[-1]["data"]
    assert camera.file_number.get() > 0               # files were written before
    sim_pv("SIM:Restart").put(1.0)                     # 1 s down, then the same IOC again
    time.sleep(0.5)
    _wait_for(lambda: camera.file_number.connected and camera.file_number.get() == 0, timeout_s=60)
    instrument.wait_for_connection(timeout_s=30)
    try:
        assert instrument.rotation.position == pytest.approx(33.0)
        assert instrument.g2.readback.get() == pytest.approx(1.2, abs=0.01)
        RE(phase_step(instrument, exposure_s=1.0))
    finally:
        RE(bps.mv(instrument.rotation, instrument.profile.ct.start_deg, instrument.g2, 0.0))
    frames = _events(documents, "primary")[steps:]
    assert len(frames) == steps
    assert np.isfinite([ev["data"]["g2_position_um"] for ev in frames]).all()
    # instrument time goes on: a clock that restarted with the IOC would be back near 0, minutes
    # of exposures earlier (how far it went on depends on what else the IOC slept through)
    assert before["camera_ioc_time_s"] >= 300.0
    assert frames[0]["data"]["camera_ioc_time_s"] > before["camera_ioc_time_s"]


def test_a_suspension_inside_the_read_of_a_frame_loses_no_frame(RE, instrument, documents):
    """A suspension that lands while the RunEngine is inside the ``read`` of an event (here the
    first read of the camera in the ``primary`` stream, which awaits its description) cancels
    that read: bluesky then answers the read with None, leaves the reading out of the event and
    the following ``save`` emits nothing. The scan's events still hold every frame once."""
    from bluesky.suspenders import SuspendBoolHigh
    from ophyd import Signal

    camera, trip = instrument.camera, Signal(name="trip", value=0)
    suspender = SuspendBoolHigh(trip, sleep=0.0)
    RE.install_suspender(suspender)
    describe_configuration = camera.describe_configuration
    tripped: list[float] = []

    async def tripping_describe_configuration():
        """The first description of the camera in the run trips the suspender and takes a while."""
        if not tripped:
            tripped.append(time.time())
            trip.put(1)
            threading.Timer(0.3, trip.put, (0,)).start()
            await asyncio.sleep(0.1)
        return describe_configuration()

    camera.describe_configuration = tripping_describe_configuration
    try:
        RE(phase_step(instrument, exposure_s=1.0))
    finally:
        del camera.describe_configuration
        RE.remove_suspender(suspender)
    assert tripped, "the suspension was not provoked"
    frames = [ev["data"] for ev in _events(documents, "primary")]
    assert [f["frame_step_index"] for f in frames] == list(range(instrument.profile.stepping.steps))
    datums = [doc for name, doc in documents if name == "stream_datum"]
    assert [d["indices"]["start"] for d in datums] == list(range(len(frames)))   # one frame per event
    assert [d["seq_nums"]["start"] for d in datums] == [ev["seq_num"] for ev in _events(documents, "primary")]


def test_a_failure_after_a_scans_events_never_repeats_them(RE, instrument, documents, sim_pv):
    """The sample's move back in stalls right after a reference scan's events: the scan is in
    the run once, and the projection that needed the sample in is tried again."""
    stall = sim_pv("SAMPLE:Stall")

    def stall_after_the_first_reference(name, doc):
        if name == "event" and doc["data"].get("frame_step_index") == 4 and not stall.get():
            stall.put(1, wait=True)                   # before the plan goes on: the next move stalls

    token = RE.subscribe(stall_after_the_first_reference)
    try:
        RE(gi_ct(instrument, **{**SMALL_CT, "reference_every_deg": 10.0}, md={"case": "stall after events"}))
    finally:
        RE.unsubscribe(token)
        stall.put(0, wait=True)
    for stream, indices in (("primary", [0, 1]), ("reference", [0])):
        got = sorted((ev["data"]["frame_angle_index"], ev["data"]["frame_step_index"])
                     for ev in _events(documents, stream))
        assert got == [(i, k) for i in indices for k in range(instrument.profile.stepping.steps)], stream
    (discarded,) = [ev["data"] for ev in _events(documents, "discarded")]
    assert (discarded["discarded_stream"], discarded["discarded_angle_index"]) == ("primary", 0)
    assert "sample" in discarded["discarded_cause"]


def test_a_failure_between_a_scans_events_stops_the_plan(RE, instrument, documents, monkeypatch):
    """Were a frame's read to fail after some of its scan's events are out, repeating the scan
    would deliver those twice: the plan stops instead, naming the stream and projection."""
    from gi_instrument.plans.stubs import PartialScanError

    camera, read = instrument.camera, instrument.camera.read
    calls = []

    def read_failing_at_the_third_frame():
        if camera.step_mode.get() and camera.frames:
            calls.append(1)
            if len(calls) == 3:
                raise TimeoutError("simulated failure inside the events")
        return read()

    monkeypatch.setattr(camera, "read", read_failing_at_the_third_frame)
    with pytest.raises(PartialScanError, match=r"primary projection 0: 2 of 5 frames are in the run"):
        RE(phase_step(instrument, exposure_s=1.0))
    assert len(_events(documents, "primary")) == 2 and not _events(documents, "discarded")
