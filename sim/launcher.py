"""Start and stop the simulated IOC in a subprocess on free loopback ports.

Used by ``gi-demo``, the tests and the benchmarks, so each run gets its own Channel Access port
and repeater port and two runs on one machine never collide. The Channel Access client settings
of *this* process are pointed at that IOC (:meth:`SimIOC.client_env`); set them before the first
PV connects (pyepics reads them when its context starts).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import TracebackType

from gi_instrument.sim.ioc import LOOPBACK, server_env

__all__ = ["SimIOC", "free_port", "PORT_REGISTRY_ENV", "disconnect_clients"]


PORT_REGISTRY_ENV = "GI_PORT_REGISTRY"
"""Environment variable: a file shared by processes that pick free ports at the same time (the
test suite's parallel workers and their subprocesses). A port picked by :func:`free_port` is
appended to it and never handed out again while the file exists: between being picked and being
bound (an IOC started later), a port is free, and another process could pick it too."""


def free_port(host: str = LOOPBACK) -> int:
    """A port that is free for both TCP and UDP on ``host`` (Channel Access uses both), and not
    handed out before through the file named by ``$GI_PORT_REGISTRY`` (if set)."""
    registry = os.environ.get(PORT_REGISTRY_ENV)
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
            if registry is None or _register(Path(registry), port):
                return port
    raise RuntimeError("no free TCP+UDP port on loopback")


def _register(registry: Path, port: int) -> bool:
    """Append ``port`` to the registry file unless it is listed already (under an exclusive lock)."""
    import fcntl

    with open(registry, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        if str(port) in f.read().split():
            return False
        f.write(f"{port}\n")
        return True


def disconnect_clients() -> None:
    """Close this process's Channel Access client (pyepics) before the IOC stops, so no
    "Virtual circuit disconnect" warnings are printed."""
    from epics import ca

    ca.finalize_libca()


class SimIOC:
    """``gi-sim-ioc`` (and a CA repeater) as subprocesses; use as a context manager.

    ``prefix`` defaults to a unique ``GISIM<hex>:`` so stray clients never reach the wrong IOC.
    ``log_path`` receives the IOC's output (default: discarded); ``extra_args`` are appended to
    the command line (e.g. ``("--camera-layout", "areadetector")``); ``port``: the Channel Access
    port (default: a free one). ``data_root``: the camera writes only below it (default: the IOC's
    default, ``$GI_DATA_DIR`` or ``~/gi-data``).
    """

    def __init__(self, profile: str = "maast", *, prefix: str | None = None, time_scale: float = 0.001,
                 binning: int = 8, seed: int = 0, log_path: str | Path | None = None,
                 extra_args: tuple[str, ...] = (), port: int | None = None,
                 data_root: str | Path | None = None) -> None:
        self.data_root = data_root
        self.profile = profile
        self.prefix = prefix or f"GISIM{uuid.uuid4().hex[:6]}:"
        self.time_scale = time_scale
        self.binning = binning
        self.seed = seed
        self.log_path = Path(log_path) if log_path else None
        self.extra_args = list(extra_args)
        self.port = port or free_port()
        self.repeater_port = free_port()
        self._procs: list[subprocess.Popen] = []

    @property
    def pid(self) -> int | None:
        """Process id of the running IOC (None when stopped)."""
        return self._procs[-1].pid if self._procs else None

    def client_env(self) -> dict[str, str]:
        """Channel Access client variables that reach this IOC only."""
        return {
            "EPICS_CA_ADDR_LIST": f"{LOOPBACK}:{self.port}",
            "EPICS_CA_AUTO_ADDR_LIST": "NO",
            "EPICS_CA_REPEATER_PORT": str(self.repeater_port),
            "EPICS_CA_SERVER_PORT": str(self.port),
        }

    def apply_client_env(self) -> None:
        """Point this process's Channel Access client at the IOC (before the first PV connects)."""
        os.environ.update(self.client_env())

    def command(self) -> list[str]:
        """The IOC's command line."""
        return [sys.executable, "-m", "gi_instrument.sim.ioc", "--profile", self.profile, "--prefix", self.prefix,
                "--port", str(self.port), "--time-scale", str(self.time_scale), "--binning", str(self.binning),
                "--seed", str(self.seed), *self.extra_args,
                *(["--data-root", str(self.data_root)] if self.data_root is not None else [])]

    def start(self, timeout_s: float = 30.0) -> "SimIOC":
        """Spawn the repeater and the IOC; return once the IOC accepts connections."""
        env = {**os.environ, **server_env(self.port, LOOPBACK),
               "EPICS_CA_REPEATER_PORT": str(self.repeater_port)}
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self._procs.append(subprocess.Popen(
            [sys.executable, "-m", "caproto.commandline.repeater", "-q"], env=env,
            stdout=out, stderr=subprocess.STDOUT))
        self._procs.append(subprocess.Popen(self.command(), env=env, stdout=out, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + timeout_s
        ioc = self._procs[-1]
        while time.monotonic() < deadline:
            if ioc.poll() is not None:
                self.stop()
                raise RuntimeError(f"{self.command()[2]} exited with code {ioc.returncode}: {self._last_log_line()}")
            try:
                with socket.create_connection((LOOPBACK, self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"gi-sim-ioc did not listen on {LOOPBACK}:{self.port} within {timeout_s} s")

    def _last_log_line(self) -> str:
        """The last line the IOC wrote (its error), or where to look."""
        if self.log_path is None or not self.log_path.is_file():
            return "no log (log_path not set)"
        lines = [line for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]
        return f"{lines[-1].strip() if lines else 'no output'} (log: {self.log_path})"

    def stop(self) -> None:
        """Terminate the IOC and the repeater (idempotent)."""
        for proc in reversed(self._procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._procs.clear()

    def __enter__(self) -> "SimIOC":
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
