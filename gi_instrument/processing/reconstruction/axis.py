"""Rotation-axis finding: its detector column (centre) and its lean (tilt), from the data.

Method: projections half a turn apart see every line from both sides. In parallel beam
``p(theta + 180 deg, col) = p(theta, 2 c - col)`` about the axis column ``c``; in a cone beam the
same holds for the central ray and approximately (to the change of magnification across the
object, symmetric about the axis) for the others. For each of a set of detector rows the mirrored
opposite projections are registered against the direct ones: the cross-power spectra of all
available pairs (every pair ``theta``, ``theta + 180 deg`` within the scan, so 360-deg scans use
half their projections, a 185-deg scan its first 5 deg) are summed, and the peak of the
correlation, refined by a parabola through its three highest samples, is the shift ``2 c -
(cols - 1)``. The row centres are then fitted by a straight line (least squares, weighted by the
correlation peak's height, outliers beyond 3 robust sigma dropped): ``c(row) = c0 + (m - row)
tan(tilt)`` gives the column ``c0`` on the mid-plane row ``m`` and the tilt (the convention of
:class:`~gi_instrument.processing.reconstruction.geometry.Geometry`). A tilted axis also moves
features between rows in the opposite projection (by ``2 u sin(tilt)`` at ``u`` from the axis),
which biases the row-wise estimate by a few % of the tilt: twice, the opposite projections are
then mirrored about the tilted axis found so far (bilinear, across rows) and the remaining
shift of each row refits the line. A tilt within three standard errors of zero (noise) is
reported as zero, so that an upright axis is not resampled. Use line integrals
(``-ln T``): they are the same from both sides, a derivative changes sign.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import scipy.fft
from numpy.typing import ArrayLike, NDArray

__all__ = ["AxisFit", "find_axis"]

_MAX_PAIRS = 90
_MAX_ROWS = 48
_REFINEMENTS = 2


@dataclass(frozen=True)
class AxisFit:
    """Rotation axis found in the data."""

    center_px: float
    """Axis column on the mid-plane row."""
    tilt_deg: float
    """Lean of the axis in the detector plane, deg (positive: its top towards higher columns)."""
    rows: NDArray[np.intp]
    """Detector rows used."""
    row_centers_px: NDArray[np.float64]
    """Axis column found on each of those rows (NaN where dropped)."""


def _pairs(angles_deg: NDArray[np.float64]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Indices of projections 180 deg apart (to a tenth of the angular step)."""
    step = float(np.median(np.abs(np.diff(angles_deg)))) if angles_deg.size > 1 else 1.0
    target = angles_deg + 180.0
    j = np.searchsorted(angles_deg, target)
    j = np.clip(j, 1, angles_deg.size - 1)
    nearer = np.where(np.abs(angles_deg[j - 1] - target) < np.abs(angles_deg[j] - target), j - 1, j)
    ok = np.abs(angles_deg[nearer] - target) <= 0.1 * step
    first = np.flatnonzero(ok)
    if first.size > _MAX_PAIRS:
        first = first[np.linspace(0, first.size - 1, _MAX_PAIRS).round().astype(np.intp)]
    return first, nearer[first]


def _row_shift(direct: NDArray[np.float64], mirrored: NDArray[np.float64]) -> tuple[float, float]:
    """Shift (px) of ``direct`` against ``mirrored`` ((pairs, cols) each), and the correlation
    peak's height over the correlation's standard deviation; ``(nan, 0)`` where either holds a
    non-finite value."""
    if not (np.isfinite(direct).all() and np.isfinite(mirrored).all()):
        return math.nan, 0.0
    cols = direct.shape[-1]
    taper = np.hanning(cols)
    a = (direct - direct.mean(axis=-1, keepdims=True)) * taper
    b = (mirrored - mirrored.mean(axis=-1, keepdims=True)) * taper
    n = scipy.fft.next_fast_len(2 * cols)
    cross = (scipy.fft.rfft(a, n) * np.conj(scipy.fft.rfft(b, n))).sum(axis=0)
    corr = scipy.fft.irfft(cross, n)
    k = int(np.argmax(corr))
    y0, y1, y2 = corr[k - 1], corr[k], corr[(k + 1) % n]
    denom = y0 - 2 * y1 + y2
    frac = 0.5 * (y0 - y2) / denom if denom < 0 else 0.0
    shift = k + frac
    if shift > n / 2:
        shift -= n
    spread = float(np.std(corr))
    return shift, float((y1 - corr.mean()) / spread) if spread > 0 else 0.0


def find_axis(
    sinograms: Any,
    angles_deg: ArrayLike,
    *,
    rows: ArrayLike | None = None,
    midplane_row: float | None = None,
    fit_tilt: bool = True,
    prepare: Callable[[NDArray], NDArray] | None = None,
) -> AxisFit:
    """Axis column and tilt from a stack of line-integral sinograms (angles, rows, cols).

    Args:
        sinograms: ``-ln T`` (or ``-ln D``) stack, (angles, rows, cols) or (angles, cols); an
            array, memmap or h5py dataset (only the rows used are read).
        angles_deg: projection angles, deg; at least one pair 180 deg apart is needed.
        rows: detector rows to use (default: up to 48 evenly spread, 5 % margins).
        midplane_row: the row the returned ``center_px`` refers to (default ``(rows - 1) / 2``).
        fit_tilt: fit a tilt (default) or only a common centre.
        prepare: applied to the data read (e.g. ``-ln`` of a transmission stack).

    Raises:
        ValueError: no projections 180 deg apart, or no row with signal.
    """
    angles = np.asarray(angles_deg, dtype=np.float64).ravel()
    first, second = _pairs(angles)
    if first.size == 0:
        raise ValueError("axis finding needs projections 180 deg apart (a scan of >= 180 deg)")
    flat = len(sinograms.shape) == 2
    n_rows, cols = (1, sinograms.shape[1]) if flat else sinograms.shape[1:]
    if rows is None:
        margin = n_rows // 20
        use = np.unique(np.linspace(margin, n_rows - 1 - margin, min(_MAX_ROWS, n_rows))
                        .round().astype(np.intp))
    else:
        use = np.asarray(rows, dtype=np.intp).ravel()
    read = _reader(sinograms, prepare)
    direct, opposite = read(first, use), read(second, use)
    centers = np.full(use.size, np.nan)
    quality = np.zeros(use.size)
    for i in range(use.size):
        if np.ptp(direct[:, i]) <= 0:
            continue
        shift, quality[i] = _row_shift(direct[:, i], opposite[:, i, ::-1])
        centers[i] = ((cols - 1) + shift) / 2
    good = np.isfinite(centers) & (quality > 3)
    if not good.any():
        raise ValueError("no detector row shows an object to register (is the sample in the beam?)")
    mid = (n_rows - 1) / 2 if midplane_row is None else float(midplane_row)
    x = mid - use.astype(np.float64)
    c0, slope, good = _fit_line(x, centers, quality, good, fit_tilt)
    if fit_tilt and not flat:
        for _ in range(_REFINEMENTS):  # mirror about the tilted axis found so far, fit what is left
            tilt = math.atan(slope)
            for i in np.flatnonzero(good):
                mirrored = _mirrored_rows(read, n_rows, cols, second, int(use[i]), c0, tilt, mid)
                shift, _ = _row_shift(direct[:, i], mirrored)
                centers[i] = c0 + slope * x[i] + shift / 2
            good &= np.isfinite(centers)
            if not good.any():
                raise ValueError("no detector row registers once mirrored about the tilted axis")
            c0, slope, good = _fit_line(x, centers, quality, good, fit_tilt)
    centers[~good] = np.nan
    return AxisFit(float(c0), math.degrees(math.atan(slope)), use, centers)


def _reader(sinograms: Any, prepare: Callable[[NDArray], NDArray] | None
            ) -> Callable[[NDArray[np.intp], Any], NDArray[np.float64]]:
    """``read(frames, rows)`` -> (frames, rows, cols) float64, one frame at a time (a memory-
    mapped or HDF5 stack is never read whole), through ``prepare``."""
    flat = len(sinograms.shape) == 2

    def read(frames: NDArray[np.intp], rows: Any) -> NDArray[np.float64]:
        data = np.stack([np.asarray(sinograms[int(f)])[None] if flat
                         else np.asarray(sinograms[int(f)])[rows] for f in frames])
        data = prepare(data) if prepare is not None else data
        return np.asarray(data, dtype=np.float64)

    return read


def _mirrored_rows(read: Callable[[NDArray[np.intp], Any], NDArray[np.float64]], n_rows: int,
                   cols: int, frames: NDArray[np.intp], row: int, c0: float, tilt: float,
                   mid: float) -> NDArray[np.float64]:
    """Row ``row`` of the projections ``frames`` mirrored about the axis (column ``c0`` on row
    ``mid``, leaning by ``tilt`` rad): the value at each column is read at its mirror image
    (bilinear, from the band of rows the mirror crosses)."""
    dc = np.arange(cols) - c0
    dr = mid - row
    u = dc * math.cos(tilt) - dr * math.sin(tilt)
    v = dc * math.sin(tilt) + dr * math.cos(tilt)
    col = c0 - u * math.cos(tilt) + v * math.sin(tilt)
    r = mid - (u * math.sin(tilt) + v * math.cos(tilt))
    lo = int(np.clip(np.floor(r.min()), 0, n_rows - 1))
    hi = int(np.clip(np.ceil(r.max()) + 1, lo + 1, n_rows))
    band = read(frames, slice(lo, hi))
    rr = np.clip(r - lo, 0, hi - lo - 1)
    cc = np.clip(col, 0, cols - 1)
    r0 = np.minimum(np.floor(rr).astype(np.intp), max(hi - lo - 2, 0))
    c1 = np.minimum(np.floor(cc).astype(np.intp), cols - 2)
    fr, fc = rr - r0, cc - c1
    r1 = np.minimum(r0 + 1, hi - lo - 1)
    top = band[:, r0, c1] * (1 - fc) + band[:, r0, c1 + 1] * fc
    bottom = band[:, r1, c1] * (1 - fc) + band[:, r1, c1 + 1] * fc
    return top * (1 - fr) + bottom * fr


def _fit_line(x: NDArray[np.float64], centers: NDArray[np.float64], quality: NDArray[np.float64],
              good: NDArray[np.bool_], fit_tilt: bool) -> tuple[float, float, NDArray[np.bool_]]:
    """``centers ~ c0 + slope x`` (weighted least squares; rows whose residual lies beyond 3
    robust sigma of the median residual are dropped, so the median row is always kept even when
    a few heavily weighted outliers pull the fit off the rest; a slope within 3 standard errors
    of zero is zero): ``(c0, slope, rows kept)``."""
    for _ in range(3):
        slope = 0.0
        c0 = float(np.average(centers[good], weights=quality[good]))
        if fit_tilt and np.count_nonzero(good) >= 4 and np.ptp(x[good]) > 0:
            w = quality[good]
            xm = float(np.average(x[good], weights=w))
            sxx = float(np.sum(w * (x[good] - xm) ** 2))
            b = float(np.sum(w * (x[good] - xm) * (centers[good] - c0)) / sxx)
            a = c0 - b * xm
            r = centers[good] - (a + b * x[good])
            stderr = math.sqrt(float(np.sum(w * r**2)) / (good.sum() - 2) / sxx)
            if abs(b) > 3 * stderr:
                slope, c0 = b, a
        resid = centers - (c0 + slope * x)
        median = float(np.median(resid[good]))
        mad = 1.4826 * float(np.median(np.abs(resid[good] - median))) + 0.05
        keep = good & (np.abs(resid - median) <= 3 * mad)
        if keep.sum() == good.sum():
            break
        good = keep
    return float(c0), float(slope), good
