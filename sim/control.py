"""IOC-wide controls of the simulator itself: a restart on demand (fault rehearsal)."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Callable

from caproto.server import PVGroup, pvproperty

from gi_instrument.pv_interface import SimControl as Interface

__all__ = ["SimControl"]


class SimControl(PVGroup):
    """``Restart`` (put a downtime in real s): the IOC process replaces itself (same PID, same
    port) and serves again after the downtime, with all PVs back at their start-up values, as a
    real IOC does after a crash and reboot. ``on_restart`` runs first (close open files); the
    new process goes on from the physical state ``world_state()`` gives (JSON,
    :mod:`gi_instrument.sim.world`): time, stage positions and tube do not restart with it."""

    restart = pvproperty(name=Interface.RESTART, value=0.0, units="s")

    def __init__(self, *args, argv: list[str], on_restart: Callable[[], None], world_state: Callable[[], str],
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._argv = argv
        self._on_restart, self._world_state = on_restart, world_state

    @restart.putter
    async def restart(self, instance, value: float) -> float:
        if not 0 <= value <= 600:
            raise ValueError(f"Restart downtime must be in [0, 600] s, got {value}")
        asyncio.get_running_loop().call_later(0.05, self._exec, value)
        return value

    def _exec(self, downtime_s: float) -> None:
        self._on_restart()
        world = self._world_state()
        sys.stdout.flush()
        argv = [a for a in self._argv if not a.startswith(("--start-delay", "--world-state"))]
        os.execv(sys.executable, [sys.executable, "-m", "gi_instrument.sim.ioc", *argv,
                                  f"--start-delay={downtime_s}", f"--world-state={world}"])
