"""Image-quality measures and figures: MIP, SNR, visibility map, angular sensitivity.

Definitions (DESIGN.md section 2):

- maximum-intensity projection over ``n`` slices (calcifications in breast tissue): :func:`mip`;
- ``SNR = mean / std`` in a homogeneous region (sample standard deviation, ``ddof=1``):
  :func:`snr`;
- visibility map: the reference visibility ``V_r`` per pixel
  (:attr:`Retrieval.visibility_reference`), its mean :func:`mean_visibility`,
  :func:`plot_visibility_map`;
- angular sensitivity ``sigma_alpha``: the standard deviation of the refraction angle
  at the sample ``alpha = p2 * dpc / (2 pi d_eff)`` (``d_eff`` the lever arm of the sample
  position, :func:`~gi_instrument.processing.retrieval.lever_arm_cm`) over a sample-free region, from two reference stepping scans
  retrieved against each other (:func:`angular_sensitivity`) or from one flat-field retrieval
  (:func:`sigma_alpha_rad`); :func:`plot_angular_sensitivity`. Two scans against each other give
  the noise of their difference (:attr:`AngularSensitivity.sigma_rad`); the noise of one scan,
  the figure the source paper and :mod:`gi_instrument.sim.calibration` quote (40 nrad TLI,
  62 nrad MAAST), is that over ``sqrt(2)`` (:attr:`AngularSensitivity.sigma_one_scan_rad`);
- a homogeneous region found in an image: :func:`homogeneous_disc`.

Regions are given as a tuple of slices (``np.s_[10:50, 20:80]``), a boolean mask of the image's
shape, or ``None`` for the whole image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gi_instrument.processing.retrieval import refraction_angle_rad, retrieve

__all__ = [
    "Region",
    "region_mask",
    "mip",
    "snr",
    "homogeneous_disc",
    "mean_visibility",
    "sigma_alpha_rad",
    "AngularSensitivity",
    "angular_sensitivity",
    "plot_visibility_map",
    "plot_angular_sensitivity",
    "plot_region",
]

Region = tuple[slice, ...] | NDArray[np.bool_] | None


def region_mask(shape: tuple[int, ...], region: Region) -> NDArray[np.bool_]:
    """Boolean mask of ``shape`` for a region (slices, mask or ``None`` = everything)."""
    if region is None:
        return np.ones(shape, dtype=bool)
    if isinstance(region, np.ndarray):
        if region.shape != shape or region.dtype != np.bool_:
            raise ValueError(f"region mask must be bool of shape {shape}, got "
                             f"{region.dtype} {region.shape}")
        return region
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(region)] = True
    return mask


def mip(
    volume: ArrayLike, axis: int = 0, start: int = 0, n: int | None = None
) -> NDArray[Any]:
    """Maximum-intensity projection of ``n`` slices from ``start`` along ``axis``.

    ``n=None`` takes every slice from ``start`` to the end. Only the slab is read (a
    memory-mapped volume loads just those slices).
    """
    vol = np.asarray(volume)
    axis = int(axis) % vol.ndim
    size = vol.shape[axis]
    if not 0 <= start < size:
        raise ValueError(f"start {start} outside 0..{size - 1}")
    stop = size if n is None else start + int(n)
    if n is not None and (n < 1 or stop > size):
        raise ValueError(f"{n} slices from {start} exceed the {size} along axis {axis}")
    index = [slice(None)] * vol.ndim
    index[axis] = slice(start, stop)
    return np.max(vol[tuple(index)], axis=axis)


def snr(image: ArrayLike, region: Region = None) -> float:
    """``mean / std`` (``ddof=1``) of the finite pixels in ``region``."""
    img = np.asarray(image, dtype=np.float64)
    values = img[region_mask(img.shape, region)]
    values = values[np.isfinite(values)]
    if values.size < 2:
        raise ValueError("need at least two finite pixels in the region")
    std = values.std(ddof=1)
    return float(values.mean() / std) if std > 0 else float("inf")


def homogeneous_disc(
    image: ArrayLike, radius_px: float, *, within_px: float | None = None
) -> NDArray[np.bool_]:
    """Mask of the disc of ``radius_px`` where ``image`` is most uniform (smallest local std).

    Candidate discs lie wholly inside the circle of radius ``within_px`` (default: 0.45 of the
    smaller side, inside a reconstruction's field of view, away from its edge) about the image
    centre; non-finite pixels count as infinitely non-uniform. The local mean and mean square
    are box-free disc averages (FFT convolution), so every centre is tried.

    To measure an SNR, choose the disc on a low-pass copy of the image (or on another image):
    a disc picked for the smallest std of the measured pixels themselves would favour a lucky
    noise realisation and bias the SNR upwards.
    """
    from scipy.signal import fftconvolve

    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"need a 2-D image, got shape {img.shape}")
    rows, cols = img.shape
    radius = float(radius_px)
    within = 0.45 * min(rows, cols) if within_px is None else float(within_px)
    if radius < 1 or radius > within:
        raise ValueError(f"disc radius {radius} px must be >= 1 and <= {within} px")
    r = int(np.ceil(radius))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    kernel = (np.hypot(yy, xx) <= radius).astype(np.float64)
    finite = np.isfinite(img)
    values = np.where(finite, img, 0.0)
    n = kernel.sum()
    mean = fftconvolve(values, kernel, mode="same") / n
    mean2 = fftconvolve(values**2, kernel, mode="same") / n
    bad = fftconvolve((~finite).astype(np.float64), kernel, mode="same") > 0.5
    variance = np.where(bad, np.inf, mean2 - mean**2)
    cy, cx = (rows - 1) / 2, (cols - 1) / 2
    gy, gx = np.mgrid[:rows, :cols]
    variance[np.hypot(gy - cy, gx - cx) > within - radius] = np.inf
    if not np.isfinite(variance).any():
        raise ValueError("no disc of finite pixels fits inside the region")
    y0, x0 = np.unravel_index(int(np.argmin(variance)), variance.shape)
    return np.hypot(gy - y0, gx - x0) <= radius


def _detrend_plane(values: NDArray[np.float64], mask: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Values in ``mask`` minus their least-squares plane ``a + b row + c col``."""
    rows, cols = np.nonzero(mask)
    design = np.column_stack([np.ones(rows.size), rows, cols]).astype(np.float64)
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    return values - design @ coef


def sigma_alpha_rad(
    alpha_rad: ArrayLike,
    region: Region = None,
    *,
    valid: ArrayLike | None = None,
    detrend: bool = False,
) -> float:
    """Standard deviation (``ddof=1``) of the refraction angle over a sample-free region, rad.

    ``valid``: optional mask of good pixels (e.g. :attr:`Retrieval.valid`); ``detrend``: remove a
    least-squares plane first (a slow fringe drift between the two scans tilts ``alpha``).
    """
    alpha = np.asarray(alpha_rad, dtype=np.float64)
    mask = region_mask(alpha.shape, region) & np.isfinite(alpha)
    if valid is not None:
        mask &= np.asarray(valid, dtype=bool)
    values = alpha[mask]
    if values.size < 4:
        raise ValueError("need at least four valid pixels in the region")
    if detrend:
        if alpha.ndim != 2:
            raise ValueError("detrend needs a 2-D alpha map")
        values = _detrend_plane(values, mask)
    return float(values.std(ddof=1))


@dataclass(frozen=True)
class AngularSensitivity:
    """Angular sensitivity from two reference scans retrieved against each other."""

    sigma_rad: float
    """Standard deviation of ``alpha`` over the region, rad."""
    alpha_rad: NDArray[np.floating]
    """Refraction-angle map (rows, cols), rad (0 where the retrieval flagged the pixel)."""
    mask: NDArray[np.bool_]
    """Pixels used: region and valid."""
    visibility: NDArray[np.floating]
    """Visibility of the first reference scan per pixel (the visibility map)."""
    mean_visibility: float
    """Mean visibility over ``mask``."""

    @property
    def sigma_one_scan_rad(self) -> float:
        """Noise of one scan's ``alpha``, rad: :attr:`sigma_rad` over ``sqrt(2)`` (the two scans
        are equally noisy); the convention of the source paper's angular sensitivity."""
        return self.sigma_rad / float(np.sqrt(2.0))


def angular_sensitivity(
    reference_a: ArrayLike,
    reference_b: ArrayLike,
    period_um: float,
    d_eff_cm: float,
    *,
    dark: ArrayLike | None = None,
    positions_um: ArrayLike | None = None,
    positions_a_um: ArrayLike | None = None,
    region: Region = None,
    detrend: bool = False,
) -> AngularSensitivity:
    """``sigma_alpha`` from two sample-free stepping scans (steps, rows, cols).

    ``reference_b`` is retrieved as the "sample" against ``reference_a`` with
    :func:`gi_instrument.processing.retrieval.retrieve`; ``alpha = p2 * dpc / (2 pi d_eff)``
    (:func:`~gi_instrument.processing.retrieval.refraction_angle_rad`; ``period_um`` the G2 period,
    ``d_eff_cm`` the lever arm of the sample position, cm). With Poisson noise of ``a0`` counts per step, ``N`` steps and
    visibility ``V`` each scan's phase has ``sigma_phi = sqrt(2 / (N a0)) / V``, so the difference
    of two scans has ``sqrt(2)`` times that (:attr:`AngularSensitivity.sigma_one_scan_rad` undoes
    it).

    ``positions_um``: measured G2 positions (um) of ``reference_b``'s steps, and of
    ``reference_a``'s unless ``positions_a_um`` gives those; ``None``: equidistant steps.
    """
    res = retrieve(reference_b, reference_a, dark=dark, positions_um=positions_um,
                   period_um=period_um if positions_um is not None else None,
                   reference_positions_um=positions_a_um, dtype=np.float64)
    alpha = refraction_angle_rad(res.dpc, period_um, d_eff_cm)
    mask = region_mask(alpha.shape, region) & res.valid
    sigma = sigma_alpha_rad(alpha, mask, detrend=detrend)
    vis = res.visibility_reference
    return AngularSensitivity(sigma, alpha, mask, vis, float(vis[mask].mean()))


# --------------------------------------------------------------------------------------------
# figures


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    fig = Figure(figsize=(width, height), dpi=120)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def mean_visibility(visibility: ArrayLike, region: Region = None) -> float:
    """Mean of the finite visibilities in ``region`` (fraction, as the map)."""
    vis = np.asarray(visibility, dtype=np.float64)
    values = vis[region_mask(vis.shape, region) & np.isfinite(vis)]
    if values.size == 0:
        raise ValueError("no finite visibility in the region")
    return float(values.mean())


def plot_visibility_map(
    visibility: ArrayLike,
    path: str | Path,
    *,
    region: Region = None,
    title: str | None = None,
) -> Path:
    """Visibility map (percent) with its histogram and the mean over ``region``
    (:func:`mean_visibility`), as a PNG."""
    vis = np.asarray(visibility, dtype=np.float64) * 100.0
    mask = region_mask(vis.shape, region) & np.isfinite(vis)
    mean = mean_visibility(visibility, region) * 100.0
    fig = _figure(9.0, 4.0)
    ax_img, ax_hist = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.3, 1]})
    hi = float(np.nanpercentile(vis[mask], 99.5))
    im = ax_img.imshow(vis, cmap="viridis", vmin=0, vmax=max(hi, 1e-6), interpolation="nearest")
    fig.colorbar(im, ax=ax_img, label="visibility (%)")
    if region is not None and not isinstance(region, np.ndarray):
        _outline(ax_img, region, vis.shape)
    ax_img.set_xlabel("column (px)")
    ax_img.set_ylabel("row (px)")
    ax_hist.hist(vis[mask], bins=100, color="C0")
    ax_hist.axvline(mean, color="C3", lw=1)
    ax_hist.set_xlabel("visibility (%)")
    ax_hist.set_ylabel("pixels")
    ax_hist.set_title(f"mean {mean:.1f} %", fontsize=10)
    fig.suptitle(title or "Reference visibility")
    fig.tight_layout()
    return _save(fig, path)


def _outline(ax, region: tuple[slice, ...], shape: tuple[int, ...]) -> None:
    from matplotlib.patches import Rectangle  # noqa: PLC0415

    rs, cs = (tuple(region) + (slice(None),) * 2)[:2]
    r0, r1, _ = rs.indices(shape[0])
    c0, c1, _ = cs.indices(shape[1])
    ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False, ec="w", lw=1))


def plot_angular_sensitivity(
    result: AngularSensitivity | ArrayLike,
    path: str | Path,
    *,
    region: Region = None,
    title: str | None = None,
) -> Path:
    """Refraction-angle map (nrad) and its histogram with ``sigma_alpha`` marked, as a PNG.

    ``result``: an :class:`AngularSensitivity` (two scans against each other: the title gives
    the std of their difference and the one-scan ``sigma_alpha``, that over ``sqrt(2)``) or an
    ``alpha`` map in rad (then ``region`` selects the sample-free pixels and the title gives its
    std).
    """
    if isinstance(result, AngularSensitivity):
        alpha, mask, sigma = result.alpha_rad, result.mask, result.sigma_rad
        label = (f"std(alpha_b - alpha_a) = {sigma * 1e9:.1f} nrad\n"
                 f"one scan: sigma_alpha = {result.sigma_one_scan_rad * 1e9:.1f} nrad")
    else:
        alpha = np.asarray(result, dtype=np.float64)
        mask = region_mask(alpha.shape, region) & np.isfinite(alpha)
        sigma = sigma_alpha_rad(alpha, mask)
        label = f"sigma_alpha = {sigma * 1e9:.1f} nrad"
    a_nrad = np.asarray(alpha, dtype=np.float64) * 1e9
    values = a_nrad[mask]
    mean = float(values.mean())
    fig = _figure(9.0, 4.0)
    ax_img, ax_hist = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.3, 1]})
    lim = 4 * sigma * 1e9
    shown = np.where(mask, a_nrad, np.nan)
    im = ax_img.imshow(shown, cmap="RdBu_r", vmin=mean - lim, vmax=mean + lim,
                       interpolation="nearest")
    fig.colorbar(im, ax=ax_img, label="refraction angle (nrad)")
    ax_img.set_xlabel("column (px)")
    ax_img.set_ylabel("row (px)")
    ax_hist.hist(values, bins=100, range=(mean - lim, mean + lim), color="C0")
    for k in (-1, 1):
        ax_hist.axvline(mean + k * sigma * 1e9, color="C3", lw=1)
    ax_hist.set_xlabel("refraction angle (nrad)")
    ax_hist.set_ylabel("pixels")
    ax_hist.set_title(label, fontsize=9)
    fig.suptitle(title or "Angular sensitivity")
    fig.tight_layout()
    return _save(fig, path)


def plot_region(
    image: ArrayLike,
    region: Region,
    path: str | Path,
    *,
    unit: str = "",
    title: str | None = None,
) -> Path:
    """An image (e.g. a reconstructed slice) with ``region`` outlined and its SNR
    (:func:`snr`) in the title, as a PNG: shows where a homogeneous region was taken."""
    img = np.asarray(image, dtype=np.float64)
    mask = region_mask(img.shape, region)
    fig = _figure(5.5, 5.0)
    ax = fig.add_subplot()
    finite = img[np.isfinite(img)]
    lo, hi = (np.percentile(finite, [0.5, 99.5]) if finite.size else (0.0, 1.0))
    im = ax.imshow(img, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1,
                   interpolation="nearest")
    fig.colorbar(im, ax=ax, label=unit)
    ax.contour(mask.astype(np.float32), levels=[0.5], colors="C3", linewidths=1)
    ax.set_xlabel("column (px)")
    ax.set_ylabel("row (px)")
    ax.set_title(f"{title + ': ' if title else ''}SNR = {snr(img, mask):.3g} "
                 f"({int(mask.sum())} px)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
