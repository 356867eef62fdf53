"""The live catalog writer: a process of its own that follows the document journal.

The RunEngine only appends each document to its run's journal (``documents/<uid>.jsonl``,
:func:`gi_instrument.catalog.document_journal`, one flushed line per document);
this follower reads the journals as they grow and writes each run into the catalog with
bluesky-tiled-plugins' TiledWriter in batches of one stepping scan (the run's phase steps), so

- the catalog has each stepping scan within about a poll interval plus one write of it being on
  disk, and another process (viewer, queue client) can follow the CT;
- a slow or failing catalog cannot stall or kill the CT: the RunEngine never waits for it, and
  the follower runs at a lower CPU priority (:data:`NICENESS`). A run the writer fails on (a
  catalog error, an unreadable journal line) is left as it is (a line on stderr and
  ``<uid>.catalog-error`` beside its journal) and the writer goes on with the other runs; the
  journal remains the record: :func:`gi_instrument.catalog.ingest_journal` rewrites it;
- the writer holds the journal's advisory lock while it writes a run
  (:func:`~gi_instrument.catalog.lock_journal`), which ``ingest_journal`` waits for, so the two
  never write one catalog entry at once;
- after ``kill -9`` of the RunEngine's process the follower still writes whatever the journal
  holds, then exits (its parent is gone); ``ingest_journal`` then completes the entry with a stop
  document (exit status ``abort``, reason ``crashed``).

Start it with :class:`CatalogWriter` (``start_session`` does; it restarts a writer that ended),
:func:`start_follower`, or by hand:
``python -m gi_instrument.catalog_follower --data-dir DIR``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from gi_instrument.catalog import (FRAME_REFERENCES, CatalogPaths, catalog_paths, lock_journal, open_catalog,
                                   tiled_writer, writer_error_path)

__all__ = ["JournalFollower", "CatalogWriter", "CatalogWriterError", "start_follower", "wait_for_stop", "main"]

POLL_S = 0.5
"""Seconds between two looks at the journal directory."""
NICENESS = 10
"""The follower runs this much nicer than its parent, so on a busy machine the acquisition (and
the simulated IOC) get the CPU first and the catalog catches up while exposures run."""


class _Followed:
    """One journal being followed: read offset, documents written, the run's writer and the
    journal's lock (:func:`~gi_instrument.catalog.lock_journal`) while the run is written."""

    def __init__(self) -> None:
        self.offset = 0
        self.written = 0
        self.writer: Any = None
        self.lock: BinaryIO | None = None
        self.done = False
        self.pending: list[tuple[str, Any]] = []
        """Frame references not yet followed by an event (held back: see ``_write``)."""

    def finish(self) -> None:
        """Follow the journal no further (its run is written, or left); release its lock."""
        self.done = True
        self.writer = None
        self.pending = []
        if self.lock is not None:
            self.lock.close()
            self.lock = None


class JournalFollower:
    """Writes what the journals in ``paths.documents`` gain into ``client`` (see the module).

    A journal whose run the catalog already holds when it is first seen is left alone (written
    before, or a crashed run for ``ingest_journal``), and so is one whose lock ``ingest_journal``
    holds; every other one is followed from its start, its lock held until the run is written.
    Any error on a run (catalog, unreadable journal line) leaves that run for ``ingest_journal``:
    a line on stderr and :func:`~gi_instrument.catalog.writer_error_path` beside the journal say
    so, and the other runs go on.
    """

    def __init__(self, client: Any, paths: CatalogPaths) -> None:
        self.client = client
        self.paths = paths
        self.journals: dict[Path, _Followed] = {}

    def poll(self) -> int:
        """Feed every complete new line of every journal to its run's writer; returns the number
        of documents written."""
        written = 0
        for journal in sorted(self.paths.documents.glob("*.jsonl")):
            state = self.journals.setdefault(journal, _Followed())
            if state.done:
                continue
            before = state.written
            try:
                self._follow(journal, state)
            except Exception as exc:  # the journal stays the record; ingest_journal repairs it
                self._leave(journal, state, exc)
            written += state.written - before
        return written

    def _follow(self, journal: Path, state: _Followed) -> None:
        with open(journal, "rb") as f:
            f.seek(state.offset)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1  # a line still being written (or cut short by a kill) waits
        for line in chunk[:end].splitlines():
            if line.strip():
                item = json.loads(line)
                self._write(journal, state, item["name"], item["doc"])
                if state.done:
                    return
        state.offset += end

    def _write(self, journal: Path, state: _Followed, name: str, doc: dict[str, Any]) -> None:
        if state.writer is None:
            self._begin(journal, state, name, doc)
            if state.done:
                return
        # A frame reference is written with the next event: the writer writes a stepping scan's
        # references as soon as it has them all, and after a kill between the last reference
        # and its event the catalog would show frames without rows. Those left at the stop
        # are dropped, as ingest_journal does.
        if name in FRAME_REFERENCES:
            state.pending.append((name, doc))
            return
        batch = [(name, doc)] if name == "stop" else [*state.pending, (name, doc)]
        state.pending = []
        for document in batch:
            state.writer(*document)
            state.written += 1
        if name == "stop":
            state.finish()

    def _begin(self, journal: Path, state: _Followed, name: str, doc: dict[str, Any]) -> None:
        """At a journal's first document: take its lock and a writer for its run, or leave it
        (not a run journal, ``ingest_journal`` writes it, or the catalog has it)."""
        if name == "start":
            state.lock = lock_journal(journal, 0)
        if state.lock is None or doc["uid"] in self.client:
            state.finish()
            return
        steps = int(doc.get("profile", {}).get("stepping", {}).get("steps", 1))
        state.writer = tiled_writer(self.client, batch_size=max(1, steps))

    def _leave(self, journal: Path, state: _Followed, exc: Exception) -> None:
        """Leave the run of ``journal`` for ``ingest_journal`` after ``exc``, saying so."""
        error = f"{type(exc).__name__}: {exc}".replace("\n", " ")
        print(f"gi-catalog-follower: run {journal.stem} left for ingest_journal: {error}", file=sys.stderr, flush=True)
        state.finish()
        try:
            writer_error_path(journal).write_text(error + "\n")
        except OSError as note_exc:
            print(f"gi-catalog-follower: cannot write {writer_error_path(journal)}: {note_exc}", file=sys.stderr,
                  flush=True)


def follow(data_dir: str | Path | None, with_parent: bool = False, poll_s: float = POLL_S) -> None:
    """Follow the journals of ``data_dir``; with ``with_parent``, until the parent process is
    gone (this process is re-parented: also when the parent is killed and not yet reaped), then
    write what is left and return."""
    parent = os.getppid()
    if hasattr(os, "nice"):
        os.nice(NICENESS)
    paths = catalog_paths(data_dir)
    follower = JournalFollower(open_catalog(paths.root), paths)
    while True:
        parent_gone = with_parent and os.getppid() != parent
        if follower.poll() == 0 and parent_gone:
            return
        time.sleep(poll_s)


def start_follower(paths: CatalogPaths) -> subprocess.Popen:
    """Start the follower of ``paths`` as a child process that ends after this process does."""
    cmd = [sys.executable, "-m", "gi_instrument.catalog_follower", "--data-dir", str(paths.root),
           "--with-parent"]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL)


class CatalogWriterError(RuntimeError):
    """The live catalog writer will not write a run: it has ended, or it left the run."""


class CatalogWriter:
    """The live catalog writer of ``paths``: a :func:`start_follower` process, started again by
    :meth:`restart_if_ended` when it has ended (crashed, killed); the new one catches up from the
    journals, writing every run the catalog does not hold yet (one it holds half is left to
    ``ingest_journal``)."""

    def __init__(self, paths: CatalogPaths) -> None:
        self.paths = paths
        self.process = start_follower(paths)

    @property
    def pid(self) -> int:
        """The process id of the writer now."""
        return self.process.pid

    def alive(self) -> bool:
        """Whether the writer process runs (one that ended is reaped)."""
        return self.process.poll() is None

    def restart_if_ended(self) -> bool:
        """Start the writer again if it has ended; returns whether it did."""
        if self.alive():
            return False
        self.process = start_follower(self.paths)
        return True

    def problem(self, uid: str) -> str | None:
        """Why the run ``uid`` will not reach the catalog through this writer, or None."""
        if not self.alive():
            return f"the live catalog writer has ended (exit status {self.process.returncode})"
        note = writer_error_path(self.journal(uid))
        if note.is_file():
            return f"the live catalog writer left it after an error ({note.read_text().strip()})"
        return None

    def journal(self, uid: str) -> Path:
        """The journal of run ``uid``."""
        return self.paths.documents / f"{uid}.jsonl"


def wait_for_stop(client: Any, uid: str, timeout_s: float = 60.0, *, writer: CatalogWriter | None = None) -> Any:
    """The run ``uid`` of ``client`` once the catalog has its stop document; TimeoutError after
    ``timeout_s`` s. With ``writer``, CatalogWriterError at once when that writer has ended or
    left the run (see :meth:`CatalogWriter.problem`) and the catalog does not have the run."""
    deadline = time.monotonic() + timeout_s
    while True:
        problem = writer.problem(uid) if writer is not None else None
        if uid in client:
            run = client[uid]
            if run.metadata.get("stop") is not None:
                return run
        if problem is not None:
            journal = writer.journal(uid)
            raise CatalogWriterError(f"run {uid} not complete in the catalog: {problem}; its journal has it: "
                                     f"gi_instrument.catalog.ingest_journal(client, '{journal}') writes it")
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {uid} not complete in the catalog after {timeout_s} s")
        time.sleep(0.2)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m gi_instrument.catalog_follower``."""
    parser = argparse.ArgumentParser(prog="gi-catalog-follower", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None, help="data directory (default $GI_DATA_DIR or ~/gi-data)")
    parser.add_argument("--with-parent", action="store_true",
                        help="exit once the parent process is gone and the journals are written")
    parser.add_argument("--poll-s", type=float, default=POLL_S, help="seconds between looks at the journals")
    args = parser.parse_args(argv)
    if not args.poll_s > 0:
        parser.error(f"--poll-s must be > 0, got {args.poll_s}")
    try:
        follow(args.data_dir, args.with_parent, args.poll_s)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
