"""Bridge IOCs (``gi-ioc`` subprocesses) in front of emulated controllers, and a Channel Access
client that reaches any set of IOCs (the caproto threading client reads the address list when
its context is made, so it does not disturb the pyepics context of the other tests)."""

from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, Iterator

import pytest

from gi_instrument.emulators import KouTubeEmulator, PIGCSEmulator
from gi_instrument.ioc.launcher import BridgeIOC
from gi_instrument.profile import load_profile

POLL = ("--poll-s", "0.05", "--timeout-s", "0.3")


class CAClient:
    """get / put / alarm of PVs on the IOCs listening on ``ports`` (loopback)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, ports: list[int]) -> None:
        from caproto.threading.client import Context

        monkeypatch.setenv("EPICS_CA_ADDR_LIST", " ".join(f"127.0.0.1:{p}" for p in ports))
        monkeypatch.setenv("EPICS_CA_AUTO_ADDR_LIST", "NO")
        self.context = Context()
        self._pvs: dict[str, Any] = {}

    def pv(self, name: str) -> Any:
        if name not in self._pvs:
            pv, = self.context.get_pvs(name, timeout=5)
            pv.wait_for_connection(timeout=5)
            self._pvs[name] = pv
        return self._pvs[name]

    def pvs(self, names: list[str]) -> list[Any]:
        """Connect many PVs at once."""
        new = [n for n in names if n not in self._pvs]
        for name, pv in zip(new, self.context.get_pvs(*new, timeout=5)):
            self._pvs[name] = pv
        for name in names:
            self._pvs[name].wait_for_connection(timeout=5)
        return [self._pvs[n] for n in names]

    def get(self, name: str) -> Any:
        data = self.pv(name).read(timeout=5).data
        if getattr(data, "dtype", None) is not None and data.dtype.kind == "u" or name.endswith("Status_RBV"):
            return bytes(data).rstrip(b"\0").decode()
        return data[0] if len(data) == 1 else data

    def severity(self, name: str) -> int:
        return int(self.pv(name).read(data_type="time", timeout=5).metadata.severity)

    def put(self, name: str, value: Any, timeout: float = 10) -> None:
        """Put and wait for completion; a refused put raises ``ErrorResponseReceived``."""
        from caproto.sync.client import write

        write(name, value if isinstance(value, str) else [value], notify=True, timeout=timeout)

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not reached")
            time.sleep(0.05)

    def close(self) -> None:
        self.context.disconnect()


@contextlib.contextmanager
def bridge_setup(tmp_path, port: Callable[[], int | None] = lambda: None) -> Iterator[dict[str, Any]]:
    """Emulated tube, piezo, rotation and sample controllers, each behind its ``gi-ioc`` (on the
    Channel Access ports ``port()`` gives; default free ones), under one prefix. Yields
    ``{"prefix", "ports", "iocs", "tube", "piezo", "rotation", "sample"}`` (emulators)."""
    profile = load_profile("maast")
    s, stage = profile.source, profile.sample_stage
    tube = KouTubeEmulator(max_kV=s.max_voltage_kV, max_uA=s.max_current_mA * 1e3, max_W=s.max_power_W,
                           warmup_s=s.warmup_s, time_scale=1e-4).start()
    tube.kV, tube.uA = round(s.voltage_kV), round(s.current_mA * 1e3)
    piezo = PIGCSEmulator(limits=(0.0, 100.0), velocity=1e4, time_scale=1e-4).start()
    rotation = PIGCSEmulator(limits=(-720.0, 720.0), velocity=10.0, time_scale=1e-4).start()
    sample = PIGCSEmulator(limits=(stage.min_mm, stage.max_mm), velocity=5.0, time_scale=1e-4).start()
    prefix = f"GIBR{int(time.time() * 1000) % 100000}:"
    iocs = [BridgeIOC("tube", "kou", tube.url, prefix=prefix, args=POLL, log_path=tmp_path / "tube.log", port=port()),
            BridgeIOC("piezo", "pi-gcs", piezo.url, prefix=prefix, args=POLL, log_path=tmp_path / "piezo.log", port=port()),
            BridgeIOC("stage", "pi-gcs", rotation.url, prefix=prefix, args=(*POLL, "--stage", "rotation"),
                      log_path=tmp_path / "rot.log", port=port()),
            BridgeIOC("stage", "pi-gcs", sample.url, prefix=prefix, args=(*POLL, "--stage", "sample"),
                      log_path=tmp_path / "sample.log", port=port())]
    try:
        for ioc in iocs:
            ioc.start()
        yield {"prefix": prefix, "ports": [ioc.port for ioc in iocs], "iocs": iocs, "tube": tube, "piezo": piezo,
               "rotation": rotation, "sample": sample}
    finally:
        for ioc in iocs:
            ioc.stop()
        for emulator in (tube, piezo, rotation, sample):
            emulator.stop()


@pytest.fixture(scope="module")
def bridges(tmp_path_factory):
    with bridge_setup(tmp_path_factory.mktemp("bridges")) as setup:
        yield setup


@pytest.fixture
def ca_client(monkeypatch):
    """``ca_client(ports)``: a :class:`CAClient` reaching the IOCs on those ports (closed after the test)."""
    clients: list[CAClient] = []

    def make(ports: list[int]) -> CAClient:
        clients.append(CAClient(monkeypatch, ports))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture(scope="session")
def make_bridges():
    """:func:`bridge_setup`, for fixtures that need the bridges on their own ports."""
    return bridge_setup
