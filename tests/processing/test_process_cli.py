"""gi-process end to end on a composed run of a cylinder: physical units and result files."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import tifffile

from gi_instrument.process_cli import main
from gi_instrument.processing.outputs import read_tiff_voxel_um


def test_gi_process_reconstructs_mu_delta_and_darkfield_in_physical_units(
    compose_gi_ct_run, cylinder, data_dir, tmp_path, capsys
) -> None:
    arrays, cyl = cylinder
    uid = compose_gi_ct_run(arrays, voxel_um=cyl["voxel_um"])
    out = tmp_path / "out"
    main([uid[:8], "--data-dir", str(data_dir), "--out", str(out), "--quiet", "--tiff"])
    printed = capsys.readouterr().out
    assert f"volumes: {out / 'volumes.h5'}" in printed
    with h5py.File(out / "volumes.h5", "r") as f:
        assert json.loads(f.attrs["run_uid"]) == uid
        processing = json.loads(f.attrs["processing"])
        # a resolved cylinder: its edges are repaired, no run is left as a whole object
        assert processing["flagged_fraction"] == 0.0 and processing["unrepaired_object_fraction"] == 0.0
        # the run's geometry (40 projections, binning 1), not the TLI profile's 1200
        geometry = json.loads(f.attrs["geometry"])
        assert geometry["n_projections"] == 40 and geometry["binning"] == 1
        assert geometry["pixel_at_sample_um"] == cyl["voxel_um"] and "reference_interval" not in geometry
        assert geometry["lever_arm_cm"] == pytest.approx(80.4 - 80.4 / 3.56)
        assert f["volumes"]["delta"].attrs["energy_keV"] == 20.0
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
        with tifffile.TiffFile(out / f"{name}.tif") as tif:
            assert "energy_keV = 20.0" in tif.imagej_metadata["Info"]
    assert np.load(out / "sinograms" / "sinogram_dpc.npy").shape == (40, 3, 48)
    assert (out / "quality.json").exists()  # by default

    # --no-quality skips the report; a bad --snr-region is refused before any work
    bare = tmp_path / "bare"
    main([uid[:8], "--data-dir", str(data_dir), "--out", str(bare), "--quiet", "--no-tiff",
          "--no-quality"])
    assert (bare / "volumes.h5").exists() and not (bare / "quality.json").exists()
    assert not (bare / "quality").exists()
    with h5py.File(bare / "volumes.h5", "r") as f:
        assert "quality" not in f.attrs
    for region in ("40:60,0:8", "0:10;0:10", "5:5,0:8"):
        with pytest.raises(SystemExit, match=f"region '{region}'"):
            main([uid[:8], "--data-dir", str(data_dir), "--out", str(tmp_path / "bad"),
                  "--snr-region", region])
    assert not (tmp_path / "bad").exists()


# --- quality report (issue 4, item 5) -------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n"
QUALITY_BINNING, QUALITY_EXPOSURE_S, QUALITY_STEP_DEG = 16, 10.0, 5.0
"""A MAAST 185 deg short scan at 5 deg (37 projections) of 128 x 128 frames, 10 s per step: 18-19
projections per half resolve the central slice to ~9-13 px (3 s per step: ~33 px, noise-limited)."""


@pytest.fixture(scope="module")
def quality_run_uid(RE, instrument) -> str:
    """A gi_ct run on the session's simulated IOC at binning 16 (restored afterwards)."""
    from gi_instrument.plans import gi_ct

    uids: list[str] = []
    token = RE.subscribe(lambda name, doc: uids.append(doc["uid"]) if name == "start" else None)
    binning = int(instrument.camera.binning.get())
    try:
        instrument.camera.binning.set(QUALITY_BINNING).wait(timeout=10)
        RE(gi_ct(instrument, exposure_s=QUALITY_EXPOSURE_S, angle_step_deg=QUALITY_STEP_DEG,
                 reference_every_deg=90.0, final_reference=True, n_darks=2))
    finally:
        RE.unsubscribe(token)
        instrument.camera.binning.set(binning).wait(timeout=10)
        assert int(instrument.camera.binning.get()) == binning, "binning not restored"
    return uids[-1]


@pytest.mark.ioc
def test_gi_process_quality_report_of_a_simulated_short_scan(
    quality_run_uid, instrument, data_dir, tmp_path, capsys
) -> None:
    from gi_instrument.processing.quality import snr

    profile = instrument.profile
    out = tmp_path / "out"
    main([quality_run_uid[:8], "--data-dir", str(data_dir), "--out", str(out), "--quiet",
          "--no-tiff", "--mip-slices", "8"])
    printed = capsys.readouterr().out
    report = json.loads((out / "quality.json").read_text())

    # the binned pixel at the sample, not the unbinned voxel
    pixel_um = profile.voxel_um * QUALITY_BINNING
    assert report["voxel_um"] == pytest.approx(pixel_um, rel=1e-6)
    assert report["binning"] == QUALITY_BINNING and report["exposure_s"] == QUALITY_EXPOSURE_S
    assert report["mip_slices"] == 8 and report["central_slice"] == 64

    # FRC: even/odd halves of the 185 deg scan each span the full range at twice the step (the
    # cone-beam run is rebinned to parallel beam first: its halves reach a fan angle beyond)
    assert report["frc_threshold"] == 0.5
    halves = report["frc_halves"]
    assert abs(halves["even"]["projections"] - halves["odd"]["projections"]) <= 1
    assert halves["even"]["projections"] + halves["odd"]["projections"] >= 37
    for half in halves.values():
        assert half["last_deg"] - half["first_deg"] >= 180.0 - 2 * QUALITY_STEP_DEG
    assert halves["odd"]["first_deg"] - halves["even"]["first_deg"] == pytest.approx(QUALITY_STEP_DEG)
    for name in ("delta", "mu"):
        px = report[f"resolution_px_{name}"]
        assert 1.0 < px < 20.0, (name, px)  # measured 9-13 px over six seeds
        assert report[f"resolution_um_{name}"] == pytest.approx(px * pixel_um, rel=1e-9)

    # visibility of the first reference scan: the profile's calibrated mean
    assert report["visibility_mean"] == pytest.approx(profile.performance.visibility, rel=0.2)
    assert report["reference_scans"][0] == 0

    # sigma_alpha, scaled to binning 1 and the profile's exposure (photon noise goes as
    # 1 / (binning sqrt(exposure))), is of the order of the paper's 62 nrad. It cannot be below
    # that photon-noise floor (0.8 allows for the estimate); above it the simulator adds fringe
    # drift within each stepping scan (its clock runs 1e4 x fast, so the real-time overhead
    # between frames is minutes of drift: measured 1.07-1.51 x over six seeds, load-dependent).
    # A sigma in the wrong unit, unscaled by the binning, or halved fails.
    sigma = report["angular_sensitivity_nrad"]
    assert np.isfinite(sigma)
    scaled = sigma * QUALITY_BINNING * np.sqrt(QUALITY_EXPOSURE_S / profile.ct.exposure_s)
    assert 0.8 < scaled / profile.performance.angular_sensitivity_nrad < 2.0, scaled
    assert report["alpha_difference_std_nrad"] == pytest.approx(sigma * np.sqrt(2))

    # SNR: the number is mean / std of delta in the reported disc of the stored central slice
    region = report["snr_region"]
    with h5py.File(out / "volumes.h5", "r") as f:
        delta = f["volumes"]["delta"][64]
        stored = json.loads(f.attrs["quality"])
    rr, cc = np.mgrid[:128, :128]
    disc = np.hypot(rr - region["center_px"][0], cc - region["center_px"][1]) <= region["radius_px"]
    assert disc.sum() == region["pixels"] > 100
    assert report["snr_delta"] == pytest.approx(snr(delta, disc), rel=1e-6)
    assert 5 < report["snr_delta"] < 1e3 and 1 < report["snr_mu"] < 1e3
    assert stored["resolution_um_delta"] == report["resolution_um_delta"]

    for name in ("frc_delta", "frc_mu", "visibility_map", "angular_sensitivity", "snr_region"):
        png = out / "quality" / f"{name}.png"
        assert png.read_bytes()[:8] == PNG and png.stat().st_size > 10_000, name
    assert f"{report['angular_sensitivity_nrad']:.1f} nrad" in printed
    assert f"{report['resolution_um_delta']:.1f} um" in printed
    assert f"{100 * report['visibility_mean']:.1f} %" in printed

