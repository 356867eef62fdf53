"""Per-frame overhead of a ``gi_ct`` dry-run against a bare bluesky ``scan`` in the same run.

Overhead per frame = (wall time - sum of the scaled nominal exposures) / frames, for 256 x 256
frames (MAAST at binning 8) on the simulated IOC. The baseline is ``bluesky.plans.scan`` of an
``ophyd.sim`` motor and detector (per event), measured in the same process. Three conditions:
the CT with the catalog written live as a session does (the document journal in the RunEngine,
the live catalog writer following it in its own process) -- the one the target is about --, the
journal alone, and no subscriptions; plus how long after ``RE()`` returns the catalog has the
whole run. Each is measured ``--repeats`` times, interleaved with the baseline: each CT's ratio
is taken to the mean of the bare scans run just before and just after its repeat (so slow drifts
of the machine's speed, which move the baseline by up to 1.5x on this 2-core machine, cancel),
and the median of those ratios is compared (their range is shown beside it).

The simulated IOC computes every frame (the projections of each angle once, then one noisy
frame per phase step): that physics stands in for the camera's sensor and costs nothing on the
real instrument. At the default time scale (1e-4: a "10 s" exposure takes 1 ms) the physics, not
the software, sets the pace, so its share is timed in the same run (in this process, best of
several) and the catalog-live CT is measured twice more, each in a process of its own with a
baseline of its own:

- on an IOC that computes no frames (``gi-sim-ioc --frame-model flat``);
- on the full simulator with exposures long enough for the IOC to compute each frame during the
  exposures, as a camera reads out (``--covering-time-scale``, default 3e-3: 30 ms per frame).
  Moves and settling then take real time too, so the overhead counted is the time outside the
  instrument's own work: from the end of the CT's first stepping scan to the end of its last,
  the real time ``R`` minus the real time ``A`` during which the IOC was exposing, moving or
  settling. The IOC's clock
  (:class:`gi_instrument.sim.clock.SimClock`) runs ``1 / time_scale`` times faster during that
  work and at the real rate otherwise, so the frames' instrument times (nominal span ``N``) and
  their real timestamps give ``A = (N - R) / (1 / time_scale - 1)``
  (:func:`gi_instrument.sim.clock.instrument_real_s`, :func:`software_overhead_s_per_frame`).

Subtracting the physics from the CT's time would not do: the IOC computes the next angle's
projections on a worker thread beside the present scan and renders each frame while the next is
exposed, so part of the physics overlaps the acquisition. Target: CT overhead <= 2x the bare
scan's per-event time, with the catalog live. The IOC's resident memory is sampled before and
after each CT (flat: no growth per frame); use ``--binning 1`` for full 2048 x 2048 frames.
``--camera-layout areadetector`` measures the path of a standard areaDetector camera (the client
steps G2 and exposes frame by frame).

    .venv/bin/python benchmarks/bench_acquisition.py [--repeats 3] [--range-deg 100] [--binning 8] [--camera-layout areadetector] [--covering-time-scale 3e-3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import NamedTuple

from simulated_ct import add_ct_arguments, simulated_scanner, timed_ct

from gi_instrument.devices.stepping_camera import frame_data_key
from gi_instrument.sim.clock import instrument_real_s

CONDITIONS = ("catalog", "journal", "plain")
"""Catalog written live (the target's condition), document journal only, no subscriptions."""


def bare_scan_s_per_event(n_events: int) -> float:
    from bluesky import RunEngine
    from bluesky.plans import scan
    from ophyd.sim import det, motor

    RE = RunEngine({})
    RE(scan([det], motor, 0, 1, 10))  # warm-up
    t0 = time.perf_counter()
    RE(scan([det], motor, 0, 1, n_events))
    return (time.perf_counter() - t0) / n_events


def physics_s_per_frame(binning: int, steps: int, repeats: int) -> float:
    """The simulator's own work per frame, s (best of ``repeats``): one angle's projections
    shared by its ``steps`` frames, plus one noisy frame (what the IOC computes, timed here)."""
    from gi_instrument.profile import load_profile
    from gi_instrument.sim.scanner_model import ScannerModel

    model = ScannerModel(load_profile("maast"), seed=0)
    best = float("inf")
    for k in range(repeats):
        t0 = time.perf_counter()
        model.prefetch(angle_deg=1.0 + k, sample_offset_mm=0.0, binning=binning)
        per_angle = time.perf_counter() - t0
        t0 = time.perf_counter()
        for step in range(steps):
            model.frame(angle_deg=1.0 + k, g2_um=0.6 * step, sample_offset_mm=0.0, exposure_s=10.0,
                        current_mA=1.2, xray_on=True, time_s=0.0, binning=binning)
        best = min(best, (per_angle + time.perf_counter() - t0) / steps)
    return best


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid``, MiB (Linux /proc)."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found")


class MeasuredCT(NamedTuple):
    """One timed CT (:func:`measured_ct`)."""

    overhead_s_per_frame: float
    """Wall time minus the scaled exposures, per frame, s."""
    frames: int
    uid: str
    software_s_per_frame: float
    """Time outside the instrument's own work, per frame, s (:func:`software_overhead_s_per_frame`)."""


def measured_ct(scanner, args) -> MeasuredCT:
    """One CT with ``args``' geometry on ``scanner``, timed."""
    wall, docs = timed_ct(scanner, args)
    start = docs[0][1]
    frames = start["schedule"]["frames_expected"]
    exposure_real = frames * args.exposure_s * args.time_scale
    software = software_overhead_s_per_frame(docs, frame_data_key("time_s", scanner.inst.camera.name),
                                             args.time_scale)
    return MeasuredCT((wall - exposure_real) / frames, frames, start["uid"], software)


def software_overhead_s_per_frame(docs: list[tuple[str, dict]], time_key: str, time_scale: float) -> float:
    """Real time per frame, s, outside the instrument's own work (exposures, moves, settling)
    between the end of a CT's first stepping scan and the end of its last (module docstring): the
    real span minus :func:`~gi_instrument.sim.clock.instrument_real_s` of it and the nominal span
    (instrument time, ``time_key``), over the frames taken in between. The IOC publishes a
    stepping scan's frames together, with one timestamp: the spans run from the last frame of
    the first scan to the last frame of the last, where both clocks mark the same moment."""
    events = [doc for name, doc in docs if name == "event" and time_key in doc["data"]]
    real = [doc["timestamps"][time_key] for doc in events]
    first = max(k for k, t in enumerate(real) if t == real[0])   # the first scan's last frame
    if first == len(events) - 1:
        raise ValueError(f"{len(events)} frames with {time_key!r}, all from one stepping scan")
    real_s = real[-1] - real[first]
    nominal_s = events[-1]["data"][time_key] - events[first]["data"][time_key]
    return (real_s - instrument_real_s(nominal_s, real_s, time_scale)) / (len(events) - 1 - first)


def paired_ratios(values: list[float], bare: list[float]) -> list[float]:
    """Each CT's per-frame time over the mean of the bare scan's per-event times measured just
    before and just after its repeat (``bare`` has one entry more than ``values``, interleaved
    with them: slow drifts of the machine's speed cancel in each ratio)."""
    if len(bare) != len(values) + 1:
        raise ValueError(f"{len(values)} CTs need {len(values) + 1} bare scans around them, got {len(bare)}")
    return [value / (0.5 * (before + after)) for value, before, after in zip(values, bare, bare[1:])]


def catalog_live_run(args: argparse.Namespace) -> dict[str, list[float]]:
    """``args.repeats`` CTs with the catalog live on an IOC with ``args.frame_model`` at
    ``args.time_scale``: their overhead per frame, s (``catalog``; ``software``: outside the
    instrument's own work), and the bare scan's per-event times, s, before, between and after
    them (after a warm-up CT)."""
    from gi_instrument.catalog import document_journal, open_catalog
    from gi_instrument.catalog_follower import start_follower, wait_for_stop

    result: dict[str, list[float]] = {"catalog": [], "software": [], "bare": []}
    with simulated_scanner(args, args.camera_layout, frame_model=args.frame_model) as scanner:
        client = open_catalog(scanner.paths.root)
        scanner.RE.subscribe(document_journal(scanner.paths))
        follower = start_follower(scanner.paths)
        measured_ct(scanner, args)  # warm-up
        for _ in range(args.repeats):
            result["bare"].append(bare_scan_s_per_event(200))
            ct = measured_ct(scanner, args)
            result["catalog"].append(ct.overhead_s_per_frame)
            result["software"].append(ct.software_s_per_frame)
            wait_for_stop(client, ct.uid, timeout_s=600)
        result["bare"].append(bare_scan_s_per_event(200))
        follower.terminate()
        follower.wait()
    return result


def in_own_process(argv: list[str], *options: str) -> dict[str, list[float]]:
    """:func:`catalog_live_run` with the arguments ``argv`` and ``options``, in a process of its
    own (this process's Channel Access client is bound to the first IOC)."""
    command = [sys.executable, __file__, *argv, *options, "--catalog-live-only"]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_ct_arguments(parser, range_deg=100.0, reference_every_deg=25.0, time_scale=1e-4)
    parser.add_argument("--camera-layout", choices=("scanner", "areadetector"), default="scanner")
    parser.add_argument("--repeats", type=int, default=5, help="CTs per condition (median and range of their ratios shown)")
    parser.add_argument("--covering-time-scale", type=float, default=3e-3,
                        help="time scale of the CTs whose exposures cover the simulator's physics")
    parser.add_argument("--frame-model", choices=("scanner", "flat"), default="scanner", help=argparse.SUPPRESS)
    parser.add_argument("--catalog-live-only", action="store_true",
                        help="only the catalog-live CTs (--frame-model, --time-scale), printed as JSON (the "
                             "bench runs itself so for its lines without the physics and with covering exposures)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    if not 0 < args.covering_time_scale < 1:
        parser.error(f"--covering-time-scale must be in (0, 1), got {args.covering_time_scale}")
    if args.catalog_live_only:
        print(json.dumps(catalog_live_run(args)))
        return

    from gi_instrument.catalog import document_journal, open_catalog
    from gi_instrument.catalog_follower import start_follower, wait_for_stop
    from gi_instrument.profile import load_profile

    overhead: dict[str, list[float]] = {key: [] for key in CONDITIONS}
    bare: list[float] = []
    lags: list[float] = []
    with simulated_scanner(args, args.camera_layout) as scanner:
        client = open_catalog(scanner.paths.root)
        journal = document_journal(scanner.paths)
        frames = measured_ct(scanner, args).frames  # warm-up: connections, first projections
        rss = [rss_mib(scanner.ioc.pid)]
        for _ in range(args.repeats):
            bare.append(bare_scan_s_per_event(200))
            overhead["plain"].append(measured_ct(scanner, args).overhead_s_per_frame)
            token = scanner.RE.subscribe(journal)
            journaled = measured_ct(scanner, args)
            overhead["journal"].append(journaled.overhead_s_per_frame)
            follower = start_follower(scanner.paths)
            wait_for_stop(client, journaled.uid, timeout_s=600)   # the follower catches up from the journal
            ct = measured_ct(scanner, args)
            overhead["catalog"].append(ct.overhead_s_per_frame)
            t0 = time.perf_counter()
            wait_for_stop(client, ct.uid, timeout_s=600)
            lags.append(time.perf_counter() - t0)
            follower.terminate()
            follower.wait()
            scanner.RE.unsubscribe(token)
            rss.append(rss_mib(scanner.ioc.pid))
        bare.append(bare_scan_s_per_event(200))
    flat = in_own_process(sys.argv[1:], "--frame-model", "flat")
    covered = in_own_process(sys.argv[1:], "--time-scale", str(args.covering_time_scale))
    physics = physics_s_per_frame(args.binning, load_profile("maast").stepping.steps, repeats=3)
    side = 2048 // args.binning
    exposure_ms = args.exposure_s * args.covering_time_scale * 1e3
    ratios = {key: paired_ratios(values, bare) for key, values in overhead.items()}
    rest, covering = paired_ratios(flat["catalog"], flat["bare"]), paired_ratios(covered["software"], covered["bare"])

    def line(label: str, values: list[float], ratio: list[float], note: str = "") -> str:
        return (f"{label:<40}{statistics.median(values) * 1e3:7.2f} ms per frame  ratio {statistics.median(ratio):5.2f}"
                f"  (CTs {min(ratio):.2f}-{max(ratio):.2f}x{note})")

    print(f"frames per CT: {frames} ({side} x {side}, exposure {args.exposure_s} s x time scale {args.time_scale}, "
          f"camera layout {args.camera_layout}); medians of {args.repeats} CTs per condition, each CT's ratio to "
          "the bare scans run around it")
    print(f"{'bare bluesky scan (ophyd.sim), baseline':<40}{statistics.median(bare) * 1e3:7.2f} ms per event "
          f"({min(bare) * 1e3:.2f}-{max(bare) * 1e3:.2f} ms)")
    print(line("gi_ct dry-run, catalog written live", overhead["catalog"], ratios["catalog"]))
    print(f"{'  simulator physics (same run)':<40}{physics * 1e3:7.2f} ms per frame  "
          "(done in turn: the angle's projections / steps + one noisy frame)")
    print(line("  the same, the IOC computing no frames", flat["catalog"], rest,
               f"; baseline of its own run {statistics.median(flat['bare']) * 1e3:.2f} ms"))
    print(line("  the same, exposures covering physics", covered["software"], covering,
               f"; outside the instrument's own work, {exposure_ms:.0f} ms exposures, time scale "
               f"{args.covering_time_scale:g}{'' if exposure_ms > physics * 1e3 else ', SHORTER than the physics'}; "
               f"baseline of its own run {statistics.median(covered['bare']) * 1e3:.2f} ms"))
    print(line("gi_ct dry-run, document journal only", overhead["journal"], ratios["journal"]))
    print(line("gi_ct dry-run, no subscriptions", overhead["plain"], ratios["plain"]))
    print(f"whole run in the catalog {min(lags):.1f} s (median {statistics.median(lags):.1f} s) after RE() returned")
    print(f"IOC resident memory: {rss[0]:.0f} MiB after the warm-up CT, {rss[-1]:.0f} MiB after "
          f"{3 * args.repeats} more ({(rss[-1] - rss[0]) / (3 * args.repeats * frames) * 1024:+.1f} KiB per frame)")
    verdict = {True: "met", False: "NOT met"}
    catalog, rest_m, covering_m = (statistics.median(r) for r in (ratios["catalog"], rest, covering))
    print(f"target: catalog live <= 2.0 x the bare scan -> {verdict[catalog <= 2.0]} ({catalog:.2f}, the "
          f"simulator's physics setting the pace); without the physics {verdict[rest_m <= 2.0]} ({rest_m:.2f}); "
          f"with exposures covering it {verdict[covering_m <= 2.0]} ({covering_m:.2f})")


if __name__ == "__main__":
    main()
