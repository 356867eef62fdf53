"""Result files: HDF5 volumes with metadata, ImageJ TIFF stacks with voxel size, PNG previews."""

from __future__ import annotations

import json

import h5py
import numpy as np
import tifffile

from gi_instrument.processing.outputs import (
    VolumeFile,
    read_tiff_voxel_um,
    write_previews,
    write_tiff_stack,
)


def test_volume_file_tiff_and_previews(tmp_path) -> None:
    rng = np.random.default_rng(0)
    volume = rng.normal(size=(6, 10, 12)).astype(np.float32)
    volume[3, 4, 5] = 50.0  # a bright "calcification" in the MIP slab
    meta = {"run_uid": "abc", "profile": {"name": "tli"}, "processing": {"filter": "ramp"}}
    with VolumeFile(tmp_path / "volumes.h5", meta, voxel_um=5.57) as vf:
        vf.create("attenuation", volume.shape, "1/m", "linear attenuation coefficient")
        vf.volume("attenuation")[0:4] = volume[0:4]
        vf.volume("attenuation")[4:] = volume[4:]
    with h5py.File(tmp_path / "volumes.h5", "r") as f:
        ds = f["volumes/attenuation"]
        np.testing.assert_array_equal(ds[...], volume)
        assert ds.attrs["units"] == "1/m" and ds.chunks == (1, 10, 12)
        assert json.loads(f.attrs["profile"]) == {"name": "tli"}
        assert f.attrs["voxel_um"] == 5.57
        tif = write_tiff_stack(tmp_path / "attenuation.tif", ds, 5.57)
        pngs = write_previews(tmp_path / "png", {"attenuation": ds}, 5.57,
                              units={"attenuation": "1/m"}, mip_slices=4)
    with tifffile.TiffFile(tif) as t:
        assert t.is_imagej and t.series[0].shape == (6, 10, 12)
        assert t.series[0].dtype == np.float32
        np.testing.assert_array_equal(t.asarray(), volume)
    np.testing.assert_allclose(read_tiff_voxel_um(tif), (5.57, 5.57, 5.57), rtol=1e-6)
    assert [p.name for p in pngs] == ["attenuation_preview.png"]
    assert pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pngs[0].stat().st_size > 5000
