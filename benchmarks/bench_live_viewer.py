"""Acquisition rate of a ``gi_ct`` dry-run with and without a live viewer attached.

The same CT (simulated IOC, 256 x 256 frames by default) runs alternately without publishing
(baseline) and publishing every document to a ``bluesky-0MQ-proxy`` through the session's own
publisher (:func:`gi_instrument.session.zmq_publisher`, as ``start_session(zmq_publish=...)``) with a
viewer attached: a separate process that receives every document through the proxy into a
:class:`gi_instrument.viewer.live.LiveState` and, like the live window, reads the newest stepping
scan from the HDF5 files and retrieves its signals every ``--refresh-s`` s. The subscriber counts
the documents it received. Target: the rate with a viewer is the baseline's (ratio >= 0.95), and
the viewer receives every document.

    .venv/bin/python benchmarks/bench_live_viewer.py [--range-deg 60] [--binning 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

from simulated_ct import add_ct_arguments, simulated_scanner, timed_ct

SUBSCRIBER = r"""
import json, sys, time
from gi_instrument.viewer.live import LiveReceiver, LiveState
from gi_instrument.viewer.scan_signals import scan_signals

address, refresh_s, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
state = LiveState()
counts = {"documents": 0, "scans_read": 0, "runs": 0}

def count(name, doc):
    counts["documents"] += 1
    counts["runs"] += name == "stop"
    state(name, doc)

receiver = LiveReceiver(address, count).start()
print("ready", flush=True)
shown = 0
while True:
    time.sleep(refresh_s)
    status = state.status()
    scan = status.latest_primary
    if scan is not None and status.latest_reference is not None and scan.seq != shown:
        shown = scan.seq
        scan_signals(scan.read(), status.latest_reference.read(), None, status.period_um or 1.0)
        counts["scans_read"] += 1
    with open(out, "w") as f:
        json.dump(counts, f)
"""


def proxy(in_port: int, out_port: int) -> subprocess.Popen:
    exe = shutil.which("bluesky-0MQ-proxy", path=os.path.dirname(sys.executable))
    return subprocess.Popen([exe, "--in-address", f"127.0.0.1:{in_port}", "--out-address", f"127.0.0.1:{out_port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_ct(scanner, args) -> tuple[float, int, int]:
    """Wall time of one CT, s, the number of documents it emitted and its frames."""
    wall, docs = timed_ct(scanner, args)
    return wall, len(docs), int(docs[0][1]["schedule"]["frames_expected"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_ct_arguments(parser, range_deg=60.0, reference_every_deg=20.0, time_scale=1e-3)
    parser.add_argument("--refresh-s", type=float, default=0.5, help="the viewer's redraw interval")
    parser.add_argument("--repeats", type=int, default=3, help="CTs per configuration (the fastest counts)")
    args = parser.parse_args()

    from gi_instrument.profile import load_profile
    from gi_instrument.session import zmq_publisher
    from gi_instrument.sim.launcher import free_port

    in_port, out_port = free_port(), free_port()
    broker = proxy(in_port, out_port)
    viewer = None
    try:
        with simulated_scanner(args) as scanner:
            counts_path = os.path.join(scanner.paths.root, "counts.json")
            RE = scanner.RE
            publisher = zmq_publisher(f"127.0.0.1:{in_port}")
            viewer = subprocess.Popen([sys.executable, "-c", SUBSCRIBER, f"127.0.0.1:{out_port}",
                                       str(args.refresh_s), counts_path], stdout=subprocess.PIPE, text=True)
            assert viewer.stdout.readline().strip() == "ready"
            run_ct(scanner, args)  # warm-up: connections, simulator caches; the subscription settles
            bare, watched, n_docs = [], [], 0
            for _ in range(args.repeats):  # alternated, so a change of machine load hits both alike
                bare.append(run_ct(scanner, args)[0])
                token = RE.subscribe(publisher)
                wall, n, frames = run_ct(scanner, args)
                RE.unsubscribe(token)
                watched.append(wall)
                n_docs += n
            time.sleep(2 * args.refresh_s + 1.0)
            with open(counts_path) as f:
                counts = json.load(f)
            publisher.close()
    finally:
        if viewer is not None:
            viewer.terminate()
            viewer.wait(timeout=10)
        broker.terminate()
        broker.wait(timeout=10)

    per_ct = n_docs // args.repeats
    side = 2048 // args.binning
    bare_s, watched_s = min(bare), min(watched)
    print(f"gi_ct: {args.range_deg:g} deg every {args.angle_step_deg:g} deg, {side} x {side} frames, "
          f"exposure {args.exposure_s:g} s x time scale {args.time_scale:g}; {per_ct} documents per CT; "
          f"fastest of {args.repeats} alternated runs each")
    print(f"no viewer (baseline):                         {bare_s:7.2f} s per CT")
    print(f"published to the proxy, live viewer attached: {watched_s:7.2f} s per CT  rate ratio {bare_s / watched_s:5.3f}")
    print(f"viewer received {counts['documents']} of the {n_docs} documents published; it read and retrieved "
          f"{counts['scans_read']} stepping scans (the newest at each redraw)")
    added_ms = (watched_s - bare_s) / frames * 1e3
    shortest_s = load_profile("maast").ct.min_exposure_s
    print(f"added per frame: {added_ms:+.2f} ms = {added_ms / 10 / shortest_s:+.3f} % of the shortest exposure "
          f"({shortest_s:g} s)")
    ok = bare_s / watched_s >= 0.95 or added_ms < 0.01 * shortest_s * 1e3
    print(f"target: rate with a viewer >= 0.95 x baseline, or less than 1 % of the shortest exposure added per "
          f"frame -> {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
