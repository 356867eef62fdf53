"""Peak memory of processing a full-size TLI CT: sinogram building, then reconstruction.

Run: ``.venv/bin/python benchmarks/bench_processing_memory.py [--memory-gib 2] [--recon-slabs 1]``

The CT is shaped like the paper's TLI CT in everything that sets the memory of one work unit:
2048 columns, 1200 projections over 360 deg and 121 reference stepping scans (every 3 deg plus a
final one, :func:`gi_instrument.plans.schedule.ct_schedule` of the ``tli`` profile), 5 phase
steps, 5 darks, uint16 frames. It is scaled down in one way only: the number of detector rows.

- Sinograms: :func:`gi_instrument.processing.sinograms.build_sinograms` (the chunked builder
  ``gi-process`` uses) with the default 2 GiB budget works on one slab of rows at a time, and
  each slab's arrays are sized by the budget for the full CT's angles and width (55 rows of 2048
  columns at 2 GiB); so the benchmark simulates exactly one full-size slab (plus the darks), and
  its peak is the full CT's. Frames come from a lazy synthetic reader (``(frames, rows, cols)``
  uint16 per call, as the HDF5 reader returns them; HDF5 I/O buffers are not included).
  Sinograms are written to ``.npy`` files and returned as read-only memory maps, as in
  ``gi-process``.
- Reconstruction: ``gi-process``'s own slab step
  (:func:`gi_instrument.process_cli.reconstruct_slab`: cone-beam rebinning in the TLI geometry,
  ring suppression, truncation correction, ``mu``/dark-field (ramp) and ``delta`` (Hilbert)) of
  slabs of rows read from those memory maps and written to an HDF5 ``VolumeFile``, with the
  rows per slab of ``gi-process`` (three volume slabs, their sinograms and the rebinning's
  temporaries in the same budget: 16 rows at 2 GiB). ``--recon-slabs`` slabs are reconstructed; each later slab repeats the same
  allocations.
- Scaling check: the builder is also run with a small budget on one and on three slabs; if its
  peak did not grow with the number of slabs, per-slab measurements extrapolate to 2048 rows.

Memory is measured three ways: tracemalloc's peak (numpy buffers), and, sampled every 20 ms from
``/proc/self/status``, the process's anonymous resident memory (``RssAnon``: what must fit in
RAM) and file-backed resident memory (``RssFile``: pages of the memory-mapped sinograms, clean
page cache the kernel reclaims under pressure). ``ru_maxrss`` (their sum's peak) is printed too.
The target is 8 GiB for the anonymous peak.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np
from numpy.typing import NDArray

from gi_instrument.plans.schedule import ct_schedule, estimate_ct_seconds, format_duration
from gi_instrument.process_cli import _rows_per_slab, preparations, reconstruct_slab
from gi_instrument.processing.reconstruction import Geometry, attenuation_per_m
from gi_instrument.processing.outputs import VolumeFile
from gi_instrument.processing.retrieval import lever_arm_cm
from gi_instrument.processing.sinograms import (
    Sinograms,
    StreamFrames,
    build_sinograms,
    rows_per_chunk,
)
from gi_instrument.profile import load_profile

GIB = 2**30
TARGET_BYTES = 8 * GIB
OVERHEAD_S = 1.0
"""Motion and read-out per step, s (only sets the event times)."""


# ---- memory probes -----------------------------------------------------------------------------

def _status_bytes() -> dict[str, int]:
    """``RssAnon`` and ``RssFile`` of this process, bytes (Linux ``/proc/self/status``)."""
    out = {"RssAnon": 0, "RssFile": 0}
    with open("/proc/self/status") as f:
        for line in f:
            key = line.split(":", 1)[0]
            if key in out:
                out[key] = int(line.split()[1]) * 1024
    return out


@dataclass
class Peak:
    """Peaks of one measured phase, bytes, and its duration, s."""

    traced: int = 0
    anon: int = 0
    file: int = 0
    seconds: float = 0.0


class Sampler:
    """Samples ``RssAnon``/``RssFile`` every ``interval_s`` on a thread; :meth:`phase` measures a
    block (tracemalloc peak reset at its start)."""

    def __init__(self, interval_s: float = 0.02) -> None:
        self.interval_s = interval_s
        self._current: Peak | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            peak = self._current
            if peak is not None:
                s = _status_bytes()
                peak.anon = max(peak.anon, s["RssAnon"])
                peak.file = max(peak.file, s["RssFile"])

    def __enter__(self) -> Self:
        tracemalloc.start()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        tracemalloc.stop()

    @contextmanager
    def phase(self) -> Iterator[Peak]:
        """Measure the block; the yielded :class:`Peak` is filled when it ends."""
        peak = Peak()
        s = _status_bytes()
        peak.anon, peak.file = s["RssAnon"], s["RssFile"]
        tracemalloc.reset_peak()
        self._current = peak
        t0 = time.perf_counter()
        try:
            yield peak
        finally:
            peak.seconds = time.perf_counter() - t0
            self._current = None
            s = _status_bytes()
            peak.anon, peak.file = max(peak.anon, s["RssAnon"]), max(peak.file, s["RssFile"])
            peak.traced = tracemalloc.get_traced_memory()[1]


# ---- the synthetic CT --------------------------------------------------------------------------

@dataclass(frozen=True)
class SyntheticCT:
    """Event metadata of a TLI CT and a lazy frame reader (full width, any number of rows)."""

    rows: int
    cols: int
    steps: int
    n_dark: int
    reference: StreamFrames
    primary: StreamFrames
    read: Callable[[str, slice, slice], NDArray[np.uint16]]


def synthetic_tli_ct(rows: int) -> SyntheticCT:
    """The ``tli`` profile's CT schedule (1200 projections, references every 3 deg + final),
    ``rows`` detector rows of the full 2048-column frame; stepping curves of a flat field and of
    a sample (transmission 0.6, visibility 0.6 of the reference's, shifted phase) that drift."""
    profile = load_profile("tli")
    schedule = ct_schedule(profile, final_reference=True)
    steps, cols = profile.stepping.steps, profile.detector.width_px
    step_s = profile.ct.exposure_s + OVERHEAD_S
    items = list(schedule.items())
    meta: dict[str, list[list[float]]] = {"reference": [[], [], [], []], "primary": [[], [], [], []]}
    for n, item in enumerate(items):
        stream = "reference" if item.kind == "reference" else "primary"
        angle_index, step_index, time_s, angle_deg = meta[stream]
        for k in range(steps):
            angle_index.append(item.angle_index)
            step_index.append(k)
            time_s.append((n * steps + k) * step_s)
            angle_deg.append(item.angle_deg)

    def frames(stream: str) -> StreamFrames:
        angle_index, step_index, time_s, angle_deg = (np.asarray(v) for v in meta[stream])
        return StreamFrames(angle_index.astype(np.int64), step_index.astype(np.int64), time_s,
                            rotation_angle_deg=angle_deg if stream == "primary" else None)

    reference, primary = frames("reference"), frames("primary")
    rng = np.random.default_rng(0)
    theta = 2 * np.pi * np.arange(steps)[:, None, None] / steps
    phase = rng.uniform(-np.pi, np.pi, (1, cols))
    curves = {
        "reference": 2000 * (1 + 0.2 * np.cos(theta + phase)) + 100,
        "primary": 1200 * (1 + 0.12 * np.cos(theta + phase + 0.3)) + 100,
    }
    step_of = {"reference": reference.step_index, "primary": primary.step_index}

    def read(stream: str, which: slice, row_slab: slice) -> NDArray[np.uint16]:
        n_rows = row_slab.stop - row_slab.start
        if stream == "dark":
            return np.full((which.stop - which.start, n_rows, cols), 100, dtype=np.uint16)
        k = step_of[stream][which]
        drift = 1e-5 * np.arange(which.start, which.stop)[:, None, None]  # slow a0 drift
        out = (curves[stream][k] * (1 + drift)).astype(np.uint16)  # (n, 1, cols)
        return np.broadcast_to(out, (k.size, n_rows, cols)).copy()

    return SyntheticCT(rows, cols, steps, profile.ct.dark_frames, reference, primary, read)


def _build(ct: SyntheticCT, memory_bytes: int, out_dir: Path) -> Sinograms:
    return build_sinograms(ct.read, (ct.rows, ct.cols), ct.reference, ct.primary, ct.steps,
                           n_dark=ct.n_dark, memory_bytes=memory_bytes, out_dir=out_dir)


def _reconstruct(sino: Sinograms, slab_rows: int, n_slabs: int, out: Path
                 ) -> tuple[int, list[int]]:
    """Volumes of the first ``n_slabs`` slabs written to an HDF5 file; returns the rows done and
    the file-backed resident memory after each slab, bytes."""
    _, rows, cols = sino.transmission.shape
    profile = load_profile("tli")
    voxel_um = profile.voxel_um
    geometry = Geometry("cone", profile.source_sample_cm, profile.source_g2_cm,
                        profile.detector.pixel_um)
    g = profile.geometry
    prepare = preparations(profile.gratings.g2_period_um,
                           lever_arm_cm(g.source_g1_cm, g.g1_g2_cm, profile.source_sample_cm), rings=True)
    done, file_rss = 0, []
    with VolumeFile(out, {"benchmark": "bench_processing_memory"}, voxel_um) as vf:
        for name in ("attenuation", "darkfield", "delta"):
            vf.create(name, (rows, cols, cols), "", name)
        for r0 in range(0, min(rows, n_slabs * slab_rows), slab_rows):
            block = slice(r0, min(r0 + slab_rows, rows))
            slab = reconstruct_slab(sino, block, geometry, prepare, "cylinder")
            vf.volume("attenuation")[block] = attenuation_per_m(slab["attenuation"], voxel_um)
            vf.volume("darkfield")[block] = attenuation_per_m(slab["darkfield"], voxel_um)
            vf.volume("delta")[block] = slab["delta"]
            del slab
            done = block.stop
            file_rss.append(_status_bytes()["RssFile"])
    return done, file_rss


def _gib(n: float) -> str:
    return f"{n / GIB:.2f} GiB"


def peak_time(peak: Peak) -> str:
    return f"{peak.seconds:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory-gib", type=float, default=2.0,
                        help="budget of one row chunk / slab, GiB (gi-process default 2)")
    parser.add_argument("--recon-slabs", type=int, default=1,
                        help="reconstruction slabs to run (default 1)")
    parser.add_argument("--tmp", default=None, help="directory for the sinogram and volume files")
    args = parser.parse_args()
    budget = int(args.memory_gib * GIB)

    probe = synthetic_tli_ct(1)
    n_proj = int(np.unique(probe.primary.angle_index).size)
    n_ref = int(np.unique(probe.reference.angle_index).size)
    full_rows, cols, steps = 2048, probe.cols, probe.steps
    chunk = rows_per_chunk(full_rows, cols, n_proj, n_ref, steps, budget)
    slab = _rows_per_slab(n_proj, cols, budget)
    rows = max(chunk, slab)
    print(f"TLI CT: {n_proj} projections + {n_ref} references x {steps} steps, {cols} columns; "
          f"simulated {rows} of 2048 rows ({os.cpu_count()} CPUs, budget {_gib(budget)})")
    print(f"  builder: {chunk} rows per chunk; reconstruction: {slab} rows per slab")

    with Sampler() as sampler, tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        tmp_path = Path(tmp)
        # scaling check: small budget, 1 and 3 chunks
        small = 256 * 2**20
        small_chunk = rows_per_chunk(full_rows, cols, n_proj, n_ref, steps, small)
        scaling = []
        for n_chunks in (1, 3):
            with sampler.phase() as peak:
                _build(synthetic_tli_ct(n_chunks * small_chunk), small, tmp_path / f"s{n_chunks}")
            scaling.append(peak)
        with sampler.phase() as build:
            sino = _build(synthetic_tli_ct(rows), budget, tmp_path / "sinograms")
        with sampler.phase() as recon:
            done, file_rss = _reconstruct(sino, slab, args.recon_slabs, tmp_path / "volumes.h5")
        del sino
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    print(f"scaling check (budget {_gib(small)}, {small_chunk} rows per chunk): anonymous peak "
          f"{_gib(scaling[0].anon)} with 1 chunk, {_gib(scaling[1].anon)} with 3 "
          f"(traced {_gib(scaling[0].traced)} / {_gib(scaling[1].traced)})")
    for name, peak, extra in (
            ("sinograms", build, f"{rows} rows in {peak_time(build)}"),
            ("reconstruction", recon, f"{done} rows x 3 volumes in {peak_time(recon)}")):
        print(f"{name}: peak traced {_gib(peak.traced)}, anonymous RSS {_gib(peak.anon)}, "
              f"file-backed RSS {_gib(peak.file)} ({extra})")
    print(f"process ru_maxrss {_gib(maxrss)}; file-backed RSS after each reconstruction slab: "
          + ", ".join(_gib(b) for b in file_rss))

    # extrapolation to the full CT (2048 rows): per-chunk / per-slab peaks do not grow with rows
    peak_anon = max(build.anon, recon.anon)
    t_build = build.seconds * full_rows / rows
    t_recon = recon.seconds * full_rows / max(done, 1)
    sino_bytes = n_proj * full_rows * cols * (3 * 4 + 1)
    volume_bytes = 3 * full_rows * cols * cols * 4
    raw_bytes = (n_proj + n_ref) * steps * full_rows * cols * 2
    verdict = "meets" if peak_anon < TARGET_BYTES else "MISSES"
    print("full-size TLI CT (2048 rows), extrapolated:")
    print(f"  anonymous peak {_gib(peak_anon)} ({verdict} the 8 GiB target; "
          f"{peak_anon / TARGET_BYTES:.0%} of it): the builder holds one {chunk}-row chunk and "
          f"the reconstruction one {slab}-row slab at a time, whatever the number of rows")
    signal_bytes = n_proj * full_rows * cols * 3 * 4
    print(f"  file-backed pages: the reconstruction reads the memory-mapped T, DPC and D "
          f"sinograms ({_gib(signal_bytes)}) through mappings that stay open, so ru_maxrss can "
          f"grow towards that on a machine with free RAM; clean page cache, reclaimed under "
          f"pressure, not counted above")
    print(f"  disk: raw frames {_gib(raw_bytes)}, sinograms {_gib(sino_bytes)}, volumes "
          f"{_gib(volume_bytes)} (float32 mu, dark-field, delta)")
    acquisition_s = estimate_ct_seconds(load_profile("tli"), final_reference=True)
    print(f"  time on this machine: sinograms ~{t_build / 60:.0f} min, reconstruction "
          f"~{t_recon / 60:.0f} min (synthetic reader: no disk reads of the frames); the "
          f"exposures alone take {format_duration(acquisition_s)}, "
          f"{acquisition_s / (t_build + t_recon):.0f}x longer")


if __name__ == "__main__":
    main()
