"""FDK cone-beam back-projection along the true (tilted) rays, after rebinning to parallel beam.

Why
---
:mod:`~gi_instrument.processing.reconstruction.cone` rebins each slice ``z`` from the detector
heights where the rays cross ``z`` at their closest approach to the axis and reconstructs it as
a 2-D parallel-beam slice. Off the mid-plane the rays are tilted by the cone angle: a point at
height ``z`` and depth ``t`` along a ray (from its closest approach, towards the detector) lies on
the ray that crosses the axis plane at height ``z L / (L + t)``, not ``z``. Single-slice
rebinning therefore spreads a point at radius ``r`` over heights ``z (1 +- r / R)``; with TLI's
``r / R`` of 2.5 % at the field edge a bead half-way up the field (``z`` ~ 130 voxels at binning 4)
is smeared over ~6 slices and loses a third of its peak. This module back-projects every voxel
from the ray that actually passes through it: the FDK algorithm (L. A. Feldkamp, L. C. Davis,
J. W. Kress, "Practical cone-beam algorithm", J. Opt. Soc. Am. A 1 (1984) 612) in its rebinned
form (T-FDK: M. Grass, Th. Koehler, R. Proksa, "3D cone-beam CT reconstruction for circular
trajectories", Phys. Med. Biol. 45 (2000) 329).

Weights, derived
----------------
Source at distance ``R`` (voxels) from the axis; flat detector coordinates ``(u, v)`` scaled to
the axis; a ray of fan angle ``gamma`` (``tan gamma = u / R``) and source angle ``beta``.

1. Cosine (cone-angle) weight. FDK integrates, for a voxel, over the tilted fans through it; each
   tilted fan is reconstructed as a 2-D fan beam whose line integrals are measured along rays
   longer by ``1 / cos kappa`` than their projection onto the fan's plane, ``cos kappa =
   sqrt(R^2 + u^2) / sqrt(R^2 + u^2 + v^2)``. FDK multiplies the data by
   ``R / sqrt(R^2 + u^2 + v^2)`` = ``cos gamma cos kappa``; the ``cos gamma`` part is the fan-beam
   Jacobian ``R cos gamma = ds / dgamma`` that the rebinning to ``s = R sin gamma`` absorbs, so
   the rebinned data carry ``cos kappa`` (:func:`~.cone.to_parallel`).
2. Redundancy before filtering. Whole turns weigh every ray 1/2; a short scan
   (``180 deg + fan``) weighs each ray with Parker's smooth weights (D. L. Parker, "Optimal short
   scan convolution reconstruction for fanbeam CT", Med. Phys. 9 (1982) 254), applied in the fan
   domain before rebinning and filtering (:func:`~.weights.fan_weights`), so that the two
   measurements of every line in the fan's plane sum to one.
3. Row-wise filtering. After rebinning, each row of the virtual detector (height ``z0`` at the
   axis) is a parallel projection in ``s``; it is filtered along ``s`` with the ramp (line
   integrals) or Hilbert (refraction angle, a derivative along ``s``) kernel of
   :mod:`~.filters`, with the truncation correction where asked
   (:func:`~.parallel.filtered_projections`). This is FDK's filtering along detector rows, with
   the fan's ``R / (R^2 + u^2)^(1/2)`` pre-weight and ``1 / U^2`` post-weight turned into the
   parallel ramp by the rebinning (Grass et al. 2000, eqs. 5-9).
4. Back-projection along the true ray, distance weight. In the parallel (rebinned) frame a voxel
   at ``(x, y, z)`` is seen at view ``theta`` at ``s = x cos theta + y sin theta`` and depth
   ``t = x sin theta - y cos theta`` (towards the detector). The ray through it left the source
   ``L = sqrt(R^2 - s^2)`` before its closest approach to the axis, so the voxel is
   ``L + t`` from the source in the fan's plane and the ray crosses the axis plane at height
   ``z0 = z L / (L + t)``: the voxel reads the filtered row of height ``z0`` (linear
   interpolation in ``s`` and ``z0``). FDK's distance weight ``1 / U^2`` (``U`` the voxel's
   distance from the source over ``R``) belongs to the divergent fan; in the rebinned parallel
   frame the rays of one view are parallel in the fan's plane and the weight is 1. The sum over
   views with the quadrature weights is the FDK volume; in the mid-plane (``z = 0``) it is the 2-D
   fan-beam FBP, exact.

Like every FDK, this is exact in the mid-plane and for objects constant along ``z``; away from
it the circular orbit misses data (Tuy's condition), an error that grows with the cone angle. At
the lab set-ups' cone half-angles (~1-2 deg) it is well below the rebinning's height error:
``tests/processing/test_fdk.py`` checks beads and a uniform ball against closed-form projections
in a cone twice as wide.

Cost: the back-projection is voxel driven, ``O(n_views * slices * cols^2)`` interpolations in
numpy (two gathers per voxel, slice and view; each thread takes its part of the voxels through
every view in cache-sized blocks, with its work arrays allocated once), against the Fourier
gridding's ``O(n_views * cols + cols^2 log cols)`` per slice: ~40x the gridding at 2048 columns,
~25x at 512 (``benchmarks/bench_cone.py``), so :func:`use_fdk` chooses it only where the
rebinning's height error exceeds :data:`HEIGHT_TOLERANCE_VOXELS`.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from gi_instrument.processing.reconstruction.geometry import Geometry

__all__ = ["HEIGHT_TOLERANCE_VOXELS", "height_error_voxels", "use_fdk", "rows_seen",
           "backproject_tilted"]

HEIGHT_TOLERANCE_VOXELS = 0.5
"""Largest height error (voxels) of single-slice rebinning that is accepted instead of FDK."""


def height_error_voxels(geometry: Geometry, z_max_voxels: float, cols: int) -> float:
    """Largest distance (voxels) between the height a rebinned slice reads and the true ray's,
    ``|z| r / (L - r)``, for heights up to ``z_max_voxels`` and the field radius ``r = cols / 2``
    (0 for a parallel beam)."""
    if geometry.beam != "cone":
        return 0.0
    big_r, r = geometry.source_axis_px, cols / 2
    return abs(z_max_voxels) * r / (math.sqrt(big_r**2 - r**2) - r)


def use_fdk(geometry: Geometry, rows: int, cols: int, slices: range) -> bool:
    """Whether the slices ``slices`` of a ``rows x cols`` detector need FDK: their height error
    under rebinning (:func:`height_error_voxels`) exceeds :data:`HEIGHT_TOLERANCE_VOXELS`."""
    if geometry.beam != "cone" or len(slices) == 0:
        return False
    mid = geometry.midplane(rows)
    z_max = max(abs(mid - slices[0]), abs(mid - slices[-1]))
    return height_error_voxels(geometry, z_max, cols) > HEIGHT_TOLERANCE_VOXELS


def rows_seen(geometry: Geometry, rows: int, cols: int, slices: range) -> range:
    """The rebinned rows (virtual detector heights) that the voxels of ``slices`` read, within
    the detector: heights ``z L / (L + t)`` for ``|t| <= cols / 2``, one row of margin."""
    mid = geometry.midplane(rows)
    big_r, r = geometry.source_axis_px, cols / 2
    lo_scale = math.sqrt(big_r**2 - r**2) / (math.sqrt(big_r**2 - r**2) + r)
    hi_scale = big_r / (big_r - r)
    heights = [(mid - k) * f for k in (slices[0], slices[-1]) for f in (lo_scale, hi_scale)]
    first = max(0, math.floor(mid - max(heights)) - 1)
    last = min(rows - 1, math.ceil(mid - min(heights)) + 1)
    return range(first, last + 1)


def backproject_tilted(
    filtered: NDArray[np.float32],
    theta_rad: NDArray[np.float64],
    row_heights: NDArray[np.float64],
    slice_heights: NDArray[np.float64],
    source_axis_px: float,
    workers: int | None = None,
) -> NDArray[np.float32]:
    """Back-project filtered parallel projections along the cone's tilted rays (module docstring).

    Args:
        filtered: ``(views, J, cols)`` filtered, quadrature-weighted projections on the virtual
            detector (:func:`~.parallel.filtered_projections`), rotation axis at
            ``(cols - 1) / 2``; row ``j`` at height ``row_heights[j]``.
        theta_rad: parallel view angles, rad.
        row_heights: ``(J,)`` heights of the rows at the axis, voxels, decreasing by 1 per row.
        slice_heights: ``(K,)`` heights of the output slices, voxels.
        source_axis_px: source to axis, voxels.
        workers: threads, each over a part of the voxels (default: all CPUs).

    Returns:
        float32 ``(K, cols, cols)``: voxels within the field's circle (radius ``cols / 2``, the
        part every view sees); 0 outside.
    """
    n, n_rows, cols = filtered.shape
    if np.any(np.abs(np.diff(row_heights) + 1) > 1e-9):
        raise ValueError("row_heights must decrease by one voxel per row")
    c = (cols - 1) / 2
    yy, xx = np.mgrid[:cols, :cols]
    x = (xx - c).ravel()
    y = (c - yy).ravel()
    inside = np.flatnonzero(x * x + y * y <= (cols / 2) ** 2)
    x = x[inside].astype(np.float32)
    y = y[inside].astype(np.float32)
    width = cols + 2
    padded = np.pad(filtered, ((0, 0), (0, 1), (1, 1)), mode="edge").reshape(n, -1)
    padded = np.pad(padded, ((0, 0), (0, 1)), mode="edge")
    if padded.shape[1] >= 2**24:  # flat indices are formed in float32, exact below 2^24
        raise ValueError(f"{n_rows} rows x {cols} columns: too large a view for one back-projection")
    geometry = _Rays(padded, np.asarray(theta_rad, dtype=np.float64), width, n_rows, np.float32(row_heights[0]),
                     np.float32(source_axis_px) ** 2, np.float32(c + 1), np.asarray(slice_heights, dtype=np.float32))
    threads = max(1, min(workers or os.cpu_count() or 1, inside.size))
    parts = np.array_split(np.arange(inside.size), threads)
    out = np.zeros((len(slice_heights), cols * cols), dtype=np.float32)
    # each thread takes a part of the voxels through every view (its own per-view set-up too);
    # numpy's gathers and arithmetic release the GIL
    with ThreadPoolExecutor(threads) as pool:
        sums = list(pool.map(geometry.backproject, [x[part] for part in parts], [y[part] for part in parts]))
    for part, summed in zip(parts, sums, strict=True):
        out[:, inside[part]] = summed
    return out.reshape(len(slice_heights), cols, cols)


class _Rays(NamedTuple):
    """The padded, flattened filtered views and the cone's geometry, shared by the threads."""

    padded: NDArray[np.float32]
    """``(views, positions)``: each view padded by one edge column each side and one edge row
    below, flattened, plus one edge sample."""
    theta_rad: NDArray[np.float64]
    """Parallel view angles, rad."""
    width: int
    """Padded row length."""
    n_rows: int
    top: np.float32
    """Height of row 0, voxels."""
    big_r2: np.float32
    """Source to axis, squared, voxels^2."""
    column_origin: np.float32
    """Padded column of ``s = 0``."""
    heights: NDArray[np.float32]
    """Output slices' heights, voxels."""

    def backproject(self, x: NDArray[np.float32], y: NDArray[np.float32]) -> NDArray[np.float32]:
        """``(slices, voxels)`` sums over the views for the voxels at ``(x, y)`` (voxels from the
        axis), each view read along the tilted ray through the voxel (module docstring). Voxels
        go ``_BLOCK_VOXELS`` at a time through each view, so that the work arrays stay in the
        CPU's cache."""
        acc = np.zeros((self.heights.size, x.size), dtype=np.float32)
        blocks = [slice(b, min(b + _BLOCK_VOXELS, x.size)) for b in range(0, x.size, _BLOCK_VOXELS)]
        scratch = _Scratch.make(min(_BLOCK_VOXELS, x.size))
        pairs = np.empty(self.padded.shape[1] - 1, dtype=np.complex64)
        for i, theta in enumerate(self.theta_rad):
            cos_t, sin_t = np.float32(math.cos(theta)), np.float32(math.sin(theta))
            pairs.real = self.padded[i, :-1]
            pairs.imag = self.padded[i, 1:]
            for block in blocks:
                xb, yb = x[block], y[block]
                s = xb * cos_t + yb * sin_t
                depth = xb * sin_t - yb * cos_t
                ell = np.sqrt(self.big_r2 - s * s)
                col = s + self.column_origin
                c0 = np.floor(col)
                fc = col - c0
                _View(pairs, self.width, self.n_rows, self.top, ell / (ell + depth), c0,
                      (1 - fc) - 1j * fc).accumulate(acc[:, block], self.heights, scratch)
        return acc


_BLOCK_VOXELS = 131072
"""Voxels taken through a view together by one thread (its work arrays, ~4.5 MiB, stay in the CPU's
last-level cache; smaller blocks measured slower: more numpy calls, threads contending for the GIL)."""


class _Scratch(NamedTuple):
    """One thread's work arrays, one value per voxel (allocated once per back-projection)."""

    row: NDArray[np.float32]
    floor: NDArray[np.float32]
    index: NDArray[np.intp]
    upper: NDArray[np.complex64]
    lower: NDArray[np.complex64]
    term: NDArray[np.float32]

    @classmethod
    def make(cls, voxels: int) -> "_Scratch":
        return cls(*(np.empty(voxels, dtype=t) for t in (np.float32, np.float32, np.intp, np.complex64,
                                                           np.complex64, np.float32)))


class _View(NamedTuple):
    """One padded, flattened filtered view and where the voxels read it."""

    pairs: NDArray[np.complex64]
    """Each sample (real part) with its right neighbour (imaginary part): one gather reads both."""
    width: int
    """Padded row length."""
    n_rows: int
    top: np.float32
    """Height of row 0, voxels."""
    scale: NDArray[np.float32]
    """``z0 / z`` of the ray through each voxel (``L / (L + t)``)."""
    c0: NDArray[np.float32]
    """Padded column left of each voxel's ``s`` (a whole number)."""
    column_weights: NDArray[np.complex64]
    """``(1 - f) - i f`` (``f`` the fractional column): ``Re(pair * this)`` interpolates."""

    def accumulate(self, acc: NDArray[np.float32], heights: NDArray[np.float32], scratch: _Scratch) -> None:
        """Add the bilinearly interpolated view to ``acc[k]`` (slice at ``heights[k]``) for every
        slice (every temporary in ``scratch``: no allocation per slice)."""
        below = self.pairs[self.width:]
        row, floor, index, upper, lower, term = (a[:self.scale.size] for a in scratch)
        for k in range(heights.size):
            np.multiply(self.scale, -heights[k], out=row)
            row += self.top
            np.clip(row, 0, self.n_rows - 1, out=row)
            np.floor(row, out=floor)
            row -= floor                                      # the fractional row
            floor *= self.width
            floor += self.c0                                  # the flat index, exact in float32
            index[...] = floor
            np.take(self.pairs, index, out=upper, mode="clip")
            upper *= self.column_weights
            np.take(below, index, out=lower, mode="clip")
            lower *= self.column_weights
            lower -= upper
            acc[k] += upper.real
            np.multiply(lower.real, row, out=term)
            acc[k] += term
