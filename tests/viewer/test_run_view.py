"""The run and live windows on a small gi_ct of the simulated IOC, published through a
bluesky-0MQ-proxy and followed by the live state as it ran."""

from __future__ import annotations

import numpy as np
import pytest

from gi_instrument.processing import fit_stepping, retrieve
from gi_instrument.profile import load_profile

pytestmark = pytest.mark.ioc


@pytest.fixture
def run_window(qt_app, qtbot, live_run, catalog):
    from gi_instrument.viewer.run_data import RunData
    from gi_instrument.viewer.windows import RunWindow

    window = RunWindow(RunData.open(catalog, live_run[0]))
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_the_fringe_is_visible_in_the_frame_view(run_window, rendered):
    """The rendered frame of a reference scan follows the fitted fringe cos(2 pi x_k / p2 + phi)
    at its step (the moire of the interferometer), and moves with the phase step."""
    view = run_window.view
    run_window.select("reference", 0, 0)
    scan = view.scan
    fit = fit_stepping(scan.frames, view.dark, scan.positions_um, run_window.data.period_um)
    view.frame_panel.marker.clear()
    for step in (0, 2):
        run_window.step.setValue(step)  # as the step slider does
        fringe = np.cos(2 * np.pi * scan.positions_um[step] / run_window.data.period_um + fit.phase)
        shown = rendered(view.frame_panel)
        assert np.corrcoef(shown[2:-2, 2:-2].ravel(), fringe[2:-2, 2:-2].ravel())[0, 1] > 0.8, step
    assert "reference 1/3" in view.frame_panel.plot.titleLabel.text


def test_fitted_visibility_at_a_pixel_matches_the_profile(run_window):
    """A click on a pixel shows its stepping curve: the fitted sinusoid goes through the measured
    points and its visibility is the profile's (16 % for MAAST, within the simulated map's
    non-uniformity)."""
    view = run_window.view
    run_window.select("reference", 1, 0)
    rows, cols = view.scan.frames.shape[1:]
    for row, col in ((rows // 2, cols // 2), (rows // 3, 2 * cols // 3)):
        view.frame_panel.pixel_clicked.emit(row, col)  # what a mouse click on the frame emits
        x, y = view.stepping.model.getData()
        shown_v = (y.max() - y.min()) / (y.max() + y.min())
        assert shown_v == pytest.approx(view.stepping.curve.visibility, rel=1e-3)
        assert shown_v == pytest.approx(load_profile("maast").performance.visibility, rel=0.25)
        assert f"V = {100 * view.stepping.curve.visibility:.1f} %" in view.stepping.plotItem.titleLabel.text
        px, py = view.stepping.points.getData()
        model_at_points = np.interp(px, x, y)
        assert np.abs(py - model_at_points).max() < 0.1 * (y.max() - y.min())
        assert view.pixel == (row, col)


def test_signals_of_a_projection_against_its_reference(run_window):
    """The T / DPC / dark-field panels show the retrieval of the projection against the
    reference taken before it (dark subtracted, measured G2 positions)."""
    data = run_window.data
    run_window.select("primary", 3, 0)
    sample, reference = data.scan("primary", 3), data.reference_for(3)
    assert reference.angle_index == 2  # references every 10 deg = 2 projections
    expected = retrieve(sample.frames, reference.frames, dark=data.dark, positions_um=sample.positions_um,
                        reference_positions_um=reference.positions_um, period_um=data.period_um)
    panels = run_window.view.signals_panel.panels
    for name in ("transmission", "dpc", "darkfield"):
        np.testing.assert_allclose(panels[name].image, getattr(expected, name), atol=1e-6)
    assert np.mean(panels["transmission"].image) < 0.9  # the specimen attenuates
    assert panels["visibility"].image.mean() == pytest.approx(0.16, rel=0.2)


def test_live_state_followed_the_run(live_run, catalog):
    uid, state, _ = live_run
    status = state.status()
    assert (status.uid, status.running, status.exit_status) == (uid, False, "success")
    assert status.projections_done == status.projections_total == 4
    assert status.frames_done == status.frames_expected == 2 * 2 + (4 + 3) * 5  # darks at both ends
    assert status.time_left_s == 0 and (status.suspensions, status.discarded) == (0, 0)
    assert len(status.dark) == 2 * 2  # start and end
    assert (status.latest_scan.stream, status.latest_scan.angle_index) == ("reference", 4)  # the final one
    assert status.latest_primary.angle_index == 3
    frames = status.latest_primary.read().frames  # straight from the detector's files
    np.testing.assert_array_equal(frames, catalog[uid]["primary"]["camera_image"][15:20])


def test_live_window_reads_only_the_newest_scans(qt_app, qtbot, live_run, monkeypatch):
    """After the whole run arrived without a redraw, one refresh reads the dark frames, the newest
    reference and the newest projection: the 5 scans in between are skipped, not queued."""
    from gi_instrument.viewer import live, windows

    reads = []

    def counting(refs):
        reads.append(len(refs))
        return real(refs)

    real = live.read_frames
    monkeypatch.setattr(live, "read_frames", counting)
    monkeypatch.setattr(windows, "read_frames", counting)
    uid, state, _ = live_run
    window = windows.LiveWindow(state, refresh_s=60)
    qtbot.addWidget(window)
    window.refresh()
    assert sorted(reads) == [4, 5, 5]  # the 2 + 2 darks of both ends, two stepping scans
    text = window.status_label.text()
    assert f"run {uid[:8]} gi_ct: finished (success)" in text and "projections 4 / 4" in text
    assert "frames 39 / 39" in text and "suspensions 0, discarded attempts 0" in text
    status = state.status()
    view = window.view
    np.testing.assert_array_equal(view.frame_panel.image, status.latest_reference.read().frames[-1])
    expected = retrieve(status.latest_primary.read().frames, status.latest_reference.read().frames,
                        dark=live.read_frames(list(status.dark)),
                        positions_um=status.latest_primary.positions_um,
                        reference_positions_um=status.latest_reference.positions_um, period_um=3.0)
    np.testing.assert_allclose(view.signals_panel.panels["dpc"].image, expected.dpc, atol=1e-6)
    before = len(reads)
    window.refresh()  # nothing new: nothing read
    assert len(reads) == before


def test_a_viewer_started_mid_run_catches_up_from_the_journal(live_run, tmp_path):
    """A viewer that missed the start of the run replays it from the document journal at the
    first unknown event, then carries on with the stream; frames seen twice count once."""
    from gi_instrument.catalog import catalog_paths, document_journal
    from gi_instrument.viewer.live import LiveState, journal_catch_up

    uid, followed, docs = live_run
    paths = catalog_paths(tmp_path)
    journal = document_journal(paths)
    events = [i for i, (name, _) in enumerate(docs) if name == "event"]
    middle = events[len(events) // 2]
    for name, doc in docs[:middle + 4]:  # the journal is written before the documents are published
        journal(name, doc)
    late = LiveState(catch_up=journal_catch_up(paths.documents))
    for name, doc in docs[middle:]:
        late(name, doc)
    status, full = late.status(), followed.status()
    assert (status.uid, status.frames_done, status.projections_done) == (uid, full.frames_done, 4)
    assert status.latest_primary.frames == full.latest_primary.frames
    assert status.latest_reference.frames == full.latest_reference.frames

    blind = LiveState()  # without a journal: nothing until the next run
    for name, doc in docs[middle:]:
        blind(name, doc)
    assert blind.status().frames_done == 0


def test_a_quiet_run_is_reported_as_no_document_for_a_while(live_run):
    """No document for much longer than a stepping scan takes: the status says for how long
    (without guessing why: the run's own suspensions are counted from its streams)."""
    from gi_instrument.viewer.live import LiveState

    _, _, docs = live_run
    state = LiveState(min_stall_s=1.0)
    events = [i for i, (name, _) in enumerate(docs) if name == "event"]
    for name, doc in docs[:events[20] + 1]:
        state(name, doc)
    last = docs[events[20]][1]["time"]
    assert state.status(now=last).no_document_s == 0
    late = state.status(now=last + 1e4)
    assert late.no_document_s == pytest.approx(1e4) and late.suspensions == 0
    assert late.running and late.time_left_s > 0
    from gi_instrument.viewer.windows import status_text

    assert "no document for 10000 s" in status_text(late)
