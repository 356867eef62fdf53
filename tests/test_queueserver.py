"""Overnight queue: the RE manager on the startup folder runs a queued ``gi_ct`` into the catalog,
a bad argument fails the item before anything moves, and everything stops cleanly.

Redis is ``fakeredis``'s TCP server (pure Python) in this process; the simulated IOC, the RE manager
and its worker are subprocesses on free loopback ports.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gi_instrument.queue import fake_redis, permissions_path, re_manager_command, startup_dir
from gi_instrument.sim.launcher import SimIOC, free_port

pytestmark = [pytest.mark.ioc, pytest.mark.timeout(240)]

CT_KWARGS = {"exposure_s": 1, "angle_step_deg": 37, "range_deg": 185, "reference_every_deg": 74}
"""5 projections (0, 37, ..., 148 deg), references at indices 0, 2, 4: 8 stepping scans of 5 frames."""
WAIT_S = 60.0


@dataclass
class QueueServer:
    api: Any
    ioc: SimIOC
    data_dir: Path
    log: Path
    zmq_proxy: tuple[str, str]
    """The 0MQ proxy (in, out) the worker publishes its documents to."""


def test_startup_folder_is_installed_with_the_package():
    folder = startup_dir()
    assert folder.is_dir(), folder
    assert (folder / "00-gi-session.py").is_file()
    assert permissions_path().is_file()
    cmd = re_manager_command(redis_addr="127.0.0.1:7000", zmq_control_port=7001, zmq_info_port=7002,
                             existing_plans=Path("/tmp/epd.yaml"))
    assert cmd[cmd.index("--startup-dir") + 1] == str(folder)
    assert cmd[cmd.index("--zmq-control-addr") + 1] == "tcp://127.0.0.1:7001"
    assert cmd[cmd.index("--redis-addr") + 1] == "127.0.0.1:7000"


def _stop_manager(api: Any, proc: subprocess.Popen) -> None:
    """Close the environment and stop the manager in order; terminate/kill only as a fallback."""
    try:
        status = api.status()
        if status["worker_environment_exists"]:
            api.environment_close()
            api.wait_for_idle(timeout=30)
        api.send_request(method="manager_stop", params={"option": "safe_on"})
        proc.wait(timeout=30)
    except (RuntimeError, OSError, KeyError, subprocess.TimeoutExpired) as exc:  # the fallback below stops it
        logging.getLogger(__name__).warning("orderly stop of the RE manager failed: %r", exc)
    finally:
        api.close()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture(scope="module")
def queue_server(tmp_path_factory, zmq_proxy) -> Iterator[QueueServer]:
    import psutil
    from bluesky_queueserver_api.zmq import REManagerAPI

    root = tmp_path_factory.mktemp("queue")
    data_dir, log = root / "gi-data", root / "re-manager.log"
    control, info = free_port(), free_port()
    ioc = SimIOC("maast", time_scale=1e-4, binning=8, seed=2, log_path=root / "ioc.log", data_root=root)
    with fake_redis(free_port()) as redis_addr, ioc:
        env = {**os.environ, **ioc.client_env(), "GI_PROFILE": "maast", "GI_PREFIX": ioc.prefix,
               "GI_DATA_DIR": str(data_dir), "GI_ZMQ_PUBLISH": zmq_proxy[0]}
        cmd = re_manager_command(redis_addr=redis_addr, zmq_control_port=control, zmq_info_port=info,
                                 existing_plans=root / "existing_plans_and_devices.yaml",
                                 redis_name_prefix=f"gitest{control}")
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        api = REManagerAPI(zmq_control_addr=f"tcp://127.0.0.1:{control}",
                           zmq_info_addr=f"tcp://127.0.0.1:{info}", timeout_recv=10.0)
        children: list[psutil.Process] = []
        try:
            api.wait_for_idle(timeout=WAIT_S)
            result = api.environment_open()
            assert result["success"], result
            api.wait_for_idle(timeout=WAIT_S)
            status = api.status()
            assert status["worker_environment_exists"], log.read_text()[-3000:]
            children = psutil.Process(proc.pid).children(recursive=True)
            assert children, "the RE manager runs its manager and worker as child processes"
            yield QueueServer(api=api, ioc=ioc, data_dir=data_dir, log=log, zmq_proxy=zmq_proxy)
        finally:
            _stop_manager(api, proc)
            _, alive = psutil.wait_procs(children, timeout=15)
            for child in alive:
                child.kill()
            assert proc.returncode == 0, f"RE manager exit code {proc.returncode}; log {log}"
            assert not alive, f"RE manager left processes behind: {alive}"


def _run_item(api: Any, name: str, wait_s: float = WAIT_S, **kwargs: Any) -> dict[str, Any]:
    """Queue one plan, start the queue, wait for it to finish; the item's history entry."""
    from bluesky_queueserver_api import BPlan

    added = api.item_add(BPlan(name, **kwargs))
    assert added["success"], added
    uid = added["item"]["item_uid"]
    assert api.queue_start()["success"]
    api.wait_for_idle(timeout=wait_s)
    item = next(i for i in api.history_get()["items"] if i["item_uid"] == uid)
    return item["result"]


def _ioc_state(ioc: SimIOC, monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    """Positions and the frame counter, read straight from the IOC."""
    from caproto.sync.client import read

    for key, value in ioc.client_env().items():
        monkeypatch.setenv(key, value)
    names = ("ROT:Pos_RBV", "G2:Pos_RBV", "SAMPLE:Pos_RBV", "CAM:ArrayCounter_RBV")
    return {name: float(read(ioc.prefix + name, timeout=5, repeater=False).data[0]) for name in names}


def test_plans_are_offered_with_descriptions(queue_server):
    plans = queue_server.api.plans_allowed()["plans_allowed"]
    assert set(plans) == {"gi_ct", "gi_ct_resume", "phase_step", "reference_scan", "dark_scan", "warm_up_tube",
                          "take_test_image", "mv", "count", "scan"}
    devices = queue_server.api.devices_allowed()["devices_allowed"]
    assert {"tube", "g2", "rotation", "sample", "camera"} <= set(devices)
    params = {p["name"]: p for p in plans["gi_ct"]["parameters"]}
    assert "inst" not in params
    assert "s" in params["exposure_s"]["description"]
    assert "float" in params["exposure_s"]["annotation"]["type"]


def test_queued_ct_lands_in_the_catalog(queue_server, monkeypatch, follow_documents):
    import numpy as np

    from gi_instrument.catalog import open_catalog
    from gi_instrument.catalog_follower import wait_for_stop
    from gi_instrument.viewer.live import LiveState

    before = _ioc_state(queue_server.ioc, monkeypatch)
    live = LiveState()  # what gi-viewer --live sees of the worker's run
    receiver, publisher = follow_documents(*queue_server.zmq_proxy, live)
    try:
        result = _run_item(queue_server.api, "gi_ct", **CT_KWARGS)
        deadline = time.monotonic() + 10
        while live.status().running and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        publisher.close()
        receiver.stop()
    assert result["exit_status"] == "completed", (result, queue_server.log.read_text()[-3000:])
    (uid,) = result["run_uids"]
    after = _ioc_state(queue_server.ioc, monkeypatch)
    assert after["CAM:ArrayCounter_RBV"] - before["CAM:ArrayCounter_RBV"] == 2 * 5 + 8 * 5  # darks at both ends
    seen = live.status()
    assert (seen.uid, seen.exit_status, seen.frames_done, seen.projections_done) == (uid, "success", 2 * 5 + 8 * 5, 5)

    run = wait_for_stop(open_catalog(queue_server.data_dir), uid)   # written by the live catalog writer
    assert run.metadata["start"]["plan_name"] == "gi_ct"
    assert run.metadata["start"]["plan_args"]["angle_step_deg"] == 37
    assert run.metadata["stop"]["exit_status"] == "success"
    primary = run["primary"].read()
    assert primary["camera_image"].shape == (25, 256, 256)
    assert sorted(set(np.asarray(primary["frame_angle_index"]).tolist())) == [0, 1, 2, 3, 4]
    reference = run["reference"]["camera_image"].read()
    assert reference.shape == (15, 256, 256)
    assert np.asarray(reference).std() > 0  # real frames, not placeholders


def test_bad_argument_fails_the_item_and_moves_nothing(queue_server, monkeypatch):
    before = _ioc_state(queue_server.ioc, monkeypatch)
    result = _run_item(queue_server.api, "gi_ct", exposure_s=0.1, angle_step_deg=37, range_deg=185,
                       reference_every_deg=74)
    assert result["exit_status"] == "failed"
    assert "exposure_s 0.1 s outside the profile's range" in result["msg"]
    assert result["run_uids"] == []
    assert _ioc_state(queue_server.ioc, monkeypatch) == before
    # the queue stopped with the failed item back at its front; the environment stays open
    api = queue_server.api
    queue = api.queue_get()
    assert [(i["name"], i["kwargs"]["exposure_s"]) for i in queue["items"]] == [("gi_ct", 0.1)]
    assert api.status()["manager_state"] == "idle"
    assert api.status()["worker_environment_exists"]
    assert api.item_remove(pos="front")["success"]


def test_queued_ct_rides_out_a_night_of_faults(queue_server, monkeypatch):
    """The queue server's session has the suspenders: arcs, the interlock, a stall and an IOC
    restart during a queued CT give one completed run with every frame once."""
    import numpy as np

    from gi_instrument.catalog import open_catalog
    from gi_instrument.sim.fault_script import FaultScript, FaultStep

    from test_night_resumed import interruption_causes

    ioc = queue_server.ioc
    for key, value in ioc.client_env().items():
        monkeypatch.setenv(key, value)
    script = FaultScript(ioc.prefix, [
        FaultStep(8, "TUBE:ArcInExposure", 0.3), FaultStep(15, "TUBE:InterlockOpen", 1, hold_s=60.0, reset=0),
        FaultStep(22, "ROT:Stall", 1), FaultStep(28, "TUBE:Arc", 50.0), FaultStep(34, "SIM:Restart", 1.0)],
        time_scale=ioc.time_scale)
    script.start()
    result = _run_item(queue_server.api, "gi_ct", wait_s=180.0, **CT_KWARGS)
    script.join(timeout=30)
    assert script.error is None and len(script.played) == 5, script.error
    assert result["exit_status"] == "completed", (result, queue_server.log.read_text()[-3000:])
    (uid,) = result["run_uids"]
    run = open_catalog(queue_server.data_dir)[uid]
    assert run.metadata["stop"]["exit_status"] == "success"
    for stream, indices in (("primary", range(5)), ("reference", (0, 2, 4))):
        table = run[stream].read()
        got = sorted(zip(np.asarray(table["frame_angle_index"]).tolist(), np.asarray(table["frame_step_index"]).tolist()))
        assert got == [(i, k) for i in indices for k in range(5)], stream
    # each fault is in the run as a suspension or a discarded try, with its cause (under load an
    # arc may land between two exposures and suspend without spoiling a try)
    causes = interruption_causes(run)
    for cause in ("arc", "rotation", "connection lost"):
        assert cause in causes, causes


def _task_outcome(api: Any, started: dict[str, Any]) -> dict[str, Any]:
    """The result of a worker task the manager started (function execution, script upload)."""
    assert started["success"], started
    api.wait_for_completed_task(started["task_uid"], timeout=WAIT_S)
    return api.task_result(started["task_uid"])["result"]


def test_script_upload_and_function_execution_are_refused(queue_server):
    from bluesky_queueserver_api import BFunc

    api = queue_server.api
    with pytest.raises(api.RequestFailedError, match="Function 'start_session' is not allowed .*'primary'"):
        api.function_execute(BFunc("start_session"))
    script = _task_outcome(api, api.script_upload("import os\nuploaded_by_test = os.getpid()\n"))
    assert script["success"] is False and "script upload is disabled" in script["msg"], script
    assert api.status()["worker_environment_exists"]


def test_requeued_failed_ct_resumes_instead_of_restarting(queue_server, monkeypatch):
    from bluesky_queueserver_api import BPlan
    from caproto.sync.client import write

    from gi_instrument.catalog import open_catalog
    from gi_instrument.catalog_follower import wait_for_stop
    from gi_instrument.profile import load_profile
    from ct_process import journal_with_scan

    for key, value in queue_server.ioc.client_env().items():
        monkeypatch.setenv(key, value)
    api, documents = queue_server.api, queue_server.data_dir / "documents"
    before, steps = set(documents.glob("*.jsonl")), load_profile("maast").stepping.steps
    # 37 projections: the CT outlasts the fault's injection (Channel Access search and write)
    ct_kwargs = {**CT_KWARGS, "angle_step_deg": 5, "reference_every_deg": 50}
    added = api.item_add(BPlan("gi_ct", **ct_kwargs))
    assert added["success"], added
    assert api.queue_start()["success"]
    # once the second projection is in, every G2 readback goes off its step: the next scan fails
    # past its retry budget (a single stall would be repeated inside the run); the error is gone
    # before the queue starts again
    deadline = time.monotonic() + WAIT_S
    while journal_with_scan(documents, before, ("projection", 1), steps) is None:
        assert time.monotonic() < deadline, queue_server.log.read_text()[-3000:]
        time.sleep(0.02)
    write(queue_server.ioc.prefix + "G2:PositionError", 0.5, notify=True, timeout=5, repeater=False)
    api.wait_for_idle(timeout=WAIT_S)
    write(queue_server.ioc.prefix + "G2:PositionError", 0.0, notify=True, timeout=5, repeater=False)
    failed = next(i for i in api.history_get()["items"] if i["item_uid"] == added["item"]["item_uid"])["result"]
    assert failed["exit_status"] == "failed" and len(failed["run_uids"]) == 1, failed
    assert [i["name"] for i in api.queue_get()["items"]] == ["gi_ct"]     # back at the front
    assert api.queue_start()["success"]
    api.wait_for_idle(timeout=WAIT_S)
    resumed = api.history_get()["items"][-1]["result"]
    assert resumed["exit_status"] == "completed", (resumed, queue_server.log.read_text()[-3000:])
    start = wait_for_stop(open_catalog(queue_server.data_dir), resumed["run_uids"][0]).metadata["start"]
    assert start["resumes"] == failed["run_uids"][0]
    assert start["queue_request"] == {**start["queue_request"], **ct_kwargs}
    assert start["plan_args"]["start_index"] >= 2     # it went on from where the failed run stopped


def test_standard_plans_move_and_expose_through_the_queue(queue_server, monkeypatch):
    from bluesky_queueserver_api import BPlan

    from gi_instrument.catalog import open_catalog
    from gi_instrument.catalog_follower import wait_for_stop

    api = queue_server.api
    before = _ioc_state(queue_server.ioc, monkeypatch)
    items = [BPlan("mv", "rotation", 12.5, "g2", 1.2), BPlan("warm_up_tube"), BPlan("take_test_image", exposure_s=2),
             BPlan("count", ["camera"], num=2), BPlan("scan", ["camera"], "g2", 0, 1.2, 2)]
    added = api.item_add_batch(items)
    assert added["success"], added
    assert api.queue_start()["success"]
    api.wait_for_idle(timeout=WAIT_S)
    history = api.history_get()["items"][-len(items):]
    assert [i["result"]["exit_status"] for i in history] == ["completed"] * len(items), \
        (history, queue_server.log.read_text()[-3000:])
    after = _ioc_state(queue_server.ioc, monkeypatch)
    assert after["ROT:Pos_RBV"] == pytest.approx(12.5, abs=0.01)
    assert after["CAM:ArrayCounter_RBV"] - before["CAM:ArrayCounter_RBV"] == 1 + 2 + 2
    client = open_catalog(queue_server.data_dir)
    runs = [wait_for_stop(client, i["result"]["run_uids"][0]) for i in history[2:]]   # the live catalog writer's
    assert [run.metadata["start"]["plan_name"] for run in runs] == ["take_test_image", "count", "scan"]
    scan_run = runs[-1]
    assert scan_run["primary"]["camera_image"].shape == (2, 256, 256)
