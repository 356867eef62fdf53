"""The simulated instrument's physical world, carried across a restart of its IOC process.

``SIM:Restart`` replaces the IOC process (a crash and reboot of the control software): every PV
comes back at its start-up value, as on a real IOC. The world those PVs control does not restart:
time goes on (and with it the fringe drift), the stages stay where they are, a warm tube stays
warm (a cold one cold), an open interlock stays open, and the noise of the next frames is new
noise, not a replay of the first frames'. :class:`WorldState` is that state, captured by the old
process and handed to the new one on its command line (``--world-state``, JSON).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["WorldState"]


@dataclass(frozen=True)
class WorldState:
    """The physical state at one moment (``wall_s``, s since the epoch).

    ``nominal_s``: instrument time, nominal s (:meth:`SimClock.now_s
    <gi_instrument.sim.clock.SimClock.now_s>`); ``rotation_deg``, ``sample_mm``, ``g2_um``: stage
    positions (readbacks); ``tube_warmed_up``, ``interlock_open``: the tube; ``noise``: the state
    of each random generator that draws noise (numpy ``bit_generator.state``, by name).
    """

    nominal_s: float
    wall_s: float
    rotation_deg: float
    sample_mm: float
    g2_um: float
    tube_warmed_up: bool
    interlock_open: bool
    noise: dict[str, dict[str, Any]] = field(default_factory=dict)

    def nominal_now_s(self) -> float:
        """Instrument time now, nominal s: while no IOC runs, nothing is exposing or moving, so
        time goes on at the real rate (as :class:`~gi_instrument.sim.clock.SimClock` counts the
        time between sleeps)."""
        return self.nominal_s + max(0.0, time.time() - self.wall_s)

    def to_json(self) -> str:
        """One line of JSON (:meth:`from_json` reads it back)."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> WorldState:
        """The state :meth:`to_json` wrote; ValueError naming what is wrong otherwise."""
        try:
            values = json.loads(text)
            return cls(**values)
        except (json.JSONDecodeError, TypeError) as exc:
            raise ValueError(f"not a world state: {exc}") from None
