"""A CT split over linked runs is processed as one: each projection once (the complete, later
one), every reference scan with its own time; an incomplete CT is refused unless allowed."""

from __future__ import annotations

import numpy as np
import pytest

from gi_instrument.processing.catalog_reader import open_ct_chain
from gi_instrument.processing.chain import merge_frames, select_projections, select_references
from gi_instrument.processing.sinograms import StreamFrames, sinograms_from_arrays


def _frames(scans, t0=0.0):
    """StreamFrames of (angle index, steps taken) scans, one second per frame from ``t0``."""
    angle = np.concatenate([np.full(n, a) for a, n in scans])
    step = np.concatenate([np.arange(n) for _, n in scans])
    return StreamFrames(angle, step, t0 + np.arange(angle.size, dtype=float))


def test_each_projection_once_from_the_latest_complete_scan_and_all_references():
    first = _frames([(0, 5), (1, 5), (2, 3)])                  # projection 2 cut short
    second = _frames([(1, 5), (2, 5), (3, 5)], t0=100.0)       # 1 taken again, complete
    chosen = select_projections([first, second], 5)
    assert chosen[0].tolist() == list(range(5))                # 0 from the first run only
    assert chosen[1].tolist() == list(range(15))               # 1, 2, 3 from the second
    merged = merge_frames([first, second], chosen)
    assert np.unique(merged.angle_index).tolist() == [0, 1, 2, 3] and merged.angle_index.size == 20
    refs_a, refs_b = _frames([(0, 5), (2, 5)]), _frames([(2, 5), (4, 4)], t0=50.0)
    kept = merge_frames([refs_a, refs_b], select_references([refs_a, refs_b], 5), relabel=True)
    # reference 2 of each run stays its own scan (own time); the cut-short one is dropped
    assert kept.angle_index.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    assert kept.time_s[10] == 50.0


def test_chain_processed_as_one_from_any_of_its_runs(catalog, compose_gi_ct_run, drifting_ct, tmp_path):
    arrays, _ = drifting_ct                                     # 12 projections, references before 0, 4, 8, final
    arrays = {**arrays, "references": np.round(arrays["references"]),
              "projections": np.round(arrays["projections"]), "darks": np.round(arrays["darks"])}
    broken = {**arrays, "projections": arrays["projections"] * 0 + 1000}    # projection 5 taken badly first
    # a failed run whose projections are all replaced by the two runs resuming it
    zeroth = compose_gi_ct_run(broken, keep={"reference": [0, 1], "primary": [0, 1, 2, 3, 4, 5]},
                               exit_status="fail")
    first = compose_gi_ct_run(arrays, keep={"reference": [0, 1], "primary": [0, 1, 2, 3, 4]}, exit_status="abort",
                              md={"resumes": zeroth})
    second = compose_gi_ct_run(arrays, keep={"reference": [2, 3], "primary": list(range(5, 12))},
                               md={"resumes": first})
    whole = sinograms_from_arrays(**arrays, period_um=3.0)
    for uid in (first, second):
        ct = open_ct_chain(catalog, uid[:8])
        assert ct.uids == [zeroth, first, second] and ct.incomplete is None
        sino = ct.sinograms(chunk_rows=4)
        np.testing.assert_array_equal(sino.angle_index, np.arange(12))
        for name in ("transmission", "dpc", "darkfield"):
            np.testing.assert_allclose(getattr(sino, name), getattr(whole, name), atol=1e-6)


def test_incomplete_ct_refused_unless_allowed(catalog, compose_gi_ct_run, drifting_ct):
    uid = compose_gi_ct_run(drifting_ct[0], keep={"primary": [0, 1, 2]}, exit_status="abort")
    with pytest.raises(ValueError, match="incomplete CT .*abort.*--allow-incomplete"):
        open_ct_chain(catalog, uid)
    ct = open_ct_chain(catalog, uid, allow_incomplete=True)
    assert "abort" in ct.incomplete and len(set(ct.primary.angle_index.tolist())) == 3
