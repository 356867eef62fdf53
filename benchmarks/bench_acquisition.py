"""Per-frame overhead of a ``gi_ct`` dry-run against a bare bluesky ``scan`` in the same run.

Overhead per frame = (wall time - sum of the scaled nominal exposures) / frames, for 256 x 256
frames (MAAST at binning 8) on the simulated IOC. The baseline is ``bluesky.plans.scan`` of an
``ophyd.sim`` motor and detector (per event), measured in the same process. Both are measured
without subscriptions, and the CT also with the catalog writing live as a session does (the
document journal in the RunEngine, the live catalog writer following it in its own process),
plus how long after ``RE()`` returns the catalog has the whole run.
Target: CT overhead <= 2x the bare scan's per-event time, also with the catalog live. The IOC's
resident memory is sampled before and after each CT (flat: no growth per frame); use
``--binning 1`` for full 2048 x 2048 frames. ``--camera-layout areadetector`` measures the path
of a standard areaDetector camera (the client steps G2 and exposes frame by frame).

    .venv/bin/python benchmarks/bench_acquisition.py [--range-deg 100] [--binning 8] [--camera-layout areadetector]
"""

from __future__ import annotations

import argparse
import time

from simulated_ct import add_ct_arguments, simulated_scanner, timed_ct


def bare_scan_s_per_event(n_events: int) -> float:
    from bluesky import RunEngine
    from bluesky.plans import scan
    from ophyd.sim import det, motor

    RE = RunEngine({})
    RE(scan([det], motor, 0, 1, 10))  # warm-up
    t0 = time.perf_counter()
    RE(scan([det], motor, 0, 1, n_events))
    return (time.perf_counter() - t0) / n_events


def physics_s_per_frame(binning: int, steps: int) -> float:
    """The simulator's own work per frame, s: one angle's projections shared by its ``steps``
    frames, plus one noisy frame (what the IOC computes, timed here in-process)."""
    from gi_instrument.profile import load_profile
    from gi_instrument.sim.scanner_model import ScannerModel

    model = ScannerModel(load_profile("maast"), seed=0)
    t0 = time.perf_counter()
    for k in range(3):
        model.prefetch(angle_deg=1.0 + k, sample_offset_mm=0.0, binning=binning)
    per_angle = (time.perf_counter() - t0) / 3
    t0 = time.perf_counter()
    for _ in range(10):
        model.frame(angle_deg=1.0, g2_um=0.6, sample_offset_mm=0.0, exposure_s=10.0, current_mA=1.2,
                    xray_on=True, time_s=0.0, binning=binning)
    return per_angle / steps + (time.perf_counter() - t0) / 10


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid``, MiB (Linux /proc)."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found")


def ct_overhead_s_per_frame(scanner, args) -> tuple[float, int, str]:
    wall, docs = timed_ct(scanner, args)
    start = docs[0][1]
    frames = start["schedule"]["frames_expected"]
    exposure_real = frames * args.exposure_s * args.time_scale
    return (wall - exposure_real) / frames, frames, start["uid"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_ct_arguments(parser, range_deg=100.0, reference_every_deg=25.0, time_scale=1e-4)
    parser.add_argument("--camera-layout", choices=("scanner", "areadetector"), default="scanner")
    args = parser.parse_args()

    from gi_instrument.catalog import document_journal, open_catalog
    from gi_instrument.catalog_follower import start_follower, wait_for_stop
    from gi_instrument.profile import load_profile

    with simulated_scanner(args, args.camera_layout) as scanner:
        bare = bare_scan_s_per_event(200)
        rss = [rss_mib(scanner.ioc.pid)]
        plain, frames, _ = ct_overhead_s_per_frame(scanner, args)
        rss.append(rss_mib(scanner.ioc.pid))
        client = open_catalog(scanner.paths.root)
        scanner.RE.subscribe(document_journal(scanner.paths))
        journal_only, _, journal_uid = ct_overhead_s_per_frame(scanner, args)
        follower = start_follower(scanner.paths)
        wait_for_stop(client, journal_uid, timeout_s=600)   # the follower catches up from the journal
        with_catalog, _, uid = ct_overhead_s_per_frame(scanner, args)
        t0 = time.perf_counter()
        wait_for_stop(client, uid, timeout_s=600)
        catalog_lag = time.perf_counter() - t0
        follower.terminate()
        follower.wait()
        rss.append(rss_mib(scanner.ioc.pid))
        bare_again = bare_scan_s_per_event(200)
    bare = min(bare, bare_again)
    physics = physics_s_per_frame(args.binning, load_profile("maast").stepping.steps)
    side = 2048 // args.binning
    print(f"frames per CT: {frames} ({side} x {side}, exposure {args.exposure_s} s x time scale {args.time_scale}, "
          f"camera layout {args.camera_layout})")
    print(f"bare bluesky scan (ophyd.sim):         {bare * 1e3:6.2f} ms per event")
    print(f"gi_ct overhead, no subscriptions:      {plain * 1e3:6.2f} ms per frame  ratio {plain / bare:4.2f}")
    print(f"  of which the simulator's physics:    {physics * 1e3:6.2f} ms per frame; the rest "
          f"{(plain - physics) * 1e3:.2f} ms  ratio {(plain - physics) / bare:4.2f}")
    print(f"gi_ct overhead, document journal:     {journal_only * 1e3:6.2f} ms per frame  ratio {journal_only / bare:4.2f}"
          "  (the RunEngine's share of the live catalog)")
    print(f"gi_ct overhead, catalog written live: {with_catalog * 1e3:6.2f} ms per frame  ratio {with_catalog / bare:4.2f}"
          "  (journal + follower process on the same cores)")
    print(f"  whole run in the catalog {catalog_lag:.1f} s after RE() returned")
    print(f"IOC resident memory: {rss[0]:.0f} MiB before, {rss[1]:.0f} after CT 1, {rss[2]:.0f} after CT 2 "
          f"({(rss[2] - rss[1]) / frames * 1024:+.1f} KiB per frame over CT 2)")
    print(f"target: ratio <= 2.0 -> {'met' if plain / bare <= 2.0 else 'NOT met'} without subscriptions, "
          f"{'met' if journal_only / bare <= 2.0 else 'NOT met'} with the journal, "
          f"{'met' if with_catalog / bare <= 2.0 else 'NOT met'} with the catalog live")


if __name__ == "__main__":
    main()
