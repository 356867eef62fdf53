"""Filtered back-projection (parallel beam) for absorption, dark-field and phase (DPC) sinograms.

Geometry and conventions (the only ones used in this package)
-------------------------------------------------------------
A sinogram is ``(angles, cols)``; a stack of sinograms is ``(angles, rows, cols)`` (one sinogram per
detector row). The reconstructed slice is ``(cols, cols)``, indexed ``[row, col]``; a volume is
``(rows, cols, cols)``. Coordinates, in pixels, relative to the rotation axis::

    x = col - c          (to the right)        s = x cos(theta) + y sin(theta)
    y = c - row          (upwards)             detector coordinate s = col - center_px

with ``c = (cols - 1) / 2`` the slice centre and ``center_px`` (default also ``(cols - 1) / 2``)
the detector column of the rotation axis. A point at ``(x, y)`` is seen at ``s`` above: at
``theta = 0`` a point right of the axis lands at a higher detector column; at ``theta = 90 deg`` a
point above the centre (low row index) lands at a higher column. This is the textbook
convention; astra-toolbox 2.x's parallel geometry is the same, ``skimage.transform.iradon`` too
except that it centres on ``cols // 2`` (the same for an odd width). The tests pin all three with
off-centre objects (a flip or transpose fails them).

``gi_instrument.processing.fbp`` is the function :func:`fbp` (the package re-exports it over this
module's name): import other names with ``from gi_instrument.processing.fbp import ...``.

Filters
-------
``"ramp"``: the projection is a line integral ``p(s)``, e.g. ``-ln T`` (absorption) or ``-ln D``
(dark-field). The ramp is the Ram-Lak filter built from its sampled real-space kernel (Kak and
Slaney, eq. 3.61), which gets the DC term right.

``"hilbert"``: the projection is the derivative ``g = dp/ds`` (the DPC / refraction-angle
sinogram; :mod:`gi_instrument.processing.retrieval` makes ``alpha`` the positive derivative of the
delta projection along increasing column). Since ``G(w) = 2 pi i w P(w)``, the ramp-filtered
projection is ``|w| P = -i sign(w) / (2 pi) * G``: the Hilbert filter ``-i sign(w) / (2 pi)``
applied to ``g`` followed by the same back-projection returns the object itself. Like the ramp,
it is built from its sampled real-space kernel ``1 / (pi^2 n)`` (odd ``n``), which keeps the
reconstruction free of a constant offset. (A pixel-averaged derivative has
``G = 2 i sin(pi w) P``, which turns this into the Shepp-Logan filter of ``p``.)

Truncation
----------
``truncation="cylinder"`` (:mod:`gi_instrument.processing.truncation`) continues projections
that the field of view cuts (the formalin container wider than the detector) with the
container's cylinder down to zero, filters them over the extended detector with the same
sampled kernels (zero-padded to twice the extended length) and crops the filtered projections
back to the field; the back-projection below then runs with an identity filter.

Angular weights (short scans)
-----------------------------
For parallel beam the ray ``(theta + 180 deg, s)`` is the ray ``(theta, -s)``; for a derivative
sinogram the value also changes sign. Every projection is therefore folded onto ``[0, 180) deg``
in Fourier space: its spectrum at ``theta >= 180 deg`` is the complex conjugate of the spectrum at
``theta - 180 deg`` (which mirrors ``s`` and, for the derivative, flips its sign at the same
time), and projections are weighted so that every line direction gets a total weight of one
angular step (:func:`angular_weights`): 360 deg scans half each, a short scan (180 + e deg, e.g.
MAAST's 185 deg) Parker-type ``sin^2``/``cos^2`` ramps over the doubly measured ``e`` at both
ends, so that the two measurements of a line always sum to one.

Algorithm (``backend="numpy"``)
--------------------------------
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

``backend="astra"`` filters in numpy the same way and back-projects with astra-toolbox (``BP``
on the CPU or ``BP_CUDA``, linear interpolation). astra 2.x uses the rotation direction and
image orientation above with its axis at ``(cols - 1) / 2``; other axis positions are applied as
a Fourier shift of the filtered projections. (An FBP that indexes rows with y pointing down, as
some do, shows the slice flipped: the tests would catch it.) Timing: one 1024-wide slice from
1200 angles takes ~1 s on 2 CPU cores with the plan built (~0.2 s with it cached), against ~7 s
for astra's CPU FBP and ~15-20 s for ``iradon`` (``benchmarks/bench_fbp.py``).

Units
-----
Results are in the units of the sinogram per pixel: with ``-ln T`` the slice holds ``mu * v``
(``v`` the voxel size), see :func:`attenuation_per_m`; with the refraction angle ``alpha`` (rad)
and ``filter="hilbert"`` the slice holds ``delta`` itself (dimensionless), see
:func:`delta_from_dpc`.
"""

from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.fft
import scipy.sparse
import scipy.special
from numpy.typing import ArrayLike, NDArray

from gi_instrument.processing.truncation import (
    Container,
    derivative_coefficient,
    extend_projections,
    fit_container,
)

__all__ = [
    "Filter",
    "Backend",
    "Interpolation",
    "Padding",
    "Truncation",
    "fbp",
    "astra_reference_fbp",
    "angular_weights",
    "attenuation_per_m",
    "delta_from_dpc",
    "astra_available",
]

Filter = Literal["ramp", "hilbert"]
Backend = Literal["auto", "numpy", "astra"]
Interpolation = Literal["linear", "sinc"]
Padding = Literal["edge", "zero"]
Truncation = Literal["none", "cylinder"]

_OVERSAMPLING = 2
"""Cartesian grid / projection padding factor ``M / cols``; the de-apodisation assumes 2."""

_SLICE_BYTES = 160 * 2**20
"""Grid memory per batch of slices in a volume reconstruction."""


# --------------------------------------------------------------------------------------------
# angular weights


def angular_weights(angles_deg: ArrayLike) -> NDArray[np.float64]:
    """Quadrature weight (rad) of each projection; the weights of one line direction sum to a step.

    - Equidistant angles over ``k * 180 deg`` (180, 360, ...): ``180 deg / n`` each.
    - Equidistant over ``180 + e deg`` with ``0 < e < 180`` (short scan, e.g. 740 x 0.25 deg =
      185 deg): Parker-type weights. With ``t`` the angle from the scan start plus half a step
      (``0 < t < 180 + e``): ``w = sin^2(pi t / (2 e))`` for ``t < e``,
      ``w = cos^2(pi (t - 180) / (2 e))`` for ``t > 180``, else 1, times the step. The two
      measurements of a line (``t`` and ``t + 180``) sum to one step, smoothly.
    - Equidistant over less than 180 deg: one step each (limited angle; a warning).
    - Otherwise: each projection gets half the gap to its neighbours on the 180-deg circle of line
      directions (equal directions share).

    The weights sum to pi (limited-angle scans: to the scanned range).
    """
    theta = np.deg2rad(np.asarray(angles_deg, dtype=np.float64).ravel())
    n = theta.size
    if n == 0:
        raise ValueError("no angles")
    if n == 1:
        return np.array([np.pi])
    order = np.argsort(theta, kind="stable")
    diffs = np.diff(theta[order])
    step = float(np.median(diffs))
    uniform = step > 0 and np.all(np.abs(diffs - step) <= 1e-3 * step)
    if uniform:
        span = n * step
        k = span / np.pi
        if k < 1 - 1e-6:
            warnings.warn(f"scan covers {np.rad2deg(span):.2f} deg < 180 deg: limited-angle "
                          "reconstruction", stacklevel=3)
            return np.full(n, step)
        if abs(k - round(k)) <= 1e-6 or k > 2:
            return np.full(n, step / k)
        eps = span - np.pi
        t = theta - theta[order[0]] + step / 2
        w = np.ones(n)
        lo = t < eps
        hi = t > np.pi
        w[lo] = np.sin(np.pi * t[lo] / (2 * eps)) ** 2
        w[hi] = np.cos(np.pi * (t[hi] - np.pi) / (2 * eps)) ** 2
        return w * step
    phi = np.mod(theta, np.pi)
    order = np.argsort(phi, kind="stable")
    ps = phi[order]
    gaps = np.diff(np.concatenate([ps, ps[:1] + np.pi]))
    w_sorted = 0.5 * (gaps + np.roll(gaps, 1))
    w = np.empty(n)
    w[order] = w_sorted
    return w


# --------------------------------------------------------------------------------------------
# filters


def _kernel_response(kind: str, m_pad: int) -> NDArray[np.complex128]:
    """rfft (length ``m_pad``) of the sampled, band-limited real-space filter kernel.

    Lags ``|n| < m_pad / 2`` only, so that the FFT computes the exact linear convolution over a
    projection of ``<= m_pad / 2`` samples (no wrapped tails: Kak and Slaney, ch. 3.3).

    - ramp (Ram-Lak): ``h(0) = 1/4``, ``h(n) = -1 / (pi n)^2`` for odd ``n``, else 0;
    - Hilbert for a derivative (``-i sign(w) / (2 pi)``): ``h(n) = 1 / (pi^2 n)`` for odd ``n``,
      else 0. Sampling ``-i sign(w) / (2 pi)`` directly on the FFT grid would wrap this
      slowly-decaying kernel and offset the reconstruction by a constant.
    """
    n = np.fft.fftfreq(m_pad, 1.0 / m_pad)
    h = np.zeros(m_pad)
    odd = (np.abs(n) % 2 == 1) & (np.abs(n) < m_pad / 2)
    if kind == "ramp":
        h[0] = 0.25
        h[odd] = -1.0 / (np.pi * n[odd]) ** 2
    elif kind == "hilbert":
        h[odd] = 1.0 / (np.pi**2 * n[odd])
    elif kind == "identity":  # projections filtered beforehand (truncation correction)
        h[0] = 1.0
    else:
        raise ValueError(f"unknown filter {kind!r} (ramp, hilbert)")
    return np.fft.rfft(h)


def _window(name: str | None, freq: NDArray[np.float64]) -> NDArray[np.float64]:
    """Apodisation of the filter; ``freq`` in cycles/pixel (0 .. 0.5)."""
    if name is None or name == "none":
        return np.ones_like(freq)
    if name == "hann":
        return 0.5 * (1 + np.cos(2 * np.pi * freq))
    if name == "shepp-logan":
        return np.sinc(freq)
    raise ValueError(f"unknown window {name!r} (none, hann, shepp-logan)")


def _filter_response(
    kind: str, cols: int, m_pad: int, window: str | None, interpolation: str = "sinc"
) -> NDArray[np.complex128]:
    """Filter on rfft bins ``m = 0 .. cols - 1`` of the padded projection (Nyquist dropped)."""
    freq = np.arange(cols) / m_pad
    if interpolation == "linear":
        interp = np.sinc(freq) ** 2
    elif interpolation == "sinc":
        interp = np.ones_like(freq)
    else:
        raise ValueError(f"unknown interpolation {interpolation!r} (linear, sinc)")
    h = _kernel_response(kind, m_pad)[:cols]
    return h * _window(window, freq) * interp


# --------------------------------------------------------------------------------------------
# Fourier gridding


def _kaiser_bessel_beta(width: int, oversampling: float = _OVERSAMPLING) -> float:
    """Beatty et al. (2005) eq. 5: the KB shape parameter for a kernel of ``width`` cells."""
    return float(np.pi * np.sqrt((width / oversampling) ** 2 * (oversampling - 0.5) ** 2 - 0.8))


def _kb_hat(t: NDArray[np.float64], width: int, beta: float) -> NDArray[np.float64]:
    """Fourier transform of ``I0(beta sqrt(1 - (2 v / width)^2))`` at ``t`` cycles per cell."""
    z = np.sqrt((beta**2 - (np.pi * width * t) ** 2).astype(np.complex128))
    return np.real(width * np.sinh(z) / z)


@dataclass(frozen=True)
class _Plan:
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
def _plan(theta_key: bytes, cols: int, width: int) -> _Plan:
    theta = np.frombuffer(theta_key, dtype=np.float64)
    m_grid = _OVERSAMPLING * cols
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
    return _Plan(cols, m_grid, len(uniq), order, starts, flipped, spread, deapod,
                 rows_idx, cols_idx)


def _pad(sino: NDArray[np.floating], m_pad: int, padding: str) -> NDArray[np.floating]:
    """Pad ``(angles, cols, ...)`` to ``m_pad`` columns: zeros, or each edge's value.

    ``"edge"``: the first half of the padding repeats the last column, the second half the first
    column, so the periodic signal the FFT sees has no jump at either edge of the detector (a
    projection truncated by the field of view continues flat instead of dropping to zero).
    """
    cols = sino.shape[1]
    if padding == "zero":
        return sino if cols == m_pad else np.concatenate(
            [sino, np.zeros((sino.shape[0], m_pad - cols) + sino.shape[2:], sino.dtype)], axis=1)
    if padding != "edge":
        raise ValueError(f"unknown padding {padding!r} (zero, edge)")
    out = np.empty((sino.shape[0], m_pad) + sino.shape[2:], dtype=sino.dtype)
    half = cols + (m_pad - cols) // 2
    out[:, :cols] = sino
    out[:, cols:half] = sino[:, -1:]
    out[:, half:] = sino[:, :1]
    return out


def _coefficients(
    sino: NDArray[np.floating],
    theta: NDArray[np.float64],
    weights: NDArray[np.float64],
    response: NDArray[np.complex128],
    center_px: float,
    plan: _Plan,
    workers: int,
    padding: str = "zero",
) -> NDArray[np.complex64]:
    """Gridding coefficients ``(n_fold, cols, *batch)`` of sinograms ``(angles, cols, *batch)``."""
    cols, m_pad = plan.cols, plan.m_grid
    spec = scipy.fft.rfft(_pad(sino, m_pad, padding), axis=1, workers=workers)[:, :cols]
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


def _grid_slices(coef: NDArray[np.complex64], plan: _Plan, workers: int) -> NDArray[np.float32]:
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


def _filtered_extension(
    part: NDArray[np.floating],
    kind: str,
    theta: NDArray[np.float64],
    container: Container,
    center_px: float,
    coefficient: float | None,
    workers: int,
) -> NDArray[np.float32]:
    """Projections ``(angles, cols, batch)`` continued with the container beyond the field
    (:func:`~gi_instrument.processing.truncation.extend_projections`), filtered over the extended
    detector (zero-padded to at least twice its length: an exact linear convolution with the
    sampled kernel) and cropped back to the field."""
    cols = part.shape[1]
    ext, n_left = extend_projections(part, theta, container, center_px,
                                     derivative=kind == "hilbert", coefficient=coefficient)
    m_pad = scipy.fft.next_fast_len(2 * ext.shape[1], real=True)
    h = _kernel_response(kind, m_pad).astype(np.complex64)
    spec = scipy.fft.rfft(ext.astype(np.float32), n=m_pad, axis=1, workers=workers)
    filt = scipy.fft.irfft(spec * h[None, :, None], n=m_pad, axis=1, workers=workers)
    return np.ascontiguousarray(filt[:, n_left:n_left + cols], dtype=np.float32)


# --------------------------------------------------------------------------------------------
# astra backend


@functools.cache
def astra_available(cuda: bool = False) -> bool:
    """True if astra-toolbox imports (and, with ``cuda``, has a usable GPU)."""
    try:
        import astra  # noqa: PLC0415
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return False
    if not cuda:
        return True
    try:
        return bool(astra.use_cuda())
    except Exception:  # noqa: BLE001
        return False


def _astra_slices(
    sino: NDArray[np.floating],
    theta: NDArray[np.float64],
    weights: NDArray[np.float64],
    response: NDArray[np.complex128],
    center_px: float,
    workers: int,
    padding: str = "zero",
) -> NDArray[np.float32]:
    """Same filter in numpy, back-projection by astra; ``sino`` is (angles, cols, batch)."""
    import astra  # noqa: PLC0415

    n_ang, cols, batch = sino.shape
    m_pad = _OVERSAMPLING * cols
    spec = scipy.fft.rfft(_pad(sino, m_pad, padding), axis=1, workers=workers)
    h = np.zeros(m_pad // 2 + 1, dtype=np.complex128)
    h[:cols] = response
    # astra puts the rotation axis at (cols - 1) / 2: shift the filtered projection there
    shift = center_px - (cols - 1) / 2
    w = np.arange(m_pad // 2 + 1) / m_pad
    factor = h * np.exp(2j * np.pi * w * shift)
    filt = scipy.fft.irfft(spec * factor[None, :, None], n=m_pad, axis=1, workers=workers)
    filt = (filt[:, :cols] * weights[:, None, None]).astype(np.float32)
    use_cuda = astra_available(cuda=True)
    vol_geom = astra.create_vol_geom(cols, cols)
    # astra 2.x: rotation axis at the detector centre, angles and image orientation as here
    proj_geom = astra.create_proj_geom("parallel", 1.0, cols, theta)
    proj_id = None if use_cuda else astra.create_projector("linear", proj_geom, vol_geom)
    out = np.empty((batch, cols, cols), dtype=np.float32)
    for b in range(batch):
        sid = astra.data2d.create("-sino", proj_geom, filt[:, :, b])
        rid = astra.data2d.create("-vol", vol_geom, 0.0)
        cfg = astra.astra_dict("BP_CUDA" if use_cuda else "BP")
        cfg["ProjectionDataId"] = sid
        cfg["ReconstructionDataId"] = rid
        if proj_id is not None:
            cfg["ProjectorId"] = proj_id
        alg = astra.algorithm.create(cfg)
        try:
            astra.algorithm.run(alg)
            out[b] = astra.data2d.get(rid)
        finally:
            astra.algorithm.delete(alg)
            astra.data2d.delete([sid, rid])
    if proj_id is not None:
        astra.projector.delete(proj_id)
    return out


# --------------------------------------------------------------------------------------------
# public entry point


def fbp(
    sinogram: ArrayLike,
    angles_deg: ArrayLike,
    filter: Filter = "ramp",  # noqa: A002 - the contract's name
    *,
    center_px: float | None = None,
    backend: Backend = "auto",
    window: str | None = None,
    interpolation: Interpolation = "linear",
    padding: Padding = "edge",
    truncation: Truncation = "none",
    container: Container | None | Literal["fit"] = "fit",
    kernel_width: int = 5,
    workers: int | None = None,
    out: Any = None,
) -> NDArray[np.float32]:
    """Filtered back-projection of a sinogram (angles, cols) or a stack (angles, rows, cols).

    Args:
        sinogram: line integrals (``filter="ramp"``: ``-ln T``, ``-ln D``) or their derivative
            along the detector column (``filter="hilbert"``: DPC or refraction angle), one row
            per angle; a 3-D stack holds one sinogram per detector row.
        angles_deg: rotation angle of each projection, deg (any range: 180, 185, 360 deg, ...).
        filter: ``"ramp"`` or ``"hilbert"`` (module docstring).
        center_px: detector column of the rotation axis (default ``(cols - 1) / 2``, sub-pixel
            allowed).
        backend: ``"numpy"`` (Fourier gridding, default), ``"astra"`` (numpy filter + astra
            back-projection, CPU or CUDA), ``"auto"`` (astra when it has a GPU, else numpy: the
            gridding is faster than astra's CPU back-projection).
        window: filter apodisation: ``None``, ``"hann"`` or ``"shepp-logan"``.
        padding: how projections are extended to ``2 cols`` before filtering: ``"edge"``
            (default: each side continues with its edge value, which limits the cupping and
            offset when the object is wider than the field of view, as the formalin container
            is; identical to zeros when the projections end at zero) or ``"zero"``.
        interpolation: how the filtered projection is read between detector samples:
            ``"linear"`` (default: the response of a textbook / astra / skimage FBP with linear
            interpolation, applied as its transfer function ``sinc^2(w)``) or ``"sinc"``
            (band-limited, sharper, a little more ringing at edges). With the astra backend
            ``"linear"`` is astra's own interpolation.
        truncation: ``"none"`` (default) or ``"cylinder"``: projections truncated by the field
            of view (the object, e.g. the formalin container, wider than the detector) are
            continued with the container's cylinder to zero and filtered over the extended
            detector (:mod:`gi_instrument.processing.truncation`: Hsieh et al., Med. Phys. 31
            (2004) 2385). ``padding`` then applies to the filtered projections only.
            ``gi-process`` uses ``"cylinder"`` for ``mu`` and ``delta`` by default.
        container: with ``truncation="cylinder"``: ``"fit"`` (default) fits the container to
            this sinogram's edges (ramp filter only); a
            :class:`~gi_instrument.processing.truncation.Container`, e.g.
            :func:`~gi_instrument.processing.truncation.fit_container` of the ``-ln T``
            sinogram of the same rows (needed for ``"hilbert"``: a derivative's edges do not
            fix the container's size); ``None`` (what ``fit_container`` returns when the edges
            show no object) reconstructs as ``truncation="none"``. Only a given container's
            geometry is used: each side of a line integral is scaled to its measured edge, and
            for ``"hilbert"`` the container's ``delta`` is fitted to the edges of ``sinogram``.
        kernel_width: Kaiser-Bessel kernel width in grid cells (numpy backend); 4 gives ~1e-3,
            5 ~1e-4, 6 ~1e-5 relative accuracy (against the exact trigonometric sum).
        workers: threads for the FFTs (default: all CPUs).
        out: where to write the result (an array, ``numpy.memmap`` or ``h5py`` dataset of the
            output shape); a stack is read and written a slab of rows at a time, so a volume
            larger than memory streams from a memory-mapped sinogram stack to ``out``.

    Returns:
        float32 slice ``(cols, cols)`` or volume ``(rows, cols, cols)`` (``out`` if given), in
        sinogram units per pixel (``mu * voxel`` for ``-ln T``; ``delta`` for the refraction
        angle in rad).
    """
    sino = sinogram if hasattr(sinogram, "shape") and hasattr(sinogram, "dtype") else (
        np.asarray(sinogram))
    if len(sino.shape) not in (2, 3):
        raise ValueError(f"sinogram must be (angles, cols) or (angles, rows, cols), got "
                         f"{sino.shape}")
    theta = np.deg2rad(np.asarray(angles_deg, dtype=np.float64).ravel())
    if theta.size != sino.shape[0]:
        raise ValueError(f"{theta.size} angles for {sino.shape[0]} projections")
    cols = sino.shape[-1]
    center = (cols - 1) / 2 if center_px is None else float(center_px)
    workers = workers or os.cpu_count() or 1
    if backend == "auto":
        backend = "astra" if astra_available(cuda=True) else "numpy"
    if backend not in ("numpy", "astra"):
        raise ValueError(f"unknown backend {backend!r} (auto, numpy, astra)")
    if backend == "astra" and not astra_available():
        raise ImportError("backend='astra' needs astra-toolbox (pip install gi-instrument[astra])")
    if backend == "astra" and interpolation != "linear":
        raise ValueError("backend='astra' interpolates linearly")
    coefficient = None
    if truncation == "cylinder":
        if isinstance(container, str):
            if container != "fit":
                raise ValueError(f"unknown container {container!r} (a Container, None, 'fit')")
            if filter != "ramp":
                raise ValueError("truncation='cylinder' with the Hilbert filter needs the "
                                 "container: container=fit_container(-ln T sinogram, angles)")
            container = fit_container(sino, np.rad2deg(theta), center_px=center)
        if container is not None and filter == "hilbert":
            coefficient = derivative_coefficient(sino, np.rad2deg(theta), container,
                                                 center_px=center)
    elif truncation == "none":
        container = None
    else:
        raise ValueError(f"unknown truncation {truncation!r} (none, cylinder)")

    volume = len(sino.shape) == 3
    batch = sino.shape[1] if volume else 1
    weights = angular_weights(np.rad2deg(theta))
    response = _filter_response("identity" if container is not None else filter, cols,
                                _OVERSAMPLING * cols, window,
                                interpolation if backend == "numpy" else "sinc")
    if out is None:
        out = np.empty((batch, cols, cols) if volume else (cols, cols), dtype=np.float32)
    elif tuple(out.shape) != ((batch, cols, cols) if volume else (cols, cols)):
        raise ValueError(f"out has shape {tuple(out.shape)}, need "
                         f"{(batch, cols, cols) if volume else (cols, cols)}")
    if backend == "numpy":
        plan = _plan(theta.tobytes(), cols, int(kernel_width))
        chunk = max(1, min(batch, _SLICE_BYTES // (plan.m_grid**2 * 8 * 3)))
    else:
        chunk = min(batch, 16)
    for b0 in range(0, batch, chunk):
        rows = slice(b0, min(b0 + chunk, batch))
        # (angles, cols, batch); only this slab of a memory-mapped / HDF5 stack is read
        part = np.asarray(sino[:, rows] if volume else sino)
        part = np.moveaxis(part, 1, 2) if volume else part[:, :, None]
        if not np.issubdtype(part.dtype, np.floating):
            part = part.astype(np.float32)
        if not np.all(np.isfinite(part)):
            where = f" (rows {rows.start}..{rows.stop - 1})" if volume else ""
            raise ValueError(f"sinogram holds non-finite values{where}")
        if container is not None:
            part = _filtered_extension(part, filter, theta, container, center, coefficient,
                                       workers)
        if backend == "numpy":
            coef = _coefficients(part, theta, weights, response, center, plan, workers, padding)
            slices = _grid_slices(coef, plan, workers)
        else:
            slices = _astra_slices(part, theta, weights, response, center, workers, padding)
        if volume:
            out[rows] = slices
        else:
            out[...] = slices[0]
    return out


# --------------------------------------------------------------------------------------------
# physical units


def attenuation_per_m(slice_px: ArrayLike, voxel_um: float) -> NDArray[np.floating]:
    """Linear attenuation ``mu`` in 1/m from a ramp-FBP of ``-ln T`` (1/pixel).

    ``-ln T = integral mu dl``; in pixel units the FBP returns ``mu * v`` with ``v`` the voxel
    size, so ``mu [1/m] = slice / (voxel_um * 1e-6)``. The same holds for the dark-field
    (``-ln D``): the linear diffusion coefficient in 1/m.
    """
    s = np.asarray(slice_px)
    return s / s.dtype.type(voxel_um * 1e-6) if s.dtype.kind == "f" else s / (voxel_um * 1e-6)


def delta_from_dpc(
    dpc_sinogram_rad: ArrayLike,
    angles_deg: ArrayLike,
    period_um: float,
    g1_g2_cm: float,
    **fbp_kwargs: object,
) -> NDArray[np.float32]:
    """Refractive-index decrement ``delta`` (dimensionless) from a DPC sinogram (rad).

    Units, step by step (``v`` the voxel size at the sample in m, ``u`` the detector coordinate
    in pixels, ``x = v u`` the transverse coordinate at the sample in m):

    - refraction angle ``alpha = p2 * dpc / (2 pi d)`` in rad, with ``p2`` the G2 period (m) and
      ``d`` the G1-G2 distance (m): :func:`gi_instrument.processing.retrieval.refraction_angle_rad`;
    - ``alpha = d/dx Phi`` with ``Phi(x) = integral delta dl`` (m) the delta projection;
    - in pixel units the projection is ``P(u) = Phi / v`` (``integral delta dl_px``), so
      ``dP/du = (dPhi/dx) (dx/du) / v = alpha``: the refraction-angle sinogram is already the
      derivative of the pixel-unit projection;
    - the Hilbert FBP of ``dP/du`` returns the object whose pixel-unit projection is ``P``,
      i.e. ``delta`` itself: ``delta = FBP_hilbert[alpha]``, no voxel factor. (Equivalently the
      FBP of ``alpha * v`` gives ``delta * v`` in m per pixel.)

    Args:
        dpc_sinogram_rad: differential phase ``wrap(phi_s - phi_r)``, (angles, cols) or
            (angles, rows, cols), rad.
        angles_deg: projection angles, deg.
        period_um: G2 period p2, um.
        g1_g2_cm: G1-G2 distance d, cm.
        fbp_kwargs: passed to :func:`fbp` (``center_px``, ``backend``, ``out``, ...). With the
            container wider than the field, ``truncation="cylinder"`` and ``container=``
            :func:`~gi_instrument.processing.truncation.fit_container` of the ``-ln T`` sinogram
            of the same rows (as ``gi-process`` does by default) continue the phase projections
            with the container; its ``delta`` is fitted to the refraction angle at the edges.
    """
    from gi_instrument.processing.retrieval import refraction_angle_rad  # noqa: PLC0415

    alpha = refraction_angle_rad(np.asarray(dpc_sinogram_rad), period_um, g1_g2_cm)
    return fbp(alpha, angles_deg, "hilbert", **fbp_kwargs)  # type: ignore[arg-type]


def astra_reference_fbp(sinogram: NDArray[np.floating], angles_deg: NDArray[np.floating],
                        filter_type: str = "ram-lak") -> NDArray[np.float32]:
    """astra-toolbox's own CPU FBP, unmodified (parallel beam, linear projector), for comparisons
    in tests and benchmarks: sinogram (angles, cols) -> slice (cols, cols). Needs astra."""
    import astra  # noqa: PLC0415

    n = sinogram.shape[1]
    vol = astra.create_vol_geom(n, n)
    proj = astra.create_proj_geom("parallel", 1.0, n, np.deg2rad(np.asarray(angles_deg, dtype=np.float64)))
    pid = astra.create_projector("linear", proj, vol)
    sid = astra.data2d.create("-sino", proj, np.asarray(sinogram, dtype=np.float32))
    rid = astra.data2d.create("-vol", vol, 0.0)
    cfg = astra.astra_dict("FBP")
    cfg.update(ProjectorId=pid, ProjectionDataId=sid, ReconstructionDataId=rid)
    cfg["option"] = {"FilterType": filter_type}
    alg = astra.algorithm.create(cfg)
    try:
        astra.algorithm.run(alg)
        return astra.data2d.get(rid).astype(np.float32)  # astra normalises for the angular range
    finally:
        astra.algorithm.delete(alg)
        astra.data2d.delete([sid, rid])
        astra.projector.delete(pid)
