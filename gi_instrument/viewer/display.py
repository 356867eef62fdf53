"""Display processing of 2-D images, as in the paper's figures: contrast limits, CLAHE and
non-local-means smoothing (scikit-image's implementations), colour maps per signal.

Pure numpy functions of an image (rows, cols); nothing here knows Qt.

CLAHE takes Fiji's parameters (*Enhance Local Contrast*, S. Saalfeld): ``block_px`` (block size,
pixels), ``bins`` (histogram bins) and ``slope`` (maximum slope of the mapping). Fiji clips each
block's histogram at ``slope x pixels / bins`` counts; scikit-image's
:func:`skimage.exposure.equalize_adapthist` clips at ``clip_limit x pixels``, so
``clip_limit = slope / bins``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["Clahe", "NlMeans", "SIGNAL_STYLES", "SignalStyle", "clahe", "nl_means", "style_of"]


@dataclass(frozen=True)
class SignalStyle:
    """How a signal is shown by default: a pyqtgraph colour map name and fixed levels (``None``:
    the 0.5 / 99.5 percentiles of the image,
    :func:`gi_instrument.processing.outputs.display_limits`)."""

    colormap: str = "CET-L1"
    levels: tuple[float, float] | None = None
    unit: str = ""


SIGNAL_STYLES: dict[str, SignalStyle] = {
    "frame": SignalStyle("CET-L1", None, "counts"),
    "transmission": SignalStyle("CET-L1", None, ""),
    "dpc": SignalStyle("CET-L1", (-np.pi, np.pi), "rad"),
    "darkfield": SignalStyle("CET-L1", None, ""),
    "visibility": SignalStyle("viridis", (0.0, 0.4), ""),
    "delta": SignalStyle("CET-L1", None, ""),
    "attenuation": SignalStyle("CET-L1", None, "1/m"),
    "darkfield_volume": SignalStyle("magma", None, "1/m"),
}
"""Default colour map and levels per signal: frames and the three contrasts in grey (as the
paper's figures; the differential phase over its full range -pi..pi), the visibility map in
viridis over 0-40 %, the dark-field volume in magma."""


def style_of(name: str) -> SignalStyle:
    """The :data:`SIGNAL_STYLES` entry of ``name`` (grey CET-L1, percentile levels if unknown)."""
    return SIGNAL_STYLES.get(name, SignalStyle())


@dataclass(frozen=True)
class Clahe:
    """Fiji's CLAHE parameters (its defaults)."""

    block_px: int = 127
    """Block size, pixels (side of the contextual region)."""
    bins: int = 256
    """Histogram bins."""
    slope: float = 3.0
    """Maximum slope of the local mapping (1 = no contrast change)."""

    def __post_init__(self) -> None:
        if self.block_px < 2 or self.bins < 2 or self.slope < 1:
            raise ValueError(f"CLAHE needs block >= 2 px, bins >= 2, slope >= 1; got {self}")


def clahe(image: ArrayLike, levels: tuple[float, float], params: Clahe = Clahe()) -> NDArray[np.float32]:
    """CLAHE of ``image`` shown between ``levels`` (values outside are clipped first), with Fiji's
    parameters; returns an image in [0, 1]."""
    from skimage.exposure import equalize_adapthist

    lo, hi = levels
    if not hi > lo:
        raise ValueError(f"levels must increase, got {levels}")
    scaled = np.clip((np.nan_to_num(np.asarray(image, dtype=np.float64), nan=lo) - lo) / (hi - lo), 0, 1)
    block = min(params.block_px, *scaled.shape)
    return equalize_adapthist(scaled, kernel_size=block, clip_limit=params.slope / params.bins,
                              nbins=params.bins).astype(np.float32)


@dataclass(frozen=True)
class NlMeans:
    """2-D non-local means parameters (scikit-image's ``denoise_nl_means``)."""

    h_sigma: float = 0.8
    """Filter strength in units of the image's estimated noise sigma."""
    patch_px: int = 5
    """Patch size, pixels."""
    distance_px: int = 6
    """Search distance, pixels."""

    def __post_init__(self) -> None:
        if self.h_sigma <= 0 or self.patch_px < 1 or self.distance_px < 1:
            raise ValueError(f"non-local means needs h_sigma > 0, patch and distance >= 1 px; got {self}")


def nl_means(image: ArrayLike, params: NlMeans = NlMeans()) -> NDArray[np.float32]:
    """Non-local-means smoothing of a 2-D image; the noise sigma is estimated from the image
    (:func:`skimage.restoration.estimate_sigma`), ``h = h_sigma x sigma``."""
    from skimage.restoration import denoise_nl_means, estimate_sigma

    img = np.asarray(image, dtype=np.float64)
    finite = np.isfinite(img)
    img = np.where(finite, img, np.nanmean(img) if finite.any() else 0.0)
    sigma = float(estimate_sigma(img))
    if sigma == 0.0:
        return img.astype(np.float32)
    return denoise_nl_means(img, patch_size=params.patch_px, patch_distance=params.distance_px,
                            h=params.h_sigma * sigma, sigma=sigma, fast_mode=True).astype(np.float32)
