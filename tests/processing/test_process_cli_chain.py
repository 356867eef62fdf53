"""``gi-process`` on a CT split over linked runs and on an incomplete CT: one CT, one result
(each projection once, the later complete one; every reference scan), and an incomplete CT
refused in one line, or processed with ``--allow-incomplete`` and marked so in ``volumes.h5``."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from gi_instrument.process_cli import main
from gi_instrument.processing.sinograms import sinograms_from_arrays

FAST = ["--quiet", "--no-quality", "--no-find-axis"]
"""Options that keep the tiny reconstructions quick (the axis stays at the detector centre)."""


def _gi_process(data_dir, run_id, out, *options):
    """``gi-process run_id --out out`` on the session catalog; returns volumes.h5's attributes
    (JSON decoded), its volumes and the written sinograms."""
    main([run_id, "--data-dir", str(data_dir), "--out", str(out), *FAST, *options])
    with h5py.File(out / "volumes.h5", "r") as f:
        attrs = {key: json.loads(value) for key, value in f.attrs.items() if key != "voxel_um"}
        volumes = {name: f["volumes"][name][()] for name in f["volumes"]}
    sinograms = {name: np.load(out / "sinograms" / f"sinogram_{name}.npy")
                 for name in ("transmission", "dpc", "darkfield")}
    return attrs, volumes, sinograms


def test_gi_process_of_any_run_of_a_chain_processes_the_whole_ct(compose_gi_ct_run, drifting_ct, tmp_path,
                                                                  data_dir):
    arrays, _ = drifting_ct                        # 12 projections, references before 0, 4, 8 and final
    arrays = {key: np.round(value) if key in ("darks", "references", "projections") else value
              for key, value in arrays.items()}    # the frames as the catalog stores them (uint16)
    bad = {**arrays, "projections": arrays["projections"].copy()}
    bad["projections"][5] = 1000.0                 # projection 5 taken badly before the failure
    failed = compose_gi_ct_run(bad, keep={"reference": [0, 1], "primary": list(range(6))},
                               exit_status="fail")
    # the resume repeats the reference before projection 4 and retakes projection 5 complete
    resumed = compose_gi_ct_run(arrays, keep={"reference": [1, 2, 3], "primary": list(range(5, 12))},
                                md={"resumes": failed})
    whole = sinograms_from_arrays(**arrays, period_um=3.0)   # the CT as one run of these frames
    results = [_gi_process(data_dir, uid[:8], tmp_path / uid[:8]) for uid in (failed, resumed)]
    for attrs, _, sinograms in results:
        assert attrs["run_uid"] == failed and attrs["run_uids"] == [failed, resumed]
        assert attrs["incomplete"] is False
        assert attrs["geometry"]["n_projections"] == attrs["processing"]["n_projections"] == 12
        for name, sinogram in sinograms.items():   # projection 5 from the resumed run, once
            np.testing.assert_allclose(sinogram, getattr(whole, name), atol=1e-5, err_msg=name)
    (_, from_first, _), (_, from_last, _) = results
    for name, volume in from_first.items():        # one CT, one result
        assert np.isfinite(volume).all() and np.abs(volume).max() > 0
        np.testing.assert_array_equal(volume, from_last[name], err_msg=name)


@pytest.fixture(params=["failed run", "aborted chain"])
def broken_ct(request, compose_gi_ct_run, drifting_ct):
    """``(case, uid to process, uid of the run that ended badly, its exit status)``: a failed run
    that nothing resumes, or a chain whose latest run was aborted (processed from its first)."""
    arrays, _ = drifting_ct
    if request.param == "failed run":
        uid = compose_gi_ct_run(arrays, keep={"reference": [0, 1], "primary": list(range(6))},
                                exit_status="fail")
        return request.param, uid, uid, "fail"
    first = compose_gi_ct_run(arrays, keep={"reference": [0], "primary": [0, 1, 2]}, exit_status="fail")
    latest = compose_gi_ct_run(arrays, keep={"reference": [0, 1], "primary": [3, 4, 5, 6]},
                               exit_status="abort", md={"resumes": first})
    return request.param, first, latest, "abort"


def test_gi_process_refuses_an_incomplete_ct_in_one_line_and_writes_nothing(broken_ct, data_dir, tmp_path,
                                                                             monkeypatch):
    from gi_instrument.processing import catalog_reader

    def no_reading(*args, **kwargs):
        raise AssertionError("a run was read before the refusal")

    monkeypatch.setattr(catalog_reader, "read_ct_run", no_reading)   # refused from the runs' stop documents
    _, uid, bad_run, status = broken_ct
    with pytest.raises(SystemExit) as refused:
        main([uid[:8], "--data-dir", str(data_dir), *FAST])                # default output folder
    message = refused.value.code                   # a str: printed on stderr, exit status 1
    assert isinstance(message, str) and "\n" not in message
    assert message.startswith("gi-process: incomplete CT")
    assert f"run {bad_run} ended with {status}" in message and "--allow-incomplete" in message
    assert not (data_dir / "processed" / uid[:8]).exists()                 # nothing written
    with pytest.raises(SystemExit, match="incomplete CT"):
        main([uid[:8], "--data-dir", str(data_dir), "--out", str(tmp_path / "out"), *FAST])
    assert not (tmp_path / "out").exists()


def test_gi_process_allow_incomplete_processes_a_failed_run_marked_incomplete(compose_gi_ct_run, drifting_ct,
                                                                               data_dir, tmp_path, capsys):
    uid = compose_gi_ct_run(drifting_ct[0], keep={"reference": [0, 1], "primary": list(range(6))},
                            exit_status="fail")
    attrs, volumes, sinograms = _gi_process(data_dir, uid[:8], tmp_path / "out", "--allow-incomplete")
    assert attrs["incomplete"] == f"run {uid} ended with fail"
    assert f"incomplete CT (run {uid} ended with fail)" in capsys.readouterr().err
    assert attrs["run_uids"] == [uid] and attrs["geometry"]["n_projections"] == 6
    assert sinograms["dpc"].shape[0] == 6
    assert all(np.isfinite(volume).all() for volume in volumes.values())
