"""Phase-stepping retrieval: transmission, differential phase and dark-field from stepping curves.

Model (DESIGN.md §2). At a pixel, with G2 at positions ``x_k`` (um) over the period ``p2`` (um)::

    I_k = a0 * (1 + V * cos(2 pi x_k / p2 + phi))
        = a0 + b * cos(theta_k) - c * sin(theta_k),   theta_k = 2 pi x_k / p2,
    b = a0 V cos(phi),  c = a0 V sin(phi).

The curve is fitted by linear least squares in ``(a0, b, c)``. For ``N`` equidistant steps over one
period (``positions_um=None``, ``x_k = k p2 / N``) the least-squares weights are exactly the
discrete Fourier sums of bins 0 and 1: ``a0 = |F0| / N``, ``b + i c = 2 F1 / N``, so
``V = 2 |F1| / |F0|`` and ``phi = arg F1`` with ``F = numpy.fft.fft`` over the step axis (only the
two bins used are computed). Measured G2 positions (piezo readbacks) use the same model with the
least-squares weights of those positions.

Against the reference (flat) curve at the same pixel, after dark subtraction:

- transmission ``T = a0_s / a0_r``
- differential phase ``dpc = wrap(phi_s - phi_r)`` in (-pi, pi]
- dark-field ``D = V_s / V_r`` (optionally with both visibilities corrected for their upward
  noise bias, :mod:`gi_instrument.processing.noise`)
- refraction angle at the sample ``alpha = p2 * dpc / (2 pi d_eff)`` (:func:`refraction_angle_rad`),
  ``d_eff`` the lever arm of the sample position (:func:`lever_arm_cm`, Donath et al., J. Appl.
  Phys. 106, 054703, 2009): with the source at 0, G1 at ``L1``, G2 at ``L = L1 + d`` and the sample
  at ``l_s``, ``d_eff = L - l_s`` downstream of G1 and ``d_eff = d l_s / L1`` upstream of it (a
  ray bent at the sample moves the G1 shadow on G2 by ``alpha d_eff``). TLI (sample just behind
  G1): ``d_eff = 0.96 d``; MAAST (just before G1): ``0.86 d``.

Sign convention (the only one used in this package). The G2 stepping coordinate ``x`` increases
with ``g2_position_um`` and with the detector column index. A fringe displaced by ``s`` along
``+x`` turns ``I(x)`` into ``I(x - s)``, i.e. ``phi -> phi - 2 pi s / p2``. A refraction angle
``alpha > 0`` is a deflection towards ``-x`` (lower column index): the fringe at G2 moves by
``s = -d_eff alpha``, so ``dpc = +2 pi d_eff alpha / p2 > 0``. A simulator therefore writes the
sample curve as ``a0_s (1 + V_s cos(2 pi (x + d_eff alpha) / p2 + phi_r))``. Since X-rays bend towards lower
``delta``, this makes ``alpha = d/du (integral of delta dz)`` along increasing column ``u``: the
DPC sinogram is the positive column-derivative of the phase (delta) projection.

This matches the peer convention of ``Enucatl/dpc_reconstruction`` (``arg S1 - arg F1`` with
numpy's FFT), except at the wrap point: they wrap to [-pi, pi), here ``-pi`` maps to ``+pi``.

Stepping errors: when the G2 positions are not measured (or not trusted),
:func:`estimate_step_positions` estimates one common position per step from all pixels of a
scan (``retrieve(..., correct_steps=True)``).

Dark subtraction acts on ``a0`` only: the ``b`` and ``c`` weights sum to zero (the constant is a
column of the design matrix), so subtracting a dark frame from every step changes nothing else.

Pixels where the retrieval is undefined (reference or sample ``a0 <= 0``, non-finite input,
reference visibility below ``min_visibility``) are flagged in :attr:`Retrieval.flags` and get the
neutral values ``T = 1``, ``dpc = 0``, ``D = 1`` (``V_s = 0``; ``V_r = 0`` where the reference is
dark): no NaN, no numpy warning.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

if TYPE_CHECKING:
    from gi_instrument.processing.noise import AmplitudeNoise

__all__ = [
    "FLAG_REFERENCE_DARK",
    "FLAG_SAMPLE_DARK",
    "FLAG_LOW_VISIBILITY",
    "SteppingFit",
    "Retrieval",
    "stepping_weights",
    "fit_stepping",
    "compare",
    "retrieve",
    "refraction_angle_rad",
    "lever_arm_cm",
    "estimate_step_positions",
    "mean_dark",
    "run_row_blocks",
]

FLAG_REFERENCE_DARK = np.uint8(1)
"""Reference a0 <= 0 or non-finite (dead pixel, no flat signal)."""
FLAG_SAMPLE_DARK = np.uint8(2)
"""Sample a0 <= 0 or non-finite (dead pixel, or fully absorbed after dark subtraction)."""
FLAG_LOW_VISIBILITY = np.uint8(4)
"""Reference visibility below ``min_visibility``: phase and dark-field undefined."""

_BLOCK_PIXELS = 1 << 16
"""Pixels per work block (keeps a block's arrays in cache)."""


@dataclass(frozen=True)
class SteppingFit:
    """First-harmonic fit of stepping curves: ``I = a0 + b cos(theta) - c sin(theta)``.

    All arrays share one shape (usually (rows, cols)); ``a0`` is dark-subtracted, in counts.
    """

    a0: NDArray[np.floating]
    """Mean intensity, counts."""
    b: NDArray[np.floating]
    """``a0 V cos(phi)``, counts."""
    c: NDArray[np.floating]
    """``a0 V sin(phi)``, counts."""

    @property
    def amplitude(self) -> NDArray[np.floating]:
        """``a0 V`` = ``2 |F1| / N``, counts."""
        return np.hypot(self.b, self.c)

    @property
    def phase(self) -> NDArray[np.floating]:
        """Fringe phase ``phi`` = ``arg F1``, rad in [-pi, pi]."""
        return np.arctan2(self.c, self.b)

    def __getitem__(self, index: object) -> SteppingFit:
        """The fit of a sub-region (same index applied to a0, b, c)."""
        return SteppingFit(self.a0[index], self.b[index], self.c[index])


@dataclass(frozen=True)
class Retrieval:
    """Retrieved signals of one projection, float32 (rows, cols) unless a dtype was asked for."""

    transmission: NDArray[np.floating]
    """``T = a0_s / a0_r`` (1 where flagged)."""
    dpc: NDArray[np.floating]
    """Differential phase ``wrap(phi_s - phi_r)``, rad in (-pi, pi] (0 where flagged)."""
    darkfield: NDArray[np.floating]
    """``D = V_s / V_r`` (1 where flagged)."""
    visibility_sample: NDArray[np.floating]
    """``V_s`` (0 where flagged)."""
    visibility_reference: NDArray[np.floating]
    """``V_r`` (0 where the reference is dark)."""
    flags: NDArray[np.uint8]
    """Bit mask of ``FLAG_*`` values; 0 for a good pixel."""

    @property
    def valid(self) -> NDArray[np.bool_]:
        """True where no flag is set."""
        return self.flags == 0


def mean_dark(dark: ArrayLike | None, dtype: DTypeLike = np.float32) -> NDArray[np.floating] | None:
    """A dark frame (rows, cols) from a frame, a stack (n, rows, cols) (averaged) or a scalar."""
    if dark is None:
        return None
    dark = np.asarray(dark)
    if dark.ndim == 3:
        return dark.mean(axis=0, dtype=np.float64).astype(dtype, copy=False)
    return dark.astype(dtype, copy=False)


def stepping_weights(
    steps: int,
    positions_um: ArrayLike | None = None,
    period_um: float | None = None,
) -> NDArray[np.float64]:
    """Least-squares weights ``W`` with ``(a0, b, c) = sum_k W[:, k] I_k``.

    ``positions_um=None``: ``steps`` equidistant positions over one period (Fourier weights;
    ``period_um`` unused). Otherwise ``positions_um`` has shape (steps,) (shared by all pixels),
    (steps, rows) (one per detector row) or is broadcastable to (steps, rows, cols);
    ``period_um`` is required.
    Returns shape (3, steps) or (3, steps, R, C).
    """
    if positions_um is None:
        theta = 2.0 * np.pi * np.arange(steps) / steps
        return np.stack([np.full(steps, 1.0 / steps), 2.0 / steps * np.cos(theta),
                         -2.0 / steps * np.sin(theta)])
    if period_um is None or not period_um > 0:
        raise ValueError("period_um (> 0) is required with positions_um")
    x = np.asarray(positions_um, dtype=np.float64)
    if x.shape[0] != steps:
        raise ValueError(f"positions_um has {x.shape[0]} entries for {steps} steps")
    if x.ndim == 2:
        x = x[:, :, None]  # one position per step and detector row
    theta = 2.0 * np.pi * x / period_um
    design = np.stack([np.ones_like(theta), np.cos(theta), -np.sin(theta)], axis=-1)  # (N, ..., 3)
    if x.ndim == 1:
        if np.linalg.matrix_rank(design) < 3:
            raise ValueError("positions_um do not determine a0, V and phi (need 3 distinct phases)")
        return np.linalg.pinv(design)
    if x.ndim != 3:
        raise ValueError("positions_um must be (steps,), (steps, rows) or (steps, rows|1, cols|1)")
    normal = np.einsum("k...i,k...j->...ij", design, design)  # (R, C, 3, 3)
    if np.any(np.linalg.det(normal) <= 1e-12 * steps**3):
        raise ValueError("positions_um do not determine a0, V and phi at some pixel")
    inverse = np.linalg.inv(normal)
    return np.einsum("...ij,k...j->ik...", inverse, design)  # (3, N, R, C)


def _fit_block(
    stack: NDArray, weights: NDArray[np.float64], dark: NDArray | None, dtype: np.dtype
) -> SteppingFit:
    """Fit a (steps, rows, cols) block with precomputed weights (see :func:`stepping_weights`)."""
    steps, rows, cols = stack.shape
    frames = stack.astype(dtype, copy=False)
    with np.errstate(all="ignore"):  # non-finite input is flagged later (see compare)
        if weights.ndim == 2:
            coeffs = (weights.astype(dtype) @ frames.reshape(steps, -1)).reshape(3, rows, cols)
        else:
            coeffs = np.einsum("ik...,k...->i...", weights.astype(dtype), frames)
        a0 = coeffs[0] - dark if dark is not None else coeffs[0]
    return SteppingFit(a0, coeffs[1], coeffs[2])


def _row_blocks(rows: int, cols: int) -> list[slice]:
    """Row slices of about ``_BLOCK_PIXELS`` pixels each."""
    step = max(1, _BLOCK_PIXELS // max(cols, 1))
    return [slice(r, min(r + step, rows)) for r in range(0, rows, step)]


@functools.cache
def _pool(workers: int) -> ThreadPoolExecutor:
    """One long-lived thread pool per worker count (starting threads per call costs ~1 ms)."""
    return ThreadPoolExecutor(workers, thread_name_prefix="gi-retrieval")


def run_row_blocks(
    work: Callable[[slice], None], rows: int, cols: int, workers: int | None
) -> None:
    """Apply ``work(rows)`` to row blocks covering (rows, cols) of about 64 k pixels each, on
    ``workers`` threads (default: all CPUs; numpy releases the GIL)."""
    blocks = _row_blocks(rows, cols)
    workers = min(workers or os.cpu_count() or 1, len(blocks))
    if workers <= 1:
        for block in blocks:
            work(block)
        return
    list(_pool(workers).map(work, blocks))


def _rows_of(weights: NDArray, rows: slice) -> NDArray:
    """Weights restricted to a row block (per-pixel weights have rows on axis 2)."""
    if weights.ndim == 2 or weights.shape[2] == 1:
        return weights
    return weights[:, :, rows]


def fit_stepping(
    stack: ArrayLike,
    dark: ArrayLike | None = None,
    positions_um: ArrayLike | None = None,
    period_um: float | None = None,
    *,
    dtype: DTypeLike = np.float32,
    workers: int | None = None,
) -> SteppingFit:
    """Fit stepping curves (steps, rows, cols) → :class:`SteppingFit` of (rows, cols) arrays.

    ``dark``: frame (rows, cols), stack (n, rows, cols) or scalar, counts; subtracted from ``a0``.
    ``positions_um`` / ``period_um``: see :func:`stepping_weights`.
    """
    stack = np.asarray(stack)
    steps, rows, cols = stack.shape
    dtype = np.dtype(dtype)
    weights = stepping_weights(steps, positions_um, period_um)
    dark_frame = mean_dark(dark, dtype)
    out = SteppingFit(*(np.empty((rows, cols), dtype) for _ in range(3)))

    def work(block: slice) -> None:
        d = None if dark_frame is None else np.broadcast_to(dark_frame, (rows, cols))[block]
        fit = _fit_block(stack[:, block], _rows_of(weights, block), d, dtype)
        out.a0[block], out.b[block], out.c[block] = fit.a0, fit.b, fit.c

    run_row_blocks(work, rows, cols, workers)
    return out


def _compare_into(
    out: Retrieval, block: slice, sample: SteppingFit, reference: SteppingFit, min_visibility: float,
    noise: AmplitudeNoise | None = None,
) -> None:
    """Write the signals of one row block into ``out`` (see :func:`compare`)."""
    with np.errstate(all="ignore"):  # undefined pixels are flagged and overwritten below
        amp_r = np.hypot(reference.b, reference.c)
        amp_s = np.hypot(sample.b, sample.c)
        if noise is not None:
            amp_r = noise.corrected_amplitude(amp_r, reference.a0)
            amp_s = noise.corrected_amplitude(amp_s, sample.a0)
        vis_r = amp_r / reference.a0
        vis_s = amp_s / sample.a0
        flags = np.zeros(vis_r.shape, np.uint8)
        flags[~(reference.a0 > 0) | ~np.isfinite(vis_r)] |= FLAG_REFERENCE_DARK
        flags[~(sample.a0 > 0) | ~np.isfinite(vis_s)] |= FLAG_SAMPLE_DARK
        flags[~(vis_r >= min_visibility) | ~(amp_r > 0)] |= FLAG_LOW_VISIBILITY
        # phi_s - phi_r = arg(F1_s conj(F1_r)), already wrapped by arctan2
        dpc = np.arctan2(sample.c * reference.b - sample.b * reference.c,
                         sample.b * reference.b + sample.c * reference.c)
        np.copyto(dpc, np.pi, where=dpc <= -np.pi)  # (-pi, pi]
        transmission = sample.a0 / reference.a0
        darkfield = vis_s / vis_r
    bad = flags != 0
    for name, value, fill in (("transmission", transmission, 1.0), ("dpc", dpc, 0.0),
                              ("darkfield", darkfield, 1.0), ("visibility_sample", vis_s, 0.0)):
        np.copyto(value, fill, where=bad)
        getattr(out, name)[block] = value
    np.copyto(vis_r, 0.0, where=(flags & FLAG_REFERENCE_DARK) != 0)
    out.visibility_reference[block] = vis_r
    out.flags[block] = flags


def _empty_retrieval(shape: tuple[int, ...], dtype: np.dtype) -> Retrieval:
    return Retrieval(*(np.empty(shape, dtype) for _ in range(5)), np.empty(shape, np.uint8))


def compare(
    sample: SteppingFit,
    reference: SteppingFit,
    *,
    min_visibility: float = 1e-3,
    dtype: DTypeLike = np.float32,
    workers: int | None = None,
    out: Retrieval | None = None,
    noise: AmplitudeNoise | None = None,
) -> Retrieval:
    """Signals of a sample fit against a reference fit of the same (rows, cols) shape.

    ``out``: arrays (rows, cols) to write into (e.g. views of sinogram slabs); else new arrays.
    ``noise``: correct both visibilities (and so the dark-field) for their noise bias
    (:mod:`gi_instrument.processing.noise`; a reference interpolated between two scans in
    visibility carries about one scan's bias).
    """
    rows, cols = np.shape(sample.a0)
    out = _empty_retrieval((rows, cols), np.dtype(dtype)) if out is None else out
    run_row_blocks(lambda blk: _compare_into(out, blk, sample[blk], reference[blk], min_visibility,
                                             noise),
                rows, cols, workers)
    return out


def estimate_step_positions(
    stack: ArrayLike,
    period_um: float = 1.0,
    positions_um: ArrayLike | None = None,
    *,
    iterations: int = 50,
    tolerance_um: float | None = None,
    max_pixels: int = 100_000,
    min_visibility: float = 0.02,
) -> NDArray[np.float64]:
    """Stepping-error correction: one common G2 position per step (steps,), um, from the curves.

    Alternates the per-pixel fit of ``(a0, b, c)`` at the current positions with a least-squares
    fit of each step's phase ``theta_k`` shared by all pixels (``I_k - a0 = b cos(theta_k) -
    c sin(theta_k)``, linear in ``(cos theta_k, sin theta_k)``). It needs a spread of fringe
    phases over the pixels (moire fringes or a sample); a common shift of all steps cannot be
    told from a fringe-phase offset, so the mean of ``positions - start`` is kept at zero, the
    start being ``positions_um`` (e.g. piezo readbacks) or ``k p2 / steps``.

    Args:
        stack: stepping curves (steps, rows, cols), counts.
        period_um: G2 period p2, um (default 1: positions in periods).
        positions_um: starting positions (steps,), um.
        iterations: most alternations.
        tolerance_um: stop when no position moves more (default ``1e-6 p2``).
        max_pixels: pixels used (an even subsample of the frame).
        min_visibility: pixels whose fitted visibility is lower are left out.
    """
    data = np.asarray(stack)
    steps = data.shape[0]
    start = (np.arange(steps) * period_um / steps if positions_um is None
             else np.asarray(positions_um, dtype=np.float64).reshape(steps))
    stride = max(1, int(np.ceil(np.sqrt(data[0].size / max_pixels))))
    curves = data[:, ::stride, ::stride].reshape(steps, -1).astype(np.float64)
    tolerance = 1e-6 * period_um if tolerance_um is None else tolerance_um
    x = start.copy()
    for _ in range(iterations):
        a0, b, c = stepping_weights(steps, x, period_um) @ curves
        with np.errstate(all="ignore"):
            good = np.hypot(b, c) >= min_visibility * a0
        design = np.stack([b[good], -c[good]], axis=1)  # (pixels, 2)
        normal = design.T @ design
        if good.sum() < 3 or np.linalg.cond(normal) > 1e6:
            raise ValueError("the fringe phase does not vary enough over the pixels to estimate "
                             "step positions")
        cos_sin = np.linalg.solve(normal, design.T @ (curves[:, good] - a0[good]).T)  # (2, steps)
        theta = np.arctan2(cos_sin[1], cos_sin[0])
        turn = 2 * np.pi * x / period_um
        new = x + (np.remainder(theta - turn + np.pi, 2 * np.pi) - np.pi) * period_um / (2 * np.pi)
        new -= np.mean(new - start)
        moved = np.max(np.abs(new - x))
        x = new
        if moved < tolerance:
            break
    return x


def retrieve(
    sample: ArrayLike,
    reference: ArrayLike,
    dark: ArrayLike | None = None,
    positions_um: ArrayLike | None = None,
    period_um: float | None = None,
    *,
    reference_positions_um: ArrayLike | None = None,
    correct_steps: bool = False,
    min_visibility: float = 1e-3,
    noise: AmplitudeNoise | None = None,
    dtype: DTypeLike = np.float32,
    workers: int | None = None,
) -> Retrieval:
    """Retrieve T, DPC and dark-field of a sample stepping scan against a reference scan.

    Args:
        sample, reference: stacks (steps, rows, cols), counts (any real dtype; the reference may
            have a different number of steps).
        dark: dark frame (rows, cols), dark stack (n, rows, cols) or scalar, counts.
        positions_um: measured G2 positions of the sample steps, um, shape (steps,),
            (steps, rows) or broadcastable to (steps, rows, cols); ``None`` = equidistant over
            one period (FFT).
        period_um: G2 period p2, um (required with measured positions).
        reference_positions_um: measured G2 positions of the reference steps; defaults to
            ``positions_um`` when the step counts agree.
        correct_steps: estimate each scan's common step positions from its curves
            (:func:`estimate_step_positions`, starting from the given or nominal positions;
            positions must then be shared by all pixels).
        min_visibility: reference visibility below which a pixel is flagged.
        noise: detector noise model: visibilities corrected for their noise bias
            (:mod:`gi_instrument.processing.noise`); ``None``: uncorrected.
        dtype: floating type of the computation and of the outputs (float32 by default).
        workers: threads (default: all CPUs).
    """
    sample = np.asarray(sample)
    reference = np.asarray(reference)
    if sample.shape[1:] != reference.shape[1:]:
        raise ValueError(f"sample frames {sample.shape[1:]} != reference frames "
                         f"{reference.shape[1:]}")
    if reference_positions_um is None and reference.shape[0] == sample.shape[0]:
        reference_positions_um = positions_um
    if (positions_um is None) != (reference_positions_um is None):
        raise ValueError("give measured positions for both sample and reference, or neither")
    if correct_steps:
        period_um = 1.0 if period_um is None else period_um
        positions_um = estimate_step_positions(sample, period_um, positions_um)
        reference_positions_um = estimate_step_positions(reference, period_um,
                                                         reference_positions_um)
    dtype = np.dtype(dtype)
    steps_s, steps_r = sample.shape[0], reference.shape[0]
    rows, cols = sample.shape[1:]
    w_s = stepping_weights(steps_s, positions_um, period_um)
    w_r = stepping_weights(steps_r, reference_positions_um, period_um)
    dark_frame = mean_dark(dark, dtype)
    out = _empty_retrieval((rows, cols), dtype)

    def work(block: slice) -> None:
        d = None if dark_frame is None else np.broadcast_to(dark_frame, (rows, cols))[block]
        fit_s = _fit_block(sample[:, block], _rows_of(w_s, block), d, dtype)
        fit_r = _fit_block(reference[:, block], _rows_of(w_r, block), d, dtype)
        _compare_into(out, block, fit_s, fit_r, min_visibility, noise)

    run_row_blocks(work, rows, cols, workers)
    return out


def lever_arm_cm(source_g1_cm: float, g1_g2_cm: float, source_sample_cm: float) -> float:
    """Distance ``d_eff``, cm, turning a refraction angle at the sample into a fringe shift at G2
    (module docstring): ``L - l_s`` for a sample between G1 and G2, ``d l_s / L1`` between the
    source and G1. ValueError unless the sample sits between the source and G2."""
    total = source_g1_cm + g1_g2_cm
    if not 0.0 < source_sample_cm < total:
        raise ValueError(f"sample {source_sample_cm} cm from the source must sit before G2 ({total} cm)")
    return total - source_sample_cm if source_sample_cm >= source_g1_cm else g1_g2_cm * source_sample_cm / source_g1_cm


def refraction_angle_rad(
    dpc: ArrayLike, period_um: float, d_eff_cm: float
) -> NDArray[np.floating]:
    """Refraction angle ``alpha = p2 dpc / (2 pi d_eff)``, rad, from the differential phase (rad).

    ``period_um``: G2 period p2, um; ``d_eff_cm``: lever arm of the sample position, cm
    (:func:`lever_arm_cm`; the G1-G2 distance for a sample at G1).
    """
    dpc = np.asarray(dpc)
    scale = (period_um * 1e-6) / (2.0 * np.pi * d_eff_cm * 1e-2)
    return dpc * (scale if dpc.dtype.kind != "f" else dpc.dtype.type(scale))
