"""Cone-beam (and tilted-axis) reconstruction: rebinning to parallel beam, then Fourier gridding.

Method, and why
---------------
The lab sources are points 22.6 cm (TLI) and 46.7 cm (MAAST) from the axis: every detector row is
a fan of half-angle ~1.1-1.5 deg, and rows off the central one are tilted by the cone angle. A
parallel-beam FBP of such data puts a point at radius ``r`` at the wrong column by up to
``~r^2 / (2 R)`` (an astroid 0.1-0.3 mm wide at the field edge). Two correct routes exist, and
:func:`reconstruct` uses both: rebinning to parallel beam row by row followed by a parallel-beam
reconstruction (Grass, Koehler, Proksa, Phys. Med. Biol. 45 (2000) 329: the fan-to-parallel
rebinning of the ``P-FDK`` algorithm), exact in the mid-plane, where the fast Fourier gridding of
:mod:`~gi_instrument.processing.reconstruction.gridding`, the truncation correction and the astra
parallel back-end apply unchanged and each slice costs the same as in parallel beam plus two
cheap interpolations; and FDK (Feldkamp, Davis, Kress, JOSA A 1 (1984) 612) on the same rebinned
and filtered data, back-projected along the tilted rays
(:mod:`~gi_instrument.processing.reconstruction.fdk`), voxel driven and 25-40x slower, for the
slices where the cone angle matters (``method="auto"``:
:func:`~gi_instrument.processing.reconstruction.fdk.use_fdk`).

Rebinning (a ray at source angle ``beta`` and detector column ``u``, ``tan gamma = u / R``, is the
parallel ray ``theta = beta + gamma``, ``s = R sin gamma``; :mod:`.weights`):

1. every projection is weighted for redundancy in the fan domain
   (:func:`~gi_instrument.processing.reconstruction.weights.fan_weights`: 1/2 for whole turns,
   Parker's weights for a short scan, which must cover 180 deg plus the full fan angle);
2. for each output column ``s`` (the parallel grid, one voxel apart) the detector is read at
   ``u = R tan(asin(s / R))`` (linear interpolation), with the cone-angle weight
   ``sqrt(R^2 + u^2) / sqrt(R^2 + u^2 + v^2)`` that turns the tilted ray's path length into its
   in-plane length (the FDK row weighting; the in-plane cosine is absorbed by the rebinning);
3. each output column is shifted in angle by ``-gamma`` (linear interpolation between source
   angles; outside a short scan's range the weighted data are zero);
4. the result is a parallel-beam sinogram with every line once: reconstructed by
   :func:`~gi_instrument.processing.reconstruction.parallel.fbp` with weights of one step.

Rows off the mid-plane (the cone): slice ``z`` (height of detector row ``k`` at the axis) is read
at the detector height where each parallel ray crosses ``z`` at its closest approach to the axis,
``v = z R^2 / (R^2 - s^2)`` (single-slice rebinning), interpolating between rows. This is exact in
the mid-plane and for points on the axis; a point at radius ``r`` and height ``z`` is seen over
heights ``z (1 +- r / R)`` during the turn, a blur in ``z`` of at most ``+-z r / R``: for TLI
``r / R`` <= 2.5 % (0.8 voxel at 32 rows from the mid-plane), for MAAST <= 1.8 %. Where that
exceeds half a voxel, :func:`reconstruct` back-projects the same rebinned rows along the true
rays instead (FDK, :mod:`~gi_instrument.processing.reconstruction.fdk`).

Derivative (refraction-angle) sinograms are integrated along the column first (the phase
projection up to a constant per projection), rebinned at the parallel grid's pixel boundaries and
differenced again: the rebinned data are then exactly the pixel-averaged derivative along ``s``
at fixed ``theta`` (rebinning ``alpha`` itself would miss its angular part ``dP/dbeta dgamma/ds``,
up to ``r / R`` of the signal at sharp edges).

A tilted axis (``tilt_deg``) and an off-centre axis are applied by the same bilinear resampling
(parallel beam too). Untilted parallel-beam data are not resampled: :func:`to_parallel` returns
them as they are, with the axis column for ``fbp``, where it is a Fourier shift of the filtered
projections (exact).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gi_instrument.processing.reconstruction.fdk import backproject_tilted, rows_seen, use_fdk
from gi_instrument.processing.reconstruction.geometry import Geometry
from gi_instrument.processing.reconstruction.parallel import Filter, fbp, filtered_projections
from gi_instrument.processing.reconstruction.weights import (
    angular_weights,
    fan_weights,
    uniform_step_rad,
)

__all__ = ["Method", "ParallelSinograms", "to_parallel", "reconstruct"]

_CHUNK_BYTES = 256 * 2**20
"""Memory of one chunk of rebinned sinograms (several temporaries of this size)."""


class ParallelSinograms(NamedTuple):
    """Rebinned data: what :func:`~gi_instrument.processing.reconstruction.parallel.fbp` takes."""

    sinograms: NDArray[np.float32]
    """(angles, slices, cols): one parallel-beam sinogram per output slice, axis at the centre."""
    angles_deg: NDArray[np.float64]
    """Parallel projection angles, deg."""
    weights_rad: NDArray[np.float64]
    """Quadrature weight of each projection, rad (``fbp(..., weights=)``)."""
    center_px: float | None
    """Axis column for ``fbp`` (``None``: the centre, after resampling)."""


def _detector_positions(geometry: Geometry, s: NDArray[np.float64], z: NDArray[np.float64],
                        cols: int, rows: int) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """Fan angle (per column), and detector column, row and cone weight (slices, columns) of the
    rays of the parallel grid ``s`` (voxels) in the slices at heights ``z`` (voxels)."""
    if geometry.beam == "cone":
        big_r = geometry.source_axis_px
        gamma = np.arcsin(s / big_r)
        u = big_r * np.tan(gamma)
        v = z[:, None] * (big_r**2 / (big_r**2 - s**2))[None, :]
        cone = np.sqrt((big_r**2 + u**2)[None, :] / (big_r**2 + u[None, :] ** 2 + v**2))
    else:
        gamma = np.zeros_like(s)
        u = s
        v = np.broadcast_to(z[:, None], (z.size, s.size))
        cone = np.ones((z.size, s.size))
    tilt = math.radians(geometry.tilt_deg)
    col = geometry.center(cols) + u[None, :] * math.cos(tilt) + v * math.sin(tilt)
    row = geometry.midplane(rows) - v * math.cos(tilt) + u[None, :] * math.sin(tilt)
    return gamma, col, row, cone


def _bilinear(block: NDArray[np.float32], row: NDArray, col: NDArray) -> NDArray[np.float32]:
    """``block`` (angles, rows, cols) read at fractional (row, col) (k, m), edges clamped ->
    (angles, k, m). Where ``col`` is the same for every output row (an untilted axis), columns
    are interpolated once and rows by weighted sums over the few rows each output row spans;
    otherwise by four gathers."""
    _, n_rows, n_cols = block.shape
    row = np.clip(row, 0, n_rows - 1)
    col = np.clip(col, 0, n_cols - 1)
    c0 = np.minimum(np.floor(col).astype(np.intp), max(n_cols - 2, 0))
    fc = (col - c0).astype(np.float32)
    c1 = np.minimum(c0 + 1, n_cols - 1)
    if np.all(col == col[:1]):
        lerp = np.take(block, c0[0], axis=2) * (1 - fc[0]) + np.take(block, c1[0], axis=2) * fc[0]
        out = np.empty((block.shape[0], row.shape[0], row.shape[1]), dtype=np.float32)
        for k, r in enumerate(row):
            lo = int(np.floor(r.min()))
            hi = min(int(np.ceil(r.max())), n_rows - 1)
            out[:, k] = 0.0
            for j in range(lo, hi + 1):
                w = np.clip(1 - np.abs(r - j), 0, None).astype(np.float32)
                out[:, k] += lerp[:, j] * w
        return out
    r0 = np.minimum(np.floor(row).astype(np.intp), max(n_rows - 2, 0))
    fr = (row - r0).astype(np.float32)
    r1 = np.minimum(r0 + 1, n_rows - 1)
    top = block[:, r0, c0] * (1 - fc) + block[:, r0, c1] * fc
    bottom = block[:, r1, c0] * (1 - fc) + block[:, r1, c1] * fc
    return top * (1 - fr) + bottom * fr


def _angle_shift(data: NDArray[np.float32], shift_steps: NDArray[np.float64], n_ext: int,
                 periodic: bool) -> NDArray[np.float32]:
    """``out[j, :, m] = data[j - n_ext - shift_steps[m], :, m]`` with linear interpolation in the
    angle index; periodic (whole turns) or zero outside the scan. Columns whose shift has the
    same integer part (contiguous runs: the shift is monotonic in the column) move together."""
    n, k, m = data.shape
    n_out = n + 2 * n_ext
    whole = np.floor(-shift_steps).astype(np.intp)
    frac = (-shift_steps - whole).astype(np.float32)
    out = np.empty((n_out, k, m), dtype=np.float32)
    edges = np.flatnonzero(np.diff(whole)) + 1
    for a, b in zip(np.r_[0, edges], np.r_[edges, m], strict=True):
        idx = np.arange(n_out) - n_ext + whole[a]
        part = data[:, :, a:b]
        f = frac[a:b]
        if periodic:
            out[:, :, a:b] = (np.take(part, idx, axis=0, mode="wrap") * (1 - f)
                              + np.take(part, idx + 1, axis=0, mode="wrap") * f)
        else:
            inside0 = ((idx >= 0) & (idx < n)).astype(np.float32)[:, None, None]
            inside1 = ((idx + 1 >= 0) & (idx + 1 < n)).astype(np.float32)[:, None, None]
            out[:, :, a:b] = (np.take(part, idx, axis=0, mode="clip") * (inside0 * (1 - f))
                              + np.take(part, idx + 1, axis=0, mode="clip") * (inside1 * f))
    return out


def to_parallel(
    sinograms: Any,
    angles_deg: ArrayLike,
    geometry: Geometry,
    *,
    slices: slice | None = None,
    derivative: bool = False,
    prepare: Callable[[NDArray], NDArray] | None = None,
) -> ParallelSinograms:
    """Rebin fan/cone-beam (or tilted-axis) sinograms to parallel beam (module docstring).

    Args:
        sinograms: (angles, rows, cols) stack (array, memmap or h5py dataset; only the rows the
            requested slices need are read), or one (angles, cols) fan-beam sinogram (the
            mid-plane row).
        angles_deg: source angle of each projection, deg (equidistant for fan/cone beams).
        geometry: the projection geometry.
        slices: output slices (slice ``k`` at the axis height of detector row ``k``; default
            all rows).
        derivative: the data are derivatives along the column (refraction angle; Hilbert filter).
        prepare: applied to each block of rows read (e.g. ``-ln`` and stripe removal), before
            resampling.

    Returns:
        :class:`ParallelSinograms` with ``(angles', len(slices), cols)`` sinograms.
    """
    flat = len(sinograms.shape) == 2
    n, rows, cols = (sinograms.shape[0], 1, sinograms.shape[1]) if flat else sinograms.shape
    angles = np.asarray(angles_deg, dtype=np.float64).ravel()
    if angles.size != n:
        raise ValueError(f"{angles.size} angles for {n} projections")
    ks = range(rows)[slices or slice(None)]
    if geometry.is_plain_parallel:  # no resampling: the axis column is a Fourier shift in fbp
        block = np.asarray(sinograms if flat else sinograms[:, ks.start:ks.stop:ks.step])
        block = prepare(block) if prepare is not None else block
        block = block[:, None] if flat else block
        return ParallelSinograms(np.asarray(block, dtype=np.float32), angles,
                                 angular_weights(angles), geometry.center(cols))
    z = geometry.midplane(rows) - np.asarray(ks, dtype=np.float64)
    s = np.arange(cols + 1 if derivative else cols) - (cols - 1) / 2 - (0.5 if derivative else 0.0)
    gamma, col, row, cone = _detector_positions(geometry, s, z, cols, rows)
    r_lo = int(np.clip(np.floor(row.min()), 0, rows - 1))
    r_hi = int(np.clip(np.ceil(row.max()) + 1, 1, rows))
    block = np.asarray(sinograms[:, None] if flat else sinograms[:, r_lo:r_hi])
    if prepare is not None:
        block = prepare(block)
    block = np.asarray(block, dtype=np.float32)
    if not np.all(np.isfinite(block)):
        raise ValueError(f"sinograms hold non-finite values (rows {r_lo}..{r_hi - 1})")
    if derivative:  # the phase projection at the pixel boundaries (column b at position b - 1/2)
        block = np.concatenate([np.zeros_like(block[..., :1]), np.cumsum(block, axis=-1)], axis=-1)
        col = col + 0.5
    data = _bilinear(block, row - r_lo, col) * cone.astype(np.float32)[None]
    if geometry.beam == "cone":
        step = uniform_step_rad(angles)
        weights, periodic = fan_weights(angles, gamma)
        data *= weights.astype(np.float32)[:, None, :]
        n_ext = 0 if periodic else int(np.ceil(np.max(np.abs(gamma)) / step)) + 1
        data = _angle_shift(data, gamma / step, n_ext, periodic)
        theta = (angles if periodic  # the same array: the gridding plan is cached by angles
                 else angles[0] + np.rad2deg(step) * np.arange(-n_ext, n + n_ext))
        theta_weights = np.full(theta.size, step)
    else:
        theta, theta_weights = angles, angular_weights(angles)
    if derivative:
        data = np.diff(data, axis=-1)
    return ParallelSinograms(np.ascontiguousarray(data, dtype=np.float32), theta, theta_weights,
                             None)


Method = Literal["auto", "rebin", "fdk"]


def reconstruct(
    sinograms: Any,
    angles_deg: ArrayLike,
    geometry: Geometry,
    filter: Filter = "ramp",  # noqa: A002 - as fbp
    *,
    slices: slice | None = None,
    prepare: Callable[[NDArray], NDArray] | None = None,
    out: Any = None,
    method: Method = "auto",
    **fbp_kwargs: Any,
) -> NDArray[np.float32]:
    """Sinograms of any geometry to a volume: the one call from data and geometry to slices.

    Args:
        sinograms: (angles, rows, cols) stack, or one (angles, cols) sinogram (mid-plane row).
        angles_deg: rotation (source) angle of each projection, deg.
        geometry: :class:`~gi_instrument.processing.reconstruction.geometry.Geometry`.
        filter: ``"ramp"`` (``-ln T``, ``-ln D``) or ``"hilbert"`` (refraction angle).
        slices: output slices (default all rows; slice ``k`` at the axis height of row ``k``).
        prepare: applied to each block of rows read, as in :func:`to_parallel`.
        out: where to write the (slices, cols, cols) volume (array, memmap, h5py dataset).
        method: ``"rebin"`` (rebinning slice by slice, then Fourier gridding: exact in the
            mid-plane, fast), ``"fdk"`` (cone beam only: rebinning, filtering, back-projection
            along the tilted rays, :mod:`~gi_instrument.processing.reconstruction.fdk`) or
            ``"auto"``: FDK where the slices' height error under rebinning exceeds
            :data:`~gi_instrument.processing.reconstruction.fdk.HEIGHT_TOLERANCE_VOXELS`
            (:func:`~gi_instrument.processing.reconstruction.fdk.use_fdk`), else rebinning.
        fbp_kwargs: further :func:`~gi_instrument.processing.reconstruction.parallel.fbp`
            options (``backend``, ``truncation``, ``container``, ``window``, ...); FDK uses
            ``truncation``, ``container``, ``window``, ``padding`` and ``workers`` (its
            back-projection is its own, interpolating linearly).

    Returns:
        float32 (slices, cols, cols), or (cols, cols) for a 2-D sinogram (``out`` if given).
    """
    flat = len(sinograms.shape) == 2
    n, rows, cols = (sinograms.shape[0], 1, sinograms.shape[1]) if flat else sinograms.shape
    ks = range(rows)[slices or slice(None)]
    if method == "auto":
        method = "fdk" if not flat and use_fdk(geometry, rows, cols, ks) else "rebin"
    if method not in ("rebin", "fdk"):
        raise ValueError(f"unknown method {method!r} (auto, rebin, fdk)")
    if method == "fdk" and (flat or geometry.beam != "cone"):
        raise ValueError("method='fdk' needs a cone beam and a (angles, rows, cols) stack")
    if out is None:
        out = np.empty((cols, cols) if flat else (len(ks), cols, cols), dtype=np.float32)
    if method == "fdk":
        _reconstruct_fdk(sinograms, angles_deg, geometry, filter, ks, prepare, out, fbp_kwargs)
        return out
    per_slice = 4 * 4 * cols * (n + 2 * max(4, n // 20))
    chunk = max(1, _CHUNK_BYTES // per_slice)
    for i0 in range(0, len(ks), chunk):
        part = ks[i0:i0 + chunk]
        par = to_parallel(sinograms, angles_deg, geometry, derivative=filter == "hilbert",
                          slices=slice(part.start, part.stop, part.step), prepare=prepare)
        result = fbp(par.sinograms[:, 0] if flat else par.sinograms, par.angles_deg, filter,
                     weights=par.weights_rad, center_px=par.center_px, **fbp_kwargs)
        if flat:
            out[...] = result
        else:
            out[i0:i0 + len(part)] = result
    return out


_FDK_SLICES = 16
"""Output slices back-projected together by the FDK path. Each chunk rebins and filters the rows
its tilted rays read: 16 plus the rays' height spread ``2 |z| r / (L - r)`` (at binning 1 up to
~70 rows at the top of a TLI frame, ~0.7 GB of float32 per copy for 1200 views x 2048 columns;
the rebinning holds a few copies)."""


def _reconstruct_fdk(sinograms: Any, angles_deg: ArrayLike, geometry: Geometry,
                     filter: Filter,  # noqa: A002 - as fbp
                     ks: range, prepare: Callable[[NDArray], NDArray] | None, out: Any,
                     fbp_kwargs: dict[str, Any]) -> None:
    """:func:`reconstruct`'s FDK path, ``_FDK_SLICES`` output slices at a time."""
    _, rows, cols = sinograms.shape
    options = {k: v for k, v in fbp_kwargs.items()
               if k in ("truncation", "container", "window", "padding", "workers")}
    mid = geometry.midplane(rows)
    for i0 in range(0, len(ks), _FDK_SLICES):
        part = ks[i0:i0 + _FDK_SLICES]
        seen = rows_seen(geometry, rows, cols, part)
        par = to_parallel(sinograms, angles_deg, geometry, derivative=filter == "hilbert",
                          slices=slice(seen.start, seen.stop), prepare=prepare)
        filtered = filtered_projections(par.sinograms, par.angles_deg, filter,
                                        weights=par.weights_rad, center_px=par.center_px,
                                        **options)
        theta = np.deg2rad(par.angles_deg)
        del par
        out[i0:i0 + len(part)] = backproject_tilted(
            filtered, theta, mid - np.asarray(seen, dtype=np.float64),
            mid - np.asarray(part, dtype=np.float64), geometry.source_axis_px,
            options.get("workers"))
