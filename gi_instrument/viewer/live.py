"""Following a running acquisition through bluesky's 0MQ document stream.

The RunEngine (IPython session or queue-server worker) publishes its documents to a
``bluesky-0MQ-proxy`` with :class:`bluesky.callbacks.zmq.Publisher` (a PUB socket: sending never
waits for a subscriber, and a subscriber that falls behind loses messages instead of holding the
publisher back). :class:`LiveReceiver` subscribes to the proxy's out port with
:class:`bluesky.callbacks.zmq.RemoteDispatcher` in a background thread and feeds every document to
a :class:`LiveState`.

:class:`LiveState` keeps only bookkeeping per document (O(1): no frame is read when a document
arrives). It knows where each frame lies (HDF5 file and index, from the ``stream_resource`` /
``stream_datum`` documents), the last complete stepping scan of each stream, the dark frames,
frames done / expected, the run's suspensions and discarded attempts. The window reads frames
only when it redraws (at most a few times a second) and only the latest ones: frames that
arrived in between are skipped, never queued, so the viewer never lags behind the acquisition.

A viewer started in the middle of a run has missed the run's start and descriptor documents;
with a ``catch_up`` source (:func:`journal_catch_up`: the document journal the session writes in
the data directory) the first event of an unknown stream replays the run so far from there,
after which the stream carries on (events seen twice are counted once).

Interruptions come from the run itself: the ``suspensions`` stream (one event per suspension by a
suspender, emitted once it has ended, with the next stepping scan), the ``discarded`` stream (one
event per stepping-scan attempt that did not reach the run) and bluesky's ``interruptions`` stream
(an event when a suspension begins, with the suspender's justification), see
:data:`gi_instrument.plans.metadata.STREAMS`. Besides, a run from which no document has come for
longer than ``stall_factor`` times the mean interval between stepping scans (and at least
``min_stall_s``) is shown as quiet for that long: the viewer cannot tell why (a long exposure, a
hung controller, a lost network).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import h5py
import numpy as np
from numpy.typing import NDArray

from gi_instrument.processing.catalog_reader import IMAGE_KEY
from gi_instrument.progress import time_left_s
from gi_instrument.viewer.scan_signals import SteppingScan

__all__ = ["FrameRef", "LiveReceiver", "LiveScan", "LiveState", "LiveStatus", "journal_catch_up", "read_frames"]

CatchUp = Callable[[str], list[tuple[str, dict[str, Any]]]]
"""``catch_up(descriptor_uid)`` -> the documents of the run that descriptor belongs to, so far."""


def journal_catch_up(documents_dir: str | Path, newest: int = 3) -> CatchUp:
    """A ``catch_up`` source reading the document journals (``DATA_DIR/documents/*.jsonl``,
    :func:`gi_instrument.catalog.document_journal`): the newest ``newest`` files are searched for
    the descriptor."""
    folder = Path(documents_dir)

    def catch_up(descriptor_uid: str) -> list[tuple[str, dict[str, Any]]]:
        files = sorted(folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)[:newest]
        for path in files:
            text = path.read_text(encoding="utf-8")
            if descriptor_uid in text:
                items = [json.loads(line) for line in text.splitlines() if line.strip()]
                return [(item["name"], item["doc"]) for item in items]
        return []

    return catch_up


@dataclass(frozen=True)
class FrameRef:
    """Where a frame lies: HDF5 file, dataset and index in it."""

    path: Path
    dataset: str
    index: int


def read_frames(refs: list[FrameRef]) -> NDArray[np.uint16]:
    """The frames ``refs`` point at, (n, rows, cols) (each file opened once)."""
    out = []
    by_file: dict[tuple[Path, str], list[int]] = {}
    for ref in refs:
        by_file.setdefault((ref.path, ref.dataset), []).append(ref.index)
    for (path, dataset), indices in by_file.items():
        with h5py.File(path, "r", locking=False) as f:
            data = f[dataset]
            out.extend(data[i] for i in indices)
    return np.stack(out)


@dataclass(frozen=True)
class LiveScan:
    """A complete stepping scan seen in the stream."""

    stream: str
    angle_index: int
    frames: tuple[FrameRef, ...]
    positions_um: NDArray[np.float64] | None
    seq: int
    """Running number of complete scans in the run (tells a new scan from the one shown)."""

    def read(self) -> SteppingScan:
        """Its frames, read from the files now."""
        return SteppingScan(self.stream, self.angle_index, read_frames(list(self.frames)), self.positions_um)


@dataclass
class LiveStatus:
    """A consistent copy of the state for one redraw."""

    uid: str = ""
    plan_name: str = ""
    running: bool = False
    exit_status: str = ""
    frames_done: int = 0
    frames_expected: int = 0
    projections_done: int = 0
    projections_total: int = 0
    time_left_s: float = float("inf")
    no_document_s: float = 0.0
    """Seconds since the run's last document when that is unusually long (else 0)."""
    suspensions: int = 0
    """Suspensions recorded in the run's ``suspensions`` stream (ended ones)."""
    last_suspension_cause: str = ""
    discarded: int = 0
    """Stepping-scan attempts recorded in the run's ``discarded`` stream."""
    last_discarded_cause: str = ""
    suspended_cause: str = ""
    """Justification of the suspension in progress ('' if none), from the ``interruptions`` stream."""
    suspended_since: float = 0.0
    """When the suspension in progress began, s since the epoch."""
    suspended_s: float = 0.0
    """How long the suspension in progress has lasted so far, s."""
    period_um: float = 0.0
    latest_frame: FrameRef | None = None
    latest_scan: LiveScan | None = None
    latest_primary: LiveScan | None = None
    latest_reference: LiveScan | None = None
    dark: tuple[FrameRef, ...] = field(default_factory=tuple)


class LiveState:
    """A bluesky callback ``(name, doc)`` that keeps what the live view needs (thread-safe)."""

    def __init__(self, stall_factor: float = 5.0, min_stall_s: float = 10.0, catch_up: CatchUp | None = None) -> None:
        self.stall_factor, self.min_stall_s = stall_factor, min_stall_s
        self.catch_up = catch_up
        self._tried: set[str] = set()
        self._lock = threading.Lock()
        self._status = LiveStatus()
        self._reset()

    def _reset(self) -> None:
        self._streams: dict[str, str] = {}
        self._resources: dict[str, tuple[Path, str]] = {}
        self._datums: dict[str, list[FrameRef]] = {}
        self._pending: dict[tuple[str, int], dict[int, tuple[FrameRef, float]]] = {}
        self._last_seq: dict[str, int] = {}
        self._datum_uids: set[str] = set()
        self._steps = 0
        self._t0 = self._t_last = 0.0
        self._angles: set[int] = set()
        self._dark: list[FrameRef] = []

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        handler = getattr(self, f"_{name}", None)
        if handler is not None:
            with self._lock:
                handler(doc)
                if self._status.uid and "time" in doc:  # resource and datum documents carry none
                    self._t_last = max(self._t_last, float(doc["time"]))

    def _start(self, doc: dict[str, Any]) -> None:
        self._reset()
        schedule = doc.get("schedule", {})
        profile = doc.get("profile", {})
        self._steps = int(profile.get("stepping", {}).get("steps", 0))
        self._status = LiveStatus(
            uid=doc["uid"], plan_name=str(doc.get("plan_name", "")), running=True,
            frames_expected=int(schedule.get("frames_expected", 0)),
            projections_total=int(schedule.get("n_projections", 0)),
            period_um=float(doc.get("geometry", {}).get("g2_period_um", 0.0)))
        self._t0 = self._t_last = float(doc.get("time", time.time()))

    def _descriptor(self, doc: dict[str, Any]) -> None:
        self._streams[doc["uid"]] = doc.get("name", "primary")
        self._datums[doc["uid"]] = []

    def _stream_resource(self, doc: dict[str, Any]) -> None:
        if doc.get("data_key", IMAGE_KEY) != IMAGE_KEY:
            return
        path = Path(unquote(urlparse(doc["uri"]).path))
        self._resources[doc["uid"]] = (path, doc.get("parameters", {}).get("dataset", "/entry/data/data"))

    def _stream_datum(self, doc: dict[str, Any]) -> None:
        resource = self._resources.get(doc["stream_resource"])
        datums = self._datums.get(doc["descriptor"])
        if resource is None or datums is None or doc["uid"] in self._datum_uids:
            return  # its resource or descriptor was lost (dropped message), or seen twice: skip
        self._datum_uids.add(doc["uid"])
        indices = doc["indices"]
        datums.extend(FrameRef(resource[0], resource[1], i) for i in range(indices["start"], indices["stop"]))

    def _replay(self, descriptor_uid: str) -> None:
        """Catch up with the run of an unknown descriptor (once per descriptor)."""
        if self.catch_up is None or descriptor_uid in self._tried:
            return
        self._tried.add(descriptor_uid)
        for name, doc in self.catch_up(descriptor_uid):
            handler = getattr(self, f"_{name}", None)
            if handler is not None:
                handler(doc)

    def _event(self, doc: dict[str, Any]) -> None:
        if doc["descriptor"] not in self._streams:
            self._replay(doc["descriptor"])
        stream = self._streams.get(doc["descriptor"])
        seq = int(doc.get("seq_num", 0)) - 1
        if stream is None or seq <= self._last_seq.get(doc["descriptor"], -1):
            return
        if stream in _INTERRUPTION_STREAMS:
            self._last_seq[doc["descriptor"]] = seq
            _INTERRUPTION_STREAMS[stream](self._status, doc)
            return
        datums = self._datums.get(doc["descriptor"], [])
        if not 0 <= seq < len(datums):
            return
        self._last_seq[doc["descriptor"]] = seq
        ref, data = datums[seq], doc["data"]
        status = self._status
        status.frames_done += 1
        status.latest_frame = ref
        status.suspended_cause, status.suspended_since = "", 0.0  # frames again: any suspension is over
        if stream == "dark":
            self._dark.append(ref)
            status.dark = tuple(self._dark)
            return
        angle, step = int(data.get("frame_angle_index", -1)), int(data.get("frame_step_index", -1))
        steps = self._steps
        scan = self._pending.setdefault((stream, angle), {})
        scan[step] = (ref, float(data.get("g2_position_um", np.nan)))
        if steps and len(scan) == steps and set(scan) == set(range(steps)):
            del self._pending[(stream, angle)]
            positions = np.array([scan[k][1] for k in range(steps)])
            done = LiveScan(stream, angle, tuple(scan[k][0] for k in range(steps)),
                            positions if np.isfinite(positions).all() else None,
                            seq=(status.latest_scan.seq + 1) if status.latest_scan else 1)
            status.latest_scan = done
            if stream == "reference":
                status.latest_reference = done
            else:
                status.latest_primary = done
                self._angles.add(angle)
                status.projections_done = len(self._angles)

    def _event_page(self, doc: dict[str, Any]) -> None:
        """Event pages (the journal stores events so) are taken event by event."""
        from event_model import unpack_event_page

        for event in unpack_event_page(doc):
            self._event(event)

    def _stop(self, doc: dict[str, Any]) -> None:
        self._status.running = False
        self._status.exit_status = str(doc.get("exit_status", ""))
        self._status.suspended_cause, self._status.suspended_since = "", 0.0

    def status(self, now: float | None = None) -> LiveStatus:
        """A copy of the state at ``now`` (s since the epoch, like the documents' times; default:
        now), with the time left and the time without a document worked out."""
        now = time.time() if now is None else now
        with self._lock:
            status = LiveStatus(**vars(self._status))
            done, expected = status.frames_done, status.frames_expected
            if status.running and done and expected:
                status.time_left_s = time_left_s(done, expected, self._t_last - self._t0)
            if status.suspended_cause:
                status.suspended_s = max(0.0, now - status.suspended_since)
            if status.running:
                gap = now - self._t_last
                scans = status.latest_scan.seq if status.latest_scan else 1
                if gap > max(self.min_stall_s, self.stall_factor * (self._t_last - self._t0) / scans):
                    status.no_document_s = gap
            else:
                status.time_left_s = 0.0 if status.uid else float("inf")
            return status


def _suspension(status: LiveStatus, doc: dict[str, Any]) -> None:
    """An event of the ``suspensions`` stream: a suspension that has ended."""
    status.suspensions += 1
    status.last_suspension_cause = str(doc["data"].get("suspension_cause", ""))
    status.suspended_cause, status.suspended_since = "", 0.0


def _discarded(status: LiveStatus, doc: dict[str, Any]) -> None:
    """An event of the ``discarded`` stream: an attempt that did not reach the run."""
    status.discarded += 1
    status.last_discarded_cause = str(doc["data"].get("discarded_cause", ""))


def _interruption(status: LiveStatus, doc: dict[str, Any]) -> None:
    """An event of bluesky's ``interruptions`` stream: a pause, a resume, or the justification of
    a suspension that begins."""
    content = str(doc["data"].get("interruption", ""))
    if content == "resume":
        status.suspended_cause, status.suspended_since = "", 0.0
    elif content != "pause":
        status.suspended_cause, status.suspended_since = content, float(doc.get("time", time.time()))


_INTERRUPTION_STREAMS: dict[str, Callable[[LiveStatus, dict[str, Any]], None]] = {
    "suspensions": _suspension, "discarded": _discarded, "interruptions": _interruption}
"""Streams that record interruptions of the run (no frames), and what each event does to the status."""


class LiveReceiver:
    """A :class:`~bluesky.callbacks.zmq.RemoteDispatcher` on ``address`` (the proxy's out port,
    ``host:port``) in a daemon thread, passing every document to ``callback``."""

    def __init__(self, address: str, callback: Any) -> None:
        self.address = address
        self.callback = callback
        self._thread: threading.Thread | None = None
        self._dispatcher: Any = None
        self._ready = threading.Event()

    def start(self) -> LiveReceiver:
        """Start the thread; returns once its dispatcher listens (TimeoutError after 10 s)."""
        self._thread = threading.Thread(target=self._run, name="gi-viewer-0mq", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise TimeoutError(f"the 0MQ receiver on {self.address} did not start within 10 s")
        return self

    def _run(self) -> None:
        from bluesky.callbacks.zmq import RemoteDispatcher

        self._dispatcher = RemoteDispatcher(self.address)
        self._dispatcher.subscribe(self.callback)
        self._dispatcher.loop.call_soon(self._ready.set)
        try:
            self._dispatcher.start()  # on its way out it closes its socket and destroys its context
        except asyncio.CancelledError:
            pass

    def stop(self) -> None:
        """Stop receiving and wait until the thread has closed the 0MQ socket and context it polls
        (they are closed in that thread: 0MQ sockets are not thread-safe). Calling it again does
        nothing."""
        dispatcher = self._dispatcher
        if dispatcher is not None and not dispatcher.loop.is_closed():
            def cancel() -> None:
                if dispatcher._task is not None:
                    dispatcher._task.cancel()
            try:
                dispatcher.loop.call_soon_threadsafe(cancel)
            except RuntimeError:  # the loop closed meanwhile: the thread is ending anyway
                pass
        if self._thread is not None:
            self._thread.join(timeout=10)
            if self._thread.is_alive():
                raise RuntimeError(f"the 0MQ receiver on {self.address} did not stop within 10 s")
