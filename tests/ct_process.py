"""A CT in a process of its own, as a user's session runs it: :func:`~gi_instrument.session.start_session`
(the document journal, the live catalog writer in a process of its own, the suspenders that ride
out tube faults and lost connections, the heartbeat to the tube's watchdog; ``RE()`` returns once
the catalog has the run). Tests start it with :func:`start_ct_process` and kill it with
:func:`kill_ct_process` (tests/test_catalog_live.py, tests/test_night_resumed.py).

    python tests/ct_process.py DATA_DIR PREFIX '{"exposure_s": 60.0, ...}'   # RE(gi_ct(inst, **kwargs))
    python tests/ct_process.py DATA_DIR PREFIX --resume UID                   # RE(gi_ct_resume(inst, UID))
    python tests/ct_process.py DATA_DIR PREFIX --camera-layout areadetector ...   # an areaDetector camera

Prints ``follower <pid>`` once the session is up; after the run, ``catalog <json>`` (per stream
with frames: the rows and the frames that the catalog holds right after ``RE()`` returned) and
``run <uid>``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


@dataclass
class CTProcess:
    """A running ``ct_process.py`` and the pid of its session's live catalog writer."""

    proc: subprocess.Popen
    follower_pid: int


def start_ct_process(data_dir: str | Path, prefix: str, *args: str) -> CTProcess:
    """Start ``ct_process.py DATA_DIR PREFIX *args``; returns once its session is up."""
    proc = subprocess.Popen([sys.executable, str(Path(__file__)), str(data_dir), prefix, *args],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("follower "), f"ct_process.py did not start its session: {line!r}"
    return CTProcess(proc, int(line.split()[1]))


def wait_for_complete_scan(documents: Path, before: set[Path], scan: tuple[str, int], ct: CTProcess, steps: int,
                           *, ready: Callable[[], bool] = lambda: True, timeout_s: float = 120.0, poll_s: float = 0.05) -> Path:
    """The journal that appeared in ``documents`` beside those in ``before``, once it holds the
    stepping scan ``scan`` ((kind, index), :func:`~gi_instrument.plans.resume.complete_scans`)
    complete and ``ready()`` is true; fails if ``ct`` ends first or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert time.monotonic() < deadline and ct.proc.poll() is None, f"the CT ended before {scan} was complete"
        journal = journal_with_scan(documents, before, scan, steps) if ready() else None
        if journal is not None:
            return journal
        time.sleep(poll_s)


def journal_with_scan(documents: Path, before: set[Path], scan: tuple[str, int], steps: int) -> Path | None:
    """The one journal in ``documents`` beside those in ``before`` if it holds the stepping scan
    ``scan`` ((kind, index)) complete, else None (also while its start document is not written)."""
    from gi_instrument.catalog import read_journal
    from gi_instrument.plans.resume import complete_scans

    new = set(documents.glob("*.jsonl")) - before
    if not new:
        return None
    (journal,) = new
    try:
        return journal if scan in complete_scans(read_journal(journal), steps) else None
    except ValueError:          # the journal is there, its start document not yet
        return None


def kill_ct_process(ct: CTProcess, tube: Any, watchdog_timeout_s: float) -> bool:
    """``kill -9`` the process; wait until the tube's X-rays are off (its heartbeat is gone: the
    tube IOC's watchdog switches them off within ``watchdog_timeout_s`` wall-clock s) and the live
    catalog writer has written what the journal holds and ended. Returns whether the X-rays were
    on right after the kill."""
    os.kill(ct.proc.pid, signal.SIGKILL)
    ct.proc.wait()
    ct.proc.stdout.close()
    xrays_on = bool(tube.xray_on.get(use_monitor=False))
    deadline = time.monotonic() + watchdog_timeout_s + 5
    while tube.xray_on.get(use_monitor=False):
        assert time.monotonic() < deadline, (f"X-rays still on {watchdog_timeout_s + 5:g} s after the kill "
                                             f"(tube: {tube.status_message.get(use_monitor=False)!r})")
        time.sleep(0.1)
    deadline = time.monotonic() + 120            # it runs niced: on a busy machine it takes a while
    while pid_alive(ct.follower_pid):
        assert time.monotonic() < deadline, "the live catalog writer still runs 120 s after the kill"
        time.sleep(0.1)
    return xrays_on


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a child of this process that ended is reaped)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _main(data_dir: str, prefix: str, what: list[str]) -> None:
    from gi_instrument.plans import gi_ct, gi_ct_resume
    from gi_instrument.session import start_session

    layout = "scanner"
    if what[0] == "--camera-layout":
        layout, what = what[1], what[2:]
    session = start_session("maast", prefix, data_dir, progress=False, persistent_md=False, log_file=False,
                            camera_layout=layout)
    print(f"follower {session.catalog_writer.pid}", flush=True)
    if what[0] == "--resume":
        plan = gi_ct_resume(session.inst, what[1], client=session.client)
    else:
        plan = gi_ct(session.inst, **json.loads(what[0]))
    (uid,) = session.RE(plan)
    run = session.client[uid]   # right after RE() returned
    held = {stream: [len(run[stream]["frame_angle_index"].read()), run[stream]["camera_image"].shape[0]]
            for stream in run if "camera_image" in run[stream]}
    print(f"catalog {json.dumps(held)}", flush=True)
    print(f"run {uid}", flush=True)


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2], sys.argv[3:])
