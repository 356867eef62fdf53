"""Profiles: the paper's numbers, derived values, and clear errors for bad files."""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

from gi_instrument.profile import ProfileError, load_profile, profile_from_dict


def test_paper_numbers_and_derived_geometry():
    tli, maast = load_profile("tli"), load_profile("maast")
    assert math.isclose(tli.voxel_um, 5.57, abs_tol=0.01)
    assert math.isclose(maast.voxel_um, 8.52, abs_tol=0.01)
    assert (tli.n_projections, tli.n_references) == (1200, 120)
    assert (maast.n_projections, maast.n_references) == (740, 37)
    assert math.isclose(tli.source_g2_cm, 80.4) and math.isclose(maast.source_g2_cm, 108.8)
    assert tli.stepping_positions_um == pytest.approx([0, 0.6, 1.2, 1.8, 2.4])
    assert maast.gratings.g0_period_um is None and tli.gratings.g0_period_um == 1.0


def _maast_dict() -> dict:
    path = Path(load_profile("maast").path)
    return tomllib.loads(path.read_text())


@pytest.mark.parametrize("section, key, value, field", [
    ("stepping", "step_um", 0.5, "stepping.step_um"),               # 5 x 0.5 != 3 um period
    ("source", "voltage_kV", 70.0, "source.voltage_kV"),            # above the tube limit
    ("source", "power_W", 80.0, "source.power_W"),                  # != kV x mA
    ("ct", "reference_every_deg", 5.1, "ct.reference_every_deg"),   # not a multiple of 0.25
    ("ct", "range_deg", 185.1, "ct.range_deg"),
    ("ct", "exposure_s", 90.0, "ct.exposure_s"),                    # above max_exposure_s
    ("sample_stage", "out_mm", 10.0, "sample_stage.out_mm"),        # does not clear the 35 mm FOV
    ("detector", "pixel_um", -1.0, "detector.pixel_um"),
    ("detector", "width_px", 20.5, "detector.width_px"),
    ("performance", "visibility", "16%", "performance.visibility"),
    ("gratings", "g0_period_um", 1.0, "gratings.g0_period_um"),     # MAAST has no G0
    # values in implausible units (m instead of um, m instead of cm, V instead of kV, ...)
    ("detector", "pixel_um", 19.85e-6, "detector.pixel_um"),
    ("geometry", "g1_g2_cm", 0.544, "geometry.g1_g2_cm"),
    ("geometry", "source_g1_cm", 0.544, "geometry.source_g1_cm"),
    ("gratings", "g2_period_um", 3e-6, "gratings.g2_period_um"),
    ("stepping", "step_um", 6e-7, "stepping.step_um"),
    ("source", "voltage_kV", 50000.0, "source.voltage_kV"),
    ("source", "max_voltage_kV", 0.05, "source.max_voltage_kV"),
    ("source", "current_mA", 1.2e-6, "source.current_mA"),
    ("ct", "exposure_s", 60000.0, "ct.exposure_s"),
    ("ct", "min_exposure_s", 1e-6, "ct.min_exposure_s"),
])
def test_bad_values_name_the_field(section, key, value, field):
    data = _maast_dict()
    data[section][key] = value
    with pytest.raises(ProfileError) as err:
        profile_from_dict(data, "bad.toml")
    assert err.value.field_path == field
    assert "bad.toml" in str(err.value) and field in str(err.value)


def test_missing_and_unknown_fields():
    data = _maast_dict()
    del data["source"]["current_mA"]
    with pytest.raises(ProfileError, match=r"\[source.current_mA\] missing"):
        profile_from_dict(data)
    data = _maast_dict()
    data["ct"]["exposure"] = 60  # typo of exposure_s
    with pytest.raises(ProfileError, match=r"\[ct.exposure\] unknown field"):
        profile_from_dict(data)


def test_file_errors(tmp_path):
    with pytest.raises(ProfileError, match="no such profile"):
        load_profile(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("name = 'x'\n[source\n")
    with pytest.raises(ProfileError, match="not valid TOML") as err:
        load_profile(broken)
    assert str(broken) in str(err.value)


def test_talbot_lau_condition_checked():
    path = Path(load_profile("tli").path)
    data = tomllib.loads(path.read_text())
    data["geometry"]["source_g1_cm"] = 30.0  # p0/p2 = 1/3 needs l/d = 1/3
    with pytest.raises(ProfileError, match=r"geometry.source_g1_cm"):
        profile_from_dict(data)


@pytest.mark.parametrize("name", ["tli", "maast"])
def test_round_trip_through_run_metadata(name):
    profile = load_profile(name)
    data = profile.to_dict()            # what gi_ct stores in the start document
    assert profile_from_dict(data) == dataclasses.replace(profile, path="<dict>")


def _as_numpy(data):
    """``data`` with every int as np.int64 and every float as np.float32 where that is exact
    (np.float64 otherwise), bools and strings kept."""
    if isinstance(data, dict):
        return {key: _as_numpy(value) for key, value in data.items()}
    if isinstance(data, bool) or not isinstance(data, (int, float)):
        return data
    if isinstance(data, int):
        return np.int64(data)
    return np.float32(data) if float(np.float32(data)) == data else np.float64(data)


def test_numpy_numbers_are_accepted_as_python_numbers():
    profile = load_profile("maast")
    data = _as_numpy(profile.to_dict())
    assert isinstance(data["detector"]["width_px"], np.int64) and isinstance(data["ct"]["exposure_s"], np.float32)
    back = profile_from_dict(data)
    assert back == dataclasses.replace(profile, path="<dict>")
    assert type(back.detector.width_px) is int and type(back.ct.exposure_s) is float


@pytest.mark.parametrize("section, key, value, message", [
    ("detector", "width_px", np.float64(20.5), "must be a whole number, got np.float64(20.5)"),
    ("detector", "width_px", np.bool_(True), "must be a number, got np.True_"),
    ("ct", "exposure_s", np.float32("nan"), "must be finite, got nan"),
    ("ct", "exposure_s", np.int64(-1), "must be > 0.0001, got -1.0"),
])
def test_bad_numpy_values_are_refused(section, key, value, message):
    data = _maast_dict()
    data[section][key] = value
    with pytest.raises(ProfileError, match=re.escape(message)) as err:
        profile_from_dict(data, "bad.toml")
    assert err.value.field_path == f"{section}.{key}"


def test_a_run_time_setting_is_checked_as_its_profile_field():
    from gi_instrument.profile import check_field

    assert check_field("recovery.watchdog_timeout_s", np.float32(0.5), "TUBE:WatchdogTimeout") == 0.5
    assert type(check_field("detector.width_px", np.int64(512), "x")) is int
    with pytest.raises(ProfileError, match=re.escape("TUBE:WatchdogTimeout: [recovery.watchdog_timeout_s] "
                                                     "must be > 0, got 0.0")):
        check_field("recovery.watchdog_timeout_s", 0, "TUBE:WatchdogTimeout")
