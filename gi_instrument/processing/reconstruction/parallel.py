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
off-centre objects (a flip or transpose fails them). Fan and cone beams are rebinned to this
geometry (:mod:`~gi_instrument.processing.reconstruction.cone`).

Filters: ``"ramp"`` for line integrals, ``"hilbert"`` for their derivative along the column
(:mod:`~gi_instrument.processing.reconstruction.filters`). Angular weights:
:mod:`~gi_instrument.processing.reconstruction.weights`.

Truncation
----------
``truncation="cylinder"`` (:mod:`gi_instrument.processing.truncation`) continues projections
that the field of view cuts (the formalin container wider than the detector) with the
container's cylinder down to zero, filters them over the extended detector with the same
sampled kernels (zero-padded to twice the extended length) and crops the filtered projections
back to the field; the back-projection then runs with an identity filter.

Back-ends
---------
``backend="numpy"``: Fourier gridding
(:mod:`~gi_instrument.processing.reconstruction.gridding`). ``backend="astra"``: the same filter
in numpy, back-projection by astra-toolbox
(:mod:`~gi_instrument.processing.reconstruction.astra_backend`). Timing: one 1024-wide slice from
1200 angles takes ~1 s on 2 CPU cores with the plan built (~0.2 s with it cached), against ~7 s
for astra's CPU FBP and ~15-20 s for ``iradon`` (``benchmarks/bench_fbp.py``).

Units
-----
Results are in the units of the sinogram per pixel: with ``-ln T`` the slice holds ``mu * v``
(``v`` the voxel size), see :func:`~gi_instrument.processing.reconstruction.units.attenuation_per_m`;
with the refraction angle ``alpha`` (rad) and ``filter="hilbert"`` the slice holds ``delta``
itself (dimensionless), see :func:`~gi_instrument.processing.reconstruction.units.delta_from_dpc`.
"""

from __future__ import annotations

import os
from typing import Any, Literal

import numpy as np
import scipy.fft
from numpy.typing import ArrayLike, NDArray

from gi_instrument.processing.reconstruction.astra_backend import astra_available, astra_slices
from gi_instrument.processing.reconstruction.filters import (
    filter_projections,
    filter_response,
    kernel_response,
)
from gi_instrument.processing.reconstruction.gridding import (
    OVERSAMPLING,
    coefficients,
    grid_slices,
    make_plan,
)
from gi_instrument.processing.reconstruction.weights import angular_weights
from gi_instrument.processing.truncation import (
    Container,
    derivative_coefficient,
    extend_projections,
    fit_container,
)

__all__ = ["Filter", "Backend", "Interpolation", "Padding", "Truncation", "fbp",
           "filtered_projections"]

Filter = Literal["ramp", "hilbert"]
Backend = Literal["auto", "numpy", "astra"]
Interpolation = Literal["linear", "sinc"]
Padding = Literal["edge", "zero"]
Truncation = Literal["none", "cylinder"]

_SLICE_BYTES = 160 * 2**20
"""Grid memory per batch of slices in a volume reconstruction."""


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
    weights: ArrayLike | None = None,
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
        weights: quadrature weight of each projection, rad (default
            :func:`~gi_instrument.processing.reconstruction.weights.angular_weights`: every line
            direction once); the fan/cone path passes its own after rebinning.
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
    container, coefficient = _truncation_setup(sino, theta, filter, truncation, container, center)
    volume = len(sino.shape) == 3
    batch = sino.shape[1] if volume else 1
    weights = (angular_weights(np.rad2deg(theta)) if weights is None
               else np.asarray(weights, dtype=np.float64).ravel())
    if weights.size != theta.size:
        raise ValueError(f"{weights.size} weights for {theta.size} projections")
    response = filter_response("identity" if container is not None else filter, cols,
                                OVERSAMPLING * cols, window,
                                interpolation if backend == "numpy" else "sinc")
    if out is None:
        out = np.empty((batch, cols, cols) if volume else (cols, cols), dtype=np.float32)
    elif tuple(out.shape) != ((batch, cols, cols) if volume else (cols, cols)):
        raise ValueError(f"out has shape {tuple(out.shape)}, need "
                         f"{(batch, cols, cols) if volume else (cols, cols)}")
    if backend == "numpy":
        plan = make_plan(theta.tobytes(), cols, int(kernel_width))
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
            coef = coefficients(part, theta, weights, response, center, plan, workers, padding)
            slices = grid_slices(coef, plan, workers)
        else:
            slices = astra_slices(part, theta, weights, response, center, workers, padding)
        if volume:
            out[rows] = slices
        else:
            out[...] = slices[0]
    return out


def _truncation_setup(sino: Any, theta: NDArray[np.float64], filter: str,  # noqa: A002
                      truncation: str, container: Any, center: float,
                      ) -> tuple[Container | None, float | None]:
    """The container a truncated sinogram is continued with (``None``: no correction) and, for
    the Hilbert filter, its fitted coefficient (``fbp``'s ``truncation`` and ``container``)."""
    if truncation == "none":
        return None, None
    if truncation != "cylinder":
        raise ValueError(f"unknown truncation {truncation!r} (none, cylinder)")
    if isinstance(container, str):
        if container != "fit":
            raise ValueError(f"unknown container {container!r} (a Container, None, 'fit')")
        if filter != "ramp":
            raise ValueError("truncation='cylinder' with the Hilbert filter needs the "
                             "container: container=fit_container(-ln T sinogram, angles)")
        container = fit_container(sino, np.rad2deg(theta), center_px=center)
    coefficient = None
    if container is not None and filter == "hilbert":
        coefficient = derivative_coefficient(sino, np.rad2deg(theta), container, center_px=center)
    return container, coefficient


def filtered_projections(
    sinogram: Any,
    angles_deg: ArrayLike,
    filter: Filter = "ramp",  # noqa: A002 - as fbp
    *,
    weights: ArrayLike,
    center_px: float | None = None,
    window: str | None = None,
    padding: Padding = "edge",
    truncation: Truncation = "none",
    container: Container | None | Literal["fit"] = "fit",
    workers: int | None = None,
) -> NDArray[np.float32]:
    """The filtered projections of :func:`fbp` in real space, for a back-projection done
    elsewhere (the cone-beam FDK path, :mod:`~gi_instrument.processing.reconstruction.fdk`):
    ``(angles, rows, cols)`` float32, each projection times its quadrature weight ``weights``
    (rad) and moved so that the rotation axis sits at column ``(cols - 1) / 2``; the filter is
    the sampled kernel without an interpolation transfer function (the back-projector
    interpolates linearly). Arguments as :func:`fbp`."""
    sino = np.asarray(sinogram)
    if sino.ndim != 3:
        raise ValueError(f"sinogram must be (angles, rows, cols), got {sino.shape}")
    theta = np.deg2rad(np.asarray(angles_deg, dtype=np.float64).ravel())
    w = np.asarray(weights, dtype=np.float64).ravel()
    if not theta.size == w.size == sino.shape[0]:
        raise ValueError(f"{theta.size} angles and {w.size} weights for {sino.shape[0]} "
                         "projections")
    if not np.all(np.isfinite(sino)):
        raise ValueError("sinogram holds non-finite values")
    cols = sino.shape[-1]
    center = (cols - 1) / 2 if center_px is None else float(center_px)
    workers = workers or os.cpu_count() or 1
    container, coefficient = _truncation_setup(sino, theta, filter, truncation, container, center)
    part = np.moveaxis(sino.astype(np.float32, copy=False), 1, 2)  # (angles, cols, rows)
    if container is not None:
        part = _filtered_extension(part, filter, theta, container, center, coefficient, workers)
    response = filter_response("identity" if container is not None else filter, cols,
                               OVERSAMPLING * cols, window, "sinc")
    filt = filter_projections(part, response, OVERSAMPLING * cols, padding, center - (cols - 1) / 2,
                              workers)
    filt *= w.astype(np.float32)[:, None, None]
    return np.ascontiguousarray(np.moveaxis(filt, 2, 1))


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
    h = kernel_response(kind, m_pad).astype(np.complex64)
    spec = scipy.fft.rfft(ext.astype(np.float32), n=m_pad, axis=1, workers=workers)
    filt = scipy.fft.irfft(spec * h[None, :, None], n=m_pad, axis=1, workers=workers)
    return np.ascontiguousarray(filt[:, n_left:n_left + cols], dtype=np.float32)

