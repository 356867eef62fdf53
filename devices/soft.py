"""Soft settings: client-side values a plan sets with ``bps.mv`` like any other setting."""

from __future__ import annotations

from typing import Any

from ophyd import Signal
from ophyd.status import Status

__all__ = ["SoftSetting"]


class SoftSetting(Signal):
    """A soft signal whose ``set`` takes the value at once and returns a finished status.

    ophyd's ``Signal.set`` starts a thread per call to wait for a settle time a soft value never
    needs; a stepping scan sets several of these (projection index, stream, expected X-ray
    state, ...), so that thread per value was a measurable part of the per-frame overhead.
    """

    def set(self, value: Any, *, timeout: float | None = None, settle_time: float | None = None,
            **kwargs: Any) -> Status:
        """Put ``value`` now; the status is already done (``timeout`` and ``settle_time``, which
        a soft value does not need, are accepted for ``bps.mv`` and ignored)."""
        self.put(value, **kwargs)
        status = Status(self)
        status.set_finished()
        return status
