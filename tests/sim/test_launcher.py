"""Free ports for simulated IOCs: never the same port twice among processes sharing a registry."""

from __future__ import annotations

import subprocess
import sys

from gi_instrument.sim import launcher
from gi_instrument.sim.launcher import PORT_REGISTRY_ENV, free_port


def test_ports_in_the_registry_are_not_handed_out_again(tmp_path, monkeypatch):
    registry = tmp_path / "ports"
    monkeypatch.setenv(PORT_REGISTRY_ENV, str(registry))
    here = {free_port() for _ in range(20)}
    # another process sharing the registry (a parallel test worker, a subprocess)
    code = "from gi_instrument.sim.launcher import free_port; print(*(free_port() for _ in range(20)))"
    there = set(map(int, subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                        text=True).stdout.split()))
    assert len(here) == len(there) == 20 and not here & there
    assert sorted(map(int, registry.read_text().split())) == sorted(here | there)


def test_a_listed_port_is_passed_over(tmp_path, monkeypatch):
    registry = tmp_path / "ports"
    monkeypatch.setenv(PORT_REGISTRY_ENV, str(registry))
    taken = free_port()
    assert not launcher._register(registry, taken)          # listed: refused
    offered = []
    real = launcher._register
    monkeypatch.setattr(launcher, "_register", lambda path, port: (offered.append(port), real(path, port))[1]
                        and len(offered) > 1)               # the first candidate counts as listed
    port = free_port()
    assert len(offered) == 2 and port == offered[1] and port != taken


def test_without_a_registry_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.delenv(PORT_REGISTRY_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert 1024 < free_port() < 65536 and not list(tmp_path.iterdir())
