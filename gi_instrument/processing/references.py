"""Reference (flat) curves for each projection, interpolated in time between reference scans.

The fringe phase drifts slowly (thermal motion of the gratings), so a projection is compared with
a reference made for its acquisition time from the two nearest reference scans. What is
interpolated is the fitted curve, not the raw frames: ``a0``, visibility ``V`` and phase ``phi``
each linearly in time, the phase along the shorter arc (``phi0 + w wrap(phi1 - phi0)``). This
cancels a linear drift of the fringe phase (and of ``a0`` and ``V``) exactly, as long as the
phase moves less than pi between two reference scans. Interpolating raw curves (equivalently
the complex first harmonic) would follow the chord instead of the arc and leave an error of
order ``(phase step)^2`` between references.

Before the first and after the last reference scan the nearest scan is used; ``mode="nearest"``
uses the nearest scan everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gi_instrument.processing.retrieval import SteppingFit, run_row_blocks

__all__ = ["InterpolationMode", "interpolation_weights", "ReferenceSeries"]

InterpolationMode = Literal["linear", "nearest"]


def interpolation_weights(
    reference_times_s: ArrayLike,
    times_s: ArrayLike,
    mode: InterpolationMode = "linear",
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float64]]:
    """For each time, the two reference scans to mix and the weight of the second.

    Args:
        reference_times_s: acquisition times of the reference scans (n_ref,), s (any order).
        times_s: times of the projections (n,), s.
        mode: ``"linear"`` (between the two nearest scans in time) or ``"nearest"``.

    Returns:
        ``(i0, i1, w)``, each (n,): the reference for time ``t`` is ``(1 - w) ref[i0] + w ref[i1]``
        (``w`` in [0, 1]; ``i0 == i1`` and ``w == 0`` outside the covered time range).
    """
    ref_t = np.asarray(reference_times_s, dtype=np.float64)
    t = np.atleast_1d(np.asarray(times_s, dtype=np.float64))
    if ref_t.ndim != 1 or ref_t.size == 0:
        raise ValueError("need at least one reference scan time")
    if mode not in ("linear", "nearest"):
        raise ValueError(f"mode must be 'linear' or 'nearest', not {mode!r}")
    order = np.argsort(ref_t, kind="stable")
    sorted_t = ref_t[order]
    hi = np.clip(np.searchsorted(sorted_t, t, side="right"), 1, max(sorted_t.size - 1, 1))
    lo = hi - 1
    if sorted_t.size == 1:
        hi = lo
    span = sorted_t[hi] - sorted_t[lo]
    w = np.divide(t - sorted_t[lo], span, out=np.zeros_like(t), where=span > 0)
    w = np.clip(w, 0.0, 1.0)
    if mode == "nearest":
        w = (w > 0.5).astype(np.float64)
    # collapse to a single scan when the weight is 0 or 1 (no mixing needed)
    lo = np.where(w >= 1.0, hi, lo)
    hi = np.where(w <= 0.0, lo, hi)
    w = np.where((w <= 0.0) | (w >= 1.0), 0.0, w)
    return order[lo], order[hi], w


@dataclass(frozen=True)
class ReferenceSeries:
    """Fits of the reference scans along a leading axis (n_ref, rows, cols), with their
    visibility and phase kept for interpolation."""

    fits: SteppingFit
    visibility: NDArray[np.floating]
    """``V = amplitude / a0`` (non-finite where ``a0 <= 0``; such pixels are flagged later)."""
    phase: NDArray[np.floating]
    """``phi``, rad."""

    @classmethod
    def from_fits(cls, fits: Sequence[SteppingFit]) -> ReferenceSeries:
        """Stack the fits of equal shape of the reference scans (in any time order)."""
        stacked = SteppingFit(*(np.stack([getattr(f, k) for f in fits]) for k in ("a0", "b", "c")))
        with np.errstate(all="ignore"):
            visibility = stacked.amplitude / stacked.a0
        return cls(stacked, visibility, stacked.phase)

    def __len__(self) -> int:
        return len(self.phase)

    def at(self, i0: int, i1: int, w: float, workers: int | None = None) -> SteppingFit:
        """The reference ``(1 - w) scan[i0] + w scan[i1]`` in (a0, V, phi), phi on the short arc.

        The indices and weight come from :func:`interpolation_weights`; ``workers`` threads.
        """
        if i0 == i1 or w == 0.0:
            return self.fits[i0]
        first, second = self.fits[i0], self.fits[i1]
        out = SteppingFit(*(np.empty_like(first.a0) for _ in range(3)))
        vis0, vis1 = self.visibility[i0], self.visibility[i1]
        phase0, phase1 = self.phase[i0], self.phase[i1]

        def work(rows: slice) -> None:
            with np.errstate(all="ignore"):  # dark pixels (a0 <= 0): flagged by compare()
                out.a0[rows] = (1.0 - w) * first.a0[rows] + w * second.a0[rows]
                amplitude = out.a0[rows] * ((1.0 - w) * vis0[rows] + w * vis1[rows])
                step = np.remainder(phase1[rows] - phase0[rows] + np.pi, 2 * np.pi) - np.pi
                phase = phase0[rows] + w * step
                np.multiply(amplitude, np.cos(phase), out=out.b[rows])
                np.multiply(amplitude, np.sin(phase), out=out.c[rows])

        rows, cols = out.a0.shape
        run_row_blocks(work, rows, cols, workers)
        return out
