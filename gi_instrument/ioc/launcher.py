"""Start a bridge IOC (``gi-ioc``) in a subprocess on free loopback ports, like
:class:`gi_instrument.sim.launcher.SimIOC` does for the simulator (tests, rehearsals)."""

from __future__ import annotations

import sys
from pathlib import Path

from gi_instrument.sim.launcher import SimIOC

__all__ = ["BridgeIOC"]


class BridgeIOC(SimIOC):
    """``gi-ioc KIND --driver DRIVER --port URL`` on a free Channel Access port; a context manager.

    ``args`` are further ``gi-ioc`` options (``--stage sample``, ``--axis 2``, ``--poll-s 0.05``).
    """

    def __init__(self, kind: str, driver: str, url: str, *, prefix: str | None = None, profile: str = "maast",
                 args: tuple[str, ...] = (), log_path: str | Path | None = None, port: int | None = None) -> None:
        super().__init__(profile, prefix=prefix, log_path=log_path, extra_args=args, port=port)
        self.kind, self.driver, self.url = kind, driver, url

    def command(self) -> list[str]:
        return [sys.executable, "-m", "gi_instrument.ioc.cli", self.kind, "--driver", self.driver, "--port", self.url,
                "--prefix", self.prefix, "--profile", self.profile, "--ca-port", str(self.port), *self.extra_args]
