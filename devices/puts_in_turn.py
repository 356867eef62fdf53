"""Several settings as one ``set``: each put after the previous one completed, one status for all."""

from __future__ import annotations

from typing import Any

from ophyd.status import Status, StatusBase

__all__ = ["PutsInTurn"]


class PutsInTurn:
    """A movable whose value is a list of (signal, value) pairs: ``set`` puts each once the one
    before has completed, and its status finishes when the last has (or fails with the first
    failure). A plan sets them all with one ``set`` and one ``wait`` message.

    In turn, not together: Channel Access puts in flight together on one circuit are slower than
    one after the other (with the caproto IOC, one of them often completes only after ~40 ms, the
    signature of a delayed TCP acknowledgement, where each alone takes about one round trip, ~1 ms).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.parent = None

    def set(self, settings: list[tuple[Any, Any]]) -> Status:
        """Put the ``settings`` in turn; the status is done when all are."""
        status = Status(self)
        remaining = list(settings)

        def put_next(previous: StatusBase | None = None) -> None:
            failure = previous.exception() if previous is not None else None
            if failure is not None:
                status.set_exception(failure)
            elif not remaining:
                status.set_finished()
            else:
                signal, value = remaining.pop(0)
                try:
                    signal.set(value).add_callback(put_next)
                except Exception as exc:    # e.g. the signal's IOC is gone
                    status.set_exception(exc)

        put_next()
        return status
