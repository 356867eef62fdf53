"""The simulated camera presented with the standard areaDetector PV layout (``--camera-layout
areadetector``): ``{P}CAM:cam1:`` (camera driver) and ``{P}CAM:HDF1:`` (HDF5 file plugin).

Frames are made and written by the same engine as the scanner layout
(:class:`~gi_instrument.sim.camera.SimCamera`, kept off the wire), so both layouts give the same
data; only the PVs differ. As on a real areaDetector IOC, the camera does not step G2: the client
moves G2, then acquires frame by frame while the HDF5 plugin streams them into one file.
"""

from __future__ import annotations

import os
from typing import Any

from caproto import ChannelType
from caproto.server import PVGroup, SubGroup, pvproperty

from gi_instrument.pv_interface import ADCam, ADHDF5
from gi_instrument.sim.camera import SimCamera

__all__ = ["SimADCamera", "AD_DETECTOR_STATES"]

AD_DETECTOR_STATES = ["Idle", "Acquire", "Readout", "Correct", "Saving", "Aborting", "Error", "Waiting",
                      "Initializing", "Disconnected", "Aborted"]
_STR = dict(dtype=ChannelType.CHAR, max_length=1024)
_RO = dict(read_only=True)


class _Cam(PVGroup):
    """``cam1:``: AcquireTime, Acquire (put 1: ``NumImages`` frames, or one in ``Single`` mode;
    completes when they are exposed and handed to the file plugin), ImageMode, NumImages,
    ArrayCounter, BinX/BinY (one binning for both), ArraySizeX/Y/Z_RBV, DetectorState_RBV,
    StatusMessage_RBV; each setting with its ``_RBV``."""

    acquire_time = pvproperty(name=ADCam.ACQUIRE_TIME, value=1.0, precision=3, units="s")
    acquire_time_rbv = pvproperty(name=ADCam.ACQUIRE_TIME_RBV, value=1.0, precision=3, units="s", **_RO)
    acquire = pvproperty(name=ADCam.ACQUIRE, value=0)
    acquire_rbv = pvproperty(name=ADCam.ACQUIRE_RBV, value=0, **_RO)
    image_mode = pvproperty(name=ADCam.IMAGE_MODE, value="Single", enum_strings=["Single", "Multiple", "Continuous"],
                            dtype=ChannelType.ENUM)
    image_mode_rbv = pvproperty(name=ADCam.IMAGE_MODE_RBV, value="Single",
                                enum_strings=["Single", "Multiple", "Continuous"], dtype=ChannelType.ENUM, **_RO)
    num_images = pvproperty(name=ADCam.NUM_IMAGES, value=1)
    num_images_rbv = pvproperty(name=ADCam.NUM_IMAGES_RBV, value=1, **_RO)
    array_counter = pvproperty(name=ADCam.ARRAY_COUNTER, value=0)
    array_counter_rbv = pvproperty(name=ADCam.ARRAY_COUNTER_RBV, value=0, **_RO)
    bin_x = pvproperty(name=ADCam.BIN_X, value=1)
    bin_x_rbv = pvproperty(name=ADCam.BIN_X_RBV, value=1, **_RO)
    bin_y = pvproperty(name=ADCam.BIN_Y, value=1)
    bin_y_rbv = pvproperty(name=ADCam.BIN_Y_RBV, value=1, **_RO)
    size_x = pvproperty(name=ADCam.ARRAY_SIZE_X_RBV, value=0, **_RO)
    size_y = pvproperty(name=ADCam.ARRAY_SIZE_Y_RBV, value=0, **_RO)
    size_z = pvproperty(name=ADCam.ARRAY_SIZE_Z_RBV, value=0, **_RO)
    state = pvproperty(name=ADCam.DETECTOR_STATE_RBV, value="Idle", enum_strings=AD_DETECTOR_STATES,
                       dtype=ChannelType.ENUM, **_RO)
    status_message = pvproperty(name=ADCam.STATUS_MESSAGE_RBV, value="OK", **_STR, **_RO)

    @property
    def engine(self) -> SimCamera:
        return self.parent.engine

    @acquire_time.putter
    async def acquire_time(self, instance, value: float) -> float:
        await self.engine.acquire_time.write(value)          # validated by the engine
        await self.acquire_time_rbv.write(value)
        return value

    @image_mode.putter
    async def image_mode(self, instance, value: Any) -> Any:
        await self.image_mode_rbv.write(value)
        return value

    @num_images.putter
    async def num_images(self, instance, value: int) -> int:
        if value < 1:
            raise ValueError(f"NumImages must be >= 1, got {value}")
        await self.num_images_rbv.write(value)
        return value

    @array_counter.putter
    async def array_counter(self, instance, value: int) -> int:
        await self.engine.array_counter.write(value)
        await self.array_counter_rbv.write(value)
        return value

    async def set_binning(self, value: int) -> None:
        """Both binnings to ``value`` (the engine accepts one of its BINNINGS), sizes updated."""
        await self.engine.binning.write(value)
        for pv in (self.bin_x, self.bin_y):
            await pv.write(value, verify_value=False)
        for pv in (self.bin_x_rbv, self.bin_y_rbv):
            await pv.write(value)
        await self.size_x.write(self.engine.size_x.value)
        await self.size_y.write(self.engine.size_y.value)

    @bin_x.putter
    async def bin_x(self, instance, value: int) -> int:
        await self.set_binning(value)
        return value

    @bin_y.putter
    async def bin_y(self, instance, value: int) -> int:
        await self.set_binning(value)
        return value

    @acquire.putter
    async def acquire(self, instance, value: int) -> int:
        if not value:
            return 0
        frames = 1 if self.image_mode.value == "Single" else int(self.num_images.value)
        await self.acquire_rbv.write(1)
        await self.state.write("Acquire")
        try:
            for _ in range(frames):
                await self.parent.hdf.expose_one()
        except Exception:
            await self.state.write("Error")
            raise
        finally:
            await self.acquire_rbv.write(0)
            await self.array_counter_rbv.write(self.engine.array_counter.value)
            await self.status_message.write(str(self.engine.status.value))
        await self.state.write("Idle")
        return 0


class _HDF5(PVGroup):
    """``HDF1:``: FilePath, FileName, FileTemplate (printf of path, name, number; must give a
    ``.h5`` path), FileNumber, AutoIncrement, FileWriteMode (Stream only), NumCapture, Capture
    (put 1: open the file, which takes the next NumCapture frames and closes; an existing file is
    never overwritten: the put fails, ``WriteStatus`` = error), NumCaptured_RBV,
    FullFileName_RBV, FilePathExists_RBV, WriteMessage."""

    file_path = pvproperty(name=ADHDF5.FILE_PATH, value="", **_STR)
    file_path_rbv = pvproperty(name=ADHDF5.FILE_PATH_RBV, value="", **_STR, **_RO)
    file_path_exists = pvproperty(name=ADHDF5.FILE_PATH_EXISTS_RBV, value=0, **_RO)
    file_name = pvproperty(name=ADHDF5.FILE_NAME, value="", **_STR)
    file_name_rbv = pvproperty(name=ADHDF5.FILE_NAME_RBV, value="", **_STR, **_RO)
    file_template = pvproperty(name=ADHDF5.FILE_TEMPLATE, value="%s%s_%3.3d.h5", **_STR)
    file_template_rbv = pvproperty(name=ADHDF5.FILE_TEMPLATE_RBV, value="%s%s_%3.3d.h5", **_STR, **_RO)
    file_number = pvproperty(name=ADHDF5.FILE_NUMBER, value=0)
    file_number_rbv = pvproperty(name=ADHDF5.FILE_NUMBER_RBV, value=0, **_RO)
    auto_increment = pvproperty(name=ADHDF5.AUTO_INCREMENT, value="Yes", enum_strings=["No", "Yes"],
                                dtype=ChannelType.ENUM)
    auto_increment_rbv = pvproperty(name=ADHDF5.AUTO_INCREMENT_RBV, value="Yes", enum_strings=["No", "Yes"],
                                    dtype=ChannelType.ENUM, **_RO)
    file_write_mode = pvproperty(name=ADHDF5.FILE_WRITE_MODE, value="Stream",
                                 enum_strings=["Single", "Capture", "Stream"], dtype=ChannelType.ENUM)
    file_write_mode_rbv = pvproperty(name=ADHDF5.FILE_WRITE_MODE_RBV, value="Stream",
                                     enum_strings=["Single", "Capture", "Stream"], dtype=ChannelType.ENUM, **_RO)
    num_capture = pvproperty(name=ADHDF5.NUM_CAPTURE, value=1)
    num_capture_rbv = pvproperty(name=ADHDF5.NUM_CAPTURE_RBV, value=1, **_RO)
    num_captured = pvproperty(name=ADHDF5.NUM_CAPTURED_RBV, value=0, **_RO)
    capture = pvproperty(name=ADHDF5.CAPTURE, value=0)
    capture_rbv = pvproperty(name=ADHDF5.CAPTURE_RBV, value=0, **_RO)
    full_file_name = pvproperty(name=ADHDF5.FULL_FILE_NAME_RBV, value="", **_STR, **_RO)
    write_status = pvproperty(name=ADHDF5.WRITE_STATUS, value="Write OK", enum_strings=["Write OK", "Write error"],
                              dtype=ChannelType.ENUM, **_RO)
    write_message = pvproperty(name=ADHDF5.WRITE_MESSAGE, value="", **_STR, **_RO)
    plugin_type = pvproperty(name=ADHDF5.PLUGIN_TYPE_RBV, value="NDFileHDF5", dtype=ChannelType.STRING, **_RO)

    @property
    def engine(self) -> SimCamera:
        return self.parent.engine

    @file_path.putter
    async def file_path(self, instance, value: str) -> str:
        await self.engine.check_below_data_root(value)
        path = value if value.endswith("/") else value + "/"
        await self.file_path_rbv.write(path)
        await self.file_path_exists.write(int(os.path.isdir(path)))
        return path

    @file_name.putter
    async def file_name(self, instance, value: str) -> str:
        await self.file_name_rbv.write(value)
        return value

    @file_template.putter
    async def file_template(self, instance, value: str) -> str:
        await self.file_template_rbv.write(value)
        return value

    @file_number.putter
    async def file_number(self, instance, value: int) -> int:
        await self.file_number_rbv.write(value)
        return value

    @auto_increment.putter
    async def auto_increment(self, instance, value: Any) -> Any:
        await self.auto_increment_rbv.write(value)
        return value

    @file_write_mode.putter
    async def file_write_mode(self, instance, value: Any) -> Any:
        if value != "Stream":
            raise ValueError(f"the simulated HDF5 plugin writes in Stream mode only, got {value}")
        await self.file_write_mode_rbv.write(value)
        return value

    @num_capture.putter
    async def num_capture(self, instance, value: int) -> int:
        if value < 1:
            raise ValueError(f"NumCapture must be >= 1, got {value}")
        await self.num_capture_rbv.write(value)
        return value

    async def _error(self, message: str) -> None:
        await self.write_status.write("Write error")
        await self.write_message.write(message)
        raise RuntimeError(message)

    @capture.putter
    async def capture(self, instance, value: int) -> int:
        if not value:
            if self.engine._file is not None:
                self.engine._file.close()
            await self.capture_rbv.write(0)
            return 0
        template = self.file_template.value
        conversions = template.count("%") - 2 * template.count("%%")   # printf ignores extra arguments
        try:
            path = template % (self.file_path_rbv.value, self.file_name.value, self.file_number.value)[:conversions]
        except (TypeError, ValueError) as exc:
            await self._error(f"bad FileTemplate {self.file_template.value!r}: {exc}")
        if not path.endswith(".h5"):
            await self._error(f"FileTemplate must give a .h5 file, gives {path}")
        await self.engine.file_path.write(os.path.dirname(path))
        await self.engine.file_name.write(os.path.basename(path)[:-3])
        await self.engine.num_capture.write(int(self.num_capture.value))
        try:
            await self.engine._ensure_file()
        except RuntimeError as exc:
            await self._error(str(exc))
        if self.auto_increment.value == "Yes":
            await self.file_number.write(self.file_number.value + 1)
        await self.full_file_name.write(path)
        await self.num_captured.write(0)
        await self.write_status.write("Write OK")
        await self.write_message.write("")
        await self.capture_rbv.write(1)
        return 1

    async def expose_one(self) -> None:
        """One exposure; while capturing, its frame goes into the open file."""
        frame_file = self.engine._file
        if not self.capture_rbv.value or frame_file is None or frame_file.full:
            await self.engine.clock.sleep(float(self.engine.acquire_time.value))
            await self.engine.array_counter.write(self.engine.array_counter.value + 1)
            return
        await self.engine._acquire_one(frame_file)            # a dropped frame leaves NumCaptured as it was
        await self.parent.drop_frame.write(self.engine.drop_frame.value, verify_value=False)
        await self.num_captured.write(frame_file.count)
        if frame_file.full:
            await self.capture_rbv.write(0)
            await self.capture.write(0, verify_value=False)


class SimADCamera(PVGroup):
    """The simulated sCMOS camera as a standard areaDetector IOC: ``cam1:`` and ``HDF1:``, plus
    ``DropFrame`` (fault injection: the next frame never reaches the file)."""

    cam = SubGroup(_Cam, prefix=ADCam.SUFFIX)
    hdf = SubGroup(_HDF5, prefix=ADHDF5.SUFFIX)
    drop_frame = pvproperty(name=ADHDF5.DROP_FRAME, value=0)

    def __init__(self, *args: Any, engine: SimCamera, binning: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.engine = engine
        self._initial_binning = binning

    @drop_frame.startup
    async def drop_frame(self, instance, async_lib) -> None:
        await self.engine.time_scale.write(self.engine.clock.time_scale)
        await self.cam.set_binning(self._initial_binning)

    @drop_frame.putter
    async def drop_frame(self, instance, value: int) -> int:
        await self.engine.drop_frame.write(value)
        return value

    def close(self) -> None:
        """Close the open file (IOC shutdown)."""
        self.engine.close()
