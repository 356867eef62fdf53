"""Ring suppression: removal of stripes (columns of constant error) from sinograms.

A detector pixel whose response the flat field does not correct adds the same error to one
column of every projection: a stripe in the sinogram, a ring in the slice. Method: the
sorting-based stripe removal of N. T. Vo, R. C. Atwood, M. Drakopoulos, "Superior techniques for
eliminating ring artifacts in X-ray micro-tomography", Opt. Express 26 (2018) 28396
(algorithm 3): each column is sorted along the angles, the sorted image is median-filtered across
columns (``size`` columns), and the values are put back in their original order. Sorting turns a
stripe (an offset of one column against its neighbours at every angle) into a constant step that
the median across columns removes, while the object (whose sorted columns vary smoothly from
column to column) passes unchanged: a median over a window where the data are monotonic returns
the central value, so a uniform object is not biased (only extrema are flattened by about their
curvature times ``(size / 4)^2``).
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage
from numpy.typing import ArrayLike, NDArray

__all__ = ["remove_stripes", "DEFAULT_SIZE"]

DEFAULT_SIZE = 21
"""Median window across columns (Vo et al.'s default for the sorting method)."""


def remove_stripes(sinograms: ArrayLike, size: int = DEFAULT_SIZE) -> NDArray[np.float32]:
    """Stripes removed from a sinogram (angles, cols) or a stack (angles, rows, cols).

    Args:
        sinograms: line integrals or refraction angles; angles first, columns last.
        size: median window across columns (odd, >= 3; a stripe up to ``size // 2`` columns
            wide is removed).

    Returns:
        float32 array of the same shape.
    """
    data = np.asarray(sinograms, dtype=np.float32)
    if data.ndim not in (2, 3):
        raise ValueError(f"sinograms must be (angles, cols) or (angles, rows, cols), got {data.shape}")
    if size < 3:
        raise ValueError(f"size must be >= 3, got {size}")
    size = min(size | 1, (data.shape[-1] - 1) | 1)
    order = np.argsort(data, axis=0, kind="stable")
    ordered = np.take_along_axis(data, order, axis=0)
    footprint = (1,) * (data.ndim - 1) + (size,)
    smooth = scipy.ndimage.median_filter(ordered, size=footprint, mode="reflect")
    out = np.empty_like(data)
    np.put_along_axis(out, order, smooth, axis=0)
    return out
