"""Resuming a CT: which stepping scans a chain of runs holds (pure functions, no IOC), and
``gi_ct_resume`` continuing a failed and a killed CT against the simulated IOC."""

from __future__ import annotations

import json

import numpy as np
import pytest
from event_model import compose_run

from gi_instrument.catalog import catalog_paths, document_journal, tiled_writer
from gi_instrument.plans import ct_schedule, gi_ct, gi_ct_resume
from gi_instrument.plans.resume import JournalRun, chain, complete_scans, journal_runs, run_to_requeue
from gi_instrument.profile import load_profile


def _schedule(final=True):
    # 8 projections, references before 0 and 4 (+ the final one)
    return ct_schedule(load_profile("maast"), angle_step_deg=5.0, range_deg=40.0, reference_every_deg=20.0,
                       final_reference=final)


def _done(schedule, upto):
    """The first ``upto`` items of ``schedule`` as (kind, angle index)."""
    return [(item.kind, item.angle_index) for item in list(schedule.items())[:upto]]


def test_resume_index_is_the_first_missing_item():
    sched = _schedule()
    order = _done(sched, 99)
    assert order[:3] == [("reference", 0), ("projection", 0), ("projection", 1)]
    assert sched.resume_index([]) == 0
    assert sched.resume_index(_done(sched, 3)) == 2                    # projection 2 is next
    assert sched.resume_index(_done(sched, 5)) == 4                    # the reference before 4 is next
    assert sched.resume_index(_done(sched, 6)) == 4                    # projection 4 (its reference is repeated)
    assert [(i.kind, i.angle_index) for i in sched.items(4)][:2] == [("reference", 4), ("projection", 4)]
    assert [(i.kind, i.angle_index) for i in sched.items(6)][:2] == [("reference", 4), ("projection", 6)]
    only_final = sched.resume_index(order[:-1])                        # only the final reference missing
    assert only_final == 8 and [(i.kind, i.angle_index) for i in sched.items(only_final)] == [("reference", 8)]
    with pytest.raises(ValueError, match="nothing to resume"):
        sched.resume_index(order)
    with pytest.raises(ValueError, match="start_index"):
        list(_schedule(final=False).items(8))                          # no final reference to take alone


def _run_documents(scans, steps=5, resumes=None, stop=True):
    """Journal items of a run holding ``scans`` ((stream, angle index, n steps taken))."""
    md = {"plan_name": "gi_ct", **({"resumes": resumes} if resumes else {})}
    run = compose_run(metadata=md)
    items = [("start", run.start_doc)]
    keys = {k: {"source": "sim", "dtype": "integer", "shape": []} for k in ("frame_angle_index", "frame_step_index")}
    descs = {}
    for stream in ("primary", "reference"):
        descs[stream] = run.compose_descriptor(name=stream, data_keys=keys)
        items.append(("descriptor", descs[stream].descriptor_doc))
    for stream, angle, taken in scans:
        for k in range(taken):
            items.append(("event", descs[stream].compose_event(
                data={"frame_angle_index": angle, "frame_step_index": k},
                timestamps={"frame_angle_index": 0, "frame_step_index": 0})))
    if stop:
        items.append(("stop", run.compose_stop(exit_status="fail")))
    return items


def test_complete_scans_skip_partial_ones():
    items = _run_documents([("reference", 0, 5), ("primary", 0, 5), ("primary", 1, 3)])
    assert complete_scans(items, 5) == {("reference", 0), ("projection", 0)}


def _journal(tmp_path, items):
    path = tmp_path / f"{items[0][1]['uid']}.jsonl"
    path.write_text("".join(json.dumps({"name": n, "doc": d}) + "\n" for n, d in items))
    return path


def test_chain_and_requeue_from_journals(tmp_path):
    first = _run_documents([("reference", 0, 5), ("primary", 0, 5)])
    first[0][1]["queue_request"] = {"exposure_s": 10.0}
    second = _run_documents([("primary", 1, 5)], resumes=first[0][1]["uid"], stop=False)
    second[0][1]["queue_request"] = {"exposure_s": 10.0}
    second[0][1]["time"] = first[0][1]["time"] + 10
    other = _run_documents([], stop=True)
    other[0][1]["plan_name"] = "phase_step"
    other[0][1]["time"] = first[0][1]["time"] - 10
    for items in (first, second, other):
        _journal(tmp_path, items)
    runs = journal_runs(tmp_path)
    assert [r.uid for r in runs] == [other[0][1]["uid"], first[0][1]["uid"], second[0][1]["uid"]]
    assert runs[2].stop is None and runs[1].stop["exit_status"] == "fail"
    for uid in (first[0][1]["uid"], second[0][1]["uid"][:8]):          # any run of the chain, or a uid's beginning
        assert [r.uid for r in chain(runs, uid)] == [first[0][1]["uid"], second[0][1]["uid"]]
    assert run_to_requeue(runs, {"exposure_s": 10.0}, "queue_request").uid == second[0][1]["uid"]
    assert run_to_requeue(runs, {"exposure_s": 20.0}, "queue_request") is None   # another request: afresh
    done = JournalRun({**second[0][1]}, {"exit_status": "success"}, runs[2].path)
    assert run_to_requeue([*runs[:2], done], {"exposure_s": 10.0}, "queue_request") is None
    with pytest.raises(ValueError, match="no journaled run"):
        chain(runs, "not-a-uid")


def _fail_after(n_scans, stream="primary", steps=0):
    """A RunEngine subscriber that raises once ``n_scans`` stepping scans of ``stream`` and
    ``steps`` frames of the next are done."""
    state = {"descriptor": None, "events": 0}

    def callback(name, doc):
        if name == "descriptor" and doc["name"] == stream:
            state["descriptor"] = doc["uid"]
        if name == "event" and doc["descriptor"] == state["descriptor"]:
            state["events"] += 1
            if state["events"] == 5 * n_scans + steps:
                raise RuntimeError("simulated failure")
    return callback


def _failed_ct(instrument, data_dir, failure, catalog=None, **kwargs):
    """A journaled RunEngine (also writing to ``catalog`` if given) and the run of
    ``gi_ct(instrument, **kwargs)`` that the subscriber ``failure`` made fail
    (:func:`_fail_after`); the RunEngine then collects its documents in the returned list."""
    from bluesky import RunEngine

    paths = catalog_paths(data_dir)
    RE = RunEngine({}, call_returns_result=False)
    RE.subscribe(document_journal(paths))
    if catalog is not None:
        RE.subscribe(tiled_writer(catalog))
    token = RE.subscribe(failure)
    with pytest.raises(RuntimeError, match="simulated failure"):
        RE(gi_ct(instrument, **kwargs))
    RE.unsubscribe(token)
    first = journal_runs(paths.documents)[-1]
    assert first.stop["exit_status"] == "fail"
    docs = []
    RE.subscribe(lambda name, doc: docs.append((name, doc)))
    return RE, first, docs


@pytest.mark.ioc
def test_failed_ct_resumes_from_its_first_missing_scan(instrument, catalog, data_dir):
    kwargs = dict(exposure_s=1.0, angle_step_deg=10.0, range_deg=60.0, reference_every_deg=30.0,
                  final_reference=True, n_darks=0, md={"sample": "phantom A"})
    RE, first, docs = _failed_ct(instrument, data_dir, _fail_after(3), **kwargs)
    paths = catalog_paths(data_dir)
    (second_uid,) = RE(gi_ct_resume(instrument, first.uid[:8]))
    start = docs[0][1]
    assert start["resumes"] == first.uid and start["sample"] == "phantom A"
    assert start["plan_args"]["start_index"] == 3 and start["plan_args"]["exposure_s"] == 1.0
    runs = chain(journal_runs(paths.documents), first.uid)
    assert [r.uid for r in runs] == [first.uid, second_uid]
    sched = ct_schedule(instrument.profile, angle_step_deg=10.0, range_deg=60.0, reference_every_deg=30.0,
                        final_reference=True)
    assert set().union(*(complete_scans(r.items(), 5) for r in runs)) == {
        (i.kind, i.angle_index) for i in sched.items()}
    with pytest.raises(ValueError, match="nothing to resume"):
        gi_ct_resume(instrument, second_uid)


@pytest.mark.ioc
def test_ct_failed_in_its_final_reference_resumes_with_the_final_reference_alone(instrument, catalog, data_dir):
    from gi_instrument.processing.catalog_reader import open_ct_chain

    grid = dict(angle_step_deg=10.0, range_deg=60.0, reference_every_deg=30.0, final_reference=True)
    sched = ct_schedule(instrument.profile, **grid)            # 6 projections, references before 0, 3, 6
    kwargs = dict(exposure_s=1.5, n_darks=1, n_darks_end=2, g2_origin_um=0.4, **grid)
    # fails 3 steps into its third reference scan, the final one
    RE, first, docs = _failed_ct(instrument, data_dir, _fail_after(2, "reference", steps=3), catalog,
                                 md={"sample": "phantom B"}, **kwargs)
    steps = instrument.profile.stepping.steps
    all_items = {(i.kind, i.angle_index) for i in sched.items()}
    assert all_items - complete_scans(first.items(), steps) == {("reference", sched.n_projections)}

    (second_uid,) = RE(gi_ct_resume(instrument, first.uid[:8]))
    start = dict(docs)["start"]
    assert start["uid"] == second_uid and start["resumes"] == first.uid and start["sample"] == "phantom B"
    args = start["plan_args"]
    assert args["start_index"] == sched.n_projections
    assert {**args, "start_index": 0} == first.start["plan_args"]          # the same schedule and settings
    assert (args["exposure_s"], args["n_darks"], args["n_darks_end"], args["g2_origin_um"]) == (1.5, 1, 2, 0.4)
    # the resumed run takes the final reference alone: no projection again
    second = chain(journal_runs(catalog_paths(data_dir).documents), first.uid)
    assert [r.uid for r in second] == [first.uid, second_uid]
    assert complete_scans(second[1].items(), steps) == {("reference", sched.n_projections)}
    streams = {doc["uid"]: doc["name"] for name, doc in docs if name == "descriptor"}
    assert "primary" not in {streams[doc["descriptor"]] for name, doc in docs if name == "event"}
    assert set().union(*(complete_scans(r.items(), steps) for r in second)) == all_items

    # gi-process reads the two runs as one complete CT: 6 projections, all 3 reference scans
    ct = open_ct_chain(catalog, second_uid)
    assert ct.uids == [first.uid, second_uid] and ct.incomplete is None
    assert sorted(set(ct.primary.angle_index.tolist())) == list(range(sched.n_projections))
    assert ct.primary.angle_index.size == sched.n_projections * steps
    assert ct.reference.angle_index.size == 3 * steps
    sino = ct.sinograms(progress=False)                        # the final reference read from the resume
    assert sino.angle_index.tolist() == list(range(sched.n_projections))
    assert np.isfinite(sino.transmission).all() and np.isfinite(sino.dpc).all()
