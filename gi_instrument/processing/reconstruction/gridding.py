"""Fourier-gridding back-projection of filtered parallel-beam projections.

Fourier gridding (as tomopy's gridrec; Beatty et al., IEEE TMI 24 (2005) 799): each projection is
padded to ``M = 2 cols`` (with its edge values, or zeros), Fourier transformed and filtered; the
filtered back-projection with band-limited (trigonometric) interpolation is exactly the sum
``f(x) = Re sum_j sum_m c_jm exp(2 pi i k_jm . x)`` over the polar points
``k_jm = (m / M) (cos theta_j, sin theta_j)``, ``m = 0 .. cols - 1``. It is evaluated by spreading
the ``c_jm`` onto an ``M x M`` Cartesian grid with a Kaiser-Bessel kernel of ``kernel_width`` grid
cells (a sparse matrix built once per geometry and cached), one 2-D inverse FFT, cropping the
central ``cols x cols`` and dividing by the kernel's Fourier transform (de-apodisation). Cost
``O(n_angles cols W^2 + cols^2 log cols)`` instead of ``O(n_angles cols^2)``. Linear
interpolation between detector samples (the default, as astra and ``skimage.transform.iradon``)
is the same sum with the filter multiplied by its transfer function ``sinc^2(w)``.

For parallel beam the ray ``(theta + 180 deg, s)`` is the ray ``(theta, -s)``; for a derivative
sinogram the value also changes sign. Every projection is therefore folded onto ``[0, 180) deg``
in Fourier space: its spectrum at ``theta >= 180 deg`` is the complex conjugate of the spectrum at
``theta - 180 deg`` (which mirrors ``s`` and, for the derivative, flips its sign at the same
time); the angular weights (:mod:`~gi_instrument.processing.reconstruction.weights`) make every
line direction count once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.sparse
import scipy.special
from numpy.typing import NDArray

from gi_instrument.processing.reconstruction.filters import pad

__all__ = ["OVERSAMPLING", "Plan", "make_plan", "coefficients", "grid_slices"]

OVERSAMPLING = 2
"""Cartesian grid / projection padding factor ``M / cols``; the de-apodisation assumes 2."""


def _kaiser_bessel_beta(width: int, oversampling: float = OVERSAMPLING) -> float:
    """Beatty et al. (2005) eq. 5: the KB shape parameter for a kernel of ``width`` cells."""
    return float(np.pi * np.sqrt((width / oversampling) ** 2 * (oversampling - 0.5) ** 2 - 0.8))


def _kb_hat(t: NDArray[np.float64], width: int, beta: float) -> NDArray[np.float64]:
    """Fourier transform of ``I0(beta sqrt(1 - (2 v / width)^2))`` at ``t`` cycles per cell."""
    z = np.sqrt((beta**2 - (np.pi * width * t) ** 2).astype(np.complex128))
    return np.real(width * np.sinh(z) / z)


@dataclass(frozen=True)
class Plan:
    """Everything that depends only on the geometry (angles, width, kernel)."""

    cols: int
    m_grid: int
    n_fold: int
    """Distinct line directions after folding onto [0, 180) deg."""
    fold_order: NDArray[np.intp]
    """Projections sorted by folded direction."""
    fold_starts: NDArray[np.intp]
    """Start of each direction's run in ``fold_order`` (for ``np.add.reduceat``)."""
    flipped: NDArray[np.bool_]
    """Projection at theta mod 360 >= 180 deg (its spectrum is conjugated)."""
    spread: scipy.sparse.csc_matrix
    """(M*M, n_fold*cols) Kaiser-Bessel spreading matrix, float32."""
    deapod: NDArray[np.float32]
    """(cols,) 1-D de-apodisation divisor along each output axis."""
    rows_idx: NDArray[np.intp]
    cols_idx: NDArray[np.intp]


def _fold(theta: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Line direction in [0, pi) of each projection and whether it was flipped by pi."""
    t2 = np.mod(theta, 2 * np.pi)
    flipped = t2 >= np.pi
    phi = np.where(flipped, t2 - np.pi, t2)
    # a direction within rounding of 180 deg is direction 0 seen from the other side
    wrap = np.isclose(phi, np.pi, rtol=0, atol=1e-12)
    return np.where(wrap, 0.0, phi), flipped ^ wrap


@functools.lru_cache(maxsize=2)
def make_plan(theta_key: bytes, cols: int, width: int) -> Plan:
    theta = np.frombuffer(theta_key, dtype=np.float64)
    m_grid = OVERSAMPLING * cols
    phi, flipped = _fold(theta)
    # merge directions equal to ~1e-9 rad (360-deg scans: theta and theta + 180 deg)
    key = np.round(phi / 1e-9).astype(np.int64)
    uniq, inverse = np.unique(key, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(inverse[order]) != 0])
    phi_u = phi[order[starts]]

    beta = _kaiser_bessel_beta(width)
    m = np.arange(cols, dtype=np.float64)
    ux = (np.cos(phi_u)[:, None] * m[None, :]).ravel()          # grid units, (n_samples,)
    uy = (np.sin(phi_u)[:, None] * m[None, :]).ravel()
    offs = np.arange(width)

    def axis_weights(u: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        i0 = np.ceil(u - width / 2).astype(np.int64)
        idx = i0[:, None] + offs[None, :]
        d = (idx - u[:, None]) * (2.0 / width)
        w = scipy.special.i0(beta * np.sqrt(np.clip(1.0 - d * d, 0.0, None)))
        return np.mod(idx, m_grid), w.astype(np.float32)

    ix, wx = axis_weights(ux)
    iy, wy = axis_weights(uy)
    n_samples = ux.size
    nnz_per = width * width
    itype = np.int32 if max(n_samples * nnz_per, m_grid * m_grid) < 2**31 else np.int64
    ix, iy = ix.astype(itype), iy.astype(itype)
    rows = (iy[:, :, None] * itype(m_grid) + ix[:, None, :]).reshape(n_samples * nnz_per)
    data = (wy[:, :, None] * wx[:, None, :]).reshape(n_samples * nnz_per)
    indptr = np.arange(0, n_samples * nnz_per + 1, nnz_per, dtype=itype)
    spread = scipy.sparse.csc_matrix((data, rows, indptr), shape=(m_grid * m_grid, n_samples))
    spread.has_sorted_indices = False

    half = cols // 2
    x_int = np.arange(cols) - half                              # integer output coordinates
    deapod = _kb_hat(x_int / m_grid, width, beta).astype(np.float32)
    cols_idx = np.mod(x_int, m_grid)
    rows_idx = np.mod((cols - 1 - np.arange(cols)) - half, m_grid)
    return Plan(cols, m_grid, len(uniq), order, starts, flipped, spread, deapod,
                 rows_idx, cols_idx)

def coefficients(
    sino: NDArray[np.floating],
    theta: NDArray[np.float64],
    weights: NDArray[np.float64],
    response: NDArray[np.complex128],
    center_px: float,
    plan: Plan,
    workers: int,
    padding: str = "zero",
) -> NDArray[np.complex64]:
    """Gridding coefficients ``(n_fold, cols, *batch)`` of sinograms ``(angles, cols, *batch)``."""
    cols, m_pad = plan.cols, plan.m_grid
    spec = scipy.fft.rfft(pad(sino, m_pad, padding), axis=1, workers=workers)[:, :cols]
    # image offset: output pixel centres sit at integer + off (off = 1/2 for even cols)
    off = cols // 2 - (cols - 1) / 2
    w = np.arange(cols) / m_pad
    shift = center_px + off * (np.cos(theta) + np.sin(theta))[:, None]
    eps = np.full(cols, 2.0)
    eps[0] = 1.0
    factor = (weights[:, None] * (eps * response)[None, :] / m_pad
              * np.exp(2j * np.pi * w[None, :] * shift))
    extra = (1,) * (spec.ndim - 2)
    spec = spec * factor.reshape(factor.shape + extra).astype(np.complex64)
    spec[plan.flipped] = np.conj(spec[plan.flipped])
    folded = np.add.reduceat(spec[plan.fold_order], plan.fold_starts, axis=0)
    return folded.astype(np.complex64, copy=False)


def grid_slices(coef: NDArray[np.complex64], plan: Plan, workers: int) -> NDArray[np.float32]:
    """Slices ``(batch, cols, cols)`` from coefficients ``(n_fold, cols, batch)``."""
    m_grid = plan.m_grid
    batch = coef.shape[2]
    flat = np.ascontiguousarray(coef.reshape(-1, batch))
    pairs = flat.view(np.float32).reshape(flat.shape[0], 2 * batch)
    grid = np.asarray(plan.spread @ pairs)                       # (M*M, 2*batch) float32
    grid = grid.view(np.complex64).reshape(m_grid, m_grid, batch)
    image = scipy.fft.ifft2(grid, axes=(0, 1), norm="forward", workers=workers)
    image = image[np.ix_(plan.rows_idx, plan.cols_idx)].real
    deapod = plan.deapod[::-1, None] * plan.deapod[None, :]     # rows run downwards (y = -row)
    return np.moveaxis((image / deapod[:, :, None]).astype(np.float32), 2, 0)

