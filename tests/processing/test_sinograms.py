"""Sinograms by row chunks: exact signals of a synthetic drifting CT, chunk independence, memory."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from gi_instrument.processing.retrieval import refraction_angle_rad
from gi_instrument.processing.sinograms import (
    StreamFrames,
    build_sinograms,
    group_scans,
    rows_per_chunk,
    sinograms_from_arrays,
)

P2_UM, STEPS, D_CM = 3.0, 5, 60.3  # as in conftest.synthetic_ct


def test_signals_of_drifting_ct_are_exact_and_chunking_does_not_matter(
    tmp_path: Path, drifting_ct
) -> None:
    arrays, truth = drifting_ct
    calls = []
    sino = sinograms_from_arrays(**arrays, period_um=P2_UM, chunk_rows=3, out_dir=tmp_path,
                                 progress=lambda done, total: calls.append((done, total)))
    assert sino.transmission.shape == (12, 7, 9)
    np.testing.assert_allclose(sino.angles_deg, arrays["angles_deg"])
    np.testing.assert_allclose(sino.transmission, truth["transmission"], atol=2e-5)
    np.testing.assert_allclose(sino.dpc, truth["dpc"], atol=2e-5)
    np.testing.assert_allclose(sino.darkfield, truth["darkfield"], atol=2e-5)
    assert not sino.flags.any()
    assert calls[-1][0] == calls[-1][1] == 3 * (4 + 12)
    on_disk = np.load(tmp_path / "sinogram_dpc.npy")
    whole = sinograms_from_arrays(**arrays, period_um=P2_UM)  # one chunk, in memory
    np.testing.assert_array_equal(on_disk, whole.dpc)
    np.testing.assert_array_equal(np.load(tmp_path / "sinogram_angles_deg.npy"),
                                  arrays["angles_deg"])
    # ignoring the measured positions or the drift is visibly worse
    fft = sinograms_from_arrays(**arrays, period_um=P2_UM, use_positions=False)
    nearest = sinograms_from_arrays(**arrays, period_um=P2_UM, reference_mode="nearest")
    assert np.abs(fft.dpc - truth["dpc"]).max() > 0.02
    assert np.abs(nearest.dpc - truth["dpc"]).max() > 0.02
    alpha = refraction_angle_rad(sino.dpc, P2_UM, D_CM)
    assert alpha.dtype == np.float32 and np.abs(alpha).max() < 3e-6


def test_stepping_error_correction_without_readbacks(drifting_ct) -> None:
    """Positions jittered by 0.05 um and not recorded: the correction recovers the signals."""
    arrays, truth = drifting_ct
    blind = {**arrays, "reference_positions_um": None, "projection_positions_um": None}
    plain = sinograms_from_arrays(**blind)
    fixed = sinograms_from_arrays(**blind, period_um=P2_UM, correct_steps=True, chunk_rows=4,
                                  correction_rows=5)
    for name in ("transmission", "darkfield"):
        assert np.abs(getattr(plain, name) - truth[name]).max() > 1e-2
        np.testing.assert_allclose(getattr(fixed, name), truth[name], atol=1e-4)  # 1e-5 seen
    # a common shift of a scan's steps looks like a fringe-phase offset: the DPC is exact up to
    # one constant per projection
    residual = fixed.dpc - truth["dpc"]
    residual -= np.median(residual, axis=(1, 2), keepdims=True)
    assert np.abs(plain.dpc - truth["dpc"]).max() > 0.05
    assert np.abs(residual).max() < 1e-4  # 1e-5 seen


def test_group_scans_keeps_last_repeat_and_drops_incomplete() -> None:
    # scan 0 interrupted after 2 steps and restarted; scan 2 incomplete (crash)
    step = np.array([0, 1, 0, 1, 2, 0, 1, 2, 0])  # 3 steps per scan
    angle = np.array([0, 0, 0, 0, 0, 1, 1, 1, 2])
    frames = StreamFrames(angle, step, np.arange(9.0), np.arange(9.0) / 10,
                          np.full(9, 30.0))
    scans = group_scans(frames, 3)
    assert list(scans.angle_index) == [0, 1]
    assert scans.frames.tolist() == [[2, 3, 4], [5, 6, 7]]
    np.testing.assert_allclose(scans.time_s, [3.0, 6.0])
    np.testing.assert_allclose(scans.positions_um[1], [0.5, 0.6, 0.7])
    with pytest.raises(ValueError):
        group_scans(frames, 2)


def test_chunk_rows_follow_memory_budget_and_peak_memory_is_bounded(tmp_path: Path) -> None:
    n_proj, n_ref, rows, cols = 40, 3, 96, 256
    budget = 8 << 20
    chunk = rows_per_chunk(rows, cols, n_proj, n_ref, STEPS, budget)
    assert 1 <= chunk < rows
    rng = np.random.default_rng(1)
    base = rng.integers(1000, 1500, size=(STEPS, 1, cols), dtype=np.uint16)
    slabs = []

    def read(stream: str, frames: slice, row_slab: slice) -> np.ndarray:
        slabs.append(row_slab.stop - row_slab.start)
        n = frames.stop - frames.start
        idx = np.arange(frames.start, frames.stop) % STEPS
        return np.broadcast_to(base[idx], (n, row_slab.stop - row_slab.start, cols)).copy()

    ref_meta = StreamFrames(np.repeat(np.arange(n_ref), STEPS), np.tile(np.arange(STEPS), n_ref),
                            np.arange(n_ref * STEPS) * 10.0)
    proj_meta = StreamFrames(np.repeat(np.arange(n_proj), STEPS),
                             np.tile(np.arange(STEPS), n_proj),
                             np.arange(n_proj * STEPS) * 1.0,
                             rotation_angle_deg=np.repeat(np.arange(n_proj) * 9.0, STEPS))
    tracemalloc.start()
    try:
        sino = build_sinograms(read, (rows, cols), ref_meta, proj_meta, STEPS,
                               memory_bytes=budget, out_dir=tmp_path, workers=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert max(slabs) == chunk
    assert peak < budget * 1.5, peak
    full_in_memory = n_proj * rows * cols * 13
    assert peak < full_in_memory
    np.testing.assert_allclose(sino.transmission, 1.0, atol=1e-6)
    np.testing.assert_allclose(sino.dpc, 0.0, atol=1e-6)


def test_release_pages_keeps_resident_memory_to_one_slab(tmp_path):
    """Reading a file-backed sinogram slab by slab leaves only the current slab resident."""
    from gi_instrument.processing.sinograms import Sinograms

    def rss_mib() -> float:
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    shape = (64, 256, 1024)                           # 64 MiB per float32 array
    arrays = {}
    for name, dtype in (("transmission", np.float32), ("dpc", np.float32), ("darkfield", np.float32),
                        ("flags", np.uint8)):
        np.save(tmp_path / f"{name}.npy", np.ones(shape, dtype=dtype))
        arrays[name] = np.load(tmp_path / f"{name}.npy", mmap_mode="r")
    sino = Sinograms(angles_deg=np.arange(64.0), angle_index=np.arange(64), **arrays)
    before = rss_mib()
    for r0 in range(0, 256, 32):                      # touch everything, slab by slab
        total = float(sino.transmission[:, r0:r0 + 32].sum() + sino.dpc[:, r0:r0 + 32].sum())
        assert total == 2 * 64 * 32 * 1024
        sino.release_pages()
    grown = rss_mib() - before
    assert grown < 40, f"resident memory grew by {grown:.0f} MiB (128 MiB read)"
