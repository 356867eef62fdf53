"""CT schedule and time estimate (pure functions, no IOC)."""

from __future__ import annotations

import pytest

from gi_instrument.plans import ct_schedule, estimate_ct_seconds, format_duration
from gi_instrument.profile import load_profile


def test_paper_time_estimates():
    tli, maast = load_profile("tli"), load_profile("maast")
    assert estimate_ct_seconds(tli) == pytest.approx(330000.0)
    assert format_duration(estimate_ct_seconds(tli)) == "91 h 40 min"
    assert estimate_ct_seconds(maast, exposure_s=60) == pytest.approx(233100.0)
    assert format_duration(estimate_ct_seconds(maast, 60)) == "64 h 45 min"
    assert estimate_ct_seconds(maast, 1) / 3600 == pytest.approx(1.1, abs=0.05)
    assert estimate_ct_seconds(maast, 10) / 3600 == pytest.approx(10.8, abs=0.05)
    with pytest.raises(ValueError):
        estimate_ct_seconds(maast, 0)


def test_reference_positions_and_order():
    sched = ct_schedule(load_profile("maast"))
    assert sched.n_projections == 740 and sched.n_references == 37
    assert sched.reference_indices[:3] == [0, 20, 40] and sched.reference_indices[-1] == 720
    items = list(sched.items())
    assert [(i.kind, i.angle_index) for i in items[:3]] == [("reference", 0), ("projection", 0), ("projection", 1)]
    assert sum(i.kind == "projection" for i in items) == 740
    assert items[-1].angle_deg == pytest.approx(184.75)
    final = ct_schedule(load_profile("maast"), final_reference=True)
    assert final.n_references == 38 and list(final.items())[-1].kind == "reference"


def test_resume_keeps_reference_schedule():
    sched = ct_schedule(load_profile("tli"))
    items = list(sched.items(start_index=25))
    assert (items[0].kind, items[0].angle_index) == ("reference", 20)
    assert (items[1].kind, items[1].angle_index) == ("projection", 25)
    later_refs = [i.angle_index for i in items[1:] if i.kind == "reference"]
    assert later_refs[0] == 30 and all(r % 10 == 0 for r in later_refs)
    with pytest.raises(ValueError):
        list(sched.items(start_index=1200))


@pytest.mark.parametrize("kwargs", [dict(angle_step_deg=0.3), dict(reference_every_deg=5.1),
                                    dict(range_deg=-5), dict(angle_step_deg="1")])
def test_bad_overrides(kwargs):
    with pytest.raises(ValueError):
        ct_schedule(load_profile("maast"), **kwargs)
