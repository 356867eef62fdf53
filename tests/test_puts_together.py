"""Several settings in one set message: all puts in flight together, one status for all."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
from bluesky import RunEngine
from bluesky.utils import FailedStatus
from ophyd.status import Status

from gi_instrument.devices.puts_together import PutsTogether
from gi_instrument.plans.messages import mv


class _Slow:
    """A setting whose put completes only when the test says so."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log, self.status = name, log, Status()

    def set(self, value: float) -> Status:
        self.log.append(f"{self.name}={value}")
        return self.status


def test_all_puts_start_at_once_and_the_status_waits_for_the_last():
    log: list[str] = []
    a, b = _Slow("a", log), _Slow("b", log)
    status = PutsTogether("settings").set([(a, 1.0), (b, 2.0)])
    assert log == ["a=1.0", "b=2.0"] and not status.done
    b.status.set_finished()
    assert not status.done
    a.status.set_finished()
    status.wait(1)
    assert status.success


def test_a_failed_put_fails_the_status():
    log: list[str] = []
    a, b = _Slow("a", log), _Slow("b", log)
    status = PutsTogether("settings").set([(a, 1.0), (b, 2.0)])
    a.status.set_exception(RuntimeError("refused"))
    with pytest.raises(RuntimeError, match="refused"):
        status.wait(1)
    b.status.set_finished()     # the other put completing later changes nothing
    assert status.done and not status.success


def test_a_put_that_cannot_start_fails_the_status():
    class Gone:
        name = "gone"

        def set(self, value: float) -> Status:
            raise TimeoutError("gone could not connect")

    log: list[str] = []
    a = _Slow("a", log)
    status = PutsTogether("settings").set([(a, 1.0), (Gone(), 2.0)])
    with pytest.raises(TimeoutError, match="could not connect"):
        status.wait(1)


def test_in_a_plan_one_set_and_one_wait():
    log: list[str] = []
    a = _Slow("a", log)
    a.status.set_finished()
    RE = RunEngine({})
    messages = []
    RE.msg_hook = lambda msg: messages.append(msg.command)
    RE(mv(PutsTogether("settings"), [(a, 1.0)]))
    assert messages == ["set", "wait"] and log == ["a=1.0"]
    b = _Slow("b", log)
    b.status.set_exception(RuntimeError("refused"))
    with pytest.raises(FailedStatus):
        RE(mv(PutsTogether("settings"), [(b, 2.0)]))


def test_the_ioc_circuits_send_without_waiting_for_acknowledgements(monkeypatch):
    """The IOCs' server (gi_instrument.ca_server) turns Nagle's algorithm off on each client
    circuit: with it on, the third of several puts in flight together waited ~40 ms for the
    client's delayed TCP acknowledgement."""
    from caproto.server import PVGroup, pvproperty

    from gi_instrument.ca_server import LOOPBACK, ca_context, server_env
    from gi_instrument.sim.launcher import free_port

    class Group(PVGroup):
        value = pvproperty(value=1.0)

    for key, value in server_env(free_port(), LOOPBACK).items():
        monkeypatch.setenv(key, value)
    started: dict = {}

    async def run() -> None:
        started["context"] = context = ca_context(Group(prefix="NODELAY:").pvdb, LOOPBACK)
        started["loop"] = asyncio.get_running_loop()
        started["task"] = asyncio.current_task()
        await context.run()

    thread = threading.Thread(target=lambda: asyncio.run(run()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    context = None
    while time.monotonic() < deadline and not getattr(context := started.get("context"), "port", None):
        time.sleep(0.01)
    try:
        with socket.create_connection((LOOPBACK, context.port), timeout=5):
            while time.monotonic() < deadline and not context.circuits:
                time.sleep(0.01)
            (circuit,) = context.circuits
            sock = circuit.client.writer.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        started["loop"].call_soon_threadsafe(started["task"].cancel)
        thread.join(timeout=10)
