"""The whole night, as a test: one simulated CT with two tube arcs, the interlock opening, a
rotation stall and ``kill -9`` of the process that runs it, continued with exactly one
``gi_ct_resume`` call and no other human action, gives one tomogram from ``gi-process`` whose
delta matches an undisturbed scan of the same phantom as closely as two undisturbed scans match
each other.

The CT runs as a user's session runs it (tests/ct_process.py: ``start_session``, with its
suspenders, tube heartbeat and live catalog writer). In the first process a short arc strikes
inside an exposure and the interlock opens for ten nominal minutes; the process is then killed
mid-CT, and the tube's watchdog switches the X-rays off. A second session makes the one
``gi_ct_resume`` call; in its run the rotation stalls and a long arc strikes. ``gi-process``'s
:func:`~gi_instrument.process_cli.process_run` then processes the chain from the killed run's uid.

How the match is measured (tests/delta_comparison.py): the chain D and two undisturbed runs A
and B are reconstructed about one fixed axis (the detector centre); on the 5 central delta
slices RMS(D - A) <= 1.5 x RMS(B - A) and r(D, A) >= r(B, A) - 0.05.
"""

from __future__ import annotations

import json

import pytest

from gi_instrument.catalog import catalog_paths, read_journal
from gi_instrument.plans import ct_schedule
from gi_instrument.plans.resume import chain, complete_scans, journal_runs
from gi_instrument.processing.catalog_reader import open_ct_chain
from gi_instrument.processing.quality_report import run_interruptions
from gi_instrument.sim.fault_script import FaultScript, FaultStep

from ct_process import kill_ct_process, start_ct_process, wait_for_complete_scan
from delta_comparison import CT, N_PROJECTIONS, assert_delta_matches, central_delta

pytestmark = [pytest.mark.ioc, pytest.mark.timeout(300)]

STEPS = 5
KILL_AFTER_PROJECTION = 6
"""The first process is killed once projection 6 is complete (the resumed run starts at 7)."""

BEFORE_THE_KILL = [                                       # frames counted from the first dark
    FaultStep(8, "TUBE:ArcInExposure", 0.3),               # an arc of 0.3 s inside a 60 s exposure
    FaultStep(20, "TUBE:InterlockOpen", 1, hold_s=600.0, reset=0),   # closed ten minutes later
]
AFTER_THE_RESUME = [
    FaultStep(8, "ROT:Stall", 1),                          # the next rotation stops half-way
    FaultStep(16, "TUBE:Arc", 120.0),                      # an arc longer than an exposure
]


def interruption_causes(run) -> str:
    """The causes of a run's suspensions and discarded tries, one string (tiled run node)."""
    recorded = run_interruptions(run)
    return " | ".join([s["cause"] for s in recorded["suspensions"]] +
                      [d["cause"] for d in recorded["discarded_attempts"]])


def test_killed_night_resumed_with_one_call_gives_one_tomogram(sim_ioc, instrument, catalog, data_dir,
                                                               undisturbed_cts, tmp_path):
    paths = catalog_paths(data_dir)
    tube, watchdog_s = instrument.tube, instrument.profile.recovery.watchdog_timeout_s
    before = set(paths.documents.glob("*.jsonl"))

    script = FaultScript(sim_ioc.prefix, BEFORE_THE_KILL, time_scale=sim_ioc.time_scale)
    script.start()
    first_ct = start_ct_process(data_dir, sim_ioc.prefix, json.dumps(CT))
    journal = wait_for_complete_scan(paths.documents, before, ("projection", KILL_AFTER_PROJECTION), first_ct, STEPS,
                                     ready=lambda: not script.is_alive())
    assert script.error is None and len(script.played) == len(BEFORE_THE_KILL), (script.error, script.played)
    # mid-CT, X-rays on; once the process is gone, the tube's watchdog switches them off
    assert kill_ct_process(first_ct, tube, watchdog_s)
    assert not tube.xray_on.get(use_monitor=False) and "watchdog" in tube.last_fault.get(use_monitor=False)
    killed = read_journal(journal)[0][1]["uid"]
    assert catalog[killed].metadata.get("stop") is None   # the writer was cut off with the process

    # the one human action: gi_ct_resume(uid), in a new session
    script = FaultScript(sim_ioc.prefix, AFTER_THE_RESUME, time_scale=sim_ioc.time_scale)
    script.start()
    resume = start_ct_process(data_dir, sim_ioc.prefix, "--resume", killed)
    out, _ = resume.proc.communicate(timeout=180)
    assert resume.proc.returncode == 0, out
    script.join(timeout=30)
    assert script.error is None and len(script.played) == len(AFTER_THE_RESUME), (script.error, script.played)
    resumed = out.split("run ")[-1].strip()

    # right after RE() returned, the catalog held every event and frame of the resumed run
    held = json.loads(out.split("catalog ")[1].splitlines()[0])
    stop = catalog[resumed].metadata["stop"]
    assert stop["exit_status"] == "success"
    assert held == {stream: [n, n] for stream, n in stop["num_events"].items() if stream in held}
    assert set(held) == {"dark", "reference", "primary"}

    # one chain: the killed run (closed as crashed by the resume) and the run that continues it
    runs = chain(journal_runs(paths.documents), resumed)
    assert [r.uid for r in runs] == [killed, resumed]
    assert (catalog[killed].metadata["stop"]["exit_status"], catalog[killed].metadata["stop"]["reason"]) == (
        "abort", "crashed")
    assert catalog[resumed].metadata["start"]["resumes"] == killed
    assert catalog[resumed].metadata["start"]["plan_args"]["start_index"] == KILL_AFTER_PROJECTION + 1
    schedule = ct_schedule(instrument.profile, **{k: CT[k] for k in ("angle_step_deg", "range_deg",
                                                                     "reference_every_deg", "final_reference")})
    assert set().union(*(complete_scans(r.items(), STEPS) for r in runs)) == {
        (item.kind, item.angle_index) for item in schedule.items()}
    # the faults were ridden out inside each run, and each run records them with their causes
    before_kill, after_resume = interruption_causes(catalog[killed]), interruption_causes(catalog[resumed])
    assert "arc" in before_kill and "interlock" in before_kill, before_kill
    assert "arc" in after_resume and "rotation" in after_resume, after_resume

    # gi-process: one tomogram from the chain, each projection once, from any uid of the chain
    ct = open_ct_chain(catalog, killed)
    assert ct.uids == [killed, resumed] and not ct.incomplete
    assert sorted(int(i) for i in ct.primary.angle_index) == sorted(
        i for i in range(N_PROJECTIONS) for _ in range(STEPS))
    _, (a, b) = undisturbed_cts
    assert_delta_matches(a, b, central_delta(ct, tmp_path / "night"))
