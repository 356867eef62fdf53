"""Reading a gi_ct run back from an embedded tiled catalog (documents composed here, frames in HDF5)."""

from __future__ import annotations

import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from gi_instrument.processing.catalog_reader import open_ct_run
from gi_instrument.processing.sinograms import sinograms_from_arrays
from gi_instrument.profile import load_profile

FRAME_DATASET = "/entry/data/data"


def write_gi_ct_run(client, frames_dir: Path, arrays: dict, plan_name: str = "gi_ct") -> str:
    """Compose the documents of a gi_ct run (run layout contract) from synthetic arrays."""
    from event_model import compose_run

    from gi_instrument.catalog import tiled_writer

    profile = load_profile("tli")
    writer = tiled_writer(client)
    geometry = {**profile.geometry_summary(), "binning": 1, "pixel_at_sample_um": 7.5}
    run = compose_run(metadata={"plan_name": plan_name, "profile": profile.to_dict(),
                                "geometry": geometry, "plan_args": {}})
    writer("start", run.start_doc)
    rows, cols = arrays["projections"].shape[2:]
    scalar = {"source": "synthetic", "dtype": "number", "shape": []}
    integer = {"source": "synthetic", "dtype": "integer", "shape": []}
    data_keys = {
        "camera_image": {"source": "synthetic", "dtype": "array", "dtype_numpy": "<u2",
                         "shape": [rows, cols], "dims": ["row", "col"], "external": "STREAM:"},
        "g2_position_um": scalar, "g2_setpoint_um": scalar, "rotation_angle_deg": scalar,
        "sample_x_mm": scalar, "camera_exposure_s": scalar,
        "frame_angle_index": integer, "frame_step_index": integer}
    n_proj = len(arrays["projections"])
    every = n_proj // (len(arrays["references"]) - 1)
    scans = {
        "dark": [(-1, arrays["darks"], np.zeros(len(arrays["darks"])),
                  np.arange(len(arrays["darks"])) - 100.0, 0.0)],
        "reference": [(min(i * every, n_proj), f, x, t, 0.0) for i, (f, x, t) in enumerate(
            zip(arrays["references"], arrays["reference_positions_um"],
                arrays["reference_times_s"]))],
        "primary": list(zip(range(n_proj), arrays["projections"],
                            arrays["projection_positions_um"], arrays["projection_times_s"],
                            arrays["angles_deg"])),
    }
    for stream, items in scans.items():
        desc = run.compose_descriptor(name=stream, data_keys=data_keys,
                                      object_keys={"camera": ["camera_image"]})
        writer("descriptor", desc.descriptor_doc)
        for angle_index, frames, x_um, t_s, angle_deg in items:
            path = frames_dir / f"{stream}_{angle_index:05d}.h5"
            with h5py.File(path, "w") as f:
                f[FRAME_DATASET] = np.round(frames).astype(np.uint16)
            bundle = run.compose_stream_resource(
                mimetype="application/x-hdf5", uri=f"file://localhost{path}",
                data_key="camera_image",
                parameters={"dataset": FRAME_DATASET, "chunk_shape": [1, rows, cols],
                            "join_method": "stack"})
            writer("stream_resource", bundle.stream_resource_doc)
            for k in range(len(frames)):
                writer("stream_datum", bundle.compose_stream_datum(
                    indices={"start": k, "stop": k + 1}, descriptor=desc.descriptor_doc))
                values = {"g2_position_um": float(x_um[k]), "g2_setpoint_um": 0.6 * k,
                          "rotation_angle_deg": float(angle_deg), "sample_x_mm": 0.0,
                          "camera_exposure_s": 1.0, "frame_angle_index": int(angle_index),
                          "frame_step_index": k}
                writer("event", desc.compose_event(
                    data=values, timestamps={key: time.time() for key in values},
                    time=float(t_s[k])))
    writer("stop", run.compose_stop())
    return run.start_doc["uid"]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    from gi_instrument.catalog import catalog_paths, open_catalog

    data_dir = tmp_path_factory.mktemp("catalog")
    return open_catalog(data_dir), catalog_paths(data_dir)


def test_run_reads_back_to_the_sinograms_of_its_arrays(catalog, drifting_ct, tmp_path) -> None:
    client, paths = catalog
    arrays, truth = drifting_ct
    arrays = {**arrays, "references": np.round(arrays["references"]),
              "projections": np.round(arrays["projections"]), "darks": np.round(arrays["darks"])}
    uid = write_gi_ct_run(client, paths.frames, arrays)
    ct = open_ct_run(client, uid[:8])
    assert ct.uid == uid and ct.shape == (7, 9) and ct.n_dark == 2 and ct.steps == 5
    assert ct.voxel_um == 7.5 and ct.period_um == 3.0 and ct.g1_g2_cm == pytest.approx(60.3)
    assert len(ct.primary.angle_index) == 12 * 5
    slab = ct.read("primary", slice(5, 15), slice(2, 4))
    np.testing.assert_array_equal(slab, arrays["projections"][1:3, :, 2:4].reshape(10, 2, 9))
    from_catalog = ct.sinograms(chunk_rows=4, out_dir=tmp_path)
    from_arrays = sinograms_from_arrays(**arrays, period_um=3.0)
    np.testing.assert_allclose(from_catalog.angles_deg, arrays["angles_deg"])
    for name in ("transmission", "dpc", "darkfield"):
        np.testing.assert_allclose(getattr(from_catalog, name), getattr(from_arrays, name),
                                   atol=1e-6)
    np.testing.assert_allclose(from_catalog.dpc, truth["dpc"], atol=2e-2)  # uint16 rounding
    assert open_ct_run(client, -1).uid == uid


def test_other_plans_are_refused(catalog, drifting_ct) -> None:
    client, paths = catalog
    uid = write_gi_ct_run(client, paths.frames, drifting_ct[0], plan_name="count")
    with pytest.raises(ValueError, match="not gi_ct"):
        open_ct_run(client, uid)
