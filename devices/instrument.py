"""The whole scanner as one object, built from a profile and a PV prefix."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ophyd import Device

from gi_instrument.devices.ad_detector import ADSCMOSDetector
from gi_instrument.devices.detector import SCMOSDetector
from gi_instrument.devices.piezo import PiezoStepper
from gi_instrument.devices.stages import RotationStage, SampleStage
from gi_instrument.devices.tube import XrayTube, tube_class
from gi_instrument.profile import Profile
from gi_instrument.pv_interface import CAMERA_LAYOUTS

__all__ = ["GIInstrument", "make_instrument"]


@dataclass
class GIInstrument:
    """The devices of one grating-interferometry CT scanner.

    ``frames_dir`` is where the camera writes its HDF5 files (one sub-directory per run, single
    frames of standard plans in ``single/``); it must be readable by the catalog
    (``catalog_paths().frames``).
    """

    profile: Profile
    tube: XrayTube
    g2: PiezoStepper
    rotation: RotationStage
    sample: SampleStage
    camera: SCMOSDetector | ADSCMOSDetector
    frames_dir: Path

    @property
    def devices(self) -> list[Device]:
        """All devices, tube first."""
        return [self.tube, self.g2, self.rotation, self.sample, self.camera]

    def wait_for_connection(self, timeout_s: float = 10.0) -> None:
        """Connect every PV or raise TimeoutError naming what did not connect."""
        for device in self.devices:
            device.wait_for_connection(timeout=timeout_s)


def make_instrument(profile: Profile, prefix: str, frames_dir: str | Path, *, connect: bool = True,
                    timeout_s: float = 10.0, camera_layout: str = "scanner") -> GIInstrument:
    """Devices for ``profile`` on the IOC(s) under ``prefix`` (e.g. ``"GI:"``).

    Device names (and so the read keys): ``tube``, ``g2``, ``rotation``, ``sample``,
    ``camera``. ``camera_layout`` (:data:`~gi_instrument.pv_interface.CAMERA_LAYOUTS`):
    ``scanner`` (stepping scans on the camera IOC) or ``areadetector`` (a standard areaDetector
    IOC; the camera device steps G2 frame by frame).
    """
    if camera_layout not in CAMERA_LAYOUTS:
        raise ValueError(f"camera_layout must be one of {CAMERA_LAYOUTS}, got {camera_layout!r}")
    camera_class = SCMOSDetector if camera_layout == "scanner" else ADSCMOSDetector
    frames = Path(frames_dir).expanduser().resolve()
    stage = profile.sample_stage
    inst = GIInstrument(
        profile=profile,
        tube=tube_class(profile.source)(f"{prefix}TUBE:", name="tube"),
        g2=PiezoStepper(f"{prefix}G2:", name="g2"),
        rotation=RotationStage(f"{prefix}ROT:", name="rotation"),
        sample=SampleStage(f"{prefix}SAMPLE:", name="sample"),
        camera=camera_class(f"{prefix}CAM:", name="camera"),
        frames_dir=frames,
    )
    inst.camera.beam_tolerance_pct.put(profile.recovery.beam_tolerance_pct)
    if isinstance(inst.camera, ADSCMOSDetector):
        inst.camera.attach(tube=inst.tube, g2=inst.g2, rotation=inst.rotation, sample=inst.sample)
    else:
        inst.camera.single_frames_dir = frames / "single"
    if connect:
        inst.wait_for_connection(timeout_s)
        served = (inst.sample.in_mm.get(), inst.sample.out_mm.get())
        if not all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(served, (stage.in_mm, stage.out_mm))):
            raise ValueError(f"sample stage in/out {served} mm differ from the profile's "
                             f"({stage.in_mm}, {stage.out_mm}) mm ({profile.path})")
    return inst
