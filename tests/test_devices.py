"""Devices against the simulated IOC: limits, faults and the profile/IOC consistency check."""

from __future__ import annotations

import dataclasses

import h5py
import pytest

from gi_instrument.devices import make_instrument
from gi_instrument.plans import phase_step

pytestmark = pytest.mark.ioc


def test_tube_limits(instrument, sim_pv):
    tube = instrument.tube
    with pytest.raises(ValueError, match="current"):
        tube.validate_setting(50.0, 1.6)          # above the 1.5 mA limit of the MAAST profile
    with pytest.raises(ValueError, match="voltage"):
        tube.validate_setting(55.0, 1.0)
    tube.validate_setting(50.0, 1.2)
    assert tube.ready_to_emit(2.0) is None
    sim_pv("TUBE:Voltage").put(70.0, wait=True)   # the IOC refuses it
    assert tube.voltage_kV.get() == pytest.approx(50.0)


def test_piezo_readback_jitters_by_nanometres(instrument):
    errors = []
    for x in (0.0, 0.6, 1.2, 1.8, 2.4):
        instrument.g2.move(x)
        errors.append(instrument.g2.position - x)
    assert all(abs(e) < 0.02 for e in errors)
    assert any(abs(e) > 1e-5 for e in errors)    # a real readback, not the setpoint echoed


def test_dropped_frame_refuses_the_scan_and_it_is_repeated(RE, instrument, documents, sim_pv):
    sim_pv("CAM:DropFrame").put(1, wait=True)
    RE(phase_step(instrument, exposure_s=1.0))
    # the stepping scan is one unit: the attempt with the dropped frame gave no event, the
    # repeated one gave all of them, and the partial file of the first stays on disk
    frames = [doc["data"] for name, doc in documents if name == "event" and "frame_step_index" in doc["data"]]
    assert [f["frame_step_index"] for f in frames] == list(range(instrument.profile.stepping.steps))
    assert {f["frame_attempt"] for f in frames} == {1}
    (discarded,) = [doc["data"] for name, doc in documents if name == "event" and "discarded_cause" in doc["data"]]
    assert "frame dropped" in discarded["discarded_cause"] and discarded["discarded_attempt"] == 0
    with h5py.File(discarded["discarded_file"], "r") as f:
        assert f["/entry/data/data"].attrs.get("frames_written", 0) < instrument.profile.stepping.steps
    assert next(doc for name, doc in documents if name == "stop")["exit_status"] == "success"


def test_profile_and_ioc_must_agree(instrument, sim_ioc):
    profile = instrument.profile
    other = dataclasses.replace(profile, sample_stage=dataclasses.replace(profile.sample_stage, out_mm=45.0))
    with pytest.raises(ValueError, match="differ from the profile"):
        make_instrument(other, sim_ioc.prefix, instrument.frames_dir)
