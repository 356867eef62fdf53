"""The live catalog writer: a process of its own that follows the document journal.

The RunEngine only appends each document to its run's journal (``documents/<uid>.jsonl``,
:func:`gi_instrument.catalog.document_journal`, one flushed line per document);
this follower reads the journals as they grow and writes each run into the catalog with
bluesky-tiled-plugins' TiledWriter in batches of one stepping scan (the run's phase steps), so

- the catalog has each stepping scan within about a poll interval plus one write of it being on
  disk, and another process (viewer, queue client) can follow the CT;
- a slow or failing catalog cannot stall or kill the CT: the RunEngine never waits for it, and
  the follower runs at a lower CPU priority (:data:`NICENESS`). A run
  the writer fails on is left as it is (a line on stderr) and the journal remains the record:
  :func:`gi_instrument.catalog.ingest_journal` rewrites it;
- after ``kill -9`` of the RunEngine's process the follower still writes whatever the journal
  holds, then exits (its parent is gone); ``ingest_journal`` then completes the entry with a stop
  document (exit status ``abort``, reason ``crashed``).

Start it with :func:`start_follower` (``start_session`` does), or by hand:
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
from typing import Any

from gi_instrument.catalog import FRAME_REFERENCES, CatalogPaths, catalog_paths, open_catalog, tiled_writer

__all__ = ["JournalFollower", "start_follower", "wait_for_stop", "main"]

POLL_S = 0.5
"""Seconds between two looks at the journal directory."""
NICENESS = 10
"""The follower runs this much nicer than its parent, so on a busy machine the acquisition (and
the simulated IOC) get the CPU first and the catalog catches up while exposures run."""


class _Followed:
    """One journal being followed: read offset and the run's writer (``None``: not followed)."""

    def __init__(self) -> None:
        self.offset = 0
        self.writer: Any = None
        self.done = False
        self.pending: list[tuple[str, Any]] = []
        """Frame references not yet followed by an event (held back: see ``_follow``)."""


class JournalFollower:
    """Writes what the journals in ``paths.documents`` gain into ``client`` (see the module).

    A journal whose run the catalog already holds when it is first seen is left alone (written
    before, or a crashed run for ``ingest_journal``); every other one is followed from its start.
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
            if not state.done:
                written += self._follow(journal, state)
        return written

    def _follow(self, journal: Path, state: _Followed) -> int:
        with open(journal, "rb") as f:
            f.seek(state.offset)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1  # a line still being written waits for the next poll
        written = 0
        for line in chunk[:end].splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            name, doc = item["name"], item["doc"]
            if state.writer is None:
                if name != "start" or doc["uid"] in self.client:
                    state.done = True
                    return written
                steps = int(doc.get("profile", {}).get("stepping", {}).get("steps", 1))
                state.writer = tiled_writer(self.client, batch_size=max(1, steps))
            # A frame reference is written with the next event: the writer writes a stepping scan's
            # references as soon as it has them all, and after a kill between the last reference
            # and its event the catalog would show frames without rows. Those left at the stop
            # are dropped, as ingest_journal does.
            if name in FRAME_REFERENCES:
                state.pending.append((name, doc))
                continue
            batch = [(name, doc)] if name == "stop" else [*state.pending, (name, doc)]
            state.pending = []
            try:
                for document in batch:
                    state.writer(*document)
            except Exception as exc:  # the journal stays the record; ingest_journal repairs it
                print(f"gi-catalog-follower: run {journal.stem} left for ingest_journal after a "
                      f"failed {name} write: {exc}", file=sys.stderr, flush=True)
                state.done = True
                return written
            written += len(batch)
            if name == "stop":
                state.done = True
                state.writer = None
                return written
        state.offset += end
        return written


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


def wait_for_stop(client: Any, uid: str, timeout_s: float = 60.0) -> Any:
    """The run ``uid`` of ``client`` once the catalog has its stop document; TimeoutError after
    ``timeout_s`` s."""
    deadline = time.monotonic() + timeout_s
    while True:
        if uid in client:
            run = client[uid]
            if run.metadata.get("stop") is not None:
                return run
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
