"""Soft settings: set at once, in a plan like any other setting, without a thread per set."""

from __future__ import annotations

import threading

import bluesky.plan_stubs as bps
from bluesky import RunEngine

from gi_instrument.devices.soft import SoftSetting


def test_set_takes_the_value_at_once_without_a_thread(monkeypatch):
    setting = SoftSetting(name="expected", value={})
    started = []
    monkeypatch.setattr(threading.Thread, "start", lambda self: started.append(self))
    status = setting.set({"angle": (1.0, 0.01)}, timeout=10.0)
    assert status.done and status.success
    assert setting.get() == {"angle": (1.0, 0.01)}
    assert started == []      # ophyd's Signal.set starts one per call


def test_a_plan_moves_it_with_bps_mv():
    index, stream = SoftSetting(name="frame_angle_index", value=-1), SoftSetting(name="scan_stream", value="")
    RunEngine({})(bps.mv(index, 7, stream, "reference", timeout=10.0))
    assert (index.get(), stream.get()) == (7, "reference")
