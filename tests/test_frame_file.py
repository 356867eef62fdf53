"""The detector-side HDF5 writer never overwrites and records partial files honestly."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from gi_instrument.sim.frame_writer import FrameFile


def test_refuses_existing_file(tmp_path):
    path = tmp_path / "primary_00000.h5"
    f = FrameFile(path, 2, (4, 6), ["angle_deg"])
    f.write(np.ones((4, 6), np.uint16), {"angle_deg": 1.5})
    f.close()
    with pytest.raises(FileExistsError):
        FrameFile(path, 2, (4, 6), ["angle_deg"])
    with h5py.File(path, "r") as h5:
        assert h5["/entry/data/data"].attrs["frames_written"] == 1
        assert h5["/entry/data/data"].attrs["frames_expected"] == 2
        assert h5["/entry/instrument/NDAttributes/angle_deg"][0] == 1.5
        assert np.isnan(h5["/entry/instrument/NDAttributes/angle_deg"][1])


def test_closes_when_full_and_rejects_more(tmp_path):
    f = FrameFile(tmp_path / "a.h5", 1, (2, 2), [])
    f.write(np.zeros((2, 2), np.uint16), {})
    assert f.full
    with pytest.raises(RuntimeError):
        f.write(np.zeros((2, 2), np.uint16), {})
    with pytest.raises(ValueError):
        FrameFile(tmp_path / "b.h5", 1, (2, 2), []).write(np.zeros((3, 2), np.uint16), {})


def test_frames_and_attributes_read_back_in_order(tmp_path):
    """Each frame lands in its own slot with its attributes (chunk and element writes)."""
    path = tmp_path / "scan.h5"
    f = FrameFile(path, 3, (3, 5), ["angle_deg", "g2_position_um"])
    frames = [np.arange(15, dtype=np.uint16).reshape(3, 5) * (k + 1) + 60000 * (k == 2) for k in range(3)]
    for k, frame in enumerate(frames[:2]):
        assert f.write(frame, {"angle_deg": 10.0 + k, "g2_position_um": 0.6 * k} if k else {"angle_deg": 10.0}) == k
    f.write(frames[2], {"angle_deg": 12.0, "g2_position_um": 1.2})
    with h5py.File(path, "r") as h5:
        np.testing.assert_array_equal(h5["/entry/data/data"][:], np.stack(frames))
        np.testing.assert_array_equal(h5["/entry/instrument/NDAttributes/angle_deg"][:], [10.0, 11.0, 12.0])
        g2 = h5["/entry/instrument/NDAttributes/g2_position_um"][:]
        assert np.isnan(g2[0]) and g2[1:].tolist() == [0.6, 1.2]   # a value not given stays NaN
