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

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gi_instrument.processing.retrieval import SteppingFit

__all__ = ["InterpolationMode", "interpolation_weights", "interpolate_fit", "stack_fits"]

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


def stack_fits(fits: list[SteppingFit]) -> SteppingFit:
    """Stack fits of equal shape along a new leading (scan) axis."""
    return SteppingFit(*(np.stack([getattr(f, k) for f in fits]) for k in ("a0", "b", "c")))


def interpolate_fit(fits: SteppingFit, i0: int, i1: int, w: float) -> SteppingFit:
    """The reference fit ``(1 - w) fits[i0] + w fits[i1]`` in (a0, V, phi), phi on the short arc.

    ``fits`` holds the reference scans along its leading axis (n_ref, rows, cols); the indices
    and weight come from :func:`interpolation_weights`.
    """
    first = fits[i0]
    if i0 == i1 or w == 0.0:
        return first
    second = fits[i1]
    dtype = first.a0.dtype
    with np.errstate(all="ignore"):  # dark pixels (a0 <= 0) are flagged by retrieval.compare
        vis0 = first.amplitude / first.a0
        vis1 = second.amplitude / second.a0
        a0 = (1.0 - w) * first.a0 + w * second.a0
        vis = (1.0 - w) * vis0 + w * vis1
        # phase step phi1 - phi0 on the short arc = arg(F1_1 conj(F1_0))
        step = np.arctan2(second.c * first.b - second.b * first.c,
                          second.b * first.b + second.c * first.c)
        phase = first.phase + w * step
        amplitude = a0 * vis
        b = amplitude * np.cos(phase)
        c = amplitude * np.sin(phase)
    return SteppingFit(*(x.astype(dtype, copy=False) for x in (a0, b, c)))
