"""Retrieval speed on a full 2048 x 2048 x 5-step frame, and peak memory of sinogram building.

Run: ``.venv/bin/python benchmarks/bench_retrieval.py [--rows-chunks 2]``

1. ``retrieve`` of one full projection against its reference (uint16, 5 steps), best of 5,
   beside a plain numpy version (``np.fft.fft`` over the step axis, then T, DPC, D) in the same
   run, as a ratio. Target: <= 150 ms on 2 cores.
2. ``build_sinograms`` on a synthetic full-width TLI CT (1200 projections, 120 + 1 references,
   5 steps, 2048 columns) with the default 2 GiB chunk budget, frames made on the fly by a lazy
   reader, sinograms written to ``.npy`` memmaps. Only a few row chunks are processed: memory is
   per chunk, so the peak is that of the full 2048-row CT, and the time is extrapolated by rows.
   Target: < 8 GiB.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
import tracemalloc

import numpy as np

from gi_instrument.processing.retrieval import retrieve
from gi_instrument.processing.sinograms import StreamFrames, build_sinograms, rows_per_chunk

FULL = 2048
STEPS = 5


def numpy_fft_retrieval(sample: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, ...]:
    """The plain numpy baseline: full FFT over the step axis, then the signals."""
    fs = np.fft.fft(sample, axis=0)
    fr = np.fft.fft(reference, axis=0)
    transmission = np.abs(fs[0]) / np.abs(fr[0])
    dpc = np.angle(fs[1] * np.conj(fr[1]))
    darkfield = (np.abs(fs[1]) / np.abs(fs[0])) / (np.abs(fr[1]) / np.abs(fr[0]))
    return transmission, dpc, darkfield


def best_of(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_sinograms(n_chunks: int) -> None:
    n_proj, n_ref, cols = 1200, 121, FULL
    budget = 2 << 30
    chunk = rows_per_chunk(FULL, cols, n_proj, n_ref, STEPS, budget)
    rows = min(FULL, n_chunks * chunk)
    rng = np.random.default_rng(0)
    phase = rng.uniform(-np.pi, np.pi, (1, cols))
    steps_theta = 2 * np.pi * np.arange(STEPS)[:, None, None] / STEPS
    base = (2000 * (1 + 0.2 * np.cos(steps_theta + phase))).astype(np.uint16)  # (steps, 1, cols)

    def read(stream: str, frames: slice, row_slab: slice) -> np.ndarray:
        idx = np.arange(frames.start, frames.stop) % STEPS
        return np.broadcast_to(base[idx], (idx.size, row_slab.stop - row_slab.start, cols)).copy()

    def meta(n: int, dt: float, angles: bool) -> StreamFrames:
        return StreamFrames(np.repeat(np.arange(n), STEPS), np.tile(np.arange(STEPS), n),
                            np.arange(n * STEPS) * dt,
                            rotation_angle_deg=np.repeat(np.arange(n) * 0.3, STEPS)
                            if angles else None)

    with tempfile.TemporaryDirectory() as out:
        tracemalloc.start()
        t0 = time.perf_counter()
        build_sinograms(read, (rows, cols), meta(n_ref, 500.0, False), meta(n_proj, 50.0, True),
                        STEPS, n_dark=0, memory_bytes=budget, out_dir=out, progress=True)
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"sinograms: 1200 proj x 5 steps x {rows} rows x {cols} cols "
          f"({rows // chunk} chunks of {chunk} rows, budget 2 GiB)")
    print(f"  peak traced (numpy) memory {peak / 2**30:.2f} GiB, process peak RSS "
          f"{rss / 2**30:.2f} GiB (target < 8 GiB; per chunk, so the same for 2048 rows)")
    print(f"  {elapsed:.1f} s -> full 2048 rows ~ {elapsed * FULL / rows / 60:.1f} min "
          f"(synthetic reader; a real reader adds I/O)")


def bench_retrieval() -> None:
    rng = np.random.default_rng(1)
    theta = 2 * np.pi * np.arange(STEPS)[:, None, None] / STEPS
    phase = rng.uniform(-np.pi, np.pi, (FULL, FULL))
    reference = rng.poisson(2000 * (1 + 0.2 * np.cos(theta + phase))).astype(np.uint16)
    sample = rng.poisson(1500 * (1 + 0.15 * np.cos(theta + phase + 0.3))).astype(np.uint16)
    ours = best_of(lambda: retrieve(sample, reference))
    ours_1 = best_of(lambda: retrieve(sample, reference, workers=1))
    plain = best_of(lambda: numpy_fft_retrieval(sample, reference), repeats=3)
    res = retrieve(sample, reference, dtype=np.float64)
    t_np, dpc_np, d_np = numpy_fft_retrieval(sample, reference)
    agree = max(np.abs(res.transmission - t_np).max(), np.abs(res.dpc - dpc_np).max(),
                np.abs(res.darkfield - d_np).max())
    print(f"retrieval 2048x2048x5 uint16 ({os.cpu_count()} CPUs): retrieve {ours * 1e3:.0f} ms "
          f"(1 thread {ours_1 * 1e3:.0f} ms), numpy fft {plain * 1e3:.0f} ms, "
          f"ratio {plain / ours:.1f}x faster (target <= 150 ms); max |difference| {agree:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--row-chunks", type=int, default=2,
                        help="row chunks of the synthetic CT to process (default 2)")
    args = parser.parse_args()
    bench_sinograms(args.row_chunks)
    bench_retrieval()


if __name__ == "__main__":
    main()
