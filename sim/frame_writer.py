"""HDF5 frame files written by the detector side, like an areaDetector HDF5 plugin (Capture mode).

One file holds a fixed number of frames (``n_frames``, e.g. one stepping scan) in
``/entry/data/data`` (frames, rows, cols) uint16, with one value per frame for each attribute in
``/entry/instrument/NDAttributes/<name>``. The file is flushed after every frame and closed when
it is full. An existing file is never opened for writing again: nothing is overwritten.

Each frame is written as its own chunk (the dataset is chunked one frame per chunk, uncompressed)
and each attribute value through HDF5's low-level write of one element: the high-level
``dataset[index] = value`` costs about 0.1 ms of selection logic per call, which for ~20
attributes was most of a small frame's write time.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from gi_instrument.pv_interface import ATTRIBUTE_GROUP, FRAME_DATASET

__all__ = ["FRAME_DATASET", "ATTRIBUTE_GROUP", "FrameFile"]



class FrameFile:
    """An open HDF5 frame file that accepts exactly ``n_frames`` frames of ``shape`` (rows, cols)."""

    def __init__(self, path: str | Path, n_frames: int, shape: tuple[int, int], attributes: list[str]) -> None:
        self.path = Path(path)
        if n_frames < 1:
            raise ValueError(f"n_frames must be >= 1, got {n_frames}")
        if self.path.exists():
            raise FileExistsError(f"{self.path} exists: refusing to overwrite acquired data")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.n_frames = n_frames
        self.shape = shape
        self.count = 0
        self._h5 = h5py.File(self.path, "w-", libver="latest")
        self._data = self._h5.create_dataset(
            FRAME_DATASET, shape=(n_frames, *shape), dtype="<u2", chunks=(1, *shape))
        group = self._h5.require_group(ATTRIBUTE_GROUP)
        self._attrs = {name: group.create_dataset(name, shape=(n_frames,), dtype="<f8", fillvalue=np.nan)
                       for name in attributes}
        self._one_value = h5py.h5s.create_simple((1,))
        self._h5[FRAME_DATASET].attrs["frames_expected"] = n_frames

    @property
    def full(self) -> bool:
        """True once ``n_frames`` frames are written (the file is then closed)."""
        return self.count >= self.n_frames

    def write(self, frame: np.ndarray, attributes: dict[str, float]) -> int:
        """Append one frame (rows, cols) uint16 and its attributes; returns its index in the file."""
        if self.full:
            raise RuntimeError(f"{self.path} already holds its {self.n_frames} frames")
        if frame.shape != self.shape:
            raise ValueError(f"frame shape {frame.shape} differs from the file's {self.shape}")
        index = self.count
        self._data.id.write_direct_chunk((index, 0, 0), np.ascontiguousarray(frame, dtype="<u2").tobytes())
        for name, dset in self._attrs.items():
            element = dset.id.get_space()
            element.select_hyperslab((index,), (1,))
            dset.id.write(self._one_value, element, np.array([attributes.get(name, np.nan)], dtype="<f8"))
        self.count += 1
        self._h5[FRAME_DATASET].attrs["frames_written"] = self.count
        self._h5.flush()
        if self.full:
            self.close()
        return index

    def close(self) -> None:
        """Close the file (idempotent); a file closed early keeps ``frames_written`` < expected."""
        if self._h5.id.valid:
            self._h5.close()
