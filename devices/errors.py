"""The faults of one try: the instrument did not do what a plan asked, this time.

A plan may repeat the stepping scan in which one of these was raised
(:func:`gi_instrument.plans.recovery.repeatable_scan`); any other exception (a bug, a callback
that failed, a refused argument) stops the plan as it is.
"""

from __future__ import annotations

__all__ = ["InstrumentFault"]


class InstrumentFault(RuntimeError):
    """A device ended an action in the wrong state (a position off its setpoint, a frame
    missing or exposed with a disturbed dose, a refused setting, a lost controller)."""
