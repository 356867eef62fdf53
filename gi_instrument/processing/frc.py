"""Fourier ring (2-D) / shell (3-D) correlation and the resolution it implies.

Convention (the only one used in this package):

- ``frc(a, b)`` correlates the Fourier transforms of two images (or volumes) of the same object
  with independent noise, e.g. the reconstructions of the even and of the odd projections of one
  scan (:func:`split_even_odd`, :func:`frc_even_odd`). Ring ``k`` holds the frequencies whose
  radius ``|f|`` (cycles per pixel, ``f_i`` from ``numpy.fft.fftfreq`` on each axis) rounds to
  ``k / n`` with ``n`` the smallest side; its frequency is ``k / n``, from 0 to Nyquist (0.5).
  ``FRC(k) = Re sum A B* / sqrt(sum |A|^2 sum |B|^2)`` over the ring.
- The resolution is the full period ``1 / f_c`` in pixels at the first crossing ``f_c`` of the
  threshold (0.5, as in the source paper: 14 um TLI, 18 um MAAST), linearly interpolated between
  rings: :func:`resolution_px`; in micrometres, times the voxel size: :func:`resolution_um`.
  (Some authors quote the half period ``1 / (2 f_c)``; this package never does.)
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "frc",
    "resolution_px",
    "resolution_um",
    "split_even_odd",
    "frc_even_odd",
    "plot_frc",
]


def _apodise(image: NDArray[np.float64], window: str | None) -> NDArray[np.float64]:
    if window is None or window == "none":
        return image
    if window != "hann":
        raise ValueError(f"unknown window {window!r} (none, hann)")
    for axis, n in enumerate(image.shape):
        shape = [1] * image.ndim
        shape[axis] = n
        image = image * np.hanning(n).reshape(shape)
    return image


def frc(
    image_a: ArrayLike, image_b: ArrayLike, *, window: str | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Fourier ring (2-D) or shell (3-D) correlation of two images of the same shape.

    Args:
        image_a, image_b: real images (rows, cols) or volumes (planes, rows, cols).
        window: ``None`` or ``"hann"`` (apodise both before the FFT, against edge leakage when
            the object touches the border).

    Returns:
        ``(freq, corr)``: ring frequencies in cycles per pixel (``k / n``, ``k = 0 .. n // 2``,
        ``n`` the smallest side) and the correlation per ring (``corr[0]`` is the mean term).
        Rings without energy in either image have correlation 0.
    """
    a = np.asarray(image_a, dtype=np.float64)
    b = np.asarray(image_b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.ndim not in (2, 3) or min(a.shape) < 4:
        raise ValueError(f"need a 2-D or 3-D array of at least 4 pixels a side, got {a.shape}")
    a = _apodise(a, window)
    b = _apodise(b, window)
    fa = np.fft.rfftn(a)
    fb = np.fft.rfftn(b)
    n = min(a.shape)
    radius2 = np.zeros(fa.shape)
    for axis, size in enumerate(a.shape):
        f = np.fft.rfftfreq(size) if axis == a.ndim - 1 else np.fft.fftfreq(size)
        shape = [1] * a.ndim
        shape[axis] = f.size
        radius2 = radius2 + (f**2).reshape(shape)
    ring = np.rint(np.sqrt(radius2) * n).astype(np.intp)
    # the half spectrum holds every frequency pair once: count them twice, except the planes
    # that are their own mirror (last-axis bin 0 and, for an even side, Nyquist)
    weight = np.full(fa.shape[-1], 2.0)
    weight[0] = 1.0
    if a.shape[-1] % 2 == 0:
        weight[-1] = 1.0
    keep = ring <= n // 2
    idx = ring[keep]
    w = np.broadcast_to(weight, fa.shape)[keep]
    n_rings = n // 2 + 1
    cross = np.bincount(idx, w * np.real(fa * np.conj(fb))[keep], n_rings)
    pa = np.bincount(idx, w * np.abs(fa[keep]) ** 2, n_rings)
    pb = np.bincount(idx, w * np.abs(fb[keep]) ** 2, n_rings)
    denom = np.sqrt(pa * pb)
    corr = np.divide(cross, denom, out=np.zeros(n_rings), where=denom > 0)
    freq = np.arange(n_rings) / n
    return freq, corr


def resolution_px(
    freq: ArrayLike, corr: ArrayLike, threshold: float = 0.5
) -> float:
    """Resolution ``1 / f_c`` in pixels, ``f_c`` the first crossing of ``threshold`` (>= ring 1).

    The crossing is interpolated linearly between the last ring at or above the threshold and
    the first below it. If the curve never drops below the threshold, the resolution is the
    Nyquist limit ``1 / freq[-1]`` (2 pixels) and a warning says so.
    """
    f = np.asarray(freq, dtype=np.float64)
    c = np.asarray(corr, dtype=np.float64)
    if f.shape != c.shape or f.ndim != 1 or f.size < 2:
        raise ValueError("freq and corr must be 1-D arrays of the same length >= 2")
    below = np.flatnonzero(c[1:] < threshold) + 1
    if below.size == 0:
        warnings.warn(f"correlation never drops below {threshold}: resolution limited by the "
                      "pixel (Nyquist)", stacklevel=2)
        return float(1.0 / f[-1])
    i = int(below[0])
    c0, c1 = c[i - 1], c[i]
    frac = (c0 - threshold) / (c0 - c1) if c0 != c1 else 0.0
    f_cross = f[i - 1] + frac * (f[i] - f[i - 1])
    if f_cross <= 0:
        return float("inf")
    return float(1.0 / f_cross)


def resolution_um(
    freq: ArrayLike, corr: ArrayLike, voxel_um: float, threshold: float = 0.5
) -> float:
    """:func:`resolution_px` times the voxel size (um at the sample)."""
    return resolution_px(freq, corr, threshold) * float(voxel_um)


def split_even_odd(
    sinogram: ArrayLike, angles_deg: ArrayLike
) -> tuple[tuple[NDArray[Any], NDArray[np.float64]], tuple[NDArray[Any], NDArray[np.float64]]]:
    """Split a sinogram (angles, ...) into its even and odd projections (by angle order).

    Returns ``((sino_even, angles_even), (sino_odd, angles_odd))``; each half covers the same
    angular range with twice the step, so each reconstructs the whole object with independent
    noise (views, not copies, when the angles are already sorted).
    """
    sino = np.asarray(sinogram)
    angles = np.asarray(angles_deg, dtype=np.float64).ravel()
    if angles.size != sino.shape[0]:
        raise ValueError(f"{angles.size} angles for {sino.shape[0]} projections")
    if angles.size < 2:
        raise ValueError("need at least two projections")
    order = np.argsort(angles, kind="stable")
    if np.array_equal(order, np.arange(angles.size)):
        return (sino[0::2], angles[0::2]), (sino[1::2], angles[1::2])
    even, odd = order[0::2], order[1::2]
    return (sino[even], angles[even]), (sino[odd], angles[odd])


def frc_even_odd(
    sinogram: ArrayLike,
    angles_deg: ArrayLike,
    filter: str = "ramp",  # noqa: A002 - fbp's name
    *,
    window: str | None = None,
    crop: int | None = None,
    **fbp_kwargs: Any,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """FRC (or FSC for a sinogram stack) between reconstructions of the even and odd projections.

    ``crop``: keep the central ``crop x crop`` of each slice (the object, without the empty
    border); ``window`` goes to :func:`frc`, other keyword arguments to
    :func:`gi_instrument.processing.reconstruction.parallel.fbp` (given ``weights``, e.g. of rebinned fan data, are
    split with the projections and doubled).
    """
    from gi_instrument.processing.reconstruction import fbp  # noqa: PLC0415

    (s_even, a_even), (s_odd, a_odd) = split_even_odd(sinogram, angles_deg)
    weights = fbp_kwargs.pop("weights", None)
    if weights is not None:  # given weights (rebinned fan data): each half counts twice
        (w_even, _), (w_odd, _) = split_even_odd(2 * np.asarray(weights, dtype=np.float64),
                                                 angles_deg)
    rec_a = fbp(s_even, a_even, filter, weights=None if weights is None else w_even,
                **fbp_kwargs)  # type: ignore[arg-type]
    rec_b = fbp(s_odd, a_odd, filter, weights=None if weights is None else w_odd,
                **fbp_kwargs)  # type: ignore[arg-type]
    if crop is not None:
        n = rec_a.shape[-1]
        lo = (n - crop) // 2
        sl = (Ellipsis, slice(lo, lo + crop), slice(lo, lo + crop))
        rec_a, rec_b = rec_a[sl], rec_b[sl]
    return frc(rec_a, rec_b, window=window)


def plot_frc(
    freq: ArrayLike,
    corr: ArrayLike,
    path: str | Path,
    *,
    threshold: float = 0.5,
    voxel_um: float | None = None,
    title: str | None = None,
    label: str | None = None,
) -> Path:
    """Write the FRC curve with the threshold and the resolution it gives as a PNG (Agg).

    The x axis is in cycles per pixel, with a second axis in cycles per um when ``voxel_um`` is
    given. Returns the path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    f = np.asarray(freq, dtype=np.float64)
    c = np.asarray(corr, dtype=np.float64)
    fig = Figure(figsize=(6.0, 4.0), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(f[1:], c[1:], lw=1.5, label=label or "FRC")
    ax.axhline(threshold, color="0.4", ls="--", lw=1, label=f"threshold {threshold:g}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res_px = resolution_px(f, c, threshold)
    if np.isfinite(res_px):
        text = f"{res_px:.2f} px"
        if voxel_um is not None:
            text += f" = {res_px * voxel_um:.1f} um"
        ax.axvline(1.0 / res_px, color="C3", lw=1, label=f"resolution {text}")
    ax.set_xlim(0, f[-1])
    ax.set_ylim(min(-0.1, float(np.nanmin(c[1:])) - 0.05), 1.05)
    ax.set_xlabel("spatial frequency (1/pixel)")
    ax.set_ylabel("Fourier ring correlation")
    if voxel_um is not None:
        top = ax.secondary_xaxis("top", functions=(lambda x: x / voxel_um,
                                                   lambda x: x * voxel_um))
        top.set_xlabel("spatial frequency (1/um)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
