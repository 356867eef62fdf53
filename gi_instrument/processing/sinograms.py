"""Transmission, DPC and dark-field sinograms (angles, rows, cols) of a CT, built by row chunks.

A CT is three streams of frames (``dark``, ``reference``, ``primary``), one frame per event, each
tagged with its projection (angle) index, step index, time and G2 readback (:class:`StreamFrames`).
:func:`group_scans` turns a stream into stepping scans. :func:`build_sinograms` then works on a
slab of detector rows at a time: it reads only that slab of every frame through a
:data:`FrameReader`, fits the reference scans, and for each projection retrieves the signals
against the reference interpolated to the projection's time (:mod:`.references`). Each finished
slab is written into the outputs (``.npy`` files in a directory, or memory), so peak memory is
set by ``memory_bytes`` and not by the size of the CT.
"""

from __future__ import annotations

import mmap

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gi_instrument.processing.noise import AmplitudeNoise
from gi_instrument.processing.references import (
    InterpolationMode,
    ReferenceSeries,
    interpolation_weights,
)
from gi_instrument.processing.retrieval import (
    Retrieval,
    SteppingFit,
    compare,
    estimate_step_positions,
    fit_stepping,
    mean_dark,
)

__all__ = [
    "STREAMS",
    "SIGNALS",
    "FrameReader",
    "StreamFrames",
    "SteppingScans",
    "Sinograms",
    "group_scans",
    "read_stepping_scans",
    "rows_per_chunk",
    "build_sinograms",
    "sinograms_from_arrays",
]

STREAMS = ("dark", "reference", "primary")
SIGNALS = ("transmission", "dpc", "darkfield")

FrameReader = Callable[[str, slice, slice], NDArray]
"""``read(stream, frames, rows)`` → array (n_frames, n_rows, cols): the events ``frames`` of
``stream`` (one of :data:`STREAMS`, event order), detector rows ``rows``, all columns."""

ProgressCallback = Callable[[int, int], None]
"""``progress(done, total)``, called after each stepping scan of each row chunk."""


@dataclass(frozen=True)
class StreamFrames:
    """Per-event metadata of one stream, arrays (n_events,) in event order."""

    angle_index: NDArray[np.integer]
    """Projection index (for a reference scan: the projection it precedes)."""
    step_index: NDArray[np.integer]
    """Phase step 0..steps-1."""
    time_s: NDArray[np.floating]
    """Frame time, s (any epoch, the same for all streams): the instrument's clock at the
    exposure where the run records it, else the event time."""
    g2_position_um: NDArray[np.floating] | None = None
    """G2 piezo readback, um; ``None``: equidistant steps over one period are assumed."""
    rotation_angle_deg: NDArray[np.floating] | None = None
    """Rotation stage readback, deg."""


@dataclass(frozen=True)
class SteppingScans:
    """Complete stepping scans of one stream, sorted by angle index."""

    angle_index: NDArray[np.int64]
    """(n_scans,) projection index of each scan."""
    frames: NDArray[np.intp]
    """(n_scans, steps) event index of step k of scan i."""
    time_s: NDArray[np.float64]
    """(n_scans,) mean event time, s."""
    positions_um: NDArray[np.float64] | None
    """(n_scans, steps) G2 readbacks, um, or ``None``."""
    angle_deg: NDArray[np.float64] | None
    """(n_scans,) mean rotation readback, deg, or ``None``."""

    def __len__(self) -> int:
        return len(self.angle_index)


@dataclass(frozen=True)
class Sinograms:
    """Sinograms (n_angles, rows, cols): float32 signals and uint8 retrieval flags."""

    angles_deg: NDArray[np.float64]
    """(n_angles,) projection angles, deg."""
    angle_index: NDArray[np.int64]
    """(n_angles,) projection index of each sinogram row."""
    transmission: NDArray[np.float32]
    dpc: NDArray[np.float32]
    """Differential phase, rad (see :mod:`.retrieval` for the sign convention)."""
    darkfield: NDArray[np.float32]
    flags: NDArray[np.uint8]
    """``FLAG_*`` bits of :mod:`.retrieval` (0 = good)."""

    def release_pages(self) -> None:
        """Drop the pages of file-backed sinograms read so far from this process's resident
        memory (they stay in the file; a no-op for arrays in memory). Call after each slab, so
        the resident size stays that of one slab however large the CT."""
        for array in (self.transmission, self.dpc, self.darkfield, self.flags):
            mapping = getattr(array, "_mmap", None)
            if mapping is not None:
                mapping.madvise(mmap.MADV_DONTNEED)


def group_scans(frames: StreamFrames, steps: int) -> SteppingScans:
    """Group a stream's events into stepping scans, one per angle index.

    When an (angle, step) pair occurs more than once (a stepping scan restarted after a
    suspension) the last event wins; angle indices that lack a step are dropped.
    """
    angle = np.asarray(frames.angle_index, dtype=np.int64)
    step = np.asarray(frames.step_index, dtype=np.int64)
    if np.any((step < 0) | (step >= steps)):
        raise ValueError(f"step index outside 0..{steps - 1}")
    angles = np.unique(angle)
    table = np.full((angles.size, steps), -1, dtype=np.intp)
    table[np.searchsorted(angles, angle), step] = np.arange(angle.size)  # later events overwrite
    complete = (table >= 0).all(axis=1)
    table = table[complete]
    time_s = np.asarray(frames.time_s, dtype=np.float64)[table].mean(axis=1)
    positions = None
    if frames.g2_position_um is not None:
        positions = np.asarray(frames.g2_position_um, dtype=np.float64)[table]
    angle_deg = None
    if frames.rotation_angle_deg is not None:
        angle_deg = np.asarray(frames.rotation_angle_deg, dtype=np.float64)[table].mean(axis=1)
    return SteppingScans(angles[complete], table, time_s, positions, angle_deg)


def _bytes_per_row(cols: int, n_proj: int, n_ref: int, steps: int, read_scans: int) -> int:
    """Memory per detector row of a chunk: sinogram buffers, reference fits, read batch."""
    sinogram = n_proj * (3 * 4 + 1)
    reference_fits = n_ref * 5 * 4  # a0, b, c, visibility, phase
    read_batch = read_scans * steps * (8 + 8)  # raw frames + float copy (worst case 8 bytes)
    work = 24 * 8  # per-projection fit and retrieval temporaries
    return cols * (sinogram + reference_fits + read_batch + work)


def rows_per_chunk(
    rows: int, cols: int, n_proj: int, n_ref: int, steps: int, memory_bytes: int,
    read_scans: int = 8,
) -> int:
    """Detector rows per chunk so that one chunk's arrays fit in ``memory_bytes``."""
    per_row = _bytes_per_row(cols, n_proj, n_ref, steps, read_scans)
    return int(np.clip(memory_bytes // per_row, 1, rows))


def read_stepping_scans(
    read: FrameReader, stream: str, scans: SteppingScans, which: Sequence[int], rows: slice
) -> list[NDArray]:
    """Frames (steps, n_rows, cols) of the scans ``which`` (indices into ``scans``) of ``stream``,
    detector rows ``rows``, read as one contiguous event range (one reader call)."""
    table = scans.frames[list(which)]
    first, last = int(table.min()), int(table.max())
    block = read(stream, slice(first, last + 1), rows)
    return [block[t - first] for t in table]


def _corrected(
    read: FrameReader, stream: str, scans: SteppingScans, steps: int, period_um: float,
    rows: slice, read_scans: int, from_readbacks: bool,
) -> SteppingScans:
    """``scans`` with positions estimated from their curves on the row slab ``rows``."""
    estimated = np.empty((len(scans), steps))
    for batch in _batches(len(scans), read_scans):
        for i, stack in zip(batch, read_stepping_scans(read, stream, scans, batch, rows)):
            start = scans.positions_um[i] if from_readbacks else None
            estimated[i] = estimate_step_positions(stack, period_um, start)
    return replace(scans, positions_um=estimated)


def _batches(n: int, size: int) -> list[range]:
    return [range(i, min(i + size, n)) for i in range(0, n, size)]


class _SinogramStore:
    """Output arrays (n, rows, cols) per signal and flags, filled one row slab at a time.

    In memory (``out_dir=None``) a slab is a view of the arrays. Otherwise each array is a
    ``sinogram_<name>.npy`` file in ``out_dir``, written slab by slab with plain file writes (no
    writable memory map, so written pages never pile up in the process) and opened read-only
    as a memory map at the end.
    """

    _DTYPES = {name: np.dtype(np.float32) for name in SIGNALS} | {"flags": np.dtype(np.uint8)}

    def __init__(self, n: int, shape: tuple[int, int], out_dir: Path | None) -> None:
        self.shape = (n, *shape)
        self.out_dir = out_dir
        self.arrays: dict[str, NDArray] = {}
        self.offsets: dict[str, int] = {}
        if out_dir is None:
            self.arrays = {k: np.empty(self.shape, dt) for k, dt in self._DTYPES.items()}
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, dt in self._DTYPES.items():
            with open(self.path(name), "wb") as f:
                np.lib.format.write_array_header_1_0(f, {
                    "descr": np.lib.format.dtype_to_descr(dt), "fortran_order": False,
                    "shape": self.shape})
                self.offsets[name] = f.tell()
                f.truncate(f.tell() + int(np.prod(self.shape)) * dt.itemsize)

    def path(self, name: str) -> Path:
        return Path(self.out_dir or ".") / f"sinogram_{name}.npy"

    def slab(self, rows: slice) -> dict[str, NDArray]:
        """Buffers (n, rows, cols) to fill for a row slab."""
        if self.out_dir is None:
            return {k: a[:, rows] for k, a in self.arrays.items()}
        n_rows = rows.stop - rows.start
        return {k: np.empty((self.shape[0], n_rows, self.shape[2]), dt)
                for k, dt in self._DTYPES.items()}

    def write(self, rows: slice, buffers: dict[str, NDArray]) -> None:
        """Store a filled slab (a no-op in memory)."""
        if self.out_dir is None:
            return
        n, n_rows_total, cols = self.shape
        for name, buf in buffers.items():
            item = buf.dtype.itemsize
            with open(self.path(name), "r+b") as f:
                for i in range(n):
                    f.seek(self.offsets[name] + ((i * n_rows_total + rows.start) * cols) * item)
                    f.write(buf[i].data)

    def result(self) -> dict[str, NDArray]:
        """The filled arrays (read-only memory maps of the files when written to disk)."""
        if self.out_dir is None:
            return self.arrays
        return {k: np.load(self.path(k), mmap_mode="r") for k in self._DTYPES}


def _progress(progress: bool | ProgressCallback, total: int) -> tuple[ProgressCallback, Callable]:
    """A ``(done, total)`` callback and a closer: tqdm when ``progress is True``."""
    if callable(progress):
        return progress, lambda: None
    if not progress:
        return (lambda done, total: None), lambda: None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="scan", desc="sinograms")

    def update(done: int, total: int) -> None:
        bar.update(done - bar.n)

    return update, bar.close


def build_sinograms(
    read: FrameReader,
    shape: tuple[int, int],
    reference: StreamFrames,
    primary: StreamFrames,
    steps: int,
    *,
    n_dark: int = 0,
    period_um: float | None = None,
    use_positions: bool = True,
    correct_steps: bool = False,
    reference_mode: InterpolationMode = "linear",
    out_dir: str | Path | None = None,
    memory_bytes: int = 2 << 30,
    chunk_rows: int | None = None,
    read_scans: int = 8,
    correction_rows: int = 128,
    min_visibility: float = 1e-3,
    noise: AmplitudeNoise | None = None,
    progress: bool | ProgressCallback = False,
    workers: int | None = None,
) -> Sinograms:
    """Sinograms of a CT from its frames, one slab of detector rows at a time.

    Args:
        read: frame reader (see :data:`FrameReader`).
        shape: detector frame (rows, cols).
        reference, primary: per-event metadata of the reference and sample streams.
        steps: phase steps per stepping scan.
        n_dark: number of dark frames (events 0..n_dark-1 of stream ``dark``: a CT's darks from
            its start and its end), averaged into one dark frame.
        period_um: G2 period, um (needed with ``use_positions`` and G2 readbacks).
        use_positions: fit the measured G2 readbacks by least squares (else equidistant, FFT).
        correct_steps: estimate each scan's step positions from its curves (stepping-error
            correction, :func:`~.retrieval.estimate_step_positions`) on a central slab of
            ``correction_rows`` rows, starting from the readbacks (or nominal positions).
        reference_mode: ``"linear"`` or ``"nearest"`` in time (see :mod:`.references`).
        out_dir: write ``sinogram_{transmission,dpc,darkfield,flags,angles_deg}.npy`` here and
            return read-only memory maps of them; ``None`` keeps them in memory.
        memory_bytes: budget for one chunk's arrays (sets the rows per chunk).
        chunk_rows: rows per chunk (overrides ``memory_bytes``).
        read_scans: stepping scans fetched per reader call.
        noise: detector noise model (:func:`~.noise.photon_transfer`): the dark-field is
            corrected for the visibility noise bias; ``None``: uncorrected.
        progress: ``True`` for a tqdm bar, or a ``(done, total)`` callback.
        workers: threads for the retrieval (default: all CPUs).
    """
    rows, cols = shape
    refs = group_scans(reference, steps)
    projs = group_scans(primary, steps)
    if len(refs) == 0 or len(projs) == 0:
        raise ValueError(f"need complete stepping scans: {len(refs)} reference, "
                         f"{len(projs)} projection")
    positions = use_positions and refs.positions_um is not None and projs.positions_um is not None
    if positions and period_um is None:
        raise ValueError("period_um is required to fit measured G2 positions")
    if projs.angle_deg is None:
        raise ValueError("the primary stream needs rotation angles")
    if correct_steps:
        period_um = 1.0 if period_um is None else period_um
        first_row = max(0, (rows - correction_rows) // 2)
        slab = slice(first_row, min(rows, first_row + correction_rows))
        refs, projs = (_corrected(read, name, scans, steps, period_um, slab, read_scans,
                                  positions) for name, scans in (("reference", refs),
                                                                 ("primary", projs)))
        positions = True
    i0, i1, weight = interpolation_weights(refs.time_s, projs.time_s, reference_mode)
    chunk = chunk_rows or rows_per_chunk(rows, cols, len(projs), len(refs), steps, memory_bytes,
                                         read_scans)
    store = _SinogramStore(len(projs), shape, None if out_dir is None else Path(out_dir))
    total = -(-rows // chunk) * (len(refs) + len(projs))
    report, close = _progress(progress, total)
    done = 0

    def fit(stack: NDArray, scans: SteppingScans, i: int, dark: NDArray | None) -> SteppingFit:
        pos = scans.positions_um[i] if positions else None
        return fit_stepping(stack, dark, pos, period_um if positions else None, workers=workers)

    def process(row_slab: slice) -> None:
        """All scans of one row slab; its arrays are freed on return."""
        nonlocal done
        n_rows = row_slab.stop - row_slab.start
        dark = mean_dark(read("dark", slice(0, n_dark), row_slab)) if n_dark else None
        ref_fits = []
        for batch in _batches(len(refs), read_scans):
            stacks = read_stepping_scans(read, "reference", refs, batch, row_slab)
            for i, stack in zip(batch, stacks):
                ref_fits.append(fit(stack, refs, i, dark))
            done += len(batch)
            report(done, total)
        ref_series = ReferenceSeries.from_fits(ref_fits)
        del ref_fits
        buffers = store.slab(row_slab)
        visibilities = np.empty((2, n_rows, cols), np.float32)  # not kept
        for batch in _batches(len(projs), read_scans):
            stacks = read_stepping_scans(read, "primary", projs, batch, row_slab)
            for i, stack in zip(batch, stacks):
                ref_fit = ref_series.at(int(i0[i]), int(i1[i]), float(weight[i]), workers)
                into = Retrieval(buffers["transmission"][i], buffers["dpc"][i],
                                 buffers["darkfield"][i], *visibilities, buffers["flags"][i])
                compare(fit(stack, projs, i, dark), ref_fit, min_visibility=min_visibility,
                        workers=workers, out=into, noise=noise)
            done += len(batch)
            report(done, total)
        store.write(row_slab, buffers)

    try:
        for r0 in range(0, rows, chunk):
            process(slice(r0, min(r0 + chunk, rows)))
    finally:
        close()
    if out_dir is not None:
        np.save(Path(out_dir) / "sinogram_angles_deg.npy", projs.angle_deg)
    return Sinograms(projs.angle_deg, projs.angle_index, **store.result())


def _per_frame(values: ArrayLike, n: int, steps: int, name: str) -> NDArray[np.float64]:
    """Per-scan (n,) or per-frame (n, steps) values → flat per-frame (n * steps,)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape == (n,):
        arr = np.repeat(arr[:, None], steps, axis=1)
    if arr.shape == (steps,):
        arr = np.broadcast_to(arr, (n, steps))
    if arr.shape != (n, steps):
        raise ValueError(f"{name} must have shape ({n},) or ({n}, {steps}), not {arr.shape}")
    return arr.reshape(-1)


def _stream_frames(
    n: int, steps: int, angle_index: ArrayLike, times_s: ArrayLike,
    positions_um: ArrayLike | None, angles_deg: ArrayLike | None,
) -> StreamFrames:
    """Metadata of ``n`` complete stepping scans stored scan-major (scan, step)."""
    return StreamFrames(
        angle_index=np.repeat(np.asarray(angle_index, dtype=np.int64), steps),
        step_index=np.tile(np.arange(steps), n),
        time_s=_per_frame(times_s, n, steps, "times"),
        g2_position_um=None if positions_um is None else _per_frame(positions_um, n, steps,
                                                                    "positions"),
        rotation_angle_deg=None if angles_deg is None else _per_frame(angles_deg, n, steps,
                                                                      "angles"),
    )


def sinograms_from_arrays(
    darks: ArrayLike | None,
    references: NDArray,
    reference_times_s: ArrayLike,
    projections: NDArray,
    angles_deg: ArrayLike,
    projection_times_s: ArrayLike,
    *,
    reference_positions_um: ArrayLike | None = None,
    projection_positions_um: ArrayLike | None = None,
    **kwargs: object,
) -> Sinograms:
    """Sinograms from stacked arrays (memmaps or h5py datasets work: only row slabs are read).

    Args:
        darks: dark frames (n, rows, cols) or ``None``.
        references: reference scans (n_ref, steps, rows, cols).
        reference_times_s: (n_ref,) or per frame (n_ref, steps), s.
        projections: sample scans (n_proj, steps, rows, cols), in projection order.
        angles_deg: (n_proj,) projection angles, deg.
        projection_times_s: (n_proj,) or (n_proj, steps), s.
        reference_positions_um, projection_positions_um: G2 readbacks (n, steps), (steps,) or
            ``None`` (equidistant).
        kwargs: passed to :func:`build_sinograms` (``period_um``, ``out_dir``, ...).
    """
    n_ref, steps, rows, cols = references.shape
    n_proj = projections.shape[0]
    if projections.shape[1:] != (steps, rows, cols):
        raise ValueError(f"projections {projections.shape} do not match references "
                         f"{references.shape}")
    stacks = {"dark": darks, "reference": references, "primary": projections}

    def read(stream: str, frames: slice, row_slab: slice) -> NDArray:
        data = stacks[stream]
        if stream == "dark":
            return np.asarray(data[frames, row_slab])
        first, stop = frames.start, frames.stop  # frames are scan-major: event = scan * steps + k
        scans = np.asarray(data[first // steps:(stop - 1) // steps + 1, :, row_slab])
        flat = scans.reshape(-1, scans.shape[2], cols)
        offset = first - (first // steps) * steps
        return flat[offset:offset + stop - first]

    # references are matched to projections by time; their index only identifies the scan
    reference = _stream_frames(n_ref, steps, np.arange(n_ref), reference_times_s,
                               reference_positions_um, None)
    primary = _stream_frames(n_proj, steps, np.arange(n_proj), projection_times_s,
                             projection_positions_um, angles_deg)
    return build_sinograms(read, (rows, cols), reference, primary, steps,
                           n_dark=0 if darks is None else len(darks), **kwargs)
