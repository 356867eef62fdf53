"""Bad plan arguments and unsafe states raise before anything moves; faults surface as errors."""

from __future__ import annotations

import time

import pytest

from gi_instrument.plans import gi_ct, phase_step, reference_scan

pytestmark = pytest.mark.ioc


def _positions(inst):
    return inst.g2.position, inst.rotation.position, inst.sample.position


@pytest.mark.parametrize("kwargs, match", [
    (dict(exposure_s=0.5), "exposure_s"),
    (dict(exposure_s=float("nan")), "exposure_s"),
    (dict(angle_step_deg=0.3), "range_deg"),
    (dict(reference_every_deg=5.1), "reference_every_deg"),
    (dict(start_index=740), "start_index"),
    (dict(start_index=-1), "start_index"),
    (dict(g2_origin_um=99.0), "travel limits"),
    (dict(n_darks=1.5), "n_darks"),
])
def test_bad_arguments_move_nothing(RE, instrument, kwargs, match):
    before = _positions(instrument)
    with pytest.raises(ValueError, match=match):
        gi_ct(instrument, **kwargs)
    assert _positions(instrument) == before


def test_interlock_open_refuses_ct(RE, instrument, sim_pv):
    interlock = sim_pv("TUBE:InterlockOpen")
    interlock.put(1, wait=True)
    try:
        deadline = time.monotonic() + 5
        while instrument.tube.interlock_closed.get() and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(RuntimeError, match="interlock open"):
            gi_ct(instrument, angle_step_deg=5, range_deg=10, reference_every_deg=5)
    finally:
        interlock.put(0, wait=True)


def test_piezo_stall_stops_before_exposure_and_the_scan_is_repeated(RE, instrument, documents, sim_pv):
    stall = sim_pv("G2:Stall")
    # a stall only shows on a real move: start away from the first step (0 um), whatever ran before
    instrument.g2.set(instrument.profile.stepping.step_um / 2).wait(timeout=10)
    counter_before = instrument.camera.frame_counter.get()
    stall.put(1, wait=True)
    RE(phase_step(instrument, exposure_s=1.0))
    # the first step stalled: no frame was exposed at the wrong position; the repeat took them all
    steps = instrument.profile.stepping.steps
    assert instrument.camera.frame_counter.get() == counter_before + steps
    frames = [doc["data"] for name, doc in documents if name == "event" and "frame_step_index" in doc["data"]]
    assert len(frames) == steps and {f["frame_attempt"] for f in frames} == {1}
    (discarded,) = [doc["data"] for name, doc in documents if name == "event" and "discarded_cause" in doc["data"]]
    assert "G2 position error" in discarded["discarded_cause"]


def test_reference_scan_returns_sample(RE, instrument, documents):
    RE(reference_scan(instrument, exposure_s=1.0, angle_index=3))
    xs = [doc["data"]["sample_x_mm"] for name, doc in documents if name == "event" and "sample_x_mm" in doc["data"]]
    assert xs and all(x == pytest.approx(instrument.profile.sample_stage.out_mm) for x in xs)
    assert instrument.sample.position == pytest.approx(instrument.profile.sample_stage.in_mm)
