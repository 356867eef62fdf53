"""Bad inputs found so far are refused before anything moves or is written, with a message
naming them; numpy numbers pass where Python numbers do; limits are not writable over CA, the
tube's watchdog cannot be switched off, and the camera writes only below its data root."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from gi_instrument.plans import (ct_schedule, dark_scan, gi_ct, phase_step, reference_scan,
                                  take_test_image)
from gi_instrument.process_cli import main as gi_process
from gi_instrument.profile import load_profile


def test_numpy_numbers_are_numbers_and_strings_are_not_booleans():
    profile = load_profile("maast")
    sched = ct_schedule(profile, angle_step_deg=np.float32(5.0), range_deg=np.int64(40),
                        reference_every_deg=np.float64(20.0), final_reference=np.bool_(True))
    assert (sched.n_projections, sched.reference_interval, sched.final_reference) == (8, 4, True)
    with pytest.raises(ValueError, match="final_reference must be True or False, got 'no'"):
        ct_schedule(profile, final_reference="no")


@pytest.mark.ioc
@pytest.mark.parametrize("value", [0.0, -1.0, 1e9])
def test_the_tube_watchdog_cannot_be_switched_off_over_channel_access(sim_ioc, value):
    from caproto import ErrorResponseReceived
    from caproto.sync.client import read, write

    name = sim_ioc.prefix + "TUBE:WatchdogTimeout"
    before = read(name, timeout=5).data[0]
    with pytest.raises(ErrorResponseReceived):
        write(name, [value], notify=True, timeout=5)
    assert read(name, timeout=5).data[0] == before == load_profile("maast").recovery.watchdog_timeout_s
    status = bytes(read(sim_ioc.prefix + "TUBE:Status_RBV", timeout=5).data).rstrip(b"\0").decode()
    assert status.startswith("WatchdogTimeout: [recovery.watchdog_timeout_s] must be ") and f"got {value}" in status


def test_the_tube_bridge_refuses_to_switch_its_watchdog_off():
    import asyncio

    from gi_instrument.ioc.cli import _parse_args, build_bridge

    bridge = build_bridge(_parse_args(["tube", "--driver", "kou", "--port", "loop://", "--prefix", "X:"]))

    async def puts() -> None:
        await bridge.watchdog_timeout.write(2.5)
        for value in (0.0, -1.0, 3600.5):
            with pytest.raises(ValueError, match=re.escape("[recovery.watchdog_timeout_s] must be ")):
                await bridge.watchdog_timeout.write(value)

    asyncio.run(puts())
    assert bridge.watchdog_timeout.value == 2.5 and "got 3600.5" in bridge.status.value


@pytest.mark.parametrize("argv, match", [
    (["--memory-gib", "0"], "--memory-gib"),
    (["--mip-slices", "-3"], "--mip-slices"),
    (["--center-px", "nan"], "--center-px"),
])
def test_gi_process_refuses_bad_options(argv, match, capsys):
    with pytest.raises(SystemExit):
        gi_process(["-1", *argv])
    assert match in capsys.readouterr().err


def test_gi_process_refuses_a_folder_without_catalog(tmp_path):
    with pytest.raises(SystemExit, match="no catalog in"):
        gi_process(["-1", "--data-dir", str(tmp_path)])
    assert list(tmp_path.iterdir()) == []                  # nothing created there


@pytest.mark.ioc
def test_numpy_arguments_and_reserved_md(RE, instrument):
    from gi_instrument.plans.metadata import RESERVED_KEYS

    gi_ct(instrument, exposure_s=np.float32(1.0), angle_step_deg=np.int64(5), range_deg=np.float64(10.0),
          reference_every_deg=5, n_darks=np.int64(0), start_index=np.int32(1), g2_origin_um=np.float32(0.5))
    xray = instrument.tube.xray_on.get()
    for key in ("uid", "plan_args", "resumes"):
        assert key in RESERVED_KEYS
        with pytest.raises(ValueError, match=f"md key '{key}' is reserved"):
            gi_ct(instrument, angle_step_deg=5, range_deg=10, reference_every_deg=5, md={key: "x"})
    assert instrument.tube.xray_on.get() == xray


@pytest.mark.ioc
@pytest.mark.parametrize("plan", [phase_step, reference_scan, dark_scan, take_test_image])
@pytest.mark.parametrize("key", ["uid", "plan_args", "resumes", "profile"])
def test_every_plan_refuses_reserved_md_when_called(instrument, plan, key):
    before = instrument.g2.position, instrument.rotation.position, instrument.sample.position
    with pytest.raises(ValueError, match=f"md key '{key}' is reserved"):
        plan(instrument, md={key: "x", "sample": "ok"})   # raised by the call: no message yielded
    assert (instrument.g2.position, instrument.rotation.position, instrument.sample.position) == before


@pytest.mark.ioc
@pytest.mark.parametrize("suffix", ["ROT:LowLimit", "ROT:HighLimit", "SAMPLE:HighLimit", "G2:LowLimit",
                                    "G2:HighLimit"])
def test_limits_are_not_writable_over_channel_access(sim_pv, suffix):
    signal = sim_pv(suffix)
    before = signal.get()
    with pytest.raises(Exception, match="(?i)access|denied|read"):
        signal.put(before + 1.0, wait=True, timeout=5)
    assert signal.get() == before


@pytest.mark.parametrize("argv, match", [
    (["--seed", "-1"], "--seed must be >= 0, got -1"),
    (["--start-delay", "-5"], "--start-delay must be in [0, 3600] s, got -5.0"),
    (["--time-scale", "0"], "--time-scale must be in (0, 1000], got 0.0"),
    (["--parts", "tube,laser"], "--parts must name some of tube,g2,rotation,sample,camera,sim, got tube,laser"),
])
def test_gi_sim_ioc_refuses_bad_options_in_one_line(argv, match):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "gi_instrument.sim.ioc", "--port", "1", *argv],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr, done.stdout) == (2, f"gi-sim-ioc: {match}\n", "")


@pytest.mark.ioc
def test_gi_sim_ioc_refuses_a_port_already_served(sim_ioc):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "gi_instrument.sim.ioc", "--port", str(sim_ioc.port),
                           "--prefix", "OTHER:"], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (f"gi-sim-ioc: port {sim_ioc.port} on 127.0.0.1 is already served "
                                   f"(another IOC?); choose another --port")


@pytest.mark.ioc
@pytest.mark.parametrize("where", ["/etc", "relative/dir", "{root}/../.."])
def test_camera_refuses_a_file_path_outside_its_data_root(sim_ioc, tmp_path_factory, where):
    from epics import caget, caput

    name = sim_ioc.prefix + "CAM:FilePath"
    inside = str(tmp_path_factory.mktemp("frames"))
    caput(name, inside, wait=True, timeout=5)
    deadline = time.monotonic() + 5
    while caget(name, as_string=True, use_monitor=False) != inside:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    caput(name, where.format(root=tmp_path_factory.getbasetemp()), wait=True, timeout=5)
    time.sleep(0.2)
    assert caget(name, as_string=True, use_monitor=False) == inside    # refused, unchanged
    assert "is not a directory below the data root" in caget(sim_ioc.prefix + "CAM:Status_RBV", as_string=True)


def _ad_camera(data_root):
    """The areaDetector camera layout of the simulator, in this process (no Channel Access)."""
    from gi_instrument.sim.ioc import build_scanner

    return build_scanner(load_profile("maast"), "T:", camera_layout="areadetector", data_root=data_root,
                         frame_model="flat").camera


@pytest.mark.parametrize("where", ["/etc", "relative/dir", "{root}/../.."])
def test_area_detector_refuses_a_file_path_outside_its_data_root(tmp_path, where):
    import asyncio

    root = tmp_path / "root"
    root.mkdir()
    camera = _ad_camera(root)
    bad = where.format(root=root)

    async def puts() -> None:
        await camera.hdf.file_path.write(str(root))
        with pytest.raises(ValueError, match=re.escape(f"FilePath '{bad}' is not a directory below the data root {root}")):
            await camera.hdf.file_path.write(bad)

    asyncio.run(puts())
    assert camera.hdf.file_path.value == camera.hdf.file_path_rbv.value == f"{root}/"   # refused, unchanged


def test_area_detector_refuses_a_file_template_outside_its_data_root(tmp_path):
    import asyncio

    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    camera = _ad_camera(root)

    async def capture() -> None:
        await camera.hdf.file_path.write(str(root))
        await camera.hdf.file_template.write(f"{outside}/%.0s%s_%3.3d.h5")   # ignores FilePath
        with pytest.raises(ValueError, match=re.escape(f"FilePath '{outside}' is not a directory below the data root")):
            await camera.hdf.capture.write(1)

    asyncio.run(capture())
    assert camera.hdf.capture_rbv.value == 0 and not outside.exists()
