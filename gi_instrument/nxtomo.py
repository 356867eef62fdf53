"""Export a ``gi_ct`` run as one NeXus NXtomo file that the field's tools open (tomopy/dxchange,
nxtomomill/tomwer, Fiji's HDF5 import), the frames referenced, not copied.

Layout (NXtomo application definition, plus the phase-stepping fields)::

    /entry                      NXentry, definition "NXtomo", title, start_time, end_time, run_uid
      /instrument               NXinstrument
        /source                 NXsource: type "Fixed Tube X-ray", probe "x-ray", voltage (kV), current (mA)
        /detector               NXdetector
          data                  (frames, rows, cols) uint16: a virtual dataset over the detector's
                                HDF5 files (or a copy, ``copy=True``)
          image_key             (frames,) int8: 0 projection, 1 flat (reference), 2 dark
          frame_angle_index     (frames,) projection index (-1 for the darks at the start, -2 at the end)
          frame_step_index      (frames,) phase step 0..steps-1 (darks: frame number)
          count_time            (frames,) s: nominal exposure
          x_pixel_size, y_pixel_size   m: the binned detector pixel
          distance              m: sample to detector
        /g2                     NXpositioner: value (frames,) um (readback), target_value (um)
      /sample                   NXsample: name, rotation_angle (frames,) degree, x_translation (frames,) m
      /data                     NXdata, signal "data": links to data, image_key, rotation_angle

Frames are in acquisition order (darks, references and projections as they were taken, darks again
at the end), so
a tool that interpolates flats in time finds them where they were measured. A virtual dataset
stores each frame's source file path relative to the NXtomo file when it can (keep the file
beside the data directory's ``frames/`` or move them together), else absolute.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from gi_instrument.processing.catalog_reader import CTRun, HDF5Frames, IMAGE_KEY

__all__ = ["IMAGE_KEYS", "write_nxtomo"]

IMAGE_KEYS = {"primary": 0, "reference": 1, "dark": 2}
"""NXtomo ``image_key`` of each stream: projection, flat field, dark field."""

_COLUMNS = {"rotation_angle_deg": np.nan, "g2_position_um": np.nan, "g2_setpoint_um": np.nan,
            "sample_x_mm": np.nan, "camera_exposure_s": np.nan, "frame_angle_index": -1,
            "frame_step_index": -1, "time": np.nan}
"""Per-frame columns read from each stream, with the value used when a stream lacks one."""


def _frames_table(ct: CTRun) -> dict[str, np.ndarray]:
    """Per-frame columns of every stream in acquisition (event time) order, plus ``stream``."""
    parts: dict[str, list[np.ndarray]] = {key: [] for key in (*_COLUMNS, "stream", "index")}
    for stream in IMAGE_KEYS:
        if stream not in ct.run:
            continue
        node = ct.run[stream]
        n = int(node[IMAGE_KEY].shape[0])
        for key, missing in _COLUMNS.items():
            parts[key].append(np.asarray(node[key].read(), dtype=float) if key in node else np.full(n, missing))
        parts["stream"].append(np.full(n, stream, dtype=object))
        parts["index"].append(np.arange(n))
    table = {key: np.concatenate(values) for key, values in parts.items()}
    order = np.argsort(table["time"], kind="stable")
    return {key: values[order] for key, values in table.items()}


def _layout(ct: CTRun, table: dict[str, np.ndarray], out: Path) -> h5py.VirtualLayout:
    """A virtual layout mapping each frame of ``table`` to its place in the detector's files."""
    rows, cols = ct.shape
    layout = h5py.VirtualLayout(shape=(len(table["stream"]), rows, cols), dtype="<u2")
    sources: dict[str, HDF5Frames] = {}
    for stream in IMAGE_KEYS:
        if stream in ct.run:
            files = ct.files.get(stream) or HDF5Frames.of(ct.run[stream][IMAGE_KEY])
            if files is None:
                raise FileNotFoundError(f"the frame files of stream {stream!r} are not on this machine: "
                                        "export with --copy (reads the frames through the catalog)")
            sources[stream] = files
    for k, (stream, index) in enumerate(zip(table["stream"], table["index"])):
        files = sources[stream]
        i = int(np.searchsorted(files.starts, index, side="right")) - 1
        path = files.paths[i]
        try:
            name = os.path.relpath(path, out.parent)
        except ValueError:  # another drive
            name = str(path)
        source = h5py.VirtualSource(name, files.dataset, shape=(int(files.starts[i + 1] - files.starts[i]), rows, cols))
        layout[k] = source[int(index - files.starts[i])]
    return layout


def _dataset(group: h5py.Group, name: str, value: Any, units: str | None = None) -> h5py.Dataset:
    dataset = group.create_dataset(name, data=value)
    if units:
        dataset.attrs["units"] = units
    return dataset


def _group(parent: h5py.Group, name: str, nx_class: str) -> h5py.Group:
    group = parent.create_group(name)
    group.attrs["NX_class"] = nx_class
    return group


def write_nxtomo(ct: CTRun, path: str | Path, *, copy: bool = False) -> Path:
    """Write ``ct`` (a :class:`~gi_instrument.processing.catalog_reader.CTRun`) as an NXtomo file
    at ``path`` (see the module docstring); refuses an existing file. With ``copy`` the frames are
    copied into the file instead of referenced. Returns the path."""
    out = Path(path).expanduser().resolve()
    if out.exists():
        raise FileExistsError(f"{out} exists: choose another name (nothing is overwritten)")
    table = _frames_table(ct)
    n = len(table["stream"])
    start, stop = ct.run.metadata["start"], ct.run.metadata.get("stop") or {}
    profile, geometry = ct.profile, ct.geometry
    pixel_m = profile.detector.pixel_um * int(geometry.get("binning", 1)) * 1e-6
    sample_detector_m = (profile.source_g2_cm - profile.source_sample_cm) * 1e-2
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with h5py.File(partial, "w", libver="latest") as f:
        f.attrs["NX_class"] = "NXroot"
        f.attrs["default"] = "entry"
        entry = _group(f, "entry", "NXentry")
        entry.attrs["default"] = "data"
        entry["definition"] = "NXtomo"
        entry["title"] = f"{start.get('plan_name')} {ct.uid} ({profile.name})"
        entry["start_time"] = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(start["time"]))
        if stop:
            entry["end_time"] = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(stop["time"]))
        entry.attrs["run_uid"] = ct.uid
        instrument = _group(entry, "instrument", "NXinstrument")
        source = _group(instrument, "source", "NXsource")
        source["type"], source["probe"], source["name"] = "Fixed Tube X-ray", "x-ray", profile.source.kind
        _dataset(source, "voltage", profile.source.voltage_kV, "kV")
        _dataset(source, "current", profile.source.current_mA, "mA")
        detector = _group(instrument, "detector", "NXdetector")
        if copy:
            data = detector.create_dataset("data", shape=(n, *ct.shape), dtype="<u2", chunks=(1, *ct.shape))
            for k, (stream, index) in enumerate(zip(table["stream"], table["index"])):
                data[k] = ct.read(stream, slice(int(index), int(index) + 1), slice(None))[0]
        else:
            data = detector.create_virtual_dataset("data", _layout(ct, table, out), fillvalue=0)
        data.attrs["interpretation"] = "image"
        _dataset(detector, "image_key", np.array([IMAGE_KEYS[s] for s in table["stream"]], dtype=np.int8))
        _dataset(detector, "frame_angle_index", table["frame_angle_index"].astype(np.int32))
        _dataset(detector, "frame_step_index", table["frame_step_index"].astype(np.int32))
        _dataset(detector, "count_time", table["camera_exposure_s"], "s")
        _dataset(detector, "x_pixel_size", pixel_m, "m")
        _dataset(detector, "y_pixel_size", pixel_m, "m")
        _dataset(detector, "distance", sample_detector_m, "m")
        g2 = _group(instrument, "g2", "NXpositioner")
        g2["name"] = "G2 piezo (phase stepping)"
        _dataset(g2, "value", table["g2_position_um"], "um")
        _dataset(g2, "target_value", table["g2_setpoint_um"], "um")
        sample = _group(entry, "sample", "NXsample")
        sample["name"] = str(start.get("sample", ""))
        _dataset(sample, "rotation_angle", table["rotation_angle_deg"], "degree")
        _dataset(sample, "x_translation", table["sample_x_mm"] * 1e-3, "m")
        nxdata = _group(entry, "data", "NXdata")
        nxdata.attrs["signal"] = "data"
        nxdata["data"] = data
        nxdata["image_key"] = detector["image_key"]
        nxdata["rotation_angle"] = sample["rotation_angle"]
    partial.rename(out)
    return out
