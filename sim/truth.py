"""Ground truth: the phantom's delta, mu and dark-field coefficient on a reconstruction slice grid.

The slice of detector row ``row`` (at binning ``b``) is sampled on the grid a reconstruction of that
row has: ``cols = width_px // b`` voxels of ``b * voxel_um`` either way, indexed ``[row, col]`` in
the orientation of :mod:`gi_instrument.processing.fbp` (``x = col - c`` to the right,
``y_fbp = c - row`` up, ``c = (cols - 1) / 2``). In the simulator's sample frame
(:mod:`gi_instrument.sim.forward`) that voxel is the point ``x = (col - c) b voxel``,
``y = (row - c) b voxel`` (``y_sample = -y_fbp``: both then see the point at detector column
``x cos(theta) - y sin(theta)``), at height ``z = (height_px / 2 - (row + 1/2) b) voxel``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
from numpy.typing import NDArray

from gi_instrument.profile import Profile
from gi_instrument.sim.materials import Material
from gi_instrument.sim.phantom import Phantom

__all__ = ["SliceTruth", "slice_height_um", "render_slice"]


@dataclass(frozen=True)
class SliceTruth:
    """True maps of one slice, (cols, cols) each."""

    mu_per_m: NDArray[np.float64]
    """Linear attenuation coefficient, 1/m."""
    delta: NDArray[np.float64]
    """Refractive index decrement."""
    darkfield_per_m: NDArray[np.float64]
    """Linear diffusion coefficient (dark-field), 1/m."""
    z_um: float
    """Height of the slice in the sample frame, um."""
    voxel_um: float
    """Voxel size of the grid, um."""


def slice_height_um(profile: Profile, row: int, binning: int = 1) -> float:
    """Height z, um, of the slice seen by detector row ``row`` at ``binning`` (parallel beam)."""
    return (profile.detector.height_px / 2 - (row + 0.5) * binning) * profile.voxel_um


def render_slice(phantom: Phantom, materials: Mapping[str, Material], profile: Profile, *,
                 z_um: float | None = None, row: int | None = None, binning: int = 1,
                 supersampling: int = 1) -> SliceTruth:
    """Render the true delta, mu and epsilon of the slice at height ``z_um`` or of detector
    ``row`` (one of them) on the (cols, cols) grid described in the module docstring; each voxel
    is the mean of ``supersampling`` x ``supersampling`` in-plane point samples."""
    if (z_um is None) == (row is None):
        raise ValueError("give exactly one of z_um and row")
    if row is not None and not 0 <= row < profile.detector.height_px // binning:
        raise ValueError(f"row {row} outside the {profile.detector.height_px // binning} rows at binning {binning}")
    z_um = slice_height_um(profile, row, binning) if row is not None else z_um
    cols = profile.detector.width_px // binning
    voxel_um = profile.voxel_um * binning
    s = supersampling
    coords_m = ((np.arange(cols * s) + 0.5) / s - cols / 2) * voxel_um * 1e-6
    z_m = z_um * 1e-6
    sums = np.zeros((3, cols * s, cols * s))
    for inc, contrast in zip(phantom.inclusions, phantom.contrasts(materials)):
        shape, r = inc.shape, inc.shape.bounding_radius_m
        cx, cy, cz = shape.center_m
        if abs(z_m - cz) > r:
            continue
        ys = np.nonzero(np.abs(coords_m - cy) <= r)[0]
        xs = np.nonzero(np.abs(coords_m - cx) <= r)[0]
        if ys.size == 0 or xs.size == 0:
            continue
        rows, cols_ = slice(ys[0], ys[-1] + 1), slice(xs[0], xs[-1] + 1)
        y, x = np.meshgrid(coords_m[rows], coords_m[cols_], indexing="ij")
        points = np.stack([x, y, np.full_like(x, z_m)], axis=-1)
        inside = shape.contains(points)
        sums[:, rows, cols_] += contrast[:, None, None] * inside
    maps = sums.reshape(3, cols, s, cols, s).mean(axis=(2, 4))
    return SliceTruth(mu_per_m=maps[0], delta=maps[1], darkfield_per_m=maps[2], z_um=float(z_um),
                      voxel_um=voxel_um)
