"""The run's own record of its interruptions in the live and run windows: a gi_ct suspended by
the tube's interlock on the simulated IOC, followed through a bluesky-0MQ-proxy."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.ioc


def test_live_state_shows_the_suspension_while_it_lasts_and_after(suspended_run):
    """While the run is suspended the live state names the suspender's cause (bluesky's
    ``interruptions`` stream); once it resumed, the ``suspensions`` and ``discarded`` streams
    count it, with their causes, and the run completes."""
    from gi_instrument.viewer.windows import status_text

    uid, state, during = suspended_run
    assert "interlock" in during.suspended_cause and during.suspended_s >= 0
    assert (during.suspensions, during.discarded) == (0, 0)
    assert "SUSPENDED for" in status_text(during) and "interlock" in status_text(during)
    status = state.status()
    assert (status.uid, status.exit_status) == (uid, "success")
    assert status.suspensions == 1 and "interlock" in status.last_suspension_cause
    assert status.discarded == 1 and status.last_discarded_cause.startswith("suspended")
    assert status.suspended_cause == "" and status.projections_done == status.projections_total == 2
    text = status_text(status)
    assert f"suspensions 1 (last: {status.last_suspension_cause})" in text
    assert f"discarded attempts 1 (last: {status.last_discarded_cause})" in text
    assert "SUSPENDED" not in text and "no document" not in text


def test_run_window_shows_the_runs_suspensions(qt_app, qtbot, suspended_run, catalog):
    """The run window reads the same suspension and discarded attempt from the catalog."""
    from gi_instrument.viewer.run_data import RunData
    from gi_instrument.viewer.windows import RunWindow

    uid, state, _ = suspended_run
    window = RunWindow(RunData.open(catalog, uid))
    qtbot.addWidget(window)
    live = state.status()
    assert window.interruptions.text() == (f"suspensions 1 (last: {live.last_suspension_cause}), "
                                           f"discarded attempts 1 (last: {live.last_discarded_cause})")
    (suspension,) = window.data.suspensions
    assert (suspension["stream"], suspension["angle_index"]) == ("reference", 0)
    assert f"during reference 0: {live.last_suspension_cause}" in window.interruptions.toolTip()
    assert "discarded reference 0 attempt" in window.interruptions.toolTip()
