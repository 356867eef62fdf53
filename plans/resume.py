"""What a CT split over runs has done so far, and which run a resumed or re-queued CT continues.

Pure functions of bluesky documents, as the journal (``documents/<uid>.jsonl``) holds them; no
hardware, no catalog. A run that continues another records ``resumes: <uid>`` in its start
document, so the runs of one CT form a chain from the first to the latest. ``gi_ct_resume``,
the queue server's startup and ``gi-process`` all decide with these functions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from event_model import unpack_event_page

from gi_instrument.catalog import read_journal

__all__ = ["RESUMES_KEY", "QUEUE_REQUEST_KEY", "KINDS", "JournalRun", "complete_scans", "journal_runs", "find_journal", "chain",
           "run_to_requeue"]

RESUMES_KEY = "resumes"
"""Start-document key of a run that continues another: the uid of the run it continues."""

QUEUE_REQUEST_KEY = "queue_request"
"""Start-document key under which the queue server's startup records a queued CT's arguments."""

KINDS = {"primary": "projection", "reference": "reference"}
"""Stream name → schedule item kind (:class:`~gi_instrument.plans.schedule.ScheduleItem`)."""


def complete_scans(items: Iterable[tuple[str, Mapping[str, Any]]], steps: int) -> set[tuple[str, int]]:
    """(kind, angle index) of every stepping scan of which all ``steps`` frames are among the
    documents ``items`` ((name, document) pairs of one run)."""
    streams: dict[str, str] = {}
    seen: dict[tuple[str, int], set[int]] = {}
    for name, doc in items:
        if name == "descriptor":
            streams[doc["uid"]] = doc["name"]
            continue
        if name not in ("event", "event_page") or streams.get(doc["descriptor"]) not in KINDS:
            continue
        kind = KINDS[streams[doc["descriptor"]]]
        for event in (unpack_event_page(doc) if name == "event_page" else [doc]):
            data = event["data"]
            seen.setdefault((kind, int(data["frame_angle_index"])), set()).add(int(data["frame_step_index"]))
    return {key for key, found in seen.items() if found >= set(range(steps))}


@dataclass(frozen=True)
class JournalRun:
    """A run as its journal records it: start document, stop document (``None``: the process
    died before the run ended) and the journal's path."""

    start: dict[str, Any]
    stop: dict[str, Any] | None
    path: Path

    @property
    def uid(self) -> str:
        return str(self.start["uid"])

    @property
    def succeeded(self) -> bool:
        """The run ended with exit status ``success``."""
        return self.stop is not None and self.stop.get("exit_status") == "success"

    def items(self) -> list[tuple[str, dict[str, Any]]]:
        """All its documents."""
        return read_journal(self.path)


def _first_and_last_lines(path: Path) -> tuple[str, str]:
    with open(path, "rb") as f:
        first = f.readline()
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - (1 << 16)))
        tail = f.read().splitlines()
    complete = [line for line in tail if line.strip()]
    return first.decode(), (complete[-1].decode() if complete else "")


def journal_runs(documents_dir: str | Path) -> list[JournalRun]:
    """Every run journaled in ``documents_dir``, oldest first (start time); reads only the first
    and last lines of each journal."""
    runs = []
    for path in Path(documents_dir).glob("*.jsonl"):
        first, last = _first_and_last_lines(path)
        try:
            start = json.loads(first)
        except ValueError:
            continue
        if start.get("name") != "start":
            continue
        try:
            end = json.loads(last)
        except ValueError:  # a last line cut short by a crash
            end = {}
        stop = end.get("doc") if end.get("name") == "stop" else None
        runs.append(JournalRun(start["doc"], stop, path))
    return sorted(runs, key=lambda run: run.start["time"])


def find_journal(runs: Iterable[JournalRun], uid: str) -> JournalRun:
    """The run whose uid is or begins with ``uid``; ValueError if none or several."""
    found = [run for run in runs if run.uid.startswith(uid)]
    if len(found) != 1:
        raise ValueError(f"{'no' if not found else 'more than one'} journaled run with uid {uid!r}")
    return found[0]


def chain(runs: Iterable[JournalRun], uid: str) -> list[JournalRun]:
    """The runs of the CT that ``uid`` belongs to, first to latest: followed back through
    ``resumes`` and forward through the runs that resume it (the latest when a run was resumed
    twice)."""
    runs = list(runs)
    by_uid = {run.uid: run for run in runs}
    later = {run.start[RESUMES_KEY]: run for run in runs if run.start.get(RESUMES_KEY)}  # latest wins
    first = find_journal(runs, uid)
    out = [first]
    while (previous := out[0].start.get(RESUMES_KEY)) is not None:
        if previous not in by_uid:
            raise ValueError(f"run {out[0].uid} resumes run {previous}, which has no journal")
        out.insert(0, by_uid[previous])
    while out[-1].uid in later:
        out.append(later[out[-1].uid])
    return out


def run_to_requeue(runs: Iterable[JournalRun], request: Mapping[str, Any],
                   key: str = QUEUE_REQUEST_KEY) -> JournalRun | None:
    """The run a re-queued CT continues: the latest ``gi_ct`` run, if its start document carries
    ``request`` under ``key`` (the same queue request) and it did not end with success; else
    ``None`` (start afresh)."""
    cts = [run for run in runs if run.start.get("plan_name") == "gi_ct"]
    if not cts:
        return None
    latest = cts[-1]
    if latest.succeeded or latest.start.get(key) != dict(request):
        return None
    return latest
