"""The bluesky plan stubs of a stepping scan's path, without their call-stack snapshot.

Each stub of ``bluesky.plan_stubs`` is wrapped in a ``bluesky.utils.Plan``, which formats the
whole call stack when the stub is called, to warn about a plan that is never iterated: ~0.7 ms
per call at a CT's plan depth, ~20 calls per stepping scan. The stubs here are bluesky's own
(``__wrapped__``: the same messages), and :func:`read_value` reads one signal with one message.
"""

from __future__ import annotations

import math
from typing import Any, Generator

import bluesky.plan_stubs as bps
from bluesky.utils import Msg

__all__ = ["mv", "checkpoint", "trigger", "read_value"]

mv = bps.mv.__wrapped__
"""``bluesky.plan_stubs.mv``: set every (object, value) pair together, then wait once for all."""
checkpoint = bps.checkpoint.__wrapped__
"""``bluesky.plan_stubs.checkpoint``."""
trigger = bps.trigger.__wrapped__
"""``bluesky.plan_stubs.trigger``."""


def read_value(signal: Any) -> Generator[Msg, Any, Any]:
    """The value of ``signal`` (one ``read`` message), like ``bluesky.plan_stubs.rd`` of a
    signal; NaN when the read was cancelled (a suspension): a check of it then fails."""
    reading = yield Msg("read", signal)
    if reading is None:
        return math.nan
    return reading[signal.name]["value"]
