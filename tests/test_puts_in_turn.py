"""Several settings in one set message: each put starts once the one before has completed."""

from __future__ import annotations

import pytest
from bluesky import RunEngine
from bluesky.utils import FailedStatus
from ophyd.status import Status

from gi_instrument.devices.puts_in_turn import PutsInTurn
from gi_instrument.plans.messages import mv


class _Slow:
    """A setting whose put completes only when the test says so."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log, self.status = name, log, Status()

    def set(self, value: float) -> Status:
        self.log.append(f"{self.name}={value}")
        return self.status


def test_each_put_waits_for_the_one_before():
    log: list[str] = []
    a, b = _Slow("a", log), _Slow("b", log)
    status = PutsInTurn("settings").set([(a, 1.0), (b, 2.0)])
    assert log == ["a=1.0"] and not status.done
    a.status.set_finished()
    assert log == ["a=1.0", "b=2.0"] and not status.done
    b.status.set_finished()
    status.wait(1)
    assert status.success


def test_a_failed_put_fails_the_status_and_stops_the_rest():
    log: list[str] = []
    a, b = _Slow("a", log), _Slow("b", log)
    status = PutsInTurn("settings").set([(a, 1.0), (b, 2.0)])
    a.status.set_exception(RuntimeError("refused"))
    with pytest.raises(RuntimeError, match="refused"):
        status.wait(1)
    assert log == ["a=1.0"]


def test_in_a_plan_one_set_and_one_wait():
    log: list[str] = []
    a = _Slow("a", log)
    a.status.set_finished()
    RE = RunEngine({})
    messages = []
    RE.msg_hook = lambda msg: messages.append(msg.command)
    RE(mv(PutsInTurn("settings"), [(a, 1.0)]))
    assert messages == ["set", "wait"] and log == ["a=1.0"]
    b = _Slow("b", log)
    b.status.set_exception(RuntimeError("refused"))
    with pytest.raises(FailedStatus):
        RE(mv(PutsInTurn("settings"), [(b, 2.0)]))
