"""Shared synthetic data for the processing tests: stacked CT arrays, and a gi_ct run composed
as documents from such arrays (no IOC) into the session's catalog."""

from __future__ import annotations

import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from event_model import compose_run

from gi_instrument.catalog import catalog_paths, tiled_writer
from gi_instrument.profile import load_profile

P2_UM, STEPS = 3.0, 5
D_CM = 80.4 - 80.4 / 3.56
"""Lever arm d_eff, cm, of the TLI sample position (the runs written here carry TLI's geometry:
sample 22.6 cm from the source, behind G1, so d_eff = L - l_s)."""


def synthetic_ct(n_proj: int = 12, n_ref: int = 4, rows: int = 7, cols: int = 9, seed: int = 0):
    """A drifting interferometer and a known object; exact (noise-free) curves."""
    rng = np.random.default_rng(seed)
    a0 = rng.uniform(2000, 3000, (rows, cols))
    vis = rng.uniform(0.15, 0.25, (rows, cols))
    phi0 = rng.uniform(-np.pi, np.pi, (rows, cols))
    dark = rng.uniform(90, 110, (rows, cols))
    drift = 0.03  # rad / s of fringe phase
    nominal = np.arange(STEPS) * P2_UM / STEPS

    def scan(t0, trans, dpc, dfield):
        x = nominal + rng.normal(0, 0.05, STEPS)
        t = t0 + np.arange(STEPS)
        theta = 2 * np.pi * x[:, None, None] / P2_UM
        phase = phi0 + drift * t.mean() + dpc  # drift evaluated at the scan's mean time
        curves = a0 * trans * (1 + vis * dfield * np.cos(theta + phase)) + dark
        return curves, x, t

    truth = {k: np.empty((n_proj, rows, cols)) for k in ("transmission", "dpc", "darkfield")}
    proj, proj_x, proj_t, refs, ref_x, ref_t = [], [], [], [], [], []
    clock = 0.0
    every = n_proj // (n_ref - 1)
    for i in range(n_proj):
        if i % every == 0:
            c, x, t = scan(clock, 1.0, 0.0, 1.0)
            refs.append(c), ref_x.append(x), ref_t.append(t)
            clock += STEPS
        truth["transmission"][i] = rng.uniform(0.3, 1.0, (rows, cols))
        truth["dpc"][i] = rng.uniform(-2.0, 2.0, (rows, cols))
        truth["darkfield"][i] = rng.uniform(0.4, 1.0, (rows, cols))
        c, x, t = scan(clock, *(truth[k][i] for k in ("transmission", "dpc", "darkfield")))
        proj.append(c), proj_x.append(x), proj_t.append(t)
        clock += STEPS
    c, x, t = scan(clock, 1.0, 0.0, 1.0)
    refs.append(c), ref_x.append(x), ref_t.append(t)
    darks = np.stack([dark - 0.5, dark + 0.5]).astype(np.float32)
    arrays = dict(
        darks=darks, references=np.stack(refs).astype(np.float32),
        reference_times_s=np.stack(ref_t), projections=np.stack(proj).astype(np.float32),
        angles_deg=np.arange(n_proj) * 360.0 / n_proj, projection_times_s=np.stack(proj_t),
        reference_positions_um=np.stack(ref_x), projection_positions_um=np.stack(proj_x))
    return arrays, truth



@pytest.fixture
def drifting_ct():
    """``(arrays, truth)`` of :func:`synthetic_ct` with its defaults."""
    return synthetic_ct()


FRAME_DATASET = "/entry/data/data"


def write_gi_ct_run(client, data_dir: Path, arrays: dict, plan_name: str = "gi_ct",
                    voxel_um: float = 7.5, md: dict | None = None, keep: dict | None = None,
                    exit_status: str = "success") -> str:
    """Write a gi_ct run (run layout contract) composed from stacked arrays (see
    :func:`synthetic_ct`) into the catalog ``client`` of ``data_dir``; returns its uid.
    ``keep``: per stream, the positions of the stepping scans to write (default all); ``md``:
    extra start metadata (``resumes``); ``exit_status`` of its stop document."""
    profile = load_profile("tli")
    writer = tiled_writer(client)
    # the arrays are parallel projections (the TLI profile's default beam is a cone)
    geometry = {**profile.geometry_summary(), "beam": "parallel", "binning": 1, "pixel_at_sample_um": voxel_um}
    run = compose_run(metadata={"plan_name": plan_name, "profile": profile.to_dict(),
                                "geometry": geometry, "plan_args": {}, **(md or {})})
    frames_dir = catalog_paths(data_dir).frames / run.start_doc["uid"]
    frames_dir.mkdir()
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
        if keep is not None and stream in keep:
            items = [items[i] for i in keep[stream]]
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
    writer("stop", run.compose_stop(exit_status=exit_status))
    return run.start_doc["uid"]


@pytest.fixture
def compose_gi_ct_run(catalog, data_dir):
    """``compose(arrays, **kwargs) -> uid``: :func:`write_gi_ct_run` into the session catalog."""
    return lambda arrays, **kwargs: write_gi_ct_run(catalog, data_dir, arrays, **kwargs)


CYLINDER = {"radius_px": 14.0, "mu_per_m": 300.0, "delta": 2e-8, "eps_per_m": 150.0,
            "voxel_um": 7.5}
"""The centred cylinder of :func:`cylinder_ct` (P2_UM and D_CM set its phase scale)."""


def cylinder_ct(n_proj: int = 40, rows: int = 3, cols: int = 48, n_ref: int = 3):
    """Stepping scans of a centred homogeneous cylinder over 180 deg (arrays as synthetic_ct).

    Per detector column ``n`` (pixel-averaged across the column): ``-ln T = mu L``,
    ``-ln D = eps L`` with ``L`` the chord length, and the refraction angle ``alpha`` = the
    difference of ``delta L`` across the pixel over its width (module convention: alpha is the
    positive column derivative of the delta projection); ``dphi = 2 pi d alpha / p2``.
    """
    c = CYLINDER
    v_m = c["voxel_um"] * 1e-6
    edges = np.arange(cols + 1) - cols / 2  # pixel edges, pixels from the axis

    def chord_integral(u):  # integral of the chord length L(u') du' from -inf to u, px^2
        r = c["radius_px"]
        u = np.clip(u, -r, r)
        return u * np.sqrt(r**2 - u**2) + r**2 * np.arcsin(u / r) + np.pi * r**2 / 2

    chord_px = np.diff(chord_integral(edges))  # mean chord over each pixel, px
    chord_edges = 2 * np.sqrt(np.clip(c["radius_px"] ** 2 - edges**2, 0, None))
    transmission = np.exp(-c["mu_per_m"] * chord_px * v_m)
    darkfield = np.exp(-c["eps_per_m"] * chord_px * v_m)
    alpha = c["delta"] * np.diff(chord_edges)  # d(delta L)/du, L in m and u in m: the v cancels
    dphi = 2 * np.pi * (D_CM * 1e-2) * alpha / (P2_UM * 1e-6)
    rng = np.random.default_rng(2)
    phi_r = rng.uniform(-np.pi, np.pi, (rows, cols))
    x = np.arange(STEPS) * P2_UM / STEPS
    theta = 2 * np.pi * x[:, None, None] / P2_UM
    ref = 30000.0 * (1 + 0.25 * np.cos(theta + phi_r))
    sample = 30000.0 * transmission * (1 + 0.25 * darkfield * np.cos(theta + phi_r + dphi))
    times = np.arange(STEPS, dtype=float)
    arrays = dict(
        darks=np.full((2, rows, cols), 100.0),
        references=np.round(np.broadcast_to(ref + 100.0, (n_ref, STEPS, rows, cols))),
        reference_times_s=np.arange(n_ref)[:, None] * 1000.0 + times,
        projections=np.round(np.broadcast_to(sample + 100.0, (n_proj, STEPS, rows, cols))),
        angles_deg=np.arange(n_proj) * 180.0 / n_proj,
        projection_times_s=np.arange(n_proj)[:, None] * 10.0 + times,
        reference_positions_um=np.broadcast_to(x, (n_ref, STEPS)),
        projection_positions_um=np.broadcast_to(x, (n_proj, STEPS)))
    return arrays


@pytest.fixture
def cylinder():
    """``(arrays, parameters)`` of :func:`cylinder_ct` and :data:`CYLINDER`."""
    return cylinder_ct(), CYLINDER
