"""``gi-session``: the namespace, gi_help on one screen, persistent RE.md and scan_id, the log file,
a missing Channel Access environment in one line, and ``gi-session --sim`` end to end."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import bluesky.plans as bp
import pytest

from gi_instrument.session import start_session
from gi_instrument.session_cli import main, session_namespace

pytestmark = pytest.mark.ioc


def test_namespace_help_and_persistent_metadata(sim_ioc, tmp_path, capsys, request):
    session = start_session("maast", sim_ioc.prefix, tmp_path, progress=False, best_effort=True)
    request.addfinalizer(session.heartbeat.stop)   # a heartbeat left beating keeps the tube's watchdog off
    ns = session_namespace(session)
    for name in ("RE", "db", "inst", "bp", "bps", "bpp", "bec", "tube", "g2", "rotation", "sample", "camera",
                 "gi_ct", "phase_step", "warm_up_tube", "take_test_image", "format_duration", "Key", "gi_help"):
        assert name in ns, name
    assert ns["g2"] is session.inst.g2 and ns["db"] is session.client
    ns["gi_help"]()
    text = capsys.readouterr().out
    assert len(text.splitlines()) <= 24
    assert max(len(line) for line in text.splitlines() if str(tmp_path) not in line) <= 100
    assert sim_ioc.prefix in text and str(tmp_path) in text

    RE = ns["RE"]
    # the fault ride-through of a CT: interlock, tube fault and connection suspenders on this RE
    assert len(session.suspenders) == 3 and set(session.suspenders) == set(RE.suspenders)
    RE.md["operator"] = "ana"
    (first,) = RE(bp.count([ns["camera"]]))
    assert "Transient Scan ID: 1" in capsys.readouterr().out  # the BestEffortCallback's heading
    again = start_session("maast", sim_ioc.prefix, tmp_path, progress=False)  # a later session
    request.addfinalizer(again.heartbeat.stop)
    (second,) = again.RE(bp.count([again.inst.camera]))
    starts = [session.client[uid].metadata["start"] for uid in (first, second)]
    assert [s["scan_id"] for s in starts] == [1, 2]
    assert starts[1]["operator"] == "ana"
    assert (tmp_path / "runengine-md").is_dir()
    log = (tmp_path / "logs" / "gi-instrument.log").read_text()
    assert f"run {first} started: count, scan_id 1" in log and f"run {second} ended: success" in log


def test_no_ioc_is_reported_in_one_line_with_the_fix(sim_ioc, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--prefix", "NOSUCHIOC:", "--data-dir", str(tmp_path), "--timeout-s", "1", "-c", "pass"])
    message = str(exit_info.value.code)
    assert message.startswith("gi-session: no answer from the IOC at prefix NOSUCHIOC:") and "\n" not in message
    assert "EPICS_CA_ADDR_LIST" in message and "gi-session --sim" in message


def test_gi_session_sim_runs_a_command_and_stops_its_ioc(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPICS_")}
    env.update(IPYTHONDIR=str(tmp_path / "ipython"), GI_DATA_DIR=str(tmp_path / "data"))
    command = ("RE(warm_up_tube(inst)); RE(bps.mv(rotation, 10)); (uid,) = RE(bp.count([camera], num=2)); "
               "print('FRAMES', db[uid]['primary']['camera_image'].shape, 'AT', rotation.position)")
    gi_session = Path(sys.executable).with_name("gi-session")
    done = subprocess.run([str(gi_session), "--sim", "--time-scale", "1e-4", "-c", command], env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "FRAMES (2, 256, 256) AT 10.0" in done.stdout
    assert done.stderr == "", done.stderr  # no warnings, banners or disconnect messages
    port = int(done.stdout.split("127.0.0.1:")[1].split(",")[0])
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass  # the simulated IOC stopped with the session
    assert (tmp_path / "data" / "logs" / "gi-sim-ioc.log").is_file()

    failing = subprocess.run([str(gi_session), "--sim", "--time-scale", "1e-4", "-c", "RE(bp.count([nothing]))"],
                             env=env, capture_output=True, text=True, timeout=180)
    assert failing.returncode != 0
