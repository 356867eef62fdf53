"""Finding runs (gi-runs) and exporting a CT as NXtomo (gi-export) from the session's catalog."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from gi_instrument.export_cli import main as export_main
from gi_instrument.plans import gi_ct
from gi_instrument.runs_cli import main as runs_main
from gi_instrument.runs_cli import parse_since

pytestmark = pytest.mark.ioc

SAMPLE = "nxtomo-test-S7"
N_DARK, STEPS = 2, 5


@pytest.fixture(scope="module")
def ct_uid(RE, instrument):
    """3 projections (0, 37, 74 deg), references before 0 and 74 deg, 2 darks at the start and 2 at the end."""
    (uid,) = RE(gi_ct(instrument, exposure_s=1, angle_step_deg=37, range_deg=111, reference_every_deg=74,
                      n_darks=N_DARK, md={"sample": SAMPLE}))
    return uid


def test_gi_runs_lists_and_filters(ct_uid, data_dir, capsys):
    runs_main(["--data-dir", str(data_dir), "--sample", SAMPLE])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["uid", "scan", "plan", "sample", "start", "duration", "status", "projections"]
    (row,) = lines[1:]
    assert row.startswith(ct_uid[:8]) and " gi_ct " in row and SAMPLE in row
    assert row.split()[-2:] == ["success", "3/3"]
    runs_main(["--data-dir", str(data_dir), "--plan", "gi_ct", "--since", "1h"])
    assert ct_uid[:8] in capsys.readouterr().out
    runs_main(["--data-dir", str(data_dir), "--sample", SAMPLE, "--since", "2999-01-01"])
    assert capsys.readouterr().out == "no runs match\n"


def test_since_accepts_dates_and_ages():
    assert parse_since("2d", now_s=1e6) == 1e6 - 2 * 86400
    assert parse_since("30min", now_s=1e6) == 1e6 - 1800
    with pytest.raises(ValueError, match="give a date"):
        parse_since("last week")


def _expected_frames(catalog, uid):
    """(stream, event index) of every frame in acquisition order, and the scalar columns."""
    run = catalog[uid]
    frames = []
    for stream in ("dark", "reference", "primary"):
        table = run[stream].read()
        for i, t in enumerate(np.asarray(table["time"])):
            frames.append((float(t), stream, i, float(table["rotation_angle_deg"][i]),
                           float(table["g2_position_um"][i])))
    return sorted(frames)


def test_nxtomo_references_the_frames(ct_uid, catalog, data_dir, tmp_path, capsys):
    path = tmp_path / "ct.nxs"
    export_main([ct_uid[:8], "--nxtomo", str(path), "--data-dir", str(data_dir)])
    assert "frames referenced" in capsys.readouterr().out
    expected = _expected_frames(catalog, ct_uid)
    n = 2 * N_DARK + (3 + 2) * STEPS  # darks at the start and at the end
    assert len(expected) == n
    run = catalog[ct_uid]
    checked = (0, N_DARK, n - N_DARK - 1, n - 1)  # a dark, the first reference, the last projection, an end dark
    truth = {k: np.asarray(run[expected[k][1]]["camera_image"][expected[k][2]]) for k in checked}
    with h5py.File(path, "r") as f:
        assert f["entry"].attrs["NX_class"] == "NXentry" and f["entry/definition"][()] == b"NXtomo"
        for group, nx_class in (("entry/instrument", "NXinstrument"), ("entry/instrument/detector", "NXdetector"),
                                ("entry/instrument/source", "NXsource"), ("entry/sample", "NXsample"),
                                ("entry/instrument/g2", "NXpositioner"), ("entry/data", "NXdata")):
            assert f[group].attrs["NX_class"] == nx_class, group
        data = f["entry/instrument/detector/data"]
        assert data.is_virtual and data.shape == (n, 256, 256) and data.dtype == np.uint16
        assert not any(s.file_name.startswith("/") for s in data.virtual_sources())  # relative to the file
        key = f["entry/instrument/detector/image_key"][:]
        assert key.tolist() == [{"dark": 2, "reference": 1, "primary": 0}[s] for _, s, *_ in expected]
        np.testing.assert_allclose(f["entry/sample/rotation_angle"][:], [e[3] for e in expected])
        assert f["entry/sample/rotation_angle"].attrs["units"] == "degree"
        np.testing.assert_allclose(f["entry/instrument/g2/value"][:], [e[4] for e in expected])
        assert f["entry/sample/name"][()] == SAMPLE.encode()
        assert f["entry/data"].attrs["signal"] == "data" and f["entry/data/data"].shape == data.shape
        for k in checked:
            np.testing.assert_array_equal(data[k], truth[k])
    with pytest.raises(SystemExit, match="exists: choose another name"):
        export_main([ct_uid, "--nxtomo", str(path), "--data-dir", str(data_dir)])

    # nxtomo, the NXtomo library of nxtomomill and tomwer, reads it back
    from nxtomo import NXtomo
    from nxtomo.nxobject.nxdetector import ImageKey

    nx = NXtomo().load(str(path), "entry", detector_data_as="as_numpy_array")
    assert nx.instrument.detector.data.shape == (n, 256, 256)
    keys = [ImageKey(k) for k in nx.instrument.detector.image_key_control]
    assert keys.count(ImageKey.DARK_FIELD) == 2 * N_DARK and keys.count(ImageKey.FLAT_FIELD) == 2 * STEPS
    assert keys.count(ImageKey.PROJECTION) == 3 * STEPS
    np.testing.assert_allclose(nx.sample.rotation_angle.magnitude, [e[3] for e in expected])


def test_nxtomo_copy_holds_the_same_frames(ct_uid, data_dir, tmp_path):
    referenced, copied = tmp_path / "ref.nxs", tmp_path / "copy.nxs"
    export_main([ct_uid, "--nxtomo", str(referenced), "--data-dir", str(data_dir)])
    export_main([ct_uid, "--nxtomo", str(copied), "--copy", "--data-dir", str(data_dir)])
    with h5py.File(referenced, "r") as a, h5py.File(copied, "r") as b:
        assert not b["entry/instrument/detector/data"].is_virtual
        np.testing.assert_array_equal(a["entry/instrument/detector/data"][:], b["entry/instrument/detector/data"][:])
