"""A ``gi-process`` result opened for viewing: the volumes of ``volumes.h5`` sliced in the three
orthogonal planes, one slice or a maximum-intensity slab at a time (never the whole volume).

Planes (volumes are (z, y, x), z the detector row / rotation axis):

- ``"xy"``: the axial slice at ``z`` (image (y, x)),
- ``"xz"``: the slice at ``y`` (image (z, x)),
- ``"yz"``: the slice at ``x`` (image (z, y)).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

from gi_instrument.processing import mip

__all__ = ["PLANES", "VolumeData", "volumes_path"]

PLANES = {"xy": 0, "xz": 1, "yz": 2}
"""Plane name -> the volume axis it is perpendicular to."""


def volumes_path(path: str | Path) -> Path:
    """``volumes.h5`` of a ``gi-process`` output folder (or the file itself); FileNotFoundError
    if it is not there."""
    path = Path(path).expanduser()
    file = path / "volumes.h5" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"{path}: no volumes.h5 (give a gi-process output folder)")
    return file


class VolumeData:
    """The volumes of one ``volumes.h5`` (kept open, read slab by slab); a context manager."""

    def __init__(self, path: str | Path) -> None:
        self.path = volumes_path(path)
        self._file = h5py.File(self.path, "r")
        if "volumes" not in self._file or not len(self._file["volumes"]):
            self._file.close()
            raise ValueError(f"{self.path}: no /volumes group (not a gi-process result)")
        self.voxel_um = float(self._file.attrs["voxel_um"])
        """Voxel size, um (isotropic)."""

    @property
    def names(self) -> list[str]:
        """Volume names (``delta``, ``attenuation``, ``darkfield``, as written)."""
        return list(self._file["volumes"])

    @property
    def run_uid(self) -> str:
        """Uid of the run the volumes were reconstructed from ('' if not recorded)."""
        return str(json.loads(self._file.attrs.get("run_uid", '""')))

    def unit(self, name: str) -> str:
        """Unit of a volume (``"1"`` for delta, ``"1/m"`` for mu and the dark-field)."""
        return str(self._file["volumes"][name].attrs.get("units", ""))

    def shape(self, name: str) -> tuple[int, int, int]:
        """(z, y, x) of a volume."""
        return tuple(int(n) for n in self._file["volumes"][name].shape)  # type: ignore[return-value]

    def depth(self, name: str, plane: str) -> int:
        """Number of slices of ``plane`` (``"xy"``, ``"xz"``, ``"yz"``)."""
        return self.shape(name)[PLANES[plane]]

    def slab(self, name: str, plane: str, index: int, thickness: int = 1) -> NDArray[np.float32]:
        """The slice ``index`` of ``plane`` or, for ``thickness`` > 1, the maximum-intensity
        projection over ``thickness`` slices centred on it (clipped to the volume)."""
        axis = PLANES[plane]
        depth = self.depth(name, plane)
        if not 0 <= index < depth:
            raise IndexError(f"{plane} slice {index} outside 0..{depth - 1}")
        if thickness < 1:
            raise ValueError(f"MIP thickness must be >= 1 slice, got {thickness}")
        start = max(0, min(index - thickness // 2, depth - thickness))
        stop = min(depth, start + thickness)
        index_tuple: list[Any] = [slice(None)] * 3
        index_tuple[axis] = slice(start, stop)
        block = self._file["volumes"][name][tuple(index_tuple)]
        return mip(block, axis=axis).astype(np.float32)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> VolumeData:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
