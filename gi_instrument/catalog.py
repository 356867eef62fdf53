"""The local run catalog: an embedded tiled catalog in one data directory, no server to start.

Layout of a data directory (default ``~/gi-data``, or ``$GI_DATA_DIR``, or ``--data-dir``)::

    DIR/catalog.db      SQLite: run metadata and document structure
    DIR/tables.sqlite   SQLite: the events' scalar columns (G2 positions, angles, times, ...)
    DIR/files/          tiled's writable storage
    DIR/frames/         the detector's HDF5 files (registered as readable storage)
    DIR/documents/      a JSON-lines journal of every run's documents, written as they are
                        made, from which :func:`ingest_journal` rebuilds a run in the catalog
    DIR/tiled-serve.yml the configuration that serves this directory with ``tiled serve config``

Frames are never copied into the catalog: each run references the HDF5 files the detector wrote
(StreamResource / StreamDatum documents). ``tiled serve config DIR/tiled-serve.yml --api-key KEY``
serves the same directory to other machines, read back the same way (``client[-1]``: the root
carries the bluesky catalog spec, which a bare ``tiled serve catalog`` would not set).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

__all__ = ["DATA_DIR_ENV", "CatalogPaths", "default_data_dir", "catalog_paths", "open_catalog", "tiled_writer",
           "DocumentJournal", "document_journal", "read_journal", "crash_stop", "close_journal", "lock_journal",
           "writer_error_path", "ingest_journal"]

DATA_DIR_ENV = "GI_DATA_DIR"
_RUN_SPECS = [{"name": "CatalogOfBlueskyRuns", "version": "3.0"}]


class CatalogPaths:
    """Absolute paths of one data directory (see the module docstring)."""

    def __init__(self, data_dir: str | Path) -> None:
        self.root = Path(data_dir).expanduser().resolve()
        self.catalog_db = self.root / "catalog.db"
        self.tables_db = self.root / "tables.sqlite"
        self.files = self.root / "files"
        self.frames = self.root / "frames"
        self.documents = self.root / "documents"

        self.serve_config = self.root / "tiled-serve.yml"

    def create(self) -> "CatalogPaths":
        """Create the directories and the serving configuration (idempotent)."""
        for path in (self.root, self.files, self.frames, self.documents):
            path.mkdir(parents=True, exist_ok=True)
        text = self.serve_config_text()
        if not self.serve_config.is_file() or self.serve_config.read_text() != text:
            self.serve_config.write_text(text)
        return self

    def serve_config_text(self) -> str:
        """``tiled serve config`` configuration of this directory: the same catalog, storage
        and root spec as :func:`open_catalog`."""
        spec = _RUN_SPECS[0]
        return (f"# tiled serve config {self.serve_config} --api-key $TILED_API_KEY\n"
                "trees:\n  - path: /\n    tree: catalog\n    args:\n"
                f'      uri: "sqlite:///{self.catalog_db}"\n'
                f'      writable_storage: ["{self.files}", "sqlite:///{self.tables_db}"]\n'
                f'      readable_storage: ["{self.frames}"]\n'
                f'      specs: [{{name: {spec["name"]}, version: "{spec["version"]}"}}]\n')


def default_data_dir() -> Path:
    """``$GI_DATA_DIR`` if set, else ``~/gi-data``: the one default of every command."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / "gi-data"


def catalog_paths(data_dir: str | Path | None = None, *, create: bool = True) -> CatalogPaths:
    """Paths of ``data_dir`` (default :func:`default_data_dir`), directories created unless
    ``create`` is False (read-only commands create nothing)."""
    paths = CatalogPaths(default_data_dir() if data_dir is None else data_dir)
    return paths.create() if create else paths


def _initialized(catalog_db: Path) -> bool:
    """Whether ``catalog_db`` is a complete tiled catalog: tiled's ``catalog init`` stamps the
    schema revision (table ``alembic_version``) after it has made every table. tiled inits in a
    new Python process (~5 s) on every open that asks for it; this check (milliseconds) lets only
    the first open of a directory pay for it. A file left by an interrupted init is inited again."""
    import sqlite3

    if not catalog_db.is_file():
        return False
    try:
        with closing(sqlite3.connect(f"{catalog_db.as_uri()}?mode=ro", uri=True)) as db:
            return db.execute("SELECT count(*) FROM alembic_version").fetchone()[0] > 0
    except sqlite3.Error:
        return False


def open_catalog(data_dir: str | Path | None = None, *, create: bool = True) -> Any:
    """A tiled client on the embedded catalog of ``data_dir`` (created if absent, unless
    ``create`` is False: then a missing catalog raises FileNotFoundError and nothing is made,
    as read-only commands need).

    Read runs back with ``client[uid]["primary"].read()`` or ``client[-1]``. Opening costs a
    few seconds (database set-up); share one client per process.
    """
    import logging
    import warnings

    from tiled.catalog import from_uri
    from tiled.client import Context, from_context
    from tiled.server.app import build_app

    paths = catalog_paths(data_dir, create=create)
    if not create and not paths.catalog_db.is_file():
        raise FileNotFoundError(f"no catalog in {paths.root} (nothing acquired there yet; "
                                f"--data-dir or ${DATA_DIR_ENV} chooses another directory)")
    adapter = from_uri(
        f"sqlite:///{paths.catalog_db}",
        writable_storage=[str(paths.files), f"sqlite:///{paths.tables_db}"],
        readable_storage=[str(paths.frames)],
        init_if_not_exists=create and not _initialized(paths.catalog_db),
        specs=_RUN_SPECS,
    )
    # The in-process server logs "Tiled version ..." on every start through its own stderr
    # handler; a banner for a server nobody started, so only its warnings are let through.
    logging.getLogger("tiled.server.app").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        # tiled's in-process client is starlette's TestClient, which asks for the httpx2 fork
        # while tiled itself is built on httpx: installing httpx2 would split the client across
        # two HTTP libraries, so the deprecation (not ours to fix) is silenced here only.
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        context = Context.from_app(build_app(adapter))
    return from_context(context)


def tiled_writer(client: Any, batch_size: int = 10000) -> Any:
    """A bluesky callback that writes runs (documents + frame references) into ``client``.

    bluesky-tiled-plugins' TiledWriter: events and frame references are written in batches of
    ``batch_size`` events per stream (and at the stop document), with one update of a stream's
    frame-file list per batch, so closing a run costs about the same whatever its number of files
    (bluesky's own copy rewrites the list once per file: minutes for a CT).
    """
    from bluesky_tiled_plugins.writing.tiled_writer import TiledWriter

    return TiledWriter(client, batch_size=batch_size)


class DocumentJournal:
    """A bluesky callback that appends each run's documents to ``documents/<run uid>.jsonl`` as
    they are made (one file per run, one ``{"name": ..., "doc": ...}`` line per document, the
    format of bluesky's ``JSONLinesWriter``; an event as a page of one), so a run survives a crash
    before the catalog has it.

    Each line is flushed to the operating system before the RunEngine goes on (a killed process
    loses at most the line being written; :func:`read_journal` leaves such a line out). The file
    stays open until the run's stop document. Documents are routed to their run by the uids they
    reference (descriptor, stream resource); event_model's ``RunRouter`` with a
    ``JSONLinesWriter`` did the same, but ran an asset filler per run and reopened the file for
    every document: about 1.5 ms per frame in the RunEngine's thread.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._files: dict[str, Any] = {}
        self._run_of: dict[str, str] = {}
        """Run uid of each descriptor, resource and stream resource uid."""

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        if name == "event":    # journals hold event pages (as RunRouter delivered them), one per event
            from event_model import pack_event_page

            name, doc = "event_page", pack_event_page(doc)
        run = self._route(name, doc)
        journal = self._files.get(run)
        if journal is None:
            journal = self._files[run] = open(self.directory / f"{run}.jsonl", "a", encoding="utf-8")
        journal.write(json.dumps({"name": name, "doc": doc}) + "\n")
        journal.flush()
        if name == "stop":
            journal.close()
            del self._files[run]
            self._run_of = {uid: owner for uid, owner in self._run_of.items() if owner != run}

    def _route(self, name: str, doc: dict[str, Any]) -> str:
        """The uid of the run ``doc`` belongs to (recording the uids that refer to it)."""
        if name == "start":
            return doc["uid"]
        if name in ("event", "event_page"):
            return self._run_of[doc["descriptor"]]
        if name in ("datum", "datum_page"):
            return self._run_of[doc["resource"]]
        if name == "stream_datum":
            return self._run_of[doc["stream_resource"]]
        run = doc["run_start"]        # stop, descriptor, resource, stream_resource
        if name != "stop":
            self._run_of[doc["uid"]] = run
        return run


def document_journal(paths: CatalogPaths) -> DocumentJournal:
    """The :class:`DocumentJournal` of ``paths.documents``."""
    return DocumentJournal(paths.documents)


def read_journal(journal: str | Path) -> list[tuple[str, dict[str, Any]]]:
    """The (name, document) pairs of a journal file, in order; a last line cut short by a crash
    is left out. Raises ValueError unless the first document is a start document."""
    text = Path(journal).read_text(encoding="utf-8")
    items = []
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):
            break  # written halfway when the process died
        if line.strip():
            item = json.loads(line)
            items.append((item["name"], item["doc"]))
    if not items or items[0][0] != "start":
        raise ValueError(f"{journal}: not a run journal (no start document first)")
    return items


def crash_stop(items: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The stop document of a run whose journal ``items`` end without one (its process was
    killed): exit status ``abort``, reason ``crashed``, the events it has per stream."""
    start = items[0][1]
    streams = {doc["uid"]: doc["name"] for name, doc in items if name == "descriptor"}
    counts: dict[str, int] = dict.fromkeys(streams.values(), 0)
    for name, doc in items:
        if name == "event":
            counts[streams[doc["descriptor"]]] += 1
        elif name == "event_page":
            counts[streams[doc["descriptor"]]] += len(doc["seq_num"])
    times = [t for _, doc in items for t in np.atleast_1d(doc.get("time", start["time"]))]
    return {"uid": str(uuid.uuid4()), "time": float(max(times)),
            "run_start": start["uid"], "exit_status": "abort", "reason": "crashed", "num_events": counts}


def close_journal(journal: str | Path) -> list[tuple[str, dict[str, Any]]]:
    """The documents of a journal, after appending :func:`crash_stop` to it if it has no stop
    document (its run's process was killed); a last line cut short by the kill is cut off first,
    so that the stop document gets a line of its own."""
    items = read_journal(journal)
    if items[-1][0] != "stop":
        stop = crash_stop(items)
        with open(journal, "r+b") as f:
            f.truncate(f.read().rfind(b"\n") + 1)
            f.seek(0, os.SEEK_END)
            f.write((json.dumps({"name": "stop", "doc": stop}) + "\n").encode("utf-8"))
        items.append(("stop", stop))
    return items


JOURNAL_LOCK_TIMEOUT_S = 120.0
"""Seconds :func:`ingest_journal` waits for a live catalog writer to finish writing the run (a
niced writer catching up after its session was killed can take a minute on a busy machine)."""


def lock_journal(journal: str | Path, timeout_s: float) -> BinaryIO | None:
    """``journal`` opened for reading and holding its exclusive advisory lock (``fcntl.flock``),
    taken within ``timeout_s`` s (0: one try), or None if another holder keeps it that long.

    Whoever writes a journal's run into the catalog holds it (the live catalog writer while it
    follows the run, :func:`ingest_journal`), so the two never write one entry at once. Closing
    the handle releases the lock, and so does the end of the process. Appending to the journal
    takes no lock."""
    deadline = time.monotonic() + timeout_s
    handle = open(journal, "rb")  # noqa: SIM115 - returned, held by the caller
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() >= deadline:
                handle.close()
                return None
            time.sleep(0.1)


def writer_error_path(journal: str | Path) -> Path:
    """``<uid>.catalog-error`` beside a journal: the live catalog writer's error on that run, in
    one line, when it left the run for :func:`ingest_journal` (which removes it)."""
    return Path(journal).with_suffix(".catalog-error")


FRAME_REFERENCES = ("stream_resource", "stream_datum")
"""Documents that reference frames in files; a frame counts in the catalog once an event follows."""


def _without_dangling_frames(items: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """``items`` without the frame references (stream_resource / stream_datum) after the last
    event: a process killed between a frame's reference and its event leaves such a reference,
    which would give a stream more frames than rows."""
    last_event = max((i for i, (name, _) in enumerate(items) if name in ("event", "event_page")), default=0)
    return [item for i, item in enumerate(items)
            if i <= last_event or item[0] not in FRAME_REFERENCES]


def ingest_journal(client: Any, journal: str | Path, lock_timeout_s: float = JOURNAL_LOCK_TIMEOUT_S) -> str:
    """Write the run recorded in a journal file into ``client``; returns its uid.

    A run the catalog already holds complete (with its stop document) is refused: nothing is
    overwritten. A crashed run is repaired: a journal without a stop document gets one
    (:func:`crash_stop`, also appended to the journal), and a catalog entry without a stop
    document (the live writer was cut off) is rewritten from the journal, which holds all of it
    (but a frame reference whose event the killed process never emitted).

    While a live catalog writer still writes the run (:func:`lock_journal`; e.g. the writer of a
    killed session catching up), this waits up to ``lock_timeout_s`` s for it to finish, then
    raises TimeoutError.
    """
    handle = lock_journal(journal, lock_timeout_s)
    if handle is None:
        raise TimeoutError(f"{journal}: a live catalog writer (gi_instrument.catalog_follower) still writes this run "
                           f"after {lock_timeout_s:g} s; let it finish (or end that process), then ingest again")
    with handle:
        items = _without_dangling_frames(close_journal(journal))
        uid = items[0][1]["uid"]
        if uid in client:
            if client[uid].metadata.get("stop") is not None:
                raise ValueError(f"run {uid} is already in the catalog")
            client.delete_contents(uid, recursive=True, external_only=False)
        writer = tiled_writer(client)
        for name, doc in items:
            writer(name, doc)
    writer_error_path(journal).unlink(missing_ok=True)
    return uid
