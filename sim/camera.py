"""The simulated sCMOS camera: exposes, asks the scanner model for a frame, writes it to HDF5."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import numpy as np
from caproto import ChannelType
from caproto.server import PVGroup, pvproperty

from gi_instrument.profile import Profile
from gi_instrument.pv_interface import (BINNINGS, DOSE_ATTRIBUTES, FRAME_DROPPED, MAX_STEPS, PREVIEW_PX,
                                        STEP_POSITION_ERROR, Camera)
from gi_instrument.pv_interface import FRAME_ATTRIBUTES as _BASE_ATTRIBUTES
from gi_instrument.sim.axis import SimAxis
from gi_instrument.sim.clock import SimClock
from gi_instrument.sim.frame_writer import FrameFile
from gi_instrument.sim.piezo import SimPiezo
from gi_instrument.sim.tube import SimTube

__all__ = ["SimCamera", "FrameModel", "PREVIEW_PX", "BINNINGS", "FRAME_ATTRIBUTES", "MAX_STEPS"]

FRAME_ATTRIBUTES = [*_BASE_ATTRIBUTES, *DOSE_ATTRIBUTES]
"""Per-frame values this camera stores beside each frame (``/entry/instrument/NDAttributes``)
and publishes in ``FrameAttrs_RBV``. The tube's values are those of the exposure's
:class:`~gi_instrument.sim.tube.DoseWindow` (``xray_on`` = 1 when X-rays were on throughout);
``attempt`` is the stepping scan's attempt number (-1 for a single ``Acquire``)."""
_ATTR_NAMES = ",".join([*FRAME_ATTRIBUTES, "frame_index"])

_INLINE_PIXELS = 512 * 512
"""Frames up to this size are made on the event loop (a few ms); larger ones on a worker."""

_STR = dict(dtype=ChannelType.CHAR, max_length=1024)


class FrameModel(Protocol):
    """What the camera needs from a physics model (see ``gi_instrument.sim.scanner_model``)."""

    def frame(self, *, angle_deg: float, g2_um: float, sample_offset_mm: float, exposure_s: float,
              current_mA: float, xray_on: bool, time_s: float, binning: int = 1) -> np.ndarray: ...

    def prefetch(self, *, angle_deg: float, sample_offset_mm: float, binning: int = 1) -> None: ...

    noise_state: dict[str, Any]
    """State of the noise generator, carried across an IOC restart (:mod:`gi_instrument.sim.world`)."""


class SimCamera(PVGroup):
    """sCMOS camera PVs with a built-in HDF5 writer.

    Acquisition: ``AcquireTime`` (nominal s per frame), ``Acquire`` (put 1: one frame; the put
    completes when the frame is on disk), ``ArrayCounter_RBV``, ``RealAcquireTime_RBV`` (real s
    slept for the last frame), ``TimeScale_RBV``, ``Binning`` (1, 2, 4, ..., 32),
    ``SizeX_RBV`` / ``SizeY_RBV`` (frame columns / rows), ``DetectorState_RBV``, ``Status_RBV``.
    Files: ``FilePath`` (absolute directory below the IOC's data root), ``FileName`` (without extension), ``NumCapture``
    (frames per file), ``FileNumber`` (files opened so far), ``FullFileName_RBV``,
    ``NumCaptured_RBV`` (frames in the current file).
    A new file opens on the first frame after ``FileName``/``FilePath`` change and closes when
    it holds ``NumCapture`` frames; an existing file is never overwritten (Acquire fails).
    ``FrameAttrs_RBV`` holds the values recorded with the last frame (names, comma-separated, in
    ``FrameAttrNames_RBV``: angle, G2 setpoint and readback, sample position, exposures, time,
    tube settings, and last ``frame_index`` = the frame's index in its file), so a client gets
    them all in one read. ``Preview`` is a 64 x 64 float waveform of the last frame (block means).
    Stepping: ``StepPositions`` (G2 positions, um, up to 64), ``StepTolerance`` (um), ``StepScan``
    (put 1: at each position the piezo moves and settles, its readback is checked against the
    tolerance before the exposure, and one frame is taken; the put completes when all are
    written), ``StepAttrs_RBV`` (the ``FrameAttrs_RBV`` rows of those frames, concatenated), so
    a stepping scan is one request and one read for a client. Every step scan is an attempt
    with a file of its own, ``FileName_a<k>.h5`` with ``k`` (``Attempt_RBV``) the first number
    not on disk, so a repeated scan never meets the file of an earlier one; ``StepAttrs_RBV``
    and ``FrameAttrs_RBV`` are cleared when a scan starts, so no value of an earlier attempt can
    be read as this one's. ``StepAbort`` (put 1) stops a running step scan after the present
    exposure (it fails with "aborted"); a new step scan waits for a running one to end.
    Fault injection: ``DropFrame`` (1: the next frame is exposed but never written),
    ``AcquireTimeout`` (1: the next Acquire hangs for ``HangTime`` nominal s).
    """

    acquire_time = pvproperty(name=Camera.ACQUIRE_TIME, value=1.0, precision=3, units="s")
    acquire = pvproperty(name=Camera.ACQUIRE, value=0)
    array_counter = pvproperty(name=Camera.ARRAY_COUNTER_RBV, value=0, read_only=True)
    real_acquire_time = pvproperty(name=Camera.REAL_ACQUIRE_TIME_RBV, value=0.0, precision=6, units="s",
                                   read_only=True)
    time_scale = pvproperty(name=Camera.TIME_SCALE_RBV, value=1.0, precision=6, read_only=True)
    binning = pvproperty(name=Camera.BINNING, value=1)
    size_x = pvproperty(name=Camera.SIZE_X_RBV, value=0, read_only=True)
    size_y = pvproperty(name=Camera.SIZE_Y_RBV, value=0, read_only=True)
    state = pvproperty(name=Camera.DETECTOR_STATE_RBV, value="Idle", enum_strings=["Idle", "Acquire", "Error"],
                       dtype=ChannelType.ENUM, read_only=True)
    status = pvproperty(name=Camera.STATUS_RBV, value="OK", read_only=True, **_STR)
    file_path = pvproperty(name=Camera.FILE_PATH, value="", **_STR)
    file_name = pvproperty(name=Camera.FILE_NAME, value="", **_STR)
    num_capture = pvproperty(name=Camera.NUM_CAPTURE, value=1)
    file_number = pvproperty(name=Camera.FILE_NUMBER, value=0)
    full_file_name = pvproperty(name=Camera.FULL_FILE_NAME_RBV, value="", read_only=True, **_STR)
    num_captured = pvproperty(name=Camera.NUM_CAPTURED_RBV, value=0, read_only=True)
    step_positions = pvproperty(name=Camera.STEP_POSITIONS, value=[0.0], dtype=ChannelType.DOUBLE,
                                max_length=MAX_STEPS, units="um")
    step_tolerance = pvproperty(name=Camera.STEP_TOLERANCE, value=0.05, precision=4, units="um")
    step_scan = pvproperty(name=Camera.STEP_SCAN, value=0)
    step_attrs = pvproperty(name=Camera.STEP_ATTRS_RBV, value=[float("nan")], dtype=ChannelType.DOUBLE,
                            max_length=MAX_STEPS * (len(FRAME_ATTRIBUTES) + 1), read_only=True)
    frame_attr_names = pvproperty(name=Camera.FRAME_ATTR_NAMES_RBV, value=_ATTR_NAMES, read_only=True, **_STR)
    frame_attrs = pvproperty(name=Camera.FRAME_ATTRS_RBV, value=[float("nan")] * (len(FRAME_ATTRIBUTES) + 1),
                             dtype=ChannelType.DOUBLE, max_length=len(FRAME_ATTRIBUTES) + 1, read_only=True)
    preview = pvproperty(name=Camera.PREVIEW, value=np.zeros(PREVIEW_PX * PREVIEW_PX, dtype=np.float32),
                         dtype=ChannelType.FLOAT, max_length=PREVIEW_PX * PREVIEW_PX, read_only=True)
    attempt = pvproperty(name=Camera.ATTEMPT_RBV, value=-1, read_only=True)
    step_abort = pvproperty(name=Camera.STEP_ABORT, value=0)
    drop_frame = pvproperty(name=Camera.DROP_FRAME, value=0)
    acquire_timeout = pvproperty(name=Camera.ACQUIRE_TIMEOUT, value=0)
    hang_time = pvproperty(name=Camera.HANG_TIME, value=3600.0, units="s")

    def __init__(self, *args, clock: SimClock, profile: Profile, model: FrameModel, tube: SimTube,
                 piezo: SimPiezo, rotation: SimAxis, sample: SimAxis, binning: int = 1,
                 data_root: str | Path = "/", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.data_root = Path(os.path.realpath(data_root))
        """Directory the camera writes below (a ``FilePath`` elsewhere is refused)."""
        self.clock, self.profile, self.model = clock, profile, model
        self.tube, self.piezo, self.rotation, self.sample = tube, piezo, rotation, sample
        self._initial_binning = binning
        self._file: FrameFile | None = None
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="camera-io")
        self._prefetcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="camera-prefetch")
        self._angles_seen: list[float] = []
        self._abort = asyncio.Event()
        self._scan_lock = asyncio.Lock()

    @property
    def frame_shape(self) -> tuple[int, int]:
        """(rows, cols) of a frame at the current binning."""
        b = int(self.binning.value)
        return self.profile.detector.height_px // b, self.profile.detector.width_px // b

    @acquire.startup
    async def acquire(self, instance, async_lib) -> None:
        await self.time_scale.write(self.clock.time_scale)
        await self.binning.write(self._initial_binning)

    @binning.putter
    async def binning(self, instance, value: int) -> int:
        if value not in BINNINGS:
            await self.status.write(f"binning must be one of {BINNINGS}, got {value}")
            raise ValueError(f"binning must be one of {BINNINGS}, got {value}")
        if self._file is not None and not self._file.full:
            await self.status.write("cannot change binning while a file is being written")
            raise RuntimeError("cannot change binning while a file is being written")
        d = self.profile.detector
        await self.size_x.write(d.width_px // value)
        await self.size_y.write(d.height_px // value)
        return value

    @acquire_time.putter
    async def acquire_time(self, instance, value: float) -> float:
        if not 0 < value <= 3600:
            raise ValueError(f"AcquireTime must be in (0, 3600] s, got {value}")
        return value

    async def check_below_data_root(self, path: str) -> None:
        """ValueError (and ``Status_RBV`` says why) unless ``path`` is an absolute directory below
        the data root (after resolving ``..`` and links)."""
        real = Path(os.path.realpath(path)) if os.path.isabs(path) else None
        if real is None or not real.is_relative_to(self.data_root):
            message = f"FilePath {path!r} is not a directory below the data root {self.data_root}"
            await self.status.write(message)
            raise ValueError(message)

    @file_path.putter
    async def file_path(self, instance, value: str) -> str:
        await self.check_below_data_root(value)
        return value

    @num_capture.putter
    async def num_capture(self, instance, value: int) -> int:
        if value < 1:
            raise ValueError(f"NumCapture must be >= 1, got {value}")
        return value

    def _target_path(self) -> Path:
        directory, name = self.file_path.value, self.file_name.value
        if not directory or not os.path.isabs(directory):
            raise ValueError(f"FilePath must be an absolute directory, got {directory!r}")
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"FileName must be a plain file name, got {name!r}")
        return Path(directory) / f"{name}.h5"

    async def _fail(self, message: str) -> None:
        await self.status.write(message)
        await self.state.write("Error")
        raise RuntimeError(message)

    async def _ensure_file(self, *, new_attempt: bool = False) -> FrameFile:
        """The file the next frame goes to; with ``new_attempt`` always a new one, named for the
        first attempt number not on disk (``Attempt_RBV``)."""
        try:
            path = self._target_path()
        except ValueError as exc:
            await self._fail(str(exc))
        if new_attempt:
            k = 0
            while (attempt_path := path.with_name(f"{path.stem}_a{k}.h5")).exists():
                k += 1
            path = attempt_path
            await self.attempt.write(k)
        elif self._file is not None and self._file.path == path and not self._file.full:
            return self._file
        if self._file is not None:
            self._file.close()
        self._file = None
        try:
            self._file = FrameFile(path, int(self.num_capture.value), self.frame_shape, FRAME_ATTRIBUTES)
        except (OSError, ValueError) as exc:
            await self._fail(f"cannot open {path}: {exc}")
        await self.full_file_name.write(str(path))
        await self.file_number.write(self.file_number.value + 1)
        await self.num_captured.write(0)
        return self._file

    @acquire.putter
    async def acquire(self, instance, value: int) -> int:
        if value:
            await self._acquire_one(await self._ensure_file())
            await self.state.write("Idle")
        return 0

    @step_scan.putter
    async def step_scan(self, instance, value: int) -> int:
        """Step G2 through ``StepPositions`` with one frame at each (all into the current file);
        the put completes when every frame is written, or at the first failure (a G2 readback
        further than ``StepTolerance`` from its step, checked before exposing, a dropped frame,
        or any error; ``Status_RBV`` says which)."""
        if not value:
            return 0
        async with self._scan_lock:
            self._abort.clear()
            await self.step_attrs.write([float("nan")])
            await self.frame_attrs.write([float("nan")] * (len(FRAME_ATTRIBUTES) + 1))
            await self._step_scan(list(self.step_positions.value))
        return 0

    @step_abort.putter
    async def step_abort(self, instance, value: int) -> int:
        if value:
            self._abort.set()
        return 0

    async def _step_scan(self, positions: list[float]) -> None:
        """The frames of a step scan, pipelined: each is rendered and written on the worker
        thread while G2 steps and the next one is exposed; its values are published (and a
        dropped frame fails the scan) once it is on disk. The put completes after the last."""
        frame_file = await self._ensure_file(new_attempt=True)
        rows: list[float] = []
        loop = asyncio.get_running_loop()
        rendering: tuple[asyncio.Future, dict[str, float], bool] | None = None
        try:
            for target in positions:
                if self._abort.is_set():
                    await self._fail("step scan aborted")
                try:
                    true_um = await self.piezo.move_to(target)
                except (ValueError, RuntimeError) as exc:
                    await self._fail(f"{STEP_POSITION_ERROR}: {exc}")
                if abs(true_um - target) > self.step_tolerance.value:
                    await self._fail(f"{STEP_POSITION_ERROR}: G2 at {true_um:.4f} um for step {target} um "
                                     f"(tolerance {self.step_tolerance.value} um)")
                attrs, drop = await self._expose(attempt=int(self.attempt.value))
                if rendering is not None:
                    rows.extend(await self._scan_frame_written(*rendering))
                rendering = (loop.run_in_executor(self._io, self._render_and_write, frame_file, attrs, drop),
                             attrs, drop)
                if self._abort.is_set():
                    await self._fail("step scan aborted")
            if rendering is not None:
                last, rendering = rendering, None
                rows.extend(await self._scan_frame_written(*last))
        finally:
            if rendering is not None:       # the file is never closed under the worker
                await asyncio.wait([rendering[0]])
            frame_file.close()          # an attempt's file is complete or left partial, never reopened
            self._file = None
            await self.step_attrs.write(rows or [float("nan")])
        await self.state.write("Idle")

    async def _scan_frame_written(self, rendered: asyncio.Future, attrs: dict[str, float], drop: bool) -> list[float]:
        """Publish a step scan's frame once rendered and written; its row. A dropped frame fails."""
        row = await self._publish(attrs, drop, await rendered)
        if not row:
            await self._fail(f"{FRAME_DROPPED}: stepping scan stopped")
        return row

    async def _acquire_one(self, frame_file: FrameFile, attempt: int = -1) -> list[float]:
        """Expose, render and write one frame; returns its FrameAttrs_RBV row ([] if dropped)."""
        attrs, drop = await self._expose(attempt)
        if frame_file.shape[0] * frame_file.shape[1] <= _INLINE_PIXELS:
            rendered = self._render_and_write(frame_file, attrs, drop)
        else:  # large frames on the worker thread, so the IOC keeps answering meanwhile
            loop = asyncio.get_running_loop()
            rendered = await loop.run_in_executor(self._io, self._render_and_write, frame_file, attrs, drop)
        return await self._publish(attrs, drop, rendered)

    async def _expose(self, attempt: int) -> tuple[dict[str, float], bool]:
        """Expose one frame: the values recorded with it, and whether it is to be dropped
        (``DropFrame``, which this resets)."""
        await self.state.write("Acquire")
        exposure_s = float(self.acquire_time.value)
        if self.acquire_timeout.value:
            await self.acquire_timeout.write(0)
            await self.clock.sleep(self.hang_time.value, until=self._abort)
        tube = self.tube
        window = tube.open_window()
        real_s = await tube.expose(exposure_s, until=self._abort)
        dose = tube.close_window(window)
        attrs = {
            "angle_deg": self.rotation.pos_rbv.value,
            "g2_setpoint_um": self.piezo.pos.value,
            "g2_position_um": self.piezo.pos_rbv.value,
            "sample_x_mm": self.sample.pos_rbv.value,
            "exposure_s": exposure_s,
            "real_exposure_s": real_s,
            "time_s": self.clock.now_s(),
            "voltage_kV": tube.voltage_rbv.value,
            "current_mA": tube.current_rbv.value,
            "voltage_set_kV": tube.voltage.value,
            "current_set_mA": tube.current.value,
            **dose.frame_values(),
            "attempt": float(attempt),
        }
        drop = bool(self.drop_frame.value)
        if drop:
            await self.drop_frame.write(0)
        return attrs, drop

    async def _publish(self, attrs: dict[str, float], drop: bool, rendered: tuple[np.ndarray, int]) -> list[float]:
        """Publish a rendered frame (counters, ``FrameAttrs_RBV``, preview, status); its row,
        [] when it was dropped."""
        frame, index = rendered
        await self.real_acquire_time.write(attrs["real_exposure_s"])
        await self.array_counter.write(self.array_counter.value + 1)
        if drop:
            await self.status.write(f"{FRAME_DROPPED} (fault injection)")
            return []
        await self.num_captured.write(index + 1)
        self._prefetch_next_angle(attrs)
        row = [*(attrs[name] for name in FRAME_ATTRIBUTES), float(index)]
        await self.frame_attrs.write(row)
        await self.preview.write(_preview(frame))
        await self.status.write("OK")
        return row

    def _render_and_write(self, frame_file: FrameFile, attrs: dict[str, float],
                          drop: bool) -> tuple[np.ndarray, int]:
        """Compute the frame and append it to the file (unless dropped); (frame, index in file)."""
        frame = self.model.frame(
            angle_deg=attrs["angle_deg"], g2_um=attrs["g2_position_um"],
            sample_offset_mm=attrs["sample_x_mm"] - self.profile.sample_stage.in_mm,
            exposure_s=attrs["exposure_s"], current_mA=attrs["current_mA"],
            xray_on=bool(attrs["xray_on"]), time_s=attrs["time_s"], binning=int(self.binning.value))
        index = -1 if drop else frame_file.write(frame, attrs)
        return frame, index

    def _prefetch_next_angle(self, attrs: dict[str, float]) -> None:
        """At the first frame of a new angle (sample in), queue the projections of the angle a
        CT visits next (same step again) on a worker of its own, so they are ready in time."""
        offset = attrs["sample_x_mm"] - self.profile.sample_stage.in_mm
        angle = attrs["angle_deg"]
        if abs(offset) > 1e-6 or (self._angles_seen and self._angles_seen[-1] == angle):
            return
        self._angles_seen = [*self._angles_seen[-1:], angle]
        if len(self._angles_seen) == 2:
            ahead = 2 * angle - self._angles_seen[0]
            self._prefetcher.submit(self.model.prefetch, angle_deg=ahead, sample_offset_mm=0.0,
                            binning=int(self.binning.value))

    def close(self) -> None:
        """Close the open file (IOC shutdown)."""
        if self._file is not None:
            self._file.close()


def _preview(frame: np.ndarray) -> np.ndarray:
    """Block-mean of a frame down to PREVIEW_PX x PREVIEW_PX (float32, flattened)."""
    rows, cols = frame.shape
    by, bx = max(rows // PREVIEW_PX, 1), max(cols // PREVIEW_PX, 1)
    small = frame[: by * PREVIEW_PX, : bx * PREVIEW_PX].reshape(PREVIEW_PX, by, PREVIEW_PX, bx).mean(axis=(1, 3))
    return small.astype(np.float32).ravel()
