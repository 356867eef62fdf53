"""The live catalog writer follows the journal scan by scan, and a killed CT loses nothing:
every completed stepping scan is in the catalog, and ``ingest_journal`` completes the entry."""

from __future__ import annotations

import json
import random
import time

import numpy as np
import pytest
from bluesky import RunEngine
from event_model import unpack_event_page

from gi_instrument.catalog import catalog_paths, document_journal, ingest_journal, read_journal
from gi_instrument.catalog_follower import JournalFollower
from gi_instrument.plans import ct_schedule, gi_ct, gi_ct_resume
from gi_instrument.plans.resume import chain, complete_scans, journal_runs

from ct_process import kill_ct_process, start_ct_process

pytestmark = pytest.mark.ioc

STEPS = 5
CT = dict(exposure_s=60.0, angle_step_deg=5.0, range_deg=40.0, reference_every_deg=20.0, final_reference=True,
          n_darks=2)
"""The CT that ``ct_process.py`` runs and the test kills: 8 projections, references before 0 and 4 and after 7."""


def _complete_scans(items, stream):
    """Angle indices of the stepping scans of ``stream`` whose every step is in ``items``."""
    streams = {doc["uid"]: doc["name"] for name, doc in items if name == "descriptor"}
    steps: dict[int, set[int]] = {}
    for name, page in items:
        if name == "event_page" and streams[page["descriptor"]] == stream:
            for event in unpack_event_page(page):
                steps.setdefault(event["data"]["frame_angle_index"], set()).add(event["data"]["frame_step_index"])
    return sorted(i for i, s in steps.items() if len(s) == STEPS)


def _catalog_scans(catalog, uid, stream):
    run = catalog[uid]
    if stream not in run:
        return []
    node = run[stream]
    angle = np.asarray(node["frame_angle_index"].read() if "frame_angle_index" in node else [], dtype=int)
    frames = node["camera_image"].shape[0] if "camera_image" in node else 0
    assert frames == angle.size  # every row has its frame, and every frame its row
    values, counts = np.unique(angle, return_counts=True)
    return sorted(int(v) for v, c in zip(values, counts) if c == STEPS)


def test_follower_writes_each_stepping_scan_as_it_completes(instrument, catalog, data_dir, tmp_path):
    paths = catalog_paths(data_dir)
    RE = RunEngine({}, call_returns_result=False)   # journal only, set aside, then replayed line by line
    RE.subscribe(document_journal(paths))
    (uid,) = RE(gi_ct(instrument, exposure_s=1.0, angle_step_deg=10.0, range_deg=40.0,
                      reference_every_deg=20.0, n_darks=0))
    journal = paths.documents / f"{uid}.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    journal.unlink()
    follower = JournalFollower(catalog, paths)
    seen: list[int] = []
    with open(journal, "w") as f:
        for n, line in enumerate(lines, 1):
            item = json.loads(line)
            data = item["doc"]["data"] if item["name"] == "event_page" else {}
            last_step = data.get("frame_step_index") == [STEPS - 1] and data["frame_angle_index"][0] >= 0
            f.write(line[:-1])           # a line written halfway is not read
            f.flush()
            follower.poll()
            if last_step:                # all the scan's frame references, not its last event: no frame without its row
                for stream in ("primary", "reference"):
                    _catalog_scans(catalog, uid, stream)
            f.write("\n")
            f.flush()
            if last_step:
                follower.poll()          # the scan's last frame is in the journal: in the catalog now
                items = [(json.loads(x)["name"], json.loads(x)["doc"]) for x in lines[:n]]
                assert _catalog_scans(catalog, uid, "primary") == _complete_scans(items, "primary")
                assert _catalog_scans(catalog, uid, "reference") == _complete_scans(items, "reference")
                seen.append(data["frame_angle_index"][0])
                assert catalog[uid].metadata.get("stop") is None
    follower.poll()
    assert catalog[uid].metadata["stop"]["exit_status"] == "success"
    assert _catalog_scans(catalog, uid, "primary") == [0, 1, 2, 3]
    assert len(seen) == 6                # 4 projections, references before 0 and 2
    with pytest.raises(ValueError, match="already in the catalog"):
        ingest_journal(catalog, journal)


def test_kill_at_random_points_loses_no_completed_scan(sim_ioc, instrument, catalog, data_dir):
    paths = catalog_paths(data_dir)
    rng = random.Random(9)
    # kill at a random number of journal lines: the whole run journals ~140
    for kill_at_line in (rng.randint(10, 110), rng.randint(10, 110)):
        before = set(paths.documents.glob("*.jsonl"))
        ct = start_ct_process(data_dir, sim_ioc.prefix, json.dumps(CT))
        deadline = time.monotonic() + 120
        while True:
            assert time.monotonic() < deadline and ct.proc.poll() is None
            new = set(paths.documents.glob("*.jsonl")) - before
            if new and next(iter(new)).read_bytes().count(b"\n") >= kill_at_line:
                break
            time.sleep(0.01)
        # X-rays off (the watchdog), the catalog writer wrote what the journal holds and ended
        kill_ct_process(ct, instrument.tube, instrument.profile.recovery.watchdog_timeout_s)
        (journal,) = set(paths.documents.glob("*.jsonl")) - before
        items = read_journal(journal)
        uid = items[0][1]["uid"]
        assert items[-1][0] != "stop"
        for stream in ("primary", "reference"):
            assert _catalog_scans(catalog, uid, stream) == _complete_scans(items, stream)
        assert catalog[uid].metadata.get("stop") is None
        assert ingest_journal(catalog, journal) == uid
        run = catalog[uid]
        stop = run.metadata["stop"]
        assert (stop["exit_status"], stop["reason"]) == ("abort", "crashed")
        for stream in ("primary", "reference"):
            assert _catalog_scans(catalog, uid, stream) == _complete_scans(items, stream)
        assert read_journal(journal)[-1] == ("stop", stop)             # the journal has it too
        with pytest.raises(ValueError, match="already in the catalog"):
            ingest_journal(catalog, journal)
    # the last killed CT, continued with one call, is whole
    RE = RunEngine({}, call_returns_result=False)
    RE.subscribe(document_journal(paths))
    (resumed,) = RE(gi_ct_resume(instrument, uid, client=catalog))
    runs = chain(journal_runs(paths.documents), uid)
    assert [r.uid for r in runs] == [uid, resumed]
    schedule = ct_schedule(instrument.profile, **{k: CT[k] for k in (
        "angle_step_deg", "range_deg", "reference_every_deg", "final_reference")})
    assert set().union(*(complete_scans(r.items(), STEPS) for r in runs)) == {
        (item.kind, item.angle_index) for item in schedule.items()}

