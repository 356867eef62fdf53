"""Result files of a processed CT: an HDF5 file of volumes with metadata, TIFF stacks, PNG previews.

- :class:`VolumeFile`: ``volumes.h5`` with one float32 dataset (z, y, x) per volume under
  ``/volumes`` (chunked by slice, filled slab by slab), its unit as the ``units`` attribute, and
  the run uid, profile, geometry and processing parameters (JSON) as file attributes.
- :func:`write_tiff_stack`: a 32-bit float ImageJ hyperstack that Fiji opens with its voxel size
  (``spacing``, ``unit = micron`` and the X/Y resolution in pixels per micron), written slice by
  slice from any array-like (an HDF5 dataset is never loaded whole).
- :func:`write_previews`: PNG (matplotlib, Agg) of the three central orthogonal slices and a
  maximum-intensity projection over the central slices of a volume.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import tifffile
from numpy.typing import ArrayLike, NDArray

from gi_instrument.processing.quality import mip

__all__ = ["VolumeFile", "display_limits", "write_tiff_stack", "read_tiff_voxel_um", "write_previews"]


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


class VolumeFile:
    """An HDF5 file of reconstructed volumes (z, y, x) float32 and their metadata.

    Use as a context manager; :meth:`create` makes a dataset, slabs are written with
    ``file.volume(name)[z0:z1] = slab``.
    """

    def __init__(self, path: str | Path, metadata: Mapping[str, Any], voxel_um: float) -> None:
        """Create (overwrite) ``path``; ``metadata`` values are stored as JSON attributes."""
        self.path = Path(path)
        self.file = h5py.File(self.path, "w")
        self.file.attrs["voxel_um"] = float(voxel_um)
        for key, value in metadata.items():
            self.file.attrs[key] = _json(value)
        self.group = self.file.create_group("volumes")

    def create(self, name: str, shape: tuple[int, int, int], units: str, description: str,
               attrs: Mapping[str, float | str] | None = None) -> None:
        """An empty float32 volume (z, y, x), chunked by slice; ``attrs`` (e.g. ``energy_keV``)
        become attributes of its dataset."""
        ds = self.group.create_dataset(name, shape=shape, dtype=np.float32,
                                       chunks=(1, *shape[1:]), fillvalue=np.nan)
        ds.attrs["units"] = units
        ds.attrs["description"] = description
        ds.attrs["voxel_um"] = self.file.attrs["voxel_um"]
        for key, value in (attrs or {}).items():
            ds.attrs[key] = value

    def volume(self, name: str) -> h5py.Dataset:
        """The dataset of a volume."""
        return self.group[name]

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> VolumeFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_tiff_stack(path: str | Path, volume: ArrayLike | h5py.Dataset, voxel_um: float,
                     info: Mapping[str, Any] | None = None) -> Path:
    """A float32 ImageJ TIFF stack (z, y, x) with isotropic voxel size ``voxel_um`` (um).

    ``volume`` may be an HDF5 dataset or memory map: it is read one slice at a time. ``info``
    (e.g. units, energy) goes into the ImageJ ``Info`` property as ``key = value`` lines (Fiji:
    Image > Show Info).
    """
    path = Path(path)
    shape = tuple(int(n) for n in volume.shape)
    if len(shape) != 3:
        raise ValueError(f"volume must be (z, y, x), got shape {shape}")

    def pages() -> Iterator[NDArray[np.float32]]:
        for z in range(shape[0]):
            yield np.asarray(volume[z], dtype=np.float32)

    tifffile.imwrite(
        path, pages(), shape=shape, dtype=np.float32, imagej=True,
        resolution=(1.0 / voxel_um, 1.0 / voxel_um),
        metadata={"axes": "ZYX", "spacing": float(voxel_um), "unit": "micron",
                  **({"Info": "\n".join(f"{k} = {v}" for k, v in info.items())} if info else {})})
    return path


def read_tiff_voxel_um(path: str | Path) -> tuple[float, float, float]:
    """Voxel size (z, y, x) in um as Fiji reads it from an ImageJ TIFF (spacing, resolution)."""
    with tifffile.TiffFile(path) as tif:
        meta = tif.imagej_metadata or {}
        if meta.get("unit") not in ("micron", "um", "\\u00B5m"):
            raise ValueError(f"{path}: unit {meta.get('unit')!r}, not micron")
        page = tif.pages[0]
        x_res, y_res = page.resolution
        return float(meta.get("spacing", 1.0)), 1.0 / y_res, 1.0 / x_res


def _central_mip(volume: ArrayLike | h5py.Dataset, mip_slices: int) -> NDArray[np.float32]:
    """:func:`~.quality.mip` over ``mip_slices`` central z slices (only that slab is read)."""
    depth = volume.shape[0]
    n = max(1, min(mip_slices, depth))
    z0 = (depth - n) // 2
    return mip(np.asarray(volume[z0:z0 + n], dtype=np.float32), axis=0)


def display_limits(images: list[NDArray]) -> tuple[float, float]:
    """Display range: 0.5 and 99.5 percentiles of the finite values."""
    values = np.concatenate([im[np.isfinite(im)].ravel() for im in images])
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(values, [0.5, 99.5])
    return float(lo), float(hi if hi > lo else lo + 1.0)


def write_previews(
    out_dir: str | Path,
    volumes: Mapping[str, ArrayLike | h5py.Dataset],
    voxel_um: float,
    *,
    units: Mapping[str, str] | None = None,
    mip_slices: int = 32,
) -> list[Path]:
    """``<name>_preview.png`` per volume: central XY, XZ, YZ slices and an XY MIP.

    Args:
        out_dir: folder for the PNG files.
        volumes: name → volume (z, y, x) (HDF5 datasets are read slice by slice).
        voxel_um: voxel size, um (for the axis scale).
        units: name → unit shown on the colour bar.
        mip_slices: central z slices in the maximum-intensity projection.
    """
    from matplotlib.figure import Figure  # no pyplot: no global backend state, renders with Agg

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, volume in volumes.items():
        depth, height, width = volume.shape
        views = {
            f"XY (z = {depth // 2})": np.asarray(volume[depth // 2], dtype=np.float32),
            f"XZ (y = {height // 2})": np.asarray(volume[:, height // 2, :], dtype=np.float32),
            f"YZ (x = {width // 2})": np.asarray(volume[:, :, width // 2], dtype=np.float32),
            f"MIP over {min(mip_slices, depth)} z slices": _central_mip(volume, mip_slices),
        }
        lo, hi = display_limits(list(views.values()))
        fig = Figure(figsize=(16, 4.4), layout="constrained")
        axes = fig.subplots(1, 4)
        for ax, (title, image) in zip(axes, views.items()):
            extent = (0, image.shape[1] * voxel_um / 1e3, image.shape[0] * voxel_um / 1e3, 0)
            shown = ax.imshow(image, cmap="gray", vmin=lo, vmax=hi, extent=extent,
                              interpolation="nearest")
            ax.set_title(title)
            ax.set_xlabel("mm")
        fig.colorbar(shown, ax=axes, shrink=0.8, label=(units or {}).get(name, ""))
        fig.suptitle(f"{name} (voxel {voxel_um:.3g} um)")
        path = out_dir / f"{name}_preview.png"
        fig.savefig(path, dpi=80)
        written.append(path)
    return written
