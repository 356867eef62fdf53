"""Speed and memory of the simulated scanner's frame model on full 2048 x 2048 frames.

Run: ``.venv/bin/python benchmarks/bench_frame_model.py [--frames 30]``

1. Once per angle: the exact projections of the breast phantom and the per-angle stepping terms
   (TLI profile, binning 1, supersampling from the profile) - reported, not a target. The first
   angle also computes the angle-independent detector maps; further new angles (``prefetch``)
   are timed at binning 1 and at binning 8 (the acquisition-overhead benchmark's frames).
2. Per frame, with those terms cached: ``ScannerModel.frame`` (expected photons, Poisson, read
   noise, uint16) plus writing the frame to an HDF5 file (h5py, one chunk per frame), median of
   the frames. Baseline in the same run: ``rng.poisson`` on a 2048^2 float array of the same mean
   plus the same HDF5 write. Target: < 0.5 s per frame on 2 cores.
3. Memory over ``--frames`` frames (tracemalloc: Python/numpy allocations still held; RSS): it must
   stay flat (growth below one frame's 8 MiB once the allocator has settled, after 5 frames).
4. The binning-8 frame (256 x 256) of the acquisition-overhead benchmark, cached terms.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import h5py
import numpy as np

from gi_instrument.profile import load_profile
from gi_instrument.sim.scanner_model import ScannerModel

FULL = 2048
MiB = 1 << 20


def rss_mib() -> float:
    """Resident set size now, MiB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30)
    args = parser.parse_args()

    profile = load_profile("tli")
    model = ScannerModel(profile, seed=0)
    kw = dict(angle_deg=12.3, sample_offset_mm=0.0, exposure_s=profile.ct.exposure_s,
              current_mA=profile.source.current_mA, xray_on=True, binning=1)
    positions = profile.stepping_positions_um

    t0 = time.perf_counter()
    model.frame(g2_um=0.0, time_s=0.0, **kw)
    first_s = time.perf_counter() - t0
    print(f"per-angle projections + terms (2048^2, supersampling {profile.simulation.supersampling}): "
          f"{first_s:.2f} s (first angle, with the detector maps)")
    per_angle_s = {}
    for binning, angles in ((1, (47.1, 81.9)), (8, tuple(3.0 + 7.3 * k for k in range(12)))):
        model.prefetch(angle_deg=0.5, sample_offset_mm=0.0, binning=binning)  # detector maps cached
        times = []
        for angle in angles:
            t = time.perf_counter()
            model.prefetch(angle_deg=angle, sample_offset_mm=0.0, binning=binning)
            times.append(time.perf_counter() - t)
        per_angle_s[binning] = statistics.median(times)
    print(f"per new angle, projections + terms: binning 1 {per_angle_s[1]:.2f} s, binning 8 "
          f"{per_angle_s[8] * 1e3:.1f} ms (median of 2 and 12 angles)")

    with tempfile.TemporaryDirectory() as tmp, h5py.File(Path(tmp) / "frames.h5", "w") as h5:
        n = args.frames
        model_ds = h5.create_dataset("model", (n, FULL, FULL), dtype=np.uint16, chunks=(1, FULL, FULL))
        base_ds = h5.create_dataset("baseline", (n, FULL, FULL), dtype=np.uint16, chunks=(1, FULL, FULL))

        rng = np.random.default_rng(1)
        lam = np.full((FULL, FULL), float(model.frame(g2_um=0.0, time_s=0.0, **kw).mean()))
        baseline = []
        for k in range(min(n, 10)):
            t = time.perf_counter()
            base_ds[k] = rng.poisson(lam).astype(np.uint16)
            baseline.append(time.perf_counter() - t)

        tracemalloc.start()
        frame_s, traced, rss = [], [], []
        for k in range(n):
            t = time.perf_counter()
            model_ds[k] = model.frame(g2_um=positions[k % len(positions)], time_s=60.0 * k, **kw)
            frame_s.append(time.perf_counter() - t)
            traced.append(tracemalloc.get_traced_memory()[0] / MiB)
            rss.append(rss_mib())
        peak = tracemalloc.get_traced_memory()[1] / MiB
        tracemalloc.stop()

    model_med, base_med = statistics.median(frame_s), statistics.median(baseline)
    print(f"full frame + HDF5 write, cached terms: median {model_med * 1e3:.0f} ms "
          f"(min {min(frame_s) * 1e3:.0f}, max {max(frame_s) * 1e3:.0f}) over {n} frames; "
          f"target < 500 ms: {'OK' if model_med < 0.5 else 'MISSED'}")
    print(f"baseline rng.poisson(2048^2) + HDF5 write: median {base_med * 1e3:.0f} ms; "
          f"ratio model / baseline = {model_med / base_med:.2f}")
    warm = min(5, n - 1)  # allocator pools settle within the first frames
    growth_traced = traced[-1] - traced[warm]
    growth_rss = rss[-1] - rss[warm]
    series = ", ".join(f"{k + 1}: {rss[k]:.0f}" for k in sorted({0, 1, warm, n // 2, n - 1}))
    print(f"memory over {n} frames: tracemalloc held {traced[-1]:.1f} MiB after the last frame "
          f"(growth from frame {warm + 1}: {growth_traced:+.1f} MiB, peak {peak:.1f} MiB); "
          f"RSS MiB by frame {{{series}}} (growth from frame {warm + 1}: {growth_rss:+.1f} MiB); "
          f"flat: {'OK' if max(growth_traced, growth_rss) < 8 else 'NO'}")

    small = dict(kw, binning=8)
    model.frame(g2_um=0.0, time_s=0.0, **small)
    times = []
    for k in range(50):
        t = time.perf_counter()
        model.frame(g2_um=positions[k % len(positions)], time_s=float(k), **small)
        times.append(time.perf_counter() - t)
    print(f"binning-8 frame (256 x 256), cached terms: median {statistics.median(times) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
