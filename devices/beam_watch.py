"""The tube's beam over each exposure, seen from the client, for a camera IOC that knows nothing
of the tube (a standard areaDetector camera).

A :class:`BeamWatch` subscribes to the tube's kV, mA, fault flag, interlock and X-ray state for
one stepping scan. Each exposure gets a :class:`~gi_instrument.dose_window.DoseWindow` that
folds in fresh reads at its start and end and every monitor update in between; the tube's
``LastFault_RBV`` (never erased) is read at both ends, so a fault that came and went between
two monitor updates, an arc shorter than the exposure say, still marks the window. What the
client cannot see is a disturbance the tube's IOC never published (shorter than its poll of
the controller, on a bridge IOC).
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from gi_instrument.dose_window import DoseWindow

__all__ = ["BeamWatch"]


class BeamWatch:
    """Dose windows of the exposures of one stepping scan (a context manager: subscribed to the
    tube's monitors while open). ``fresh(signal)``: a fresh value of a tube signal (raises when
    its controller is lost)."""

    def __init__(self, tube: Any, fresh: Callable[[Any], float]) -> None:
        self._tube, self._fresh = tube, fresh
        self._signals = [tube.voltage_kV, tube.current_mA, tube.fault, tube.interlock_closed, tube.xray_on]
        self._values: dict[str, float] = {}
        self._window: DoseWindow | None = None
        self._lock = threading.Lock()
        self._subscriptions: list[tuple[Any, int]] = []

    def __enter__(self) -> BeamWatch:
        for signal in self._signals:
            self._subscriptions.append((signal, signal.subscribe(self._on_value, event_type=signal.SUB_VALUE,
                                                                 run=False)))
        return self

    def __exit__(self, *exc: Any) -> None:
        for signal, cid in self._subscriptions:
            signal.unsubscribe(cid)
        self._subscriptions.clear()

    def _on_value(self, *, obj: Any, value: Any, **kwargs: Any) -> None:
        with self._lock:
            self._values[obj.name] = float(value)
            if self._window is not None:
                self._note(self._window)

    def _read_ends(self) -> str:
        """The values at a window's start or end: kV, mA and the X-ray state fresh, the fault
        flag and interlock (monitored always) as their monitors have them; returns the tube's
        last fault (fresh). A fault still present shows in the last fault, an interlock opening
        in the X-ray state (it trips them off)."""
        t = self._tube
        values = {signal.name: self._fresh(signal) for signal in (t.voltage_kV, t.current_mA, t.xray_on)}
        values.update({signal.name: float(signal.get()) for signal in (t.fault, t.interlock_closed)})
        last_fault = str(t.last_fault.get(use_monitor=False))
        with self._lock:
            self._values.update(values)
        return last_fault

    def _note(self, window: DoseWindow) -> None:
        """Fold the latest values into ``window`` (the fault flag counts as an arc)."""
        v, t = self._values, self._tube
        window.note(v[t.voltage_kV.name], v[t.current_mA.name], arcing=bool(v[t.fault.name]),
                    interlock_open=not v[t.interlock_closed.name], emitting=bool(v[t.xray_on.name]))

    def open(self) -> str:
        """Start the window of an exposure; returns the tube's last fault (give it to :meth:`close`)."""
        t = self._tube
        last_fault = self._read_ends()
        with self._lock:
            kv, ma = self._values[t.voltage_kV.name], self._values[t.current_mA.name]
            self._window = DoseWindow(kv, kv, ma, ma)
            self._note(self._window)
        return last_fault

    def close(self, last_fault_at_open: str) -> DoseWindow:
        """End the window: what the beam did since :meth:`open`. A new last fault of the tube
        marks it as an arc (a fault came and went, unseen by the monitors)."""
        last_fault = self._read_ends()
        with self._lock:
            window, self._window = self._window, None
            if window is None:
                raise RuntimeError("BeamWatch.close() without open()")
            self._note(window)
        window.arc |= last_fault != last_fault_at_open
        return window

    def value(self, signal: Any) -> float:
        """The latest value of a watched signal."""
        with self._lock:
            return self._values[signal.name]
