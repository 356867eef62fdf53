"""Bluesky suspenders of a session: a CT waits out tube faults and lost connections.

:func:`install_suspenders` puts bluesky's own suspenders on a RunEngine:

- ``SuspendBoolLow`` on the tube's interlock (``Interlock_RBV``): the interlock is open;
- ``SuspendBoolHigh`` on the tube's fault flag (``Fault_RBV``): an arc, or high voltage or
  current out of tolerance while emitting (the tube's ``Status_RBV`` names which);
- ``SuspendBoolLow`` on :class:`ConnectionWatch`: a Channel Access connection to any device is
  lost (an IOC restart, a network fault).

When a suspender trips, the RunEngine stops the moves, the camera aborts the stepping scan in
progress (``SteppingCamera.pause``), and the run waits. When the condition clears it waits
``recovery.settle_s`` more (nominal s, times the IOC's time scale), warms the tube up if it
needs it, and replays the stepping scan from its checkpoint as a new attempt (see
:mod:`gi_instrument.plans.recovery`). Each suspension is recorded in the run's
``suspensions`` stream (cause, the stepping scan it interrupted, start and end time; bluesky's
own ``interruptions`` stream also has the justification when it began) and the attempt it
interrupted in the ``discarded`` stream.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

import bluesky.plan_stubs as bps
from bluesky.suspenders import SuspendBoolHigh, SuspendBoolLow, SuspenderBase
from ophyd import Signal
from ophyd.signal import EpicsSignalBase

from gi_instrument.devices import GIInstrument

__all__ = ["ConnectionWatch", "Heartbeat", "install_suspenders", "recover_tube"]

log = logging.getLogger(__name__)


class ConnectionWatch:
    """``connected`` (a soft signal, 1/0): 1 while every watched Channel Access signal is
    connected (after an IOC restart each PV reconnects on its own, so all are watched)."""

    def __init__(self, signals: list[Any]) -> None:
        self.connected = Signal(name="ca_connected", value=1)
        self._state = {sig.name: bool(sig.connected) for sig in signals}
        self._lock = threading.Lock()
        for sig in signals:
            sig.subscribe(self._on_meta, event_type=sig.SUB_META, run=False)
        self._update()

    def _on_meta(self, *, obj: Any, connected: bool | None = None, **kwargs: Any) -> None:
        if connected is None:
            return
        with self._lock:
            self._state[obj.name] = bool(connected)
        self._update()

    @property
    def lost(self) -> list[str]:
        """Names of the watched signals that are disconnected now."""
        with self._lock:
            return sorted(name for name, ok in self._state.items() if not ok)

    def _update(self) -> None:
        value = int(not self.lost)
        if self.connected.get() != value:
            self.connected.put(value)


def recover_tube(inst: GIInstrument) -> Any:
    """Plan run before a suspended stepping scan is taken again: the suspension is recorded as
    ended, and the tube warmed up if it needs it (cold start, IOC restart). The scan itself
    switches the X-rays on again."""
    inst.camera.note_resumption()
    # a plain get, not a 'read' message: a suspension can land while an event is being bundled
    if not inst.tube.warmed_up.get():
        yield from bps.mv(inst.tube.warmup, 1)


class _Remembering:
    """Mixin for a bluesky suspender: keeps the justification of its last trip (the condition
    may be gone by the time the RunEngine suspends, and with it bluesky's justification)."""

    last_trip: tuple[float, str] = (0.0, "")

    def _get_justification(self) -> str:
        text = super()._get_justification()  # type: ignore[misc]
        if text:
            self.last_trip = (time.time(), text)
        return text


class _BoolLow(_Remembering, SuspendBoolLow):
    pass


class _BoolHigh(_Remembering, SuspendBoolHigh):
    pass


def _note_suspension(RE: Any, inst: GIInstrument) -> None:
    """Pre-plan of every suspender: record the suspension and its cause (the justification of
    the suspender that tripped last) with the stepping scan in flight."""
    when, cause = max((getattr(sus, "last_trip", (0.0, "")) for sus in RE.suspenders), default=(0.0, ""))
    inst.camera.note_suspension(cause or "unknown cause")


def install_suspenders(RE: Any, inst: GIInstrument) -> list[SuspenderBase]:
    """Install the tube and connection suspenders (see the module docstring) on ``RE`` and turn
    on its record of interruptions; returns them (``RE.remove_suspender`` takes them off)."""
    settle_real_s = inst.profile.recovery.settle_s * float(inst.camera.time_scale.get())
    watch = ConnectionWatch([walk.item for device in inst.devices for walk in device.walk_signals()
                             if isinstance(walk.item, EpicsSignalBase)])
    pre: Callable[[], None] = lambda: _note_suspension(RE, inst)  # noqa: E731
    post: Callable[[], Any] = lambda: recover_tube(inst)  # noqa: E731
    common = {"sleep": settle_real_s, "pre_plan": pre, "post_plan": post}
    suspenders = [
        _BoolLow(inst.tube.interlock_closed, tripped_message="interlock open: X-rays off", **common),
        _BoolHigh(inst.tube.fault, tripped_message="tube fault: arc, or kV / mA out of tolerance", **common),
        _BoolLow(watch.connected, tripped_message="Channel Access connection lost (IOC restart or network)",
                       **common),
    ]
    for suspender in suspenders:
        RE.install_suspender(suspender)
    RE.record_interruptions = True
    return suspenders


class Heartbeat:
    """Writes an increasing count to the tube's ``Heartbeat`` every ``period_s`` (wall-clock s)
    from a daemon thread, so that the tube IOC's watchdog switches the X-rays off when this
    process is gone. A failed write (IOC restarting) is retried at the next beat."""

    def __init__(self, signal: Any, period_s: float) -> None:
        if not period_s > 0:
            raise ValueError(f"period_s must be > 0, got {period_s}")
        self._signal, self.period_s = signal, period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tube-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        count = 0
        while not self._stop.is_set():
            count += 1
            try:
                self._signal.put(count % 1_000_000, wait=False)
            except Exception as exc:  # IOC away: the next beat tries again
                log.debug("heartbeat not delivered: %s", exc)
            self._stop.wait(self.period_s)

    def stop(self) -> None:
        """Stop beating (the watchdog then switches the X-rays off after its timeout)."""
        self._stop.set()
        self._thread.join(timeout=5)
