"""Several settings as one ``set``: all puts in flight together, one status for all."""

from __future__ import annotations

import threading
from typing import Any

from ophyd.status import Status, StatusBase

__all__ = ["PutsTogether"]


class PutsTogether:
    """A movable whose value is a list of (signal, value) pairs: ``set`` starts every put at once
    and its status finishes when all have completed, or fails with the first failure (the other
    puts still complete on their own). A plan sets them all with one ``set`` and one ``wait``
    message, in about one Channel Access round trip (the IOCs turn Nagle's algorithm off:
    :func:`gi_instrument.ca_server.serve`)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.parent = None

    def set(self, settings: list[tuple[Any, Any]]) -> Status:
        """Put all ``settings``; the status is done when all are."""
        status = Status(self)
        lock = threading.Lock()
        remaining = [len(settings)]

        def one_done(done: StatusBase) -> None:
            failure = done.exception()
            with lock:
                remaining[0] -= 1
                last = remaining[0] == 0
            if status.done:
                return
            if failure is not None:
                status.set_exception(failure)
            elif last:
                status.set_finished()

        if not settings:
            status.set_finished()
        for signal, value in settings:
            try:
                signal.set(value).add_callback(one_done)
            except Exception as exc:    # e.g. the signal's IOC is gone: the puts started go on
                if not status.done:
                    status.set_exception(exc)
                break
        return status
