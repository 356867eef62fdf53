"""Retry budgets, failure descriptions, cleanup that never masks an error, the dose check, and
the profile's recovery settings; no IOC."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from bluesky import RunEngine
from bluesky.utils import Msg
from ophyd.utils.errors import DisconnectedError

from gi_instrument.devices.attempts import AttemptLog, RetryBudgetExceeded
from gi_instrument.devices.stepping_camera import beam_disturbance
from gi_instrument.devices.axis import PositionError
from gi_instrument.plans.recovery import ScanFailedError, cleanup_wrapper, describe_failure, repeatable_scan
from gi_instrument.profile import ProfileError, load_profile, profile_from_dict


def test_budget_per_scan_and_per_ct():
    log = AttemptLog(attempts_per_scan=2, repeats_per_ct=2)
    log.begin("primary", 3)
    log.discard("primary", 3, cause="arc", start_time=1.0, attempt=0, file="/f/primary_00003_a0.h5")
    log.begin("primary", 3)                                # the second try is allowed
    log.discard("primary", 3, cause="stall", start_time=2.0)
    with pytest.raises(RetryBudgetExceeded, match=r"primary stepping scan of projection 3 failed 2 times.*arc.*stall"):
        log.begin("primary", 3)
    log.begin("reference", 5)                              # another scan has its own budget ...
    log.discard("reference", 5, cause="arc", start_time=3.0)
    with pytest.raises(RetryBudgetExceeded, match="3 stepping scans repeated in this CT"):
        log.begin("primary", 4)                            # ... but the CT's is spent
    discarded, suspensions = log.take_new()
    assert [d.attempt for d in discarded] == [0, -1, -1] and suspensions == []
    assert log.take_new() == ([], [])                      # each record is handed out once


def test_suspensions_are_recorded_when_they_end():
    log = AttemptLog(3, 10)
    log.suspended("interlock open", "primary", 7)
    assert log.take_new() == ([], [])
    log.resumed()
    (suspension,) = log.take_new()[1]
    assert (suspension.cause, suspension.stream, suspension.angle_index) == ("interlock open", "primary", 7)
    assert suspension.end_time >= suspension.start_time


def test_failures_are_described_with_their_cause():
    assert "IOC restart" in describe_failure(DisconnectedError("GI:CAM:Acquire"))
    assert describe_failure(TimeoutError("move took too long")).startswith("timed out")
    # ophyd's words for a put to a PV whose IOC was restarting
    refused = TimeoutError("GI:CAM:FileName could not connect within 1.0-second timeout.")
    assert describe_failure(refused).startswith("Channel Access connection lost")
    assert describe_failure(ValueError("bad")) == "ValueError: bad"


def test_a_failing_cleanup_never_masks_the_error():
    def body():
        yield Msg("null")
        raise RuntimeError("rotation timed out")

    def cleanup():
        yield Msg("null")
        raise RuntimeError("cleanup move failed")

    with pytest.raises(RuntimeError, match="rotation timed out") as err:
        RunEngine({})(cleanup_wrapper(body(), cleanup))
    assert any("cleanup move failed" in note for note in err.value.__notes__)
    with pytest.raises(RuntimeError, match="cleanup move failed"):    # no error before: cleanup's shows
        RunEngine({})(cleanup_wrapper(iter([Msg("null")]), cleanup))


class FakeCamera:
    """What repeatable_scan asks of the camera: its attempt log and the three abandon steps."""

    def __init__(self, log: AttemptLog) -> None:
        self.attempt_log = log
        self.calls: list[str] = []

    def pause(self):
        self.calls.append("pause")

    def note_interruption(self, cause):
        self.calls.append(f"note {cause}")

    def abandon(self, cause):
        self.calls.append(f"abandon {cause}")


def fake_instrument(attempts_per_scan=3):
    camera = FakeCamera(AttemptLog(attempts_per_scan, 10))
    return SimpleNamespace(camera=camera, devices=[SimpleNamespace(name="rotation", connected=True)])


def failing(errors):
    """An attempt that raises the next of ``errors`` (None: succeeds) and counts its tries."""
    tries = []

    def attempt():
        tries.append(len(tries))
        yield Msg("null")
        error = errors[len(tries) - 1]
        if error is not None:
            raise error
        return "frames"
    return attempt, tries


def test_a_fault_of_one_try_is_repeated_within_the_budget():
    inst = fake_instrument()
    attempt, tries = failing([PositionError("rotation 3.1 deg, setpoint 3.0 deg"), None])
    assert RunEngine({}, call_returns_result=True)(repeatable_scan(inst, "primary", 4, attempt)).plan_result == "frames"
    assert len(tries) == 2
    (record,) = inst.camera.attempt_log.discarded
    assert (record.stream, record.angle_index) == ("primary", 4) and "setpoint" in record.cause
    inst = fake_instrument(attempts_per_scan=2)
    attempt, tries = failing([PositionError("stall")] * 3)
    with pytest.raises(ScanFailedError, match="primary projection 4: .*failed 2 times"):
        RunEngine({})(repeatable_scan(inst, "primary", 4, attempt))
    assert len(tries) == 2


def test_any_other_error_stops_the_plan_without_a_repeat():
    """A failing callback or a bug is not a fault of the instrument: repeating the scan could
    deliver its events twice."""
    inst = fake_instrument()
    attempt, tries = failing([RuntimeError("a callback failed"), None])
    with pytest.raises(RuntimeError, match="a callback failed"):
        RunEngine({})(repeatable_scan(inst, "primary", 4, attempt))
    assert len(tries) == 1 and inst.camera.calls == [] and inst.camera.attempt_log.discarded == []


ROW = {"tube_xray_on": 1, "tube_arc": 0, "tube_interlock_open": 0, "tube_voltage_set_kV": 50.0,
       "tube_current_set_mA": 1.2, "tube_voltage_min_kV": 49.8, "tube_voltage_max_kV": 50.1,
       "tube_current_min_mA": 1.19, "tube_current_max_mA": 1.21}


@pytest.mark.parametrize("change, reason", [
    ({}, ""),
    ({"tube_arc": 1, "tube_xray_on": 0}, "arc"),
    ({"tube_interlock_open": 1}, "interlock open"),
    ({"tube_xray_on": 0}, "X-rays off"),
    ({"tube_voltage_min_kV": 40.0}, "voltage 40..50.1 kV outside 2 % of 50 kV"),
    ({"tube_current_max_mA": math.nan}, "current"),
])
def test_dose_of_a_frame(change, reason):
    got = beam_disturbance({**ROW, **change}, True, 2.0)
    assert (got.startswith(reason) if reason else got == "")


def test_dark_frames_want_the_xrays_off():
    assert beam_disturbance({**ROW, "tube_xray_on": 0}, False, 2.0) == ""
    assert beam_disturbance(ROW, False, 2.0) == "X-rays on"


@pytest.mark.parametrize("key, value", [("attempts_per_scan", 0), ("settle_s", -1.0), ("watchdog_timeout_s", 0.0),
                                        ("beam_tolerance_pct", "2 %"), ("repeats_per_ct", 1.5)])
def test_recovery_settings_are_validated(key, value):
    data = load_profile("maast").to_dict()
    data["recovery"][key] = value
    with pytest.raises(ProfileError, match=rf"\[recovery.{key}\]"):
        profile_from_dict(data, "bad.toml")


def test_a_run_recorded_before_recovery_settings_existed_still_loads():
    data = load_profile("maast").to_dict()
    del data["recovery"]
    assert profile_from_dict(data).recovery.attempts_per_scan >= 1
