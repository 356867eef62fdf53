"""Detector noise of the stepping curves and the visibility (dark-field) bias it causes.

Noise model of one frame, per pixel, after dark subtraction (``m`` the mean signal, ADU)::

    var = g m + r^2

with ``g`` the gain, ADU per detected photon (Poisson noise of ``m / g`` photons, scaled by ``g^2``)
and ``r^2`` the read-noise variance, ADU^2. :func:`noise_from_scan` measures both from one stepping
scan of the flat field (a reference scan of the run): the residuals of the least-squares fit of
``N`` steps with 3 parameters have ``E[sum r_k^2] = (N - 3) var`` per pixel, and a straight line
fitted to ``sum r_k^2 / (N - 3)`` against the fitted mean ``a0`` over the frame gives ``g`` (slope)
and ``r^2`` (intercept): the photon transfer curve of detector characterisation, free of the fringe
drift between scans (give the measured G2 positions, or piezo jitter adds to the residuals).

Visibility bias. The first-harmonic amplitude ``A = sqrt(b^2 + c^2)`` of an ``N``-step fit has
Gaussian noise of variance ``s^2 = 2 var / N`` in each of ``b`` and ``c`` (equidistant steps: their
least-squares weights are ``(2 / N) cos``, ``(2 / N) sin``), so (Rice statistics, to first order in
``s^2 / A^2``) ``E[A^2] = A^2 + 2 s^2`` and ``E[A] = A + s^2 / (2 A)``: the visibility
``V = A / a0`` and the dark-field ``D = V_s / V_r`` are biased up where the counts are low (behind
calcifications, at short exposures). :meth:`AmplitudeNoise.corrected_amplitude` removes the bias of
``A`` (first order)::

    A_corrected = sqrt(max(A^2 - s^2, 0)),   s^2 = 2 (g a0 + r^2) / N,

since ``E[sqrt(A^2 - s^2)] = sqrt(A^2 + s^2) - s^2 / (2 A) = A + O(s^4 / A^3)``.
(``scale`` multiplies the variance, for an amplitude averaged from several scans.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gi_instrument.processing.retrieval import mean_dark, stepping_weights

__all__ = ["AmplitudeNoise", "noise_from_scan"]

_MIN_GAIN = 1e-6
"""Smallest gain, ADU per photon, taken as photon noise (below: noise-free or synthetic data)."""


@dataclass(frozen=True)
class AmplitudeNoise:
    """Noise of one frame (``var = gain * m + read_variance``) and of an ``steps``-step fit."""

    gain_adu_per_photon: float
    """ADU per detected photon, ``g``."""
    read_variance_adu2: float
    """Signal-independent variance of a pixel, ADU^2 (read noise, quantisation)."""
    steps: int
    """Phase steps per stepping scan, ``N``."""

    def component_variance_adu2(self, a0: NDArray, scale: float = 1.0) -> NDArray:
        """Variance ``s^2 = 2 scale (g a0 + r^2) / N``, ADU^2, of ``b`` and of ``c`` at mean ``a0``."""
        var = self.gain_adu_per_photon * np.maximum(a0, 0) + self.read_variance_adu2
        return (2.0 * scale / self.steps) * var

    def corrected_amplitude(self, amplitude: NDArray, a0: NDArray, scale: float = 1.0) -> NDArray:
        """``sqrt(max(A^2 - s^2, 0))`` (module docstring), same dtype as ``amplitude``."""
        s2 = self.component_variance_adu2(a0, scale).astype(amplitude.dtype, copy=False)
        return np.sqrt(np.maximum(amplitude * amplitude - s2, 0))


def noise_from_scan(scan: ArrayLike, dark: ArrayLike | None = None, positions_um: ArrayLike | None = None,
                    period_um: float | None = None) -> AmplitudeNoise:
    """Gain and read variance from one flat-field stepping scan (steps, rows, cols) of at least 4
    steps (module docstring); ``dark``: frame, stack or scalar; ``positions_um`` / ``period_um``: the
    measured G2 positions, as for :func:`~.retrieval.fit_stepping`."""
    stack = np.asarray(scan, dtype=np.float64)
    steps = stack.shape[0]
    if stack.ndim != 3 or steps < 4:
        raise ValueError(f"a stepping scan (steps >= 4, rows, cols) is needed, got shape {stack.shape}")
    weights = stepping_weights(steps, positions_um, period_um)
    coeffs = np.einsum("ik...,k...->i...", weights, stack)  # (3, rows, cols): a0 (with dark), b, c
    design = np.linalg.pinv(weights.reshape(3, steps, -1).mean(axis=2))  # (steps, 3)
    if positions_um is not None and np.ndim(positions_um) > 1:
        raise ValueError("noise_from_scan takes one set of positions (steps,) per scan")
    model = np.einsum("ki,i...->k...", design, coeffs)
    var = ((stack - model) ** 2).sum(axis=0) / (steps - 3)
    d = mean_dark(dark, np.float64)
    a0 = coeffs[0] - (0.0 if d is None else d)
    slope, intercept = np.polyfit(np.ravel(a0), np.ravel(var), 1)
    if not slope > _MIN_GAIN:
        raise ValueError(f"no photon noise found in the scan (slope {slope:g} ADU)")
    return AmplitudeNoise(float(slope), float(max(intercept, 0.0)), steps)
