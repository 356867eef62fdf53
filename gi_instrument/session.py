"""One call that sets up an acquisition session: profile, devices, RunEngine, catalog, progress."""

from __future__ import annotations

import fcntl
import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gi_instrument.ca_repeater import ensure_repeater
from gi_instrument.catalog import CatalogPaths, catalog_paths, document_journal, open_catalog
from gi_instrument.catalog_follower import CatalogWriter, CatalogWriterError, wait_for_stop
from gi_instrument.devices import GIInstrument, make_instrument
from gi_instrument.logs import log_runs, log_to_file
from gi_instrument.profile import Profile, load_profile
from gi_instrument.progress import FrameProgress
from gi_instrument.suspenders import Heartbeat, install_suspenders

__all__ = ["Session", "start_session", "await_catalog", "persistent_metadata", "CA_ENV_FIX"]

CA_ENV_FIX = ("set EPICS_CA_ADDR_LIST=<IOC host>[:port] EPICS_CA_AUTO_ADDR_LIST=NO, "
              "or start a simulated scanner with gi-session --sim")
"""How to point Channel Access at the IOC, quoted when no PV connects."""

logger = logging.getLogger(__name__)


@functools.cache
def persistent_metadata(directory: Path) -> Any:
    """``RE.md`` kept in ``directory`` (bluesky's PersistentDict), by one process at a time.

    The first process takes an advisory lock (``<directory>.lock`` beside it, held while the
    process lives) and gets the PersistentDict; a second process on the same data directory (a
    script beside a running ``gi-session``) gets a plain dict copied from the stored values, with
    a warning: what it changes (``scan_id``, metadata) is not kept. Two PersistentDicts on one
    directory would overwrite or delete each other's files when garbage-collected. One per
    directory and process (cached)."""
    from bluesky.utils import PersistentDict

    directory.mkdir(parents=True, exist_ok=True)
    lock = open(directory.with_name(directory.name + ".lock"), "a")  # noqa: SIM115 - held while the process lives
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        logger.warning("another process keeps the RunEngine metadata in %s: this session's RE.md is a "
                       "copy, its changes (scan_id, metadata) are not kept", directory)
        return _stored_metadata(directory)
    _METADATA_LOCKS.append(lock)
    return PersistentDict(str(directory))


_METADATA_LOCKS: list[Any] = []
"""Open lock files of :func:`persistent_metadata` (the locks last while the process does)."""


def _stored_metadata(directory: Path) -> dict[str, Any]:
    """The values stored in a PersistentDict directory, read without a PersistentDict (whose
    finaliser writes them back); ``{}`` where a file vanishes under the other process."""
    import zict
    from bluesky.utils import PersistentDict

    try:
        return dict(zict.Func(PersistentDict._dump, PersistentDict._load, zict.File(str(directory))).items())
    except OSError:
        return {}


def await_catalog(client: Any, timeout_s: float = 120.0, *, writer: CatalogWriter | None = None) -> Any:
    """A RunEngine callback: at each run's stop document, wait until the live catalog writer has
    written the run, so that ``client[uid]`` works as soon as ``RE(...)`` returns (if the writer
    lags more than ``timeout_s`` s, a warning in the log instead). The writer runs niced
    (:data:`~gi_instrument.catalog_follower.NICENESS`): on a machine busy with other work its
    start-up and catch-up can take tens of seconds, hence the generous default; the wait ends as
    soon as the run is there.

    With ``writer`` (:class:`~gi_instrument.catalog_follower.CatalogWriter`), the wait ends at
    once, with a warning naming the journal to ingest, when the writer has ended or left the run
    after an error; and at each start and stop document a writer that has ended is started again
    (it catches up from the journals), so the RunEngine never waits for a writer that is gone."""

    def callback(name: str, doc: dict[str, Any]) -> None:
        if name == "stop":
            _await_run(client, doc["run_start"], timeout_s, writer)
        if writer is not None and name in ("start", "stop"):
            _restart_writer(writer)

    return callback


def _await_run(client: Any, uid: str, timeout_s: float, writer: CatalogWriter | None) -> None:
    """Wait up to ``timeout_s`` s until the catalog has run ``uid``; a warning if it does not."""
    try:
        wait_for_stop(client, uid, timeout_s, writer=writer)
    except TimeoutError as exc:
        logger.warning("%s (the live catalog writer lags; the document journal has the run)", exc)
    except CatalogWriterError as exc:
        logger.warning("%s", exc)


def _restart_writer(writer: CatalogWriter) -> None:
    """Start ``writer`` again if it has ended, saying so in the log."""
    try:
        restarted = writer.restart_if_ended()
    except OSError as exc:
        logger.warning("the live catalog writer has ended and could not be started again (%s): runs stay in "
                       "the document journal only, until gi_instrument.catalog.ingest_journal writes them", exc)
        return
    if restarted:
        logger.warning("the live catalog writer had ended: started again (pid %d); it writes the runs the "
                       "catalog does not have from the document journal", writer.pid)


@dataclass
class Session:
    """What a user works with: ``RE(gi_ct(session.inst, ...))``, ``session.client[-1]``.

    ``bec`` is the BestEffortCallback when the session has one (``best_effort=True``)."""

    profile: Profile
    inst: GIInstrument
    RE: Any
    client: Any
    paths: CatalogPaths
    suspenders: list[Any]
    """bluesky suspenders on the tube and the connections (:mod:`gi_instrument.suspenders`)."""
    heartbeat: Heartbeat
    """Keeps the tube's watchdog from switching the X-rays off while this process lives."""
    catalog_writer: CatalogWriter | None = None
    """The live catalog writer (:class:`~gi_instrument.catalog_follower.CatalogWriter`: its
    process, ``.pid``; started again at the next run's start or stop document when it has ended)."""
    bec: Any = None


def zmq_publisher(address: str) -> Any:
    """A :class:`bluesky.callbacks.zmq.Publisher` to ``host:port`` whose unsent documents are
    dropped when it is closed or collected: 0MQ's default linger (forever) would otherwise block
    the process's exit while a proxy that is gone still has documents queued for it."""
    import zmq
    from bluesky.callbacks.zmq import Publisher

    publisher = Publisher(address)
    publisher._socket.setsockopt(zmq.LINGER, 0)  # bluesky gives no option for it
    return publisher


def start_session(profile: str | Path | Profile = "maast", prefix: str = "GI:", data_dir: str | Path | None = None,
                  *, progress: bool = True, timeout_s: float = 10.0, persistent_md: bool = True,
                  log_file: bool = True, best_effort: bool = False, camera_layout: str = "scanner",
                  zmq_publish: str | None = None) -> Session:
    """Connect the devices under ``prefix``, open the catalog in ``data_dir`` (default
    ``$GI_DATA_DIR`` or ``~/gi-data``), subscribe the document journal and the frame progress to a
    RunEngine and start the live catalog writer that follows the journal in a process of its own
    (:mod:`gi_instrument.catalog_follower`; it ends after this process, and is started again at the
    next run when it has ended). ``RE(...)`` returns once the catalog has the run
    (:func:`await_catalog`), so ``client[uid]`` works right after, or at once with a warning when
    the writer has ended or failed on the run (the journal has it: ``ingest_journal``). The
    RunEngine gets the suspenders of :func:`~gi_instrument.suspenders.install_suspenders` (a CT
    waits out tube faults and lost connections and repeats the interrupted stepping scan), and a
    heartbeat to the tube's watchdog starts (X-rays off ``recovery.watchdog_timeout_s`` after this process is gone).

    With ``persistent_md``, ``RE.md`` (``scan_id``, anything a user puts in it) is kept in
    ``DATA_DIR/runengine-md`` and continues across sessions (one session at a time should write
    it). With ``log_file``, the package, bluesky, ophyd and caproto log to
    ``DATA_DIR/logs/gi-instrument.log`` (:mod:`gi_instrument.logs`). With ``best_effort``, a
    BestEffortCallback prints a table of each run's scalar readings (plots off:
    ``session.bec.enable_plots()``).

    Channel Access settings (``EPICS_CA_ADDR_LIST`` ...) come from the environment; if no PV
    connects within ``timeout_s``, TimeoutError says so in one line with the fix. A CA repeater
    is started if none runs (:func:`gi_instrument.ca_repeater.ensure_repeater`).
    ``camera_layout="areadetector"`` drives a standard areaDetector camera IOC
    (see :func:`~gi_instrument.devices.make_instrument`).
    ``zmq_publish`` (``"host:port"``, a ``bluesky-0MQ-proxy``'s in port) also publishes every
    document there for ``gi-viewer --live`` (a 0MQ PUB socket: never waits for a viewer).
    """
    from bluesky import RunEngine

    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    paths = catalog_paths(data_dir)
    ensure_repeater()
    if log_file:
        log_to_file(paths.root / "logs")
    try:
        inst = make_instrument(prof, prefix, paths.frames, timeout_s=timeout_s, camera_layout=camera_layout)
    except TimeoutError as exc:
        ca = os.environ.get("EPICS_CA_ADDR_LIST")
        where = f"EPICS_CA_ADDR_LIST={ca}" if ca else "EPICS_CA_ADDR_LIST is not set"
        raise TimeoutError(f"no answer from the IOC at prefix {prefix} within {timeout_s:g} s ({where}): "
                           f"{CA_ENV_FIX}") from exc
    client = open_catalog(paths.root)
    RE = RunEngine({}, call_returns_result=False)
    if persistent_md:
        RE.md = persistent_metadata(paths.root / "runengine-md")
    RE.subscribe(document_journal(paths))
    RE.subscribe(log_runs)
    if progress:
        RE.subscribe(FrameProgress())
    if zmq_publish:
        RE.subscribe(zmq_publisher(zmq_publish))
    suspenders = install_suspenders(RE, inst)
    heartbeat = Heartbeat(inst.tube.heartbeat, prof.recovery.watchdog_timeout_s / 5.0)
    bec = None
    if best_effort:
        from bluesky.callbacks.best_effort import BestEffortCallback

        bec = BestEffortCallback()
        bec.disable_plots()
        RE.subscribe(bec)
    logger.info("session: profile %s, prefix %s, data %s", prof.name, prefix, paths.root)
    writer = CatalogWriter(paths)
    RE.subscribe(await_catalog(client, writer=writer))  # last: after the journal and the other callbacks
    return Session(profile=prof, inst=inst, RE=RE, client=client, paths=paths, suspenders=suspenders,
                   heartbeat=heartbeat, catalog_writer=writer, bec=bec)
