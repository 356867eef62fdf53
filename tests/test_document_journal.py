"""The document journal: one file per run, every document on disk as it is made."""

from __future__ import annotations

import json

from bluesky import RunEngine
from bluesky.plans import count
from event_model import pack_event_page
from ophyd.sim import det

from gi_instrument.catalog import DocumentJournal, read_journal


def test_each_run_gets_its_documents_in_order_and_on_disk_at_once(tmp_path):
    RE = RunEngine({})
    seen: list[tuple[str, dict]] = []
    journal = DocumentJournal(tmp_path)

    def check_on_disk(name, doc):
        journal(name, doc)
        run = doc["uid"] if name == "start" else seen[0][1]["uid"]
        expected = ("event_page", pack_event_page(doc)) if name == "event" else (name, doc)   # events as pages
        assert read_journal(tmp_path / f"{run}.jsonl")[-1] == tuple(json.loads(json.dumps(expected)))
        seen.append((name, doc))

    RE.subscribe(check_on_disk)
    RE(count([det], num=3))
    assert [name for name, _ in seen] == ["start", "descriptor", "event", "event", "event", "stop"]
    first = seen[0][1]["uid"]
    seen.clear()
    RE(count([det], num=2))
    assert len(list(tmp_path.glob("*.jsonl"))) == 2
    assert len(read_journal(tmp_path / f"{first}.jsonl")) == 6     # the next run wrote nothing into it


def test_documents_of_interleaved_runs_go_to_their_own_files(tmp_path):
    journal = DocumentJournal(tmp_path)
    docs = [("start", {"uid": "a", "time": 0.0}), ("start", {"uid": "b", "time": 0.0}),
            ("descriptor", {"uid": "da", "run_start": "a"}), ("descriptor", {"uid": "db", "run_start": "b"}),
            ("stream_resource", {"uid": "ra", "run_start": "a"}),
            ("event_page", {"descriptor": "db", "seq_num": [1]}), ("stream_datum", {"stream_resource": "ra"}),
            ("event_page", {"descriptor": "da", "seq_num": [1]}),
            ("stop", {"run_start": "b"}), ("stop", {"run_start": "a"})]
    for name, doc in docs:
        journal(name, doc)
    for run in ("a", "b"):
        mine = [(n, d) for n, d in docs if run in (d.get("uid"), d.get("run_start"))
                or d.get("descriptor") == f"d{run}" or d.get("stream_resource") == f"r{run}"]
        assert read_journal(tmp_path / f"{run}.jsonl") == mine
