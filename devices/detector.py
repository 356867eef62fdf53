"""The sCMOS camera: triggers exposures over EPICS and references the HDF5 frames it writes.

Frames never travel through Channel Access: the IOC side writes them into HDF5 files (one file
per stepping scan, see :meth:`SCMOSDetector.open_file`) and this device emits a
``stream_resource`` document per file and a ``stream_datum`` per frame, so a catalog (tiled)
reads them straight from the files. Scalars (real exposure, frame counter) are read as usual.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

from event_model import compose_stream_resource
from ophyd import Component as Cpt
from ophyd import Device, DeviceStatus, EpicsSignal, EpicsSignalRO, Signal

__all__ = ["SCMOSDetector", "FrameLostError", "FRAME_DATASET"]

FRAME_DATASET = "/entry/data/data"
"""Dataset of the frames in each HDF5 file (frames, rows, cols) uint16."""

FRAME_KEYS = {
    "angle_deg": "rotation_angle_deg",
    "g2_setpoint_um": "g2_setpoint_um",
    "g2_position_um": "g2_position_um",
    "sample_x_mm": "sample_x_mm",
    "exposure_s": "{name}_exposure_s",
    "real_exposure_s": "{name}_real_exposure_s",
    "time_s": "{name}_ioc_time_s",
    "voltage_kV": "tube_voltage_kV",
    "current_mA": "tube_current_mA",
    "xray_on": "tube_xray_on",
    "frame_index": "frame_step_index",
}
"""Data key of each value the camera IOC records with a frame (``FrameAttrs_RBV``); names the
IOC adds beyond these become ``{name}_<attribute>``. A frame's index in its file is its phase
step (one file per stepping scan), hence ``frame_step_index``."""


class FrameLostError(RuntimeError):
    """The camera acknowledged an exposure but the frame is not in the file."""


class SCMOSDetector(Device):
    """sCMOS camera (PVs under ``{prefix}``). Data key of the frames: ``{name}_image``
    (rows, cols) uint16, external. With each frame it reads, in one get, the values the IOC
    recorded at that exposure (see :data:`FRAME_KEYS`): G2 setpoint and readback (um), rotation
    angle (deg), sample position (mm), nominal and real exposure (s), tube kV / mA. Every frame
    carries its identity: ``frame_angle_index`` (projection index, set by the plan; for a
    reference, the projection it precedes; -1 for darks) and ``frame_step_index`` (its index in
    its stepping-scan file, 0..steps-1)."""

    angle_index = Cpt(Signal, value=-1, kind="normal")
    exposure_s = Cpt(EpicsSignal, "AcquireTime", put_complete=True, kind="config")
    acquire = Cpt(EpicsSignal, "Acquire", put_complete=True, kind="omitted")
    frame_counter = Cpt(EpicsSignalRO, "ArrayCounter_RBV", kind="omitted")
    real_exposure_s = Cpt(EpicsSignalRO, "RealAcquireTime_RBV", kind="omitted")
    frame_attr_names = Cpt(EpicsSignalRO, "FrameAttrNames_RBV", string=True, kind="omitted")
    frame_attrs = Cpt(EpicsSignalRO, "FrameAttrs_RBV", kind="omitted")
    time_scale = Cpt(EpicsSignalRO, "TimeScale_RBV", kind="config")
    binning = Cpt(EpicsSignal, "Binning", put_complete=True, kind="config")
    size_x = Cpt(EpicsSignalRO, "SizeX_RBV", kind="config")
    size_y = Cpt(EpicsSignalRO, "SizeY_RBV", kind="config")
    file_path = Cpt(EpicsSignal, "FilePath", string=True, put_complete=True, kind="omitted")
    file_name = Cpt(EpicsSignal, "FileName", string=True, put_complete=True, kind="omitted")
    num_capture = Cpt(EpicsSignal, "NumCapture", put_complete=True, kind="omitted")
    file_number = Cpt(EpicsSignal, "FileNumber", kind="omitted")
    full_file_name = Cpt(EpicsSignalRO, "FullFileName_RBV", string=True, kind="omitted")
    num_captured = Cpt(EpicsSignalRO, "NumCaptured_RBV", kind="omitted")
    status_message = Cpt(EpicsSignalRO, "Status_RBV", string=True, kind="omitted")
    preview = Cpt(EpicsSignalRO, "Preview", kind="omitted")

    acquire_margin_s = 30.0
    """Real seconds allowed beyond the scaled exposure before a trigger times out."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._resource: dict[str, Any] | None = None
        self._compose_datum: Any = None
        self._path = ""
        self._next_index = 0
        self._pending: list[tuple[str, dict[str, Any]]] = []
        self._triggered = False
        self._time_scale: float | None = None
        self._attr_keys: list[str] = []
        self._shape = (0, 0)
        self.angle_index.name = "frame_angle_index"

    @property
    def image_key(self) -> str:
        """Data key of the frames."""
        return f"{self.name}_image"

    def frame_shape(self) -> tuple[int, int]:
        """(rows, cols) of the frames at the current binning."""
        return int(self.size_y.get()), int(self.size_x.get())

    def frame_attribute_keys(self) -> list[str]:
        """Data keys of the IOC's per-frame values, in ``FrameAttrs_RBV`` order (read once)."""
        if not self._attr_keys:
            names = [n for n in self.frame_attr_names.get().split(",") if n]
            self._attr_keys = [FRAME_KEYS.get(n, "{name}_" + n).format(name=self.name) for n in names]
        return self._attr_keys

    def describe(self) -> dict[str, dict[str, Any]]:
        desc = super().describe()
        source = f"PV:{self.prefix}FrameAttrs_RBV"
        for key in self.frame_attribute_keys():
            desc[key] = {"source": source, "dtype": "number", "shape": []}
        rows, cols = self.frame_shape()
        desc[self.image_key] = {
            "source": f"PV:{self.prefix}FullFileName_RBV",
            "dtype": "array",
            "dtype_numpy": "<u2",
            "shape": [rows, cols],
            "dims": ["row", "col"],
            "external": "STREAM:",
        }
        return desc

    def trigger(self) -> DeviceStatus:
        """Expose one frame; done when the IOC has written it to the file."""
        if self._time_scale is None:
            self._time_scale = float(self.time_scale.get())
        real_s = float(self.exposure_s.get()) * self._time_scale
        status = DeviceStatus(self, timeout=real_s + self.acquire_margin_s)

        def done(**kwargs: Any) -> None:
            status.set_finished()

        self._triggered = True
        self.acquire.put(1, callback=done)
        return status

    def read(self) -> dict[str, dict[str, Any]]:
        """Scalar readings; after a trigger, checks that its frame is in the file and queues the
        documents that reference it (see :meth:`collect_asset_docs`)."""
        reading = super().read()
        if not self._triggered:
            return reading
        self._triggered = False
        values = self.frame_attrs.get()
        timestamp = self.frame_attrs.timestamp
        frame = dict(zip(self.frame_attribute_keys(), (float(v) for v in values)))
        index_value = frame["frame_step_index"]
        index = int(index_value) if math.isfinite(index_value) else -1
        if index == 0:
            path = self.full_file_name.get()
            self._path, self._next_index, self._shape = path, 0, self.frame_shape()
            bundle = compose_stream_resource(
                mimetype="application/x-hdf5", uri=f"file://localhost{path}", data_key=self.image_key,
                parameters={"dataset": FRAME_DATASET, "chunk_shape": [1, *self._shape],
                            "join_method": "stack"})
            self._resource, self._compose_datum = bundle.stream_resource_doc, bundle.compose_stream_datum
            self._pending.append(("stream_resource", self._resource))
        if index != self._next_index:
            raise FrameLostError(
                f"{self.name}: expected frame {self._next_index} in {self._path}, the camera reports frame "
                f"{index} ({self.status_message.get()})")
        self._pending.append(("stream_datum", self._compose_datum(
            indices={"start": self._next_index, "stop": self._next_index + 1})))
        self._next_index += 1
        reading.update({key: {"value": value, "timestamp": timestamp} for key, value in frame.items()})
        return reading

    def collect_asset_docs(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """The stream_resource (new file) and stream_datum (each frame) documents since the last call."""
        pending, self._pending = self._pending, []
        yield from pending

    def unstage(self) -> list[Any]:
        self._pending, self._triggered = [], False
        self._path, self._next_index = "", 0
        return super().unstage()
