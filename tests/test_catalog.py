"""The document journal gets a run into the catalog even when the live writer never did."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from bluesky import RunEngine

from gi_instrument.catalog import _initialized, catalog_paths, document_journal, ingest_journal, open_catalog
from gi_instrument.plans import phase_step

pytestmark = pytest.mark.ioc


def test_journal_rebuilds_the_run(instrument, catalog, data_dir):
    paths = catalog_paths(data_dir)
    RE = RunEngine({}, call_returns_result=False)      # journal only: as if the catalog writer had died
    RE.subscribe(document_journal(paths))
    (uid,) = RE(phase_step(instrument, exposure_s=1.0, angle_index=7))
    assert uid not in catalog
    journal = paths.documents / f"{uid}.jsonl"
    assert ingest_journal(catalog, journal) == uid
    run = catalog[uid]
    assert run.metadata["start"]["plan_name"] == "phase_step"
    assert np.all(run["primary"]["frame_angle_index"].read() == 7)
    frames = run["primary"]["camera_image"].read()
    with h5py.File(instrument.frames_dir / uid / "primary_00007_a0.h5", "r") as f:
        assert np.array_equal(frames, f["/entry/data/data"][()])
    with pytest.raises(ValueError, match="already in the catalog"):
        ingest_journal(catalog, journal)


def test_a_catalog_left_by_an_interrupted_init_is_inited_again(tmp_path):
    paths = catalog_paths(tmp_path)
    paths.catalog_db.write_bytes(b"")          # the init was killed before it made a table
    assert not _initialized(paths.catalog_db)
    assert len(open_catalog(tmp_path)) == 0     # the catalog's tables are there: it answers
    assert _initialized(paths.catalog_db)       # the next open skips the init (seconds saved)
    assert len(open_catalog(tmp_path, create=False)) == 0
