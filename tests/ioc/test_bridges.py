"""Bridge IOCs against emulated controllers that misbehave: garbage, partial replies, silence, a
reboot, a cable pulled out and plugged back in."""

from __future__ import annotations

import math

import pytest
from caproto.sync.client import ErrorResponseReceived

from gi_instrument.pv_interface import CONTROLLER_LOST, Axis, Tube

pytestmark = pytest.mark.ioc

INVALID = 3


@pytest.fixture
def ca(bridges, ca_client):
    client = ca_client(bridges["ports"])
    for group in ("TUBE:", "G2:"):                       # first poll done
        client.wait_for(lambda: client.get(bridges["prefix"] + group + Tube.STATUS_RBV) == "OK")
    yield client
    for name in ("tube", "piezo"):                       # leave the controllers answering
        bridges[name].silent = False
        bridges[name].plug()
    client.wait_for(lambda: client.severity(bridges["prefix"] + "TUBE:" + Tube.VOLTAGE_RBV) == 0)
    client.wait_for(lambda: client.severity(bridges["prefix"] + "G2:" + Axis.POS_RBV) == 0)


def test_limits_are_enforced_before_the_controller(bridges, ca):
    t = bridges["prefix"] + "TUBE:"
    with pytest.raises(ErrorResponseReceived):
        ca.put(t + Tube.CURRENT, 1.6)                      # above MAAST's 1.5 mA
    assert "outside [0, 1.5] mA" in ca.get(t + Tube.STATUS_RBV)

    assert not [c for c in bridges["tube"].commands if c.startswith("CUR")]
    ca.put(t + Tube.CURRENT, 1.1)
    assert "CUR 1100" in bridges["tube"].commands
    assert ca.get(t + Tube.CURRENT) == pytest.approx(1.1)
    ca.put(t + Tube.CURRENT, 1.2)


@pytest.mark.parametrize("fault", ["garbage", "partial", "silence"])
def test_bad_replies_raise_the_alarm_then_clear(bridges, ca, fault):
    rbv = bridges["prefix"] + "TUBE:" + Tube.VOLTAGE_RBV
    status = bridges["prefix"] + "TUBE:" + Tube.STATUS_RBV
    # every reply spoilt until cleared: a single bad reply's alarm lasts one poll (50 ms), which a
    # loaded machine can miss between reading the severity and the values
    bridges["tube"].inject(fault, count=100_000)
    ca.wait_for(lambda: ca.severity(rbv) == INVALID)
    assert math.isnan(ca.get(rbv))                        # no stale value
    assert ca.get(status).startswith(CONTROLLER_LOST)
    bridges["tube"].clear_faults()
    ca.wait_for(lambda: ca.severity(rbv) == 0)            # the next poll answers: alarm cleared
    assert ca.get(status) == "OK" and not math.isnan(ca.get(rbv))


def test_controller_that_stops_answering(bridges, ca):
    t = bridges["prefix"] + "TUBE:"
    bridges["tube"].silent = True
    ca.wait_for(lambda: ca.severity(t + Tube.CURRENT_RBV) == INVALID)
    with pytest.raises(ErrorResponseReceived):
        ca.put(t + Tube.XRAY_ON, 1)                        # a command to a silent controller fails
    assert "no reply" in ca.get(t + Tube.STATUS_RBV)
    bridges["tube"].silent = False
    ca.wait_for(lambda: ca.severity(t + Tube.CURRENT_RBV) == 0)


def test_cable_pulled_and_plugged_back(bridges, ca):
    g2 = bridges["prefix"] + "G2:"
    ca.put(g2 + Axis.POS, 0.6)
    bridges["piezo"].unplug()
    ca.wait_for(lambda: ca.severity(g2 + Axis.POS_RBV) == INVALID)
    with pytest.raises(ErrorResponseReceived):
        ca.put(g2 + Axis.POS, 1.2)
    assert ca.get(g2 + Axis.STATUS_RBV).startswith(CONTROLLER_LOST)
    bridges["piezo"].plug()
    ca.wait_for(lambda: ca.severity(g2 + Axis.POS_RBV) == 0)
    assert ca.get(g2 + Axis.POS_RBV) == pytest.approx(0.6)  # the IOC reconnected by itself
    ca.put(g2 + Axis.POS, 1.2)
    assert ca.get(g2 + Axis.POS_RBV) == pytest.approx(1.2)


def test_reboots_come_back_with_servo_off_and_xrays_off(bridges, ca):
    t, g2 = bridges["prefix"] + "TUBE:", bridges["prefix"] + "G2:"
    ca.put(t + Tube.XRAY_ON, 1)
    bridges["tube"].reboot()
    ca.wait_for(lambda: ca.get(t + Tube.XRAY_ON_RBV) == 0 and ca.severity(t + Tube.XRAY_ON_RBV) == 0)
    bridges["piezo"].reboot()
    ca.wait_for(lambda: ca.get(g2 + Axis.STATUS_RBV).startswith("servo off"))
    with pytest.raises(ErrorResponseReceived):
        ca.put(g2 + Axis.POS, 0.6)
    assert "servo off" in ca.get(g2 + Axis.STATUS_RBV)
    piezo = bridges["piezo"].axes["1"]
    piezo.servo = piezo.referenced = True                 # the operator switches the servo back on
    ca.wait_for(lambda: ca.get(g2 + Axis.STATUS_RBV) == "OK")
    ca.put(g2 + Axis.POS, 0.6)
    assert ca.get(g2 + Axis.STATUS_RBV) == "OK"
