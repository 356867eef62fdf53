"""Closing time of a full-length CT's catalog entry: 1320 stepping-scan files (TLI: 1200
projections + 120 references, 5 steps each) at tiny frames, documents synthesized (no IOC).

Three writers, in the same run: bluesky 1.15's own TiledWriter (the baseline: it rewrites a
stream's frame-file list once per file at the stop document, so closing grows with the square of
the files; measured at ``--baseline-scans``), bluesky-tiled-plugins' TiledWriter as
``ingest_journal`` uses it (everything written at the end), and the live follower
(:mod:`gi_instrument.catalog_follower`) fed scan by scan, timed from the stop document's
arrival. Target: seconds, not minutes. For the live follower the time each stepping scan takes to
reach the catalog is shown too: it grows with the files written before it (the plugins' writer
sends a stream's whole list of files again with each new one), so it is fitted with a line over
the last half of the scans and extrapolated to ``--scans`` files.

    .venv/bin/python benchmarks/bench_catalog.py [--scans 1320] [--live-scans 1320] [--baseline-scans 100]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
from event_model import compose_run

STEPS, SHAPE = 5, (4, 4)


def documents(frames_dir: Path, n_scans: int):
    """(name, doc) of a gi_ct-like run with ``n_scans`` stepping scans, one HDF5 file each."""
    run = compose_run(metadata={"plan_name": "gi_ct", "profile": {"stepping": {"steps": STEPS}}})
    yield "start", run.start_doc
    keys = {"camera_image": {"source": "sim", "dtype": "array", "dtype_numpy": "<u2", "shape": list(SHAPE),
                             "external": "STREAM:"},
            **{k: {"source": "sim", "dtype": "number", "shape": []}
               for k in ("frame_angle_index", "frame_step_index", "g2_position_um")}}
    desc = run.compose_descriptor(name="primary", data_keys=keys)
    yield "descriptor", desc.descriptor_doc
    for i in range(n_scans):
        path = frames_dir / f"primary_{i:05d}.h5"
        with h5py.File(path, "w") as f:
            f["/entry/data/data"] = np.zeros((STEPS, *SHAPE), np.uint16)
        bundle = run.compose_stream_resource(mimetype="application/x-hdf5", uri=f"file://localhost{path}",
                                             data_key="camera_image",
                                             parameters={"dataset": "/entry/data/data",
                                                         "chunk_shape": [1, *SHAPE], "join_method": "stack"})
        yield "stream_resource", bundle.stream_resource_doc
        for k in range(STEPS):
            yield "stream_datum", bundle.compose_stream_datum(indices={"start": k, "stop": k + 1},
                                                              descriptor=desc.descriptor_doc)
            data = {"frame_angle_index": i, "frame_step_index": k, "g2_position_um": 0.6 * k}
            yield "event", desc.compose_event(data=data, timestamps=dict.fromkeys(data, 0.0))
    yield "stop", run.compose_stop()


def close_time_s(writer, frames_dir: Path, n_scans: int) -> float:
    """Feed a run to ``writer``; seconds spent on its stop document."""
    for name, doc in documents(frames_dir, n_scans):
        t0 = time.perf_counter()
        writer(name, doc)
    return time.perf_counter() - t0


def live_close_time_s(root: Path, n_scans: int) -> tuple[float, list[float]]:
    """Journal a run scan by scan with the follower polling after each; seconds from the stop
    document's line to the stop in the catalog, and per scan the seconds its poll took."""
    from gi_instrument.catalog import catalog_paths, open_catalog
    from gi_instrument.catalog_follower import JournalFollower

    paths = catalog_paths(root)
    follower = JournalFollower(open_catalog(root), paths)
    journal = None
    per_scan: list[float] = []
    for name, doc in documents(paths.frames, n_scans):
        if name == "start":
            journal = open(paths.documents / f"{doc['uid']}.jsonl", "w")
        journal.write(json.dumps({"name": name, "doc": doc}) + "\n")
        journal.flush()
        if name == "event" and doc["data"]["frame_step_index"] == STEPS - 1:
            t0 = time.perf_counter()
            follower.poll()
            per_scan.append(time.perf_counter() - t0)
    journal.close()
    t0 = time.perf_counter()
    follower.poll()
    return time.perf_counter() - t0, per_scan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scans", type=int, default=1320, help="stepping-scan files of the full-length CT")
    parser.add_argument("--live-scans", type=int, default=1320,
                        help="files fed live (each scan's write grows with the files so far: ~1 h for 1320)")
    parser.add_argument("--baseline-scans", type=int, default=100, help="files for bluesky's own writer")
    args = parser.parse_args()

    from bluesky.callbacks.tiled_writer import TiledWriter as BlueskyTiledWriter

    from gi_instrument.catalog import catalog_paths, open_catalog, tiled_writer

    with tempfile.TemporaryDirectory() as tmp:
        paths = catalog_paths(tmp)
        client = open_catalog(tmp)
        baseline = close_time_s(BlueskyTiledWriter(client), paths.frames, args.baseline_scans)
        batch = close_time_s(tiled_writer(client), paths.frames, args.scans)
    with tempfile.TemporaryDirectory() as tmp:
        live, per_scan = live_close_time_s(Path(tmp), args.live_scans)
    per_file = baseline / args.baseline_scans
    print(f"bluesky 1.15 TiledWriter, {args.baseline_scans} files: close {baseline:7.2f} s "
          f"({per_file * 1e3:.0f} ms per file, growing with the files)")
    print(f"plugins TiledWriter (ingest), {args.scans} files: close {batch:7.2f} s")
    print(f"live follower, {args.live_scans} files:          close {live:7.2f} s")
    half = len(per_scan) // 2
    slope_s, intercept_s = np.polyfit(np.arange(half, len(per_scan)), per_scan[half:], 1)
    print(f"live follower, each stepping scan into the catalog: {statistics.median(per_scan[:10]) * 1e3:.0f} ms "
          f"with the first files, {statistics.median(per_scan[-10:]) * 1e3:.0f} ms at {len(per_scan)} files "
          f"(+{slope_s * 1e3:.2f} ms per file so far: ~{slope_s * args.scans + intercept_s:.1f} s at {args.scans})")
    print(f"ratio baseline / live close: {baseline / live:.1f} (baseline at {args.baseline_scans} files only)")


if __name__ == "__main__":
    main()
