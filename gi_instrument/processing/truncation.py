"""Truncation correction: continue projections cut by the field of view with the sample container.

The problem
-----------
The specimens sit in a formalin-filled cylinder wider than the field of view (the paper's 3.5 cm
tube against ~1.7 cm of detector at the sample with MAAST), so every projection is cut at both
edges while the container's projection is still far from zero there (the interior problem). The
ramp filter's kernel decays like ``1/n^2`` and edge padding keeps ``mu`` within ~10-40 % of the
container's value; the Hilbert kernel of the DPC (refraction-angle) sinogram decays like ``1/n``
and the missing tails leave a bowl of ~40-60 % in ``delta``.

Method
------
Cylinder extrapolation after Hsieh et al., "A novel reconstruction algorithm to extend the CT scan
field-of-view", Med. Phys. 31 (2004) 2385: where a projection is truncated, it is continued with
the projection of a cylinder of the container's material matched to the measured edge, down to
zero where the cylinder ends, and the extended projection is filtered over the extended detector
(:func:`gi_instrument.processing.reconstruction.parallel.fbp` with ``truncation="cylinder"``). Hsieh fits a water
cylinder to each view's edge value and slope separately; here the container *is* one cylinder
seen by every view, so its circle in the slice plane (centre ``(x, y)`` relative to the rotation
axis, radius ``R``, coefficient ``c`` = line integral per pixel of path) is fitted once to the
edge windows of all views of the ``-ln T`` sinogram (:func:`fit_container`): its centre is seen at
``x0 = x cos(theta) + y sin(theta)``, its projection is ``c * 2 sqrt(R^2 - (s - x0)^2)``. Pooling
the views makes the fit robust to the noise of the few edge columns (behind 3.5 cm of formalin
``T`` is ~6 %), where a per-view slope would be mostly noise. Nothing about the container comes
from the caller: its geometry and ``mu`` are estimated from the ``-ln T`` edges, its ``delta``
from the refraction angle at the edges given that geometry.

Continuation (:func:`extend_projections`), for each view and detector row:

- line integrals (``-ln T``, ramp filter): each side continues with the circle's chord profile
  (pixel averages), scaled by a least-squares fit to that side's edge window, so the extension
  meets the measured edge (Hsieh's continuity condition) and follows the container's slope.
- derivative (refraction angle, Hilbert filter): the phase projection ``P`` (``delta`` per pixel
  of path) is the integral of ``alpha`` along the column up to a constant ``C``. The container
  fixes it: at the field's left boundary ``P = C`` should equal ``delta_c m_L`` and at the right
  boundary ``P = C + I`` (``I`` the sum of ``alpha`` over the row) should equal ``delta_c m_R``
  (``m`` the circle's chord, ``delta_c`` the container's delta fitted to the edge windows of
  ``alpha`` over all views and rows); ``C`` is their least-squares value. Outside the field ``P``
  continues as the chord scaled to ``C`` on the left and to ``C + I`` on the right, and the
  extension of ``alpha`` is its pixel-averaged derivative (differences of ``P`` at pixel
  boundaries, as the refraction angle is measured), so that ``alpha`` sums to zero over the
  extended row: the extended phase projection is continuous and ends at zero on both sides.
  Filtering this extended derivative with the Hilbert filter is the ramp filter of the extended
  phase projection (``Hilbert(dP/ds) = ramp(P)``), with the same filter and resolution as the
  untruncated path.

The tissue block must lie inside the field where the edge windows are (``edge_px`` columns at
each side): the model is the container alone there. Where the specimen reaches the edge in some
rows, the fits (a median over rows, a robust loss over views) follow the container in the others.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.optimize
from numpy.typing import ArrayLike, NDArray

__all__ = ["Container", "edge_width_px", "fit_container", "extend_projections",
           "derivative_coefficient"]

_MAX_FIT_ANGLES = 720
"""Views used by the container fit (evenly subsampled above this)."""


def edge_width_px(cols: int) -> int:
    """Default width of the edge windows the container is fitted to: ``cols / 32``, at least 4."""
    return max(4, cols // 32)


@dataclass(frozen=True)
class Container:
    """A cylinder along the rotation axis direction, in one slice's pixel coordinates.

    Coordinates as in :mod:`gi_instrument.processing.reconstruction.parallel` (``x`` right, ``y`` up, relative to the
    rotation axis; the detector coordinate is ``s = col - center_px``).
    """

    x_px: float
    """Centre, x (px from the rotation axis)."""
    y_px: float
    """Centre, y (px from the rotation axis)."""
    radius_px: float
    """Radius, px."""
    coefficient: float
    """Line integral per pixel of path of the sinogram it was fitted to (``mu v`` for ``-ln T``)."""

    def offsets_px(self, theta: NDArray[np.float64]) -> NDArray[np.float64]:
        """Detector coordinate ``s`` (px) of the centre in each view (rad)."""
        return self.x_px * np.cos(theta) + self.y_px * np.sin(theta)

    def chords_px(self, theta: NDArray[np.float64], s: NDArray[np.float64]) -> NDArray[np.float64]:
        """Chord length (px) at detector coordinates ``s`` (px), (views, len(s))."""
        u = s[None, :] - self.offsets_px(theta)[:, None]
        return 2 * np.sqrt(np.clip(self.radius_px**2 - u**2, 0, None))

    def pixel_chords_px(self, theta: NDArray[np.float64], s: NDArray[np.float64]
                        ) -> NDArray[np.float64]:
        """Mean chord length (px) over the pixels centred at ``s`` (px wide), (views, len(s))."""
        u = s[None, :] - self.offsets_px(theta)[:, None]
        return _chord_integral(u + 0.5, self.radius_px) - _chord_integral(u - 0.5, self.radius_px)

    def extension_px(self, theta: NDArray[np.float64], cols: int, center_px: float
                     ) -> tuple[int, int]:
        """Pixels the circle reaches beyond the left and right field boundaries (max over views)."""
        x0 = self.offsets_px(theta)
        left = np.max(self.radius_px - x0) - (center_px + 0.5)
        right = np.max(x0 + self.radius_px) - (cols - 0.5 - center_px)
        return max(0, math.ceil(left)), max(0, math.ceil(right))


def _chord_integral(u: NDArray[np.float64], radius: float) -> NDArray[np.float64]:
    """Antiderivative of the chord ``2 sqrt(R^2 - u^2)`` (0 at the centre, constant outside)."""
    uc = np.clip(u, -radius, radius)
    return uc * np.sqrt(radius**2 - uc**2) + radius**2 * np.arcsin(uc / radius)


def _edge_columns(cols: int, edge_px: int) -> NDArray[np.intp]:
    return np.concatenate([np.arange(edge_px), np.arange(cols - edge_px, cols)])


def _edges(sinogram: Any, edge_px: int) -> NDArray[np.float64]:
    """Edge windows ``(views, 2 edge_px)``, median over rows of a stack (only they are read)."""
    left = np.asarray(sinogram[..., :edge_px], dtype=np.float64)
    right = np.asarray(sinogram[..., -edge_px:], dtype=np.float64)
    edges = np.concatenate([left, right], axis=-1)
    return np.median(edges, axis=1) if edges.ndim == 3 else edges


def _noise(edges: NDArray[np.float64]) -> float:
    """Per-pixel noise of the edge windows from neighbour differences (MAD)."""
    d = np.diff(edges, axis=-1)
    half = edges.shape[-1] // 2
    d = np.concatenate([d[:, : half - 1], d[:, half:]], axis=1)
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2))


def fit_container(
    line_integrals: ArrayLike,
    angles_deg: ArrayLike,
    *,
    center_px: float | None = None,
    edge_px: int | None = None,
) -> Container | None:
    """The container (cylinder) seen at the edges of a truncated line-integral sinogram.

    Fits ``c * mean chord`` of a circle (centre, radius, coefficient ``c``) to the ``edge_px``
    columns at both edges of every view (median over the rows of a stack), robust least squares
    (soft-L1 loss at the noise level). ``c`` is ``mu v`` (per pixel) for ``-ln T``.

    Args:
        line_integrals: ``-ln T`` sinogram (views, cols) or stack (views, rows, cols); only the
            edge columns are read.
        angles_deg: view angles, deg.
        center_px: detector column of the rotation axis (default ``(cols - 1) / 2``).
        edge_px: edge window width (default :func:`edge_width_px`).

    Returns:
        the fitted :class:`Container`, or ``None`` when the edges show no truncated object (their
        mean is within noise of zero), the detector is too narrow for the default edge windows
        (fewer than 16 columns), or the fit fails (a warning says why).
    """
    sino = line_integrals if hasattr(line_integrals, "shape") else np.asarray(line_integrals)
    cols = sino.shape[-1]
    if edge_px is None and cols < 16:
        return None
    w = edge_width_px(cols) if edge_px is None else int(edge_px)
    if not 2 <= w <= cols // 4:
        raise ValueError(f"edge_px = {w} must be 2 .. cols / 4 = {cols // 4}")
    center = (cols - 1) / 2 if center_px is None else float(center_px)
    theta = np.deg2rad(np.asarray(angles_deg, dtype=np.float64).ravel())
    edges = _edges(sino, w)
    if edges.shape[0] != theta.size:
        raise ValueError(f"{theta.size} angles for {edges.shape[0]} projections")
    pick = slice(None, None, max(1, -(-theta.size // _MAX_FIT_ANGLES)))
    edges, theta = edges[pick], theta[pick]
    s = _edge_columns(cols, w) - center
    sigma = _noise(edges)
    level = float(np.median(edges))
    if not level > 5 * sigma / np.sqrt(w):
        return None                                  # nothing at the edges: not truncated
    # start: a circle on the axis, p^2 = 4 c^2 (R^2 - s^2), fitted to the view-median edges
    p_med = np.median(edges, axis=0)
    slope, intercept = np.polyfit(s**2, np.clip(p_med, 0, None) ** 2, 1)
    r_min = np.max(np.abs(s)) + 1.0
    if slope < 0 and intercept > 0 and intercept / -slope > r_min**2:
        c0, r0 = np.sqrt(-slope) / 2, float(np.sqrt(intercept / -slope))
    else:
        r0 = 1.5 * r_min
        c0 = level / (2 * np.sqrt(r0**2 - (r_min - 1) ** 2))

    def residuals(q: NDArray[np.float64]) -> NDArray[np.float64]:
        model = Container(q[2], q[3], q[1], q[0]).pixel_chords_px(theta, s) * q[0]
        return (model - edges).ravel()

    scale = max(sigma, 1e-6 * abs(level))
    fit = scipy.optimize.least_squares(
        residuals, [c0, r0, 0.0, 0.0], loss="soft_l1", f_scale=scale, x_scale="jac",
        bounds=([0.0, 1.0, -np.inf, -np.inf], [np.inf, np.inf, np.inf, np.inf]))
    c, radius, x, y = (float(v) for v in fit.x)
    if not fit.success or c <= 0:
        warnings.warn(f"container fit failed ({fit.message}); no truncation correction",
                      stacklevel=2)
        return None
    container = Container(x, y, radius, c)
    if container.extension_px(theta, cols, center) == (0, 0):
        return None
    return container


def derivative_coefficient(
    derivative: ArrayLike,
    angles_deg: ArrayLike,
    container: Container,
    *,
    center_px: float | None = None,
    edge_px: int | None = None,
) -> float:
    """The container's coefficient in a derivative sinogram (``delta`` for the refraction angle).

    Least squares of the edge windows (median over rows) against the pixel-averaged derivative of
    the container's chord (differences at pixel boundaries), over all views.
    """
    sino = derivative if hasattr(derivative, "shape") else np.asarray(derivative)
    cols = sino.shape[-1]
    w = edge_width_px(cols) if edge_px is None else int(edge_px)
    center = (cols - 1) / 2 if center_px is None else float(center_px)
    theta = np.deg2rad(np.asarray(angles_deg, dtype=np.float64).ravel())
    edges = _edges(sino, w)
    s = _edge_columns(cols, w) - center
    model = container.chords_px(theta, s + 0.5) - container.chords_px(theta, s - 0.5)
    norm = float(np.sum(model**2))
    return float(np.sum(model * edges) / norm) if norm > 0 else 0.0


def extend_projections(
    sinogram: NDArray[np.floating],
    theta: NDArray[np.float64],
    container: Container,
    center_px: float,
    *,
    derivative: bool,
    coefficient: float | None = None,
    edge_px: int | None = None,
    max_extension_px: int | None = None,
) -> tuple[NDArray[np.float64], int]:
    """Continue truncated projections ``(views, cols, batch)`` with the container (module doc).

    Args:
        sinogram: line integrals (``derivative=False``) or their pixel-averaged derivative along
            the column (``derivative=True``), (views, cols, batch).
        theta: view angles, rad.
        container: the cylinder (:func:`fit_container`).
        center_px: detector column of the rotation axis.
        derivative: whether ``sinogram`` is a derivative (refraction angle).
        coefficient: the container's coefficient in a derivative sinogram
            (:func:`derivative_coefficient`); required with ``derivative``.
        edge_px: edge window width for the line-integral scale fit (default
            :func:`edge_width_px`).
        max_extension_px: at most this many pixels per side (default ``2 cols``; a circle reaching
            farther is cut there, with a warning).

    Returns:
        ``(extended, n_left)``: float64 ``(views, n_left + cols + n_right, batch)``; the measured
        columns are ``extended[:, n_left:n_left + cols]``, unchanged.
    """
    n_views, cols, batch = sinogram.shape
    w = edge_width_px(cols) if edge_px is None else int(edge_px)
    cap = 2 * cols if max_extension_px is None else int(max_extension_px)
    n_left, n_right = container.extension_px(theta, cols, center_px)
    if max(n_left, n_right) > cap:
        warnings.warn(f"the container reaches {max(n_left, n_right)} px beyond the field; "
                      f"extension cut at {cap} px", stacklevel=2)
        n_left, n_right = min(n_left, cap), min(n_right, cap)
    length = n_left + cols + n_right
    out = np.zeros((n_views, length, batch))
    field = slice(n_left, n_left + cols)
    out[:, field] = sinogram
    if not derivative:
        model = container.pixel_chords_px(theta, np.arange(length) - n_left - center_px)
        for window, outside in ((slice(n_left, n_left + w), slice(0, n_left)),
                                (slice(n_left + cols - w, n_left + cols), slice(n_left + cols, None))):
            m = model[:, window]
            norm = np.sum(m**2, axis=1)
            scale = np.einsum("vc,vcb->vb", m, out[:, window]) / np.where(norm > 0, norm, 1)[:, None]
            scale = np.where(norm[:, None] > 0, np.clip(scale, 0, None), 0.0)
            out[:, outside] = model[:, outside, None] * scale[:, None, :]
        return out, n_left
    if coefficient is None:
        raise ValueError("a derivative sinogram needs the container's coefficient")
    bounds = np.arange(length + 1) - n_left - center_px - 0.5   # pixel boundaries, s (px)
    chord = container.chords_px(theta, bounds)                  # (views, length + 1)
    m_left, m_right = chord[:, n_left], chord[:, n_left + cols]
    total = np.sum(sinogram, axis=1)                            # I: P(right) - P(left)
    level = 0.5 * (coefficient * (m_left + m_right)[:, None] - total)   # C = P(left boundary)
    for m_edge, start, side in ((m_left, level, slice(0, n_left + 1)),
                                (m_right, level + total, slice(n_left + cols, None))):
        gain = np.where((m_edge > 0)[:, None], start / np.where(m_edge > 0, m_edge, 1)[:, None],
                        0.0)
        phase = chord[:, side, None] * gain[:, None, :]          # P at the side's boundaries
        if side.start == 0:
            out[:, : n_left] = np.diff(phase, axis=1)
        else:
            out[:, n_left + cols:] = np.diff(phase, axis=1)
    return out, n_left
