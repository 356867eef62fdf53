"""Filters of filtered back-projection: ramp (Ram-Lak) and Hilbert, from their sampled kernels.

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
"""

from __future__ import annotations

import numpy as np
import scipy.fft
from numpy.typing import NDArray

__all__ = ["kernel_response", "window_response", "filter_response", "pad", "filter_projections"]


def kernel_response(kind: str, m_pad: int) -> NDArray[np.complex128]:
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


def window_response(name: str | None, freq: NDArray[np.float64]) -> NDArray[np.float64]:
    """Apodisation of the filter; ``freq`` in cycles/pixel (0 .. 0.5)."""
    if name is None or name == "none":
        return np.ones_like(freq)
    if name == "hann":
        return 0.5 * (1 + np.cos(2 * np.pi * freq))
    if name == "shepp-logan":
        return np.sinc(freq)
    raise ValueError(f"unknown window {name!r} (none, hann, shepp-logan)")


def filter_response(
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
    h = kernel_response(kind, m_pad)[:cols]
    return h * window_response(window, freq) * interp


def pad(sino: NDArray[np.floating], m_pad: int, padding: str) -> NDArray[np.floating]:
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


def filter_projections(
    sino: NDArray[np.floating], response: NDArray[np.complex128], m_pad: int, padding: str,
    shift_px: float, workers: int,
) -> NDArray[np.float32]:
    """Projections ``(angles, cols, batch)`` filtered in real space: padded to ``m_pad`` columns
    (:func:`pad`), multiplied by ``response`` (rfft bins ``0 .. cols - 1``, e.g.
    :func:`filter_response`) and moved by ``shift_px`` columns (a Fourier shift: a rotation axis
    at column ``(cols - 1) / 2 + shift_px`` ends up at the centre), cropped to ``cols``."""
    cols = sino.shape[1]
    spec = scipy.fft.rfft(pad(sino, m_pad, padding), axis=1, workers=workers)
    h = np.zeros(m_pad // 2 + 1, dtype=np.complex128)
    h[:cols] = response
    w = np.arange(m_pad // 2 + 1) / m_pad
    factor = (h * np.exp(2j * np.pi * w * shift_px)).astype(np.complex64)
    extra = (1,) * (spec.ndim - 2)
    filt = scipy.fft.irfft(spec * factor.reshape(factor.shape + extra), n=m_pad, axis=1,
                           workers=workers)
    return np.ascontiguousarray(filt[:, :cols], dtype=np.float32)
