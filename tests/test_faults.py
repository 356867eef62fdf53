"""Faults injected through the simulated IOC's PVs surface in the data or as clear errors."""

from __future__ import annotations

import time

import numpy as np
import pytest
from ophyd.utils.errors import StatusTimeoutError

from gi_instrument.devices import BeamStateError
from gi_instrument.plans import PositionError, SettingRefusedError, gi_ct, phase_step

pytestmark = pytest.mark.ioc

SMALL_CT = dict(exposure_s=1.0, angle_step_deg=5.0, range_deg=10.0, reference_every_deg=5.0, n_darks=0)


def _wait_for(predicate, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.05)


def test_arc_refuses_the_stepping_scan(RE, instrument, documents, sim_pv):
    tube = instrument.tube
    sim_pv("TUBE:Arc").put(3e4)                       # 3e4 nominal s = 3 s real at time scale 1e-4
    _wait_for(lambda: tube.state.get() == "Fault")
    with pytest.raises(BeamStateError, match="X-rays were off"):
        RE(phase_step(instrument, exposure_s=1.0))
    # frames exposed during the arc record it, and none became an event
    attrs = dict(zip(instrument.camera.frame_attribute_keys(), instrument.camera.frame_attrs.get()))
    assert attrs["tube_xray_on"] == 0
    assert not [doc for name, doc in documents if name == "event" and "frame_step_index" in doc["data"]]
    _wait_for(lambda: tube.state.get() != "Fault", timeout_s=15)
    _wait_for(lambda: tube.voltage_kV.get() == pytest.approx(instrument.profile.source.voltage_kV))
    RE(phase_step(instrument, exposure_s=1.0))         # after the arc, the same scan is accepted


def test_cold_tube_refuses_ct_until_warmed_up(instrument, sim_pv):
    sim_pv("TUBE:ColdStart").put(1, wait=True)
    _wait_for(lambda: not instrument.tube.warmed_up.get())
    with pytest.raises(RuntimeError, match="not warmed up"):
        gi_ct(instrument, **SMALL_CT)
    instrument.tube.warmup.put(1, wait=True)           # 600 nominal s = 60 ms real
    _wait_for(lambda: instrument.tube.ready_to_emit() is None)


def test_rotation_stall_fails_the_ct(RE, instrument, documents, sim_pv):
    instrument.rotation.move(3.0)
    sim_pv("ROT:Stall").put(1, wait=True)
    RE(phase_step(instrument, exposure_s=1.0))          # no rotation in a phase step: unaffected
    with pytest.raises(PositionError, match="rotation"):
        RE(gi_ct(instrument, **{**SMALL_CT, "reference_every_deg": 10.0}, md={"case": "stall"}))
    # the move 3 -> 0 deg stopped half-way; the cleanup then returned to the start
    assert instrument.rotation.position == pytest.approx(instrument.profile.ct.start_deg)


def test_rotation_timeout(instrument, sim_pv):
    sim_pv("ROT:HangTime").put(2e4, wait=True)         # 2 s real
    sim_pv("ROT:Hang").put(1, wait=True)
    rotation = instrument.rotation
    margin = rotation.move_margin_s
    rotation.move_margin_s = 0.3
    try:
        with pytest.raises(StatusTimeoutError):
            rotation.set(1.0).wait()
    finally:
        rotation.move_margin_s = margin
    _wait_for(lambda: rotation.position == pytest.approx(1.0), timeout_s=10)
    rotation.move(0.0)


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
    camera = instrument.camera
    assert camera.file_number.get() > 0               # files were written before
    sim_pv("SIM:Restart").put(1.0)                     # 1 s down, then the same IOC again
    time.sleep(0.5)
    _wait_for(lambda: camera.file_number.connected and camera.file_number.get() == 0, timeout_s=60)
    instrument.wait_for_connection(timeout_s=30)
    RE(phase_step(instrument, exposure_s=1.0))
    frames = [doc for name, doc in documents if name == "event" and "frame_step_index" in doc["data"]]
    assert len(frames) == instrument.profile.stepping.steps
    assert np.isfinite([ev["data"]["g2_position_um"] for ev in frames]).all()


def test_interlock_opening_after_the_checks_stops_the_run(RE, instrument, documents, sim_pv):
    plan = phase_step(instrument, exposure_s=1.0)       # validated while the interlock is closed
    counter = instrument.camera.frame_counter.get()
    sim_pv("TUBE:InterlockOpen").put(1, wait=True)
    try:
        with pytest.raises(SettingRefusedError, match="interlock open"):
            RE(plan)
    finally:
        sim_pv("TUBE:InterlockOpen").put(0, wait=True)
    assert instrument.camera.frame_counter.get() == counter   # no frame taken without X-rays
