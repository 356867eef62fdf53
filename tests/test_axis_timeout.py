"""A move that the controller never completes fails as a PositionError naming the timeout (ophyd
refuses to relay its own StatusTimeoutError; the relay then raised inside ophyd's callback and the
move's status never finished)."""

from __future__ import annotations

import pytest
from ophyd.status import StatusBase, StatusTimeoutError

from gi_instrument.devices.axis import PositionError, PutCompletePositioner


def test_a_move_that_times_out_fails_as_a_position_error(monkeypatch):
    axis = PutCompletePositioner("NOWHERE:", name="rot")
    monkeypatch.setattr(axis, "check_value", lambda value: None)
    monkeypatch.setattr(axis, "move_timeout_s", lambda value, from_position=None: 0.05)
    monkeypatch.setattr(axis.setpoint, "set", lambda value, timeout: StatusBase(timeout=timeout))
    status = axis.set(12.0)
    with pytest.raises(PositionError, match=r"rot: move to 12.0 not done within") as info:
        status.wait(5)
    assert isinstance(info.value.__cause__, StatusTimeoutError)
