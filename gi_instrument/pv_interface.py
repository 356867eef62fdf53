"""The PV interface of the scanner, written down once: the hardware boundary.

Every PV the ophyd devices use, with its type, unit, limits, meaning and which side writes it,
and the status messages plans interpret. The simulated IOC (``gi_instrument.sim``), the bridge
IOCs in front of real controllers (``gi_instrument.ioc``) and the ophyd devices
(``gi_instrument.devices``) all take their PV names from here, so no client can tell which
server answers; ``tests/test_pv_conformance.py`` runs the same checks against each of them.

A :class:`PV` is the PV suffix itself (a ``str``) carrying its description. Suffixes are relative
to a group prefix: ``{P}TUBE:``, ``{P}G2:``, ``{P}ROT:``, ``{P}SAMPLE:``, ``{P}CAM:`` (``P`` the
instrument prefix, e.g. ``GI:``). Writers: ``client`` (devices and plans put it), ``ioc`` (the
server publishes it; read-only to clients), ``fault`` (fault injection of the simulator only,
never served by a bridge IOC).

Two camera layouts: ``CAM:`` with the scanner's own stepping-scan PVs (:class:`Camera`, served by
the simulator), or a standard areaDetector IOC (``CAM:cam1:`` and ``CAM:HDF1:``,
:class:`ADCam` and :class:`ADHDF5`, the PV names of the areaDetector camera driver and HDF5 file
plugin, so an ADAndor3 / ADPCO-type camera serves them unchanged).
"""

from __future__ import annotations

from typing import Iterator, Literal

__all__ = ["PV", "Positioner", "Tube", "Piezo", "Axis", "SampleStage", "Camera", "ADCam", "ADHDF5", "SimControl",
           "pvs", "GROUP_PREFIXES", "TUBE_STATES", "STEP_POSITION_ERROR", "FRAME_DROPPED",
           "INTERLOCK_OPEN", "NOT_WARMED_UP", "CONTROLLER_LOST", "FRAME_DATASET", "ATTRIBUTE_GROUP",
           "FRAME_ATTRIBUTES", "DOSE_ATTRIBUTES", "MAX_STEPS", "BINNINGS", "PREVIEW_PX", "CAMERA_LAYOUTS"]

Writer = Literal["client", "ioc", "fault"]


class PV(str):
    """A PV suffix (the string itself) with its type (``float``, ``int``, ``str``, ``"float[]"``
    for a waveform, ``"enum"``), unit, limits (inclusive; None: unbounded), meaning and writer."""

    dtype: object
    unit: str
    meaning: str
    writer: Writer
    limits: tuple[float, float] | None

    def __new__(cls, suffix: str, dtype: object, meaning: str, *, unit: str = "", writer: Writer = "ioc",
                limits: tuple[float, float] | None = None) -> "PV":
        pv = super().__new__(cls, suffix)
        pv.dtype, pv.unit, pv.meaning, pv.writer, pv.limits = dtype, unit, meaning, writer, limits
        return pv


def pvs(group: type, *, writers: tuple[Writer, ...] = ("client", "ioc")) -> Iterator[PV]:
    """The PVs of an interface class (and its bases) written by one of ``writers``."""
    seen: set[str] = set()
    for cls in reversed(group.__mro__):
        for value in vars(cls).values():
            if isinstance(value, PV) and value.writer in writers and value not in seen:
                seen.add(value)
                yield value


# ---------------------------------------------------------------- messages plans interpret
TUBE_STATES = ["Off", "WarmingUp", "Ready", "XrayOn", "Fault"]
"""``TUBE:State_RBV`` enum strings."""
STEP_POSITION_ERROR = "G2 position error"
"""How ``CAM:Status_RBV`` starts when a stepping scan stopped because G2 missed a step."""
FRAME_DROPPED = "frame dropped"
"""How ``CAM:Status_RBV`` starts when an exposed frame never reached the file."""
INTERLOCK_OPEN = "interlock open"
"""How ``TUBE:Status_RBV`` starts when X-rays were refused because the interlock is open."""
NOT_WARMED_UP = "tube not warmed up"
"""How ``TUBE:Status_RBV`` starts when X-rays were refused before a warm-up."""
CONTROLLER_LOST = "controller lost"
"""How a bridge IOC's ``Status_RBV`` starts while its controller does not answer (its readbacks
are then in INVALID / COMM alarm, floats NaN)."""

# ---------------------------------------------------------------- frame files and limits
FRAME_DATASET = "/entry/data/data"
"""Dataset of the frames in each HDF5 file, (frames, rows, cols) uint16."""
ATTRIBUTE_GROUP = "/entry/instrument/NDAttributes"
"""Group with one dataset per per-frame attribute (areaDetector's NDAttributes layout)."""
FRAME_ATTRIBUTES = ["angle_deg", "g2_setpoint_um", "g2_position_um", "sample_x_mm", "exposure_s",
                    "real_exposure_s", "time_s", "voltage_kV", "current_mA", "xray_on"]
"""Values recorded with each frame (``CAM:FrameAttrs_RBV``, followed by ``frame_index``)."""
DOSE_ATTRIBUTES = ["voltage_set_kV", "current_set_mA", "voltage_min_kV", "voltage_max_kV", "current_min_mA",
                   "current_max_mA", "arc", "interlock_open", "attempt"]
"""Further values a scanner-layout camera records with each frame, after :data:`FRAME_ATTRIBUTES`:
the tube's setpoints, extremes and faults over the exposure, and the stepping scan's attempt."""
MAX_STEPS = 64
"""Most frames one ``CAM:StepScan`` request takes (length of ``CAM:StepPositions``)."""
BINNINGS = (1, 2, 4, 8, 16, 32)
"""Detector binnings ``CAM:Binning`` accepts."""
PREVIEW_PX = 64
"""``CAM:Preview`` is PREVIEW_PX x PREVIEW_PX."""
CAMERA_LAYOUTS = ("scanner", "areadetector")
"""``scanner``: :class:`Camera` (stepping scans on the IOC); ``areadetector``: :class:`ADCam` +
:class:`ADHDF5` (the client steps G2 and exposes frame by frame)."""


class Tube:
    """X-ray tube, ``{P}TUBE:``. Setpoints outside the Max* limits are refused by the server."""

    VOLTAGE = PV("Voltage", float, "high-voltage setpoint", unit="kV", writer="client")
    VOLTAGE_RBV = PV("Voltage_RBV", float, "high voltage measured (0 during an arc)", unit="kV")
    CURRENT = PV("Current", float, "tube-current setpoint", unit="mA", writer="client")
    CURRENT_RBV = PV("Current_RBV", float, "tube current measured", unit="mA")
    POWER_RBV = PV("Power_RBV", float, "power on the target (0 with X-rays off)", unit="W")
    XRAY_ON = PV("XrayOn", int, "1: switch X-rays on, 0: off (refused: interlock open, cold tube)",
                 writer="client", limits=(0, 1))
    XRAY_ON_RBV = PV("XrayOn_RBV", int, "1 while X-rays are on", limits=(0, 1))
    STATE_RBV = PV("State_RBV", "enum", f"one of {TUBE_STATES}")
    INTERLOCK_RBV = PV("Interlock_RBV", int, "1: interlock closed (safe to emit)", limits=(0, 1))
    WARMED_UP_RBV = PV("WarmedUp_RBV", int, "1 once the tube is warmed up", limits=(0, 1))
    WARMUP = PV("Warmup", int, "put 1: warm up (completes when warm)", writer="client", limits=(0, 1))
    WARMUP_TIME_RBV = PV("WarmupTime_RBV", float, "duration of a warm-up", unit="s")
    MAX_VOLTAGE_RBV = PV("MaxVoltage_RBV", float, "highest voltage setpoint accepted", unit="kV")
    MAX_CURRENT_RBV = PV("MaxCurrent_RBV", float, "highest current setpoint accepted", unit="mA")
    MAX_POWER_RBV = PV("MaxPower_RBV", float, "highest kV x mA accepted", unit="W")
    STATUS_RBV = PV("Status_RBV", str, "present fault, why X-rays went off, why a command was refused, or OK")
    FAULT_RBV = PV("Fault_RBV", int, "1 during an arc or with kV / mA out of tolerance while emitting",
                   limits=(0, 1))
    LAST_FAULT_RBV = PV("LastFault_RBV", str, "the last fault and when (never erased)")
    TOLERANCE_RBV = PV("Tolerance_RBV", float, "largest deviation of kV / mA from their setpoints", unit="%")
    HEARTBEAT = PV("Heartbeat", int, "written regularly by the controlling client (watchdog)", writer="client")
    WATCHDOG_TIMEOUT = PV("WatchdogTimeout", float, "X-rays off after this long without a heartbeat (in the "
                          "profile's range of recovery.watchdog_timeout_s; other values refused)",
                          unit="s", writer="client")
    # fault injection (simulator)
    INTERLOCK_OPEN = PV("InterlockOpen", int, "1 opens the interlock (X-rays trip off)", writer="fault")
    ARC = PV("Arc", float, "the high voltage collapses for this long", unit="s", writer="fault")
    COLD_START = PV("ColdStart", int, "1: the tube forgets its warm-up", writer="fault")
    ARC_IN_EXPOSURE = PV("ArcInExposure", float, "an arc this long a quarter into the next exposure", unit="s",
                         writer="fault")


class Positioner:
    """Common PVs of a positioner; a put to ``Pos`` completes when the move is done."""

    POS = PV("Pos", float, "setpoint (put completes after the move)", writer="client")
    POS_RBV = PV("Pos_RBV", float, "measured position")
    LOW_LIMIT = PV("LowLimit", float, "lowest setpoint accepted (fixed by the profile or the controller's "
                   "travel, not writable over Channel Access)")
    HIGH_LIMIT = PV("HighLimit", float, "highest setpoint accepted (fixed like LowLimit)")
    STATUS_RBV = PV("Status_RBV", str, "last message (OK, or why a move failed)")
    STALL = PV("Stall", int, "1: the next move stops half-way", writer="fault")


class Piezo(Positioner):
    """G2 piezo, ``{P}G2:``, positions in um."""

    MOVING_RBV = PV("Moving_RBV", int, "1 while moving or settling", limits=(0, 1))
    SETTLE_TIME = PV("SettleTime", float, "wait after a move before it completes", unit="s", writer="client")
    POSITION_ERROR = PV("PositionError", float, "added to every readback", unit="um", writer="fault")


class Axis(Positioner):
    """Rotation stage ``{P}ROT:`` (deg) or sample stage ``{P}SAMPLE:`` (mm)."""

    VELOCITY = PV("Velocity", float, "speed, units/s", writer="client")
    DONE_RBV = PV("Done_RBV", int, "1 when not moving", limits=(0, 1))
    HANG = PV("Hang", int, "1: the next move takes HangTime", writer="fault")
    HANG_TIME = PV("HangTime", float, "duration of a hung move", unit="s", writer="fault")


class SampleStage(Axis):
    """Sample translation stage, ``{P}SAMPLE:``, mm."""

    IN_POS_RBV = PV("InPos_RBV", float, "position with the sample in the beam", unit="mm")
    OUT_POS_RBV = PV("OutPos_RBV", float, "position with the sample clear of the field of view", unit="mm")


class Camera:
    """sCMOS camera with stepping scans on the IOC, ``{P}CAM:`` (layout ``scanner``)."""

    ACQUIRE_TIME = PV("AcquireTime", float, "exposure per frame", unit="s", writer="client", limits=(0, 3600))
    ACQUIRE = PV("Acquire", int, "put 1: one frame (completes when it is in the file)", writer="client")
    ARRAY_COUNTER_RBV = PV("ArrayCounter_RBV", int, "frames exposed since start-up")
    REAL_ACQUIRE_TIME_RBV = PV("RealAcquireTime_RBV", float, "real time the last exposure took", unit="s")
    TIME_SCALE_RBV = PV("TimeScale_RBV", float, "real s per nominal s (1 on hardware)")
    BINNING = PV("Binning", int, f"one of {BINNINGS}", writer="client", limits=(1, 32))
    SIZE_X_RBV = PV("SizeX_RBV", int, "frame columns at the current binning")
    SIZE_Y_RBV = PV("SizeY_RBV", int, "frame rows at the current binning")
    DETECTOR_STATE_RBV = PV("DetectorState_RBV", "enum", "Idle, Acquire, Error")
    STATUS_RBV = PV("Status_RBV", str, f"last message (OK, {STEP_POSITION_ERROR!r}..., {FRAME_DROPPED!r}...)")
    FILE_PATH = PV("FilePath", str, "absolute directory of the next file", writer="client")
    FILE_NAME = PV("FileName", str, "next file name without extension", writer="client")
    NUM_CAPTURE = PV("NumCapture", int, "frames per file", writer="client", limits=(1, 1e9))
    FILE_NUMBER = PV("FileNumber", int, "files opened since start-up (may be reset)", writer="client")
    FULL_FILE_NAME_RBV = PV("FullFileName_RBV", str, "path of the current file")
    NUM_CAPTURED_RBV = PV("NumCaptured_RBV", int, "frames in the current file")
    STEP_POSITIONS = PV("StepPositions", "float[]", f"G2 positions of a stepping scan (<= {MAX_STEPS})",
                        unit="um", writer="client")
    STEP_TOLERANCE = PV("StepTolerance", float, "largest |G2 readback - step| before an exposure",
                        unit="um", writer="client")
    STEP_SCAN = PV("StepScan", int, "put 1: step G2 through StepPositions, one frame each", writer="client")
    STEP_ATTRS_RBV = PV("StepAttrs_RBV", "float[]", "FrameAttrs_RBV rows of the last stepping scan")
    FRAME_ATTR_NAMES_RBV = PV("FrameAttrNames_RBV", str, "comma-separated names of FrameAttrs_RBV")
    FRAME_ATTRS_RBV = PV("FrameAttrs_RBV", "float[]", "values recorded with the last frame")
    PREVIEW = PV("Preview", "float[]", f"{PREVIEW_PX} x {PREVIEW_PX} block means of the last frame")
    ATTEMPT_RBV = PV("Attempt_RBV", int, "attempt number of the last step scan (its file FileName_a<k>.h5)")
    STEP_ABORT = PV("StepAbort", int, "put 1: stop a running step scan after the present exposure", writer="client")
    DROP_FRAME = PV("DropFrame", int, "1: the next frame is exposed but never written", writer="fault")
    ACQUIRE_TIMEOUT = PV("AcquireTimeout", int, "1: the next acquisition hangs for HangTime", writer="fault")
    HANG_TIME = PV("HangTime", float, "duration of a hung acquisition", unit="s", writer="fault")


class ADCam:
    """areaDetector camera driver, ``{P}CAM:cam1:`` (the subset the devices use)."""

    SUFFIX = "cam1:"
    ACQUIRE_TIME = PV("AcquireTime", float, "exposure per frame", unit="s", writer="client")
    ACQUIRE_TIME_RBV = PV("AcquireTime_RBV", float, "exposure per frame", unit="s")
    ACQUIRE = PV("Acquire", int, "put 1: acquire (completes when done)", writer="client")
    ACQUIRE_RBV = PV("Acquire_RBV", int, "1 while acquiring")
    IMAGE_MODE = PV("ImageMode", "enum", "Single, Multiple, Continuous", writer="client")
    IMAGE_MODE_RBV = PV("ImageMode_RBV", "enum", "Single, Multiple, Continuous")
    NUM_IMAGES = PV("NumImages", int, "frames per Acquire in Multiple mode", writer="client")
    NUM_IMAGES_RBV = PV("NumImages_RBV", int, "frames per Acquire in Multiple mode")
    ARRAY_COUNTER = PV("ArrayCounter", int, "frames since reset", writer="client")
    ARRAY_COUNTER_RBV = PV("ArrayCounter_RBV", int, "frames since reset")
    BIN_X = PV("BinX", int, "binning along columns", writer="client")
    BIN_X_RBV = PV("BinX_RBV", int, "binning along columns")
    BIN_Y = PV("BinY", int, "binning along rows", writer="client")
    BIN_Y_RBV = PV("BinY_RBV", int, "binning along rows")
    ARRAY_SIZE_X_RBV = PV("ArraySizeX_RBV", int, "frame columns")
    ARRAY_SIZE_Y_RBV = PV("ArraySizeY_RBV", int, "frame rows")
    ARRAY_SIZE_Z_RBV = PV("ArraySizeZ_RBV", int, "0 for a 2-D frame")
    DETECTOR_STATE_RBV = PV("DetectorState_RBV", "enum", "Idle, Acquire, ..., Error")
    STATUS_MESSAGE_RBV = PV("StatusMessage_RBV", str, "last message")


class ADHDF5:
    """areaDetector HDF5 file plugin, ``{P}CAM:HDF1:`` (the subset the devices use)."""

    SUFFIX = "HDF1:"
    FILE_PATH = PV("FilePath", str, "directory of the next file", writer="client")
    FILE_PATH_RBV = PV("FilePath_RBV", str, "directory of the next file")
    FILE_NAME = PV("FileName", str, "file name", writer="client")
    FILE_NAME_RBV = PV("FileName_RBV", str, "file name")
    FILE_TEMPLATE = PV("FileTemplate", str, "printf template (path, name, number)", writer="client")
    FILE_TEMPLATE_RBV = PV("FileTemplate_RBV", str, "printf template (path, name, number)")
    FILE_NUMBER = PV("FileNumber", int, "number of the next file", writer="client")
    FILE_NUMBER_RBV = PV("FileNumber_RBV", int, "number of the next file")
    AUTO_INCREMENT = PV("AutoIncrement", "enum", "No, Yes", writer="client")
    AUTO_INCREMENT_RBV = PV("AutoIncrement_RBV", "enum", "No, Yes")
    FILE_WRITE_MODE = PV("FileWriteMode", "enum", "Single, Capture, Stream", writer="client")
    FILE_WRITE_MODE_RBV = PV("FileWriteMode_RBV", "enum", "Single, Capture, Stream")
    NUM_CAPTURE = PV("NumCapture", int, "frames per file", writer="client")
    NUM_CAPTURE_RBV = PV("NumCapture_RBV", int, "frames per file")
    NUM_CAPTURED_RBV = PV("NumCaptured_RBV", int, "frames written into the current file")
    CAPTURE = PV("Capture", int, "1: start a file (Stream: closes after NumCapture frames)", writer="client")
    CAPTURE_RBV = PV("Capture_RBV", int, "1 while a file is open")
    FULL_FILE_NAME_RBV = PV("FullFileName_RBV", str, "path of the current / last file")
    WRITE_STATUS = PV("WriteStatus", "enum", "Write OK, Write error")
    WRITE_MESSAGE = PV("WriteMessage", str, "why the last write failed")
    DROP_FRAME = PV("DropFrame", int, "1: the next frame never reaches the file (simulator)", writer="fault")
    FILE_PATH_EXISTS_RBV = PV("FilePathExists_RBV", int, "1 if FilePath is a directory")
    PLUGIN_TYPE_RBV = PV("PluginType_RBV", str, "NDFileHDF5 (checked by ophyd)")


class SimControl:
    """The simulator itself, ``{P}SIM:``."""

    RESTART = PV("Restart", float, "the IOC restarts after this downtime", unit="s", writer="fault")


GROUP_PREFIXES = {"tube": "TUBE:", "g2": "G2:", "rotation": "ROT:", "sample": "SAMPLE:", "camera": "CAM:",
                  "sim": "SIM:"}
"""Group prefix (after the instrument prefix) of each part of the scanner."""
