"""Ring suppression: removal of stripes (columns of constant error) from sinograms.

A detector pixel whose response the flat field does not correct adds the same error to one
column of every projection: a stripe in the sinogram, a ring in the slice. Method: the
mean-projection correction of C. Raven (Rev. Sci. Instrum. 69 (1998) 2978) and M. Boin and
A. Haibel (Opt. Express 14 (2006) 12071): the projection averaged over all angles is continuous
from column to column for any object (each point of the object adds a smooth arcsine profile to
it), while a stripe keeps its full height there. A column is a stripe where its mean leaves the
running median of ``size`` columns by more than ``threshold`` robust standard deviations
(1.4826 x the median absolute deviation from that median along the row) and by more than
``1e-3`` of the row's largest mean (noise-free data); the stripe's height is its mean minus
the straight line between the nearest unflagged columns on either side, and it is subtracted
from every projection of that column. Columns not flagged are not touched, so a uniform object
is not biased (a correction by the running median everywhere would flatten the mean
projection's maximum by its curvature times ``(size / 4)^2 / 2`` and follow steep slopes
poorly).

(The sorting-based method of N. T. Vo, R. C. Atwood, M. Drakopoulos, Opt. Express 26 (2018)
28396, also removes stripes that come and go with the angle, but its median across columns of
the sorted sinogram distorts sharp objects by a few %; partial stripes are rare after the
per-scan reference correction of this instrument.)
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage
from numpy.typing import ArrayLike, NDArray

__all__ = ["remove_stripes", "DEFAULT_SIZE", "DEFAULT_THRESHOLD"]

DEFAULT_SIZE = 9
"""Running-median window across columns."""
DEFAULT_THRESHOLD = 4.0
"""Stripe threshold, robust standard deviations of the mean projection's deviation."""
_FLOOR = 1e-3
"""Smallest stripe, relative to the row's largest mean projection."""


def remove_stripes(sinograms: ArrayLike, size: int = DEFAULT_SIZE,
                   threshold: float = DEFAULT_THRESHOLD) -> NDArray[np.float32]:
    """Stripes removed from a sinogram (angles, cols) or a stack (angles, rows, cols).

    Args:
        sinograms: line integrals or refraction angles; angles first, columns last.
        size: running-median window across columns (odd, >= 3; stripes up to ``size // 2``
            columns wide are found).
        threshold: stripe threshold in robust standard deviations (module docstring).

    Returns:
        float32 array of the same shape.
    """
    data = np.asarray(sinograms, dtype=np.float32)
    if data.ndim not in (2, 3):
        raise ValueError(f"sinograms must be (angles, cols) or (angles, rows, cols), got {data.shape}")
    if size < 3:
        raise ValueError(f"size must be >= 3, got {size}")
    size = min(size | 1, (data.shape[-1] - 1) | 1)
    mean = data.mean(axis=0, dtype=np.float64).reshape(-1, data.shape[-1])
    deviation = mean - scipy.ndimage.median_filter(mean, size=(1, size), mode="nearest")
    sigma = 1.4826 * np.median(np.abs(deviation), axis=-1, keepdims=True)
    floor = _FLOOR * np.abs(mean).max(axis=-1, keepdims=True)
    stripe = np.abs(deviation) > np.maximum(threshold * sigma, floor)
    height = np.zeros_like(mean)
    cols = np.arange(mean.shape[-1])
    for row in np.flatnonzero(stripe.any(axis=-1)):
        clean = ~stripe[row]
        if clean.any():
            height[row] = mean[row] - np.interp(cols, cols[clean], mean[row, clean])
    return data - height.reshape(data.shape[1:]).astype(np.float32)[None]
