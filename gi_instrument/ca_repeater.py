"""The Channel Access repeater: one per machine, on ``EPICS_CA_REPEATER_PORT`` (default 5065).

CA clients register with it to hear IOC beacons, and IOCs send their beacons to it. Without one,
pyepics's libca tries to start the ``caRepeater`` executable, which its wheel does not ship
("The executable caRepeater couldn't be located"), and a caproto IOC logs a traceback for every
beacon it cannot deliver. :func:`ensure_repeater` starts caproto's repeater (pure Python) when
none is listening: for a client detached, like EPICS's ``caRepeater``, so it keeps running for
later clients and IOCs; ``gi-sim-ioc`` stops the one it started when it exits.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

__all__ = ["DEFAULT_REPEATER_PORT", "repeater_port", "repeater_running", "ensure_repeater"]

DEFAULT_REPEATER_PORT = 5065


def repeater_port() -> int:
    """``EPICS_CA_REPEATER_PORT`` or 5065."""
    return int(os.environ.get("EPICS_CA_REPEATER_PORT", DEFAULT_REPEATER_PORT))


def repeater_running(port: int) -> bool:
    """True when a UDP socket is bound to ``port`` on this machine (a repeater listens there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def ensure_repeater(port: int | None = None, *, detach: bool = True,
                    timeout_s: float = 5.0) -> subprocess.Popen | None:
    """Start caproto's repeater on ``port`` (default :func:`repeater_port`) unless one runs there;
    with ``detach`` in a session of its own, so it outlives this process. Returns the process
    started, or None if a repeater was already running."""
    port = repeater_port() if port is None else port
    if repeater_running(port):
        return None
    proc = subprocess.Popen([sys.executable, "-m", "caproto.commandline.repeater", "-q"],
                            env={**os.environ, "EPICS_CA_REPEATER_PORT": str(port)}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=detach)
    deadline = time.monotonic() + timeout_s
    while not repeater_running(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the CA repeater did not start on port {port}")
        time.sleep(0.05)
    return proc
