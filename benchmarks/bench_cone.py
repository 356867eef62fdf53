"""Cone-beam reconstruction benchmark: a 2048-wide slab from 1200 angles (TLI geometry, 360 deg).

Times, in the same run and on the same data (a float32 (1200, rows, 2048) stack; reconstruction
time does not depend on the values, so they are random):

- the cone-beam path, :func:`gi_instrument.processing.reconstruction.reconstruct` with the TLI
  profile's cone geometry, ramp filter, both methods: ``"rebin"`` (rebinning to parallel beam +
  Fourier gridding, used near the mid-plane) and ``"fdk"`` (rebinning, filtering and
  back-projection along the tilted rays, :mod:`~gi_instrument.processing.reconstruction.fdk`,
  used where the cone angle matters: at binning 1 beyond ~20 rows from the mid-plane);
- the project's parallel-beam path on the same slab (``fbp``, gridding plan cached);
- astra-toolbox's CPU fan-beam back-projection of one slice (``BP``, ``line_fanflat``: astra 2.5
  has no CPU fan-beam FBP, its ``FBP`` is parallel only and ``FBP_CUDA`` needs a GPU, so this is
  the costly part of one; the ramp filter would add ~0.1 s), if astra is importable.

The issue's slab is 64 rows; ``--rows`` (default 8) rows are timed and the times scaled to 64
(both paths cost the same per row once the gridding plan is built; the plan is built in a
warm-up call first and reported separately); each path is timed ``--repeat`` times, alternating,
and the best time kept. FDK's back-projection costs the same per slice at any height (only the
few rows rebinned around a slab grow with it): ``--fdk-rows`` (default 4) slices are timed once
(the CPUs share the slices; gi-process back-projects 16 at a time) and scaled to 64. astra's
per-slice time is scaled by 64 too.
Target: cone <= 2x parallel, and faster than astra's CPU fan-beam reconstruction.
Run: ``nice .venv/bin/python benchmarks/bench_cone.py [--rows 8] [--cols 2048] [--angles 1200]
[--fdk-rows 4]``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from gi_instrument.processing.reconstruction import Geometry, astra_available, reconstruct
from gi_instrument.processing.reconstruction.astra_backend import astra_fan_backprojection
from gi_instrument.profile import load_profile

SLAB_ROWS = 64


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8, help="rows timed (scaled to 64)")
    parser.add_argument("--cols", type=int, default=2048)
    parser.add_argument("--angles", type=int, default=1200)
    parser.add_argument("--repeat", type=int, default=2, help="timings per path (the best kept)")
    parser.add_argument("--fdk-rows", type=int, default=4, help="FDK slices timed (scaled to 64)")
    parser.add_argument("--no-astra", action="store_true")
    args = parser.parse_args()
    profile = load_profile("tli")
    binning = profile.detector.width_px // args.cols
    cone = Geometry("cone", profile.source_sample_cm, profile.source_g2_cm,
                    profile.detector.pixel_um * binning, midplane_row=SLAB_ROWS / 2)
    angles = np.arange(args.angles) * 360.0 / args.angles
    rng = np.random.default_rng(0)
    sino = rng.random((args.angles, args.rows, args.cols), dtype=np.float32)
    scale = SLAB_ROWS / args.rows
    print(f"{args.angles} angles, {args.cols} columns (TLI, binning {binning}, source-axis "
          f"{cone.source_axis_px:.0f} voxels, fan half-angle "
          f"{np.degrees(np.arctan(args.cols / 2 / cone.source_axis_px)):.2f} deg); "
          f"{args.rows} rows timed, scaled to {SLAB_ROWS}; {os.cpu_count()} CPUs")

    t0 = time.perf_counter()
    reconstruct(sino[:, :1], angles, Geometry("parallel"))  # builds the gridding plan
    t_plan = time.perf_counter() - t0
    reconstruct(sino[:, :1], angles, cone)  # the same plan (360 deg: the same angles)
    times = {"parallel": np.inf, "cone": np.inf}
    for _ in range(args.repeat):  # alternating, best of each: the CPU may be shared
        for name, geometry in (("parallel", Geometry("parallel")), ("cone", cone)):
            t0 = time.perf_counter()
            reconstruct(sino, angles, geometry, method="rebin")
            times[name] = min(times[name], (time.perf_counter() - t0) * scale)
    print(f"gridding plan (once per width and angles): {t_plan:.1f} s")
    print(f"parallel beam (fbp):               {times['parallel']:8.1f} s per 64 rows")
    print(f"cone beam (rebinning + gridding):  {times['cone']:8.1f} s per 64 rows "
          f"= {times['cone'] / times['parallel']:.2f}x parallel (target <= 2)")
    fdk_rows = slice(0, min(args.fdk_rows, args.rows))
    t0 = time.perf_counter()
    reconstruct(sino, angles, cone, method="fdk", slices=fdk_rows)
    t_fdk = (time.perf_counter() - t0) * SLAB_ROWS / (fdk_rows.stop - fdk_rows.start)
    print(f"cone beam (FDK, tilted rays):      {t_fdk:8.1f} s per 64 rows "
          f"= {t_fdk / times['parallel']:.2f}x parallel ({fdk_rows.stop} slice(s) timed)")
    if args.no_astra or not astra_available():
        print("astra-toolbox: not run")
        return
    t0 = time.perf_counter()
    astra_fan_backprojection(sino[:, 0], angles, cone.source_axis_px,
                             cone.source_axis_px * cone.magnification)
    t_astra = (time.perf_counter() - t0) * SLAB_ROWS
    print(f"astra CPU fan-beam BP, per slice:  {t_astra:8.1f} s per 64 rows "
          f"(1 slice timed); rebinning is {t_astra / times['cone']:.1f}x faster, FDK "
          f"{t_astra / t_fdk:.2f}x (target > 1)")


if __name__ == "__main__":
    main()
