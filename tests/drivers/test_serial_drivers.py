"""The pyserial drivers against their emulators: typed values, and every kind of bad reply
raises ControllerError naming the command and the reply."""

from __future__ import annotations

import time

import pytest

from gi_instrument.drivers import ControllerError, KouTube, PIGCSAxis, SerialLink
from gi_instrument.emulators import KouTubeEmulator, PIGCSEmulator


@pytest.fixture
def tube_emulator():
    with KouTubeEmulator(max_kV=60, max_uA=1500, max_W=75, warmup_s=100, time_scale=1e-3) as emulator:
        yield emulator


@pytest.fixture
def tube(tube_emulator):
    driver = KouTube.open(tube_emulator.url, timeout_s=0.3)
    yield driver
    driver.link.close()


@pytest.fixture
def pi_emulator():
    with PIGCSEmulator(axes=("1",), limits=(0.0, 50.0), velocity=1000.0, time_scale=1e-3) as emulator:
        yield emulator


@pytest.fixture
def piezo(pi_emulator):
    driver = PIGCSAxis.open(pi_emulator.url, timeout_s=0.3)
    yield driver
    driver.link.close()


def test_tube_settings_in_controller_units(tube, tube_emulator):
    tube.set_voltage(50.0)
    tube.set_current(1.2)
    assert tube_emulator.commands[-2:] == ["HIV 50", "CUR 1200"]     # kV and uA on the wire
    tube.xray_on()
    status = tube.status()
    assert (status.state, status.xray_on, status.interlock_closed) == ("X-rays on", True, True)
    assert status.voltage_kV == pytest.approx(50.0) and status.current_mA == pytest.approx(1.2)
    tube.xray_off()
    assert tube.status().current_mA == 0.0


def test_tube_refusals_name_the_reason(tube, tube_emulator):
    tube.set_voltage(50.0)
    with pytest.raises(ControllerError, match=r"'CUR 1600'.*value out of range.*'ERR 2'"):
        tube.set_current(1.6)                                  # 80 W > 75 W
    tube_emulator.interlock_closed = False
    with pytest.raises(ControllerError, match="'XON'.*interlock open"):
        tube.xray_on()
    assert tube.status().state == "interlock open"
    tube_emulator.interlock_closed = True
    tube_emulator.cold_start()
    with pytest.raises(ControllerError, match="not warmed up"):
        tube.xray_on()
    tube.warm_up()
    assert tube.state() == "warming up"


@pytest.mark.parametrize("fault, why", [("garbage", "garbled reply"), ("partial", "partial reply"),
                                        ("silence", "no reply within 0.3 s")])
def test_bad_replies_raise_and_the_link_recovers(tube, tube_emulator, fault, why):
    tube.set_voltage(40.0)
    tube_emulator.inject(fault)
    with pytest.raises(ControllerError, match=f"command 'STS': {why}") as info:
        tube.state()
    assert info.value.command == "STS"
    assert tube.status().voltage_setpoint_kV == pytest.approx(40.0)   # next exchange is clean


def test_wrong_reply_is_not_taken(tube, tube_emulator):
    tube_emulator.handle = lambda line: "SPV 12"                      # a reply to another command
    with pytest.raises(ControllerError, match="expected a reply starting 'STS'"):
        tube.state()


def test_cable_pulled_and_plugged_back(tube, tube_emulator):
    tube.set_voltage(45.0)
    tube_emulator.unplug()
    with pytest.raises(ControllerError):
        tube.state()
    with pytest.raises(ControllerError, match="cannot open the port"):
        tube.state()
    tube_emulator.plug()
    assert tube.status().voltage_setpoint_kV == pytest.approx(45.0)


def test_reboot_comes_back_with_xrays_off(tube, tube_emulator):
    tube.set_voltage(45.0)
    tube.xray_on()
    tube_emulator.reboot()
    with pytest.raises(ControllerError):
        tube.state()                                           # the old connection is gone
    assert tube.status().xray_on is False


def test_echo_is_stripped(tube_emulator):
    link = SerialLink("loop://", timeout_s=0.2, echo=True)    # loop:// sends every command back
    link.send("XON")                                          # the echo is consumed, nothing is left
    with pytest.raises(ControllerError, match="no reply"):
        link.query("XON")                                     # echo, then no reply
    echoing = KouTube.open(tube_emulator.url, timeout_s=0.3, echo=True)
    with pytest.raises(ControllerError, match="expected the command's echo"):
        echoing.state()                                       # this controller does not echo
    echoing.link.close()


def test_gcs_axis(piezo, pi_emulator):
    assert "GCS emulator" in piezo.identify()
    assert piezo.travel_limits() == (0.0, 50.0)
    assert piezo.servo_on() and piezo.referenced()
    piezo.move(1.5)
    assert pi_emulator.commands[-2:] == ["MOV 1 1.500000", "ERR?"]   # every command is checked
    deadline = time.monotonic() + 2
    while not piezo.on_target():
        assert time.monotonic() < deadline
    assert piezo.position() == pytest.approx(1.5)


def test_gcs_refusals_and_reboot(piezo, pi_emulator):
    with pytest.raises(ControllerError, match=r"'MOV 1 60.000000'.*position out of limits"):
        piezo.move(60.0)
    pi_emulator.reboot()
    with pytest.raises(ControllerError):
        piezo.position()
    assert piezo.servo_on() is False                          # came back with the servo off
    with pytest.raises(ControllerError, match="servo off"):
        piezo.move(1.0)
    piezo.set_servo(True)
    piezo.reference()
    piezo.move(1.0)


def test_gcs_multiline_and_malformed_replies(piezo, pi_emulator):
    pi_emulator.idn = "line one \nline two"
    assert piezo.identify() == "line one\nline two"
    pi_emulator.handle = lambda line: "2=1.0"                 # another axis answers
    with pytest.raises(ControllerError, match="expected '1=<value>'"):
        piezo.position()
    pi_emulator.handle = lambda line: "1=abc"
    with pytest.raises(ControllerError, match="expected a number"):
        piezo.position()
