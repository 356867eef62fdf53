"""HDF5 frame files written by the detector side, like an areaDetector HDF5 plugin (Capture mode).

One file holds a fixed number of frames (``n_frames``, e.g. one stepping scan) in
``/entry/data/data`` (frames, rows, cols) uint16, with one value per frame for each attribute in
``/entry/instrument/NDAttributes/<name>``. Each frame is written as its own chunk (the dataset is
chunked one frame per chunk, uncompressed) and the file flushed after it; the attribute values
are kept in memory and their datasets made and written, with the count of frames
(``frames_written``), when the file is closed: when it is full, or cut short (then the values of
the frames it has, NaN for the rest). One write per attribute and file instead of one per
attribute and frame: ~20 HDF5 writes and an attribute update per frame were most of a small
frame's write time, and h5py's high-level dataset creation ~0.2 ms per attribute and file. An existing file is never
opened for writing again: nothing is overwritten.
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
        self._attributes = list(attributes)
        self._values = np.full((len(attributes), n_frames), np.nan)
        """The attribute values (one row per attribute, in ``attributes`` order), written at close."""
        self._data.attrs["frames_expected"] = n_frames

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
        self._values[:, index] = [attributes.get(name, np.nan) for name in self._attributes]
        self.count += 1
        self._h5.flush()
        if self.full:
            self.close()
        return index

    def close(self) -> None:
        """Write the attribute values and ``frames_written``, close the file (idempotent); a file
        closed early keeps ``frames_written`` < expected."""
        if self._h5.id.valid:
            group = self._h5.require_group(ATTRIBUTE_GROUP).id
            space = h5py.h5s.create_simple((self.n_frames,))
            for name, values in zip(self._attributes, self._values):  # HDF5's own calls: ~10x faster
                h5py.h5d.create(group, name.encode(), h5py.h5t.IEEE_F64LE, space).write(
                    h5py.h5s.ALL, h5py.h5s.ALL, values)
            self._data.attrs["frames_written"] = self.count
            self._h5.close()
