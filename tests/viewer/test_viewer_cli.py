"""``gi-viewer`` on the command line (headless snapshots, bad arguments), ``viewer()`` from a
session in its own process, and the session publishing its documents for ``--live``."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

from gi_instrument.viewer.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


def _image(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_volume_snapshot_renders_headless(qt_app, specimen_volume, tmp_path, capsys):
    folder, _ = specimen_volume
    plain, enhanced = tmp_path / "plain.png", tmp_path / "clahe.png"
    assert main(["--volume", str(folder), "--signal", "attenuation", "--mip", "18", "--snapshot", str(plain),
                 "--size", "1000,700"]) == 0
    assert f"wrote {plain}" in capsys.readouterr().out
    assert main(["--volume", str(folder), "--signal", "attenuation", "--mip", "18", "--clahe", "31,256,3",
                 "--nlm", "--snapshot", str(enhanced), "--size", "1000,700"]) == 0
    a, b = _image(plain), _image(enhanced)
    assert a.shape == b.shape == (700, 1000, 3)
    assert np.abs(a.astype(int) - b).mean() > 5  # the display options change the picture


@pytest.mark.ioc
def test_run_snapshot(qt_app, live_run, data_dir, tmp_path):
    uid = live_run[0]
    path = tmp_path / "run.png"
    assert main([uid[:8], "--data-dir", str(data_dir), "--stream", "reference", "--scan", "-1", "--step", "3",
                 "--pixel", "100,120", "--snapshot", str(path)]) == 0
    assert path.read_bytes()[:8] == PNG and _image(path).shape == (900, 1400, 3)


def test_viewer_runs_in_its_own_process(specimen_volume, tmp_path):
    """``viewer()`` returns at once with the viewer's process (the session's RunEngine is never
    blocked); here it renders a snapshot and exits."""
    from gi_instrument.viewer import viewer

    path = tmp_path / "process.png"
    proc = viewer(volume=specimen_volume[0], extra=["--snapshot", str(path), "--size", "1000,700"])
    assert proc.wait(timeout=120) == 0
    assert _image(path).shape == (700, 1000, 3)


@pytest.mark.parametrize("argv, message", [
    ([], "give exactly one of RUN"),
    (["-1", "--live"], "give exactly one of RUN"),
    (["--volume", "{folder}", "--signal", "phase"], "the volumes are attenuation, darkfield, delta"),
    (["--volume", "{folder}", "--slice", "18"], "--slice 18 / --mip 1: the xy plane has 18 slices"),
    (["--volume", "{folder}", "--levels", "2,1"], "give LO,HI with HI > LO"),
    (["--volume", "{folder}", "--clahe", "1,256,3"], "CLAHE needs block >= 2 px"),
    (["--volume", "{tmp}"], "no volumes.h5"),
])
def test_bad_arguments_are_refused_before_a_window_opens(qt_app, specimen_volume, tmp_path, capsys, argv, message):
    folder, _ = specimen_volume
    argv = [a.format(folder=folder, tmp=tmp_path) for a in argv] + ["--snapshot", str(tmp_path / "x.png")]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_live_snapshot_waits_for_a_run(qt_app, zmq_proxy, tmp_path):
    """``--live`` with nothing running renders the waiting state after ``--wait-s``."""
    path = tmp_path / "live.png"
    t0 = time.monotonic()
    assert main(["--live", zmq_proxy[1], "--data-dir", str(tmp_path), "--wait-s", "1", "--snapshot", str(path)]) == 0
    assert 1 <= time.monotonic() - t0 < 30
    assert path.read_bytes()[:8] == PNG


@pytest.mark.ioc
def test_session_publishes_to_the_proxy(sim_ioc, zmq_proxy, follow_documents, tmp_path, request):
    from gi_instrument.plans import dark_scan
    from gi_instrument.session import start_session
    from gi_instrument.viewer.live import LiveState

    state = LiveState()
    receiver, probe = follow_documents(*zmq_proxy, state)
    try:
        session = start_session("maast", prefix=sim_ioc.prefix, data_dir=tmp_path, progress=False,
                                zmq_publish=zmq_proxy[0])
        request.addfinalizer(session.heartbeat.stop)   # a heartbeat left beating keeps the tube's watchdog off
        session.RE(dark_scan(session.inst, n_frames=2, exposure_s=1.0))
        deadline = time.monotonic() + 10
        while state.status().running or state.status().uid in ("", "probe"):
            assert time.monotonic() < deadline, "the run never came through the proxy"
            time.sleep(0.05)
    finally:
        probe.close()
        receiver.stop()
    status = state.status()
    assert status.plan_name == "dark_scan" and status.frames_done == 2 and len(status.dark) == 2


def test_gi_queue_server_passes_the_publish_address_to_the_worker(monkeypatch, tmp_path):
    from gi_instrument import queue

    seen = {}
    monkeypatch.setattr(queue, "_run_manager", lambda cmd, env: seen.update(env) or 0)
    assert queue.main(["--data-dir", str(tmp_path), "--zmq-publish", "127.0.0.1:5577"]) == 0
    assert seen[queue.ZMQ_PUBLISH_ENV] == "127.0.0.1:5577"
    startup = (queue.startup_dir() / "00-gi-session.py").read_text()
    assert f'zmq_publish=os.environ.get("{queue.ZMQ_PUBLISH_ENV}")' in startup


@pytest.mark.parametrize("where", ["proxy", "nothing listening"])
def test_a_stopped_receiver_has_closed_its_0mq_socket_and_context(zmq_proxy, where):
    """``LiveReceiver.stop`` returns once its thread has closed the socket it polled and destroyed
    that socket's context (a socket left open would block any later ``Context.term``), also
    when nothing listens at the address; a second ``stop`` does nothing."""
    from gi_instrument.sim.launcher import free_port
    from gi_instrument.viewer.live import LiveReceiver

    address = zmq_proxy[1] if where == "proxy" else f"127.0.0.1:{free_port()}"
    receiver = LiveReceiver(address, lambda name, doc: None).start()
    dispatcher = receiver._dispatcher
    assert not dispatcher._socket.closed and receiver._thread.is_alive()
    receiver.stop()
    assert not receiver._thread.is_alive()
    assert dispatcher._socket.closed and dispatcher._context.closed and dispatcher.loop.is_closed()
    receiver.stop()
