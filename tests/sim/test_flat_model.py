"""The frame model without physics: frames of the detector's binned shape at the dark offset."""

from __future__ import annotations

import numpy as np

from gi_instrument.profile import load_profile
from gi_instrument.sim.flat_model import FlatFrameModel
from gi_instrument.sim.ioc import build_scanner


def test_frames_are_the_dark_offset_at_the_binned_shape():
    profile = load_profile("maast")
    frame = FlatFrameModel(profile).frame(angle_deg=3.0, g2_um=0.6, sample_offset_mm=0.0, exposure_s=10.0,
                                          current_mA=1.0, xray_on=True, time_s=0.0, binning=8)
    det = profile.detector
    assert frame.shape == (det.height_px // 8, det.width_px // 8) and frame.dtype == np.uint16
    assert np.all(frame == round(profile.simulation.dark_offset_adu))


def test_the_ioc_serves_it_on_request():
    scanner = build_scanner(load_profile("maast"), "T:", frame_model="flat")
    assert isinstance(scanner.model, FlatFrameModel)
    assert scanner.model.noise_state == {}                    # an IOC restart carries nothing
    scanner.model.noise_state = {}
