"""gi-process end to end on a composed run of a cylinder: physical units and result files."""

from __future__ import annotations

import json

import h5py
import numpy as np

from gi_instrument.process_cli import main
from gi_instrument.processing.outputs import read_tiff_voxel_um


def test_gi_process_reconstructs_mu_delta_and_darkfield_in_physical_units(
    compose_gi_ct_run, cylinder, data_dir, tmp_path, capsys
) -> None:
    arrays, cyl = cylinder
    uid = compose_gi_ct_run(arrays, voxel_um=cyl["voxel_um"])
    out = tmp_path / "out"
    main([uid[:8], "--data-dir", str(data_dir), "--out", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert f"volumes: {out / 'volumes.h5'}" in printed
    with h5py.File(out / "volumes.h5", "r") as f:
        assert json.loads(f.attrs["run_uid"]) == uid
        assert json.loads(f.attrs["processing"])["flagged_fraction"] == 0.0
        yy, xx = np.mgrid[:48, :48] - 23.5
        r = np.hypot(yy, xx)
        inside, outside = r < cyl["radius_px"] - 4, r > cyl["radius_px"] + 4
        for name, truth, unit in (("attenuation", cyl["mu_per_m"], "1/m"),
                                  ("delta", cyl["delta"], "1"),
                                  ("darkfield", cyl["eps_per_m"], "1/m")):
            volume = f["volumes"][name]
            assert volume.shape == (3, 48, 48) and volume.attrs["units"] == unit
            middle = volume[1]
            assert abs(middle[inside].mean() / truth - 1) < 0.03, (name, middle[inside].mean())
            assert abs(middle[outside].mean()) < 0.05 * truth, (name, middle[outside].mean())
    for name in ("attenuation", "delta", "darkfield"):
        np.testing.assert_allclose(read_tiff_voxel_um(out / f"{name}.tif"),
                                   [cyl["voxel_um"]] * 3, rtol=1e-6)
        assert (out / "png" / f"{name}_preview.png").stat().st_size > 5000
    assert np.load(out / "sinograms" / "sinogram_dpc.npy").shape == (40, 3, 48)
