"""The README runs as written: every fenced block, in order, against the simulator.

Each fenced block is run unless an HTML comment right before it says otherwise:

- ``<!-- readme-test: skip (reason) -->``: not run (needs hardware, installs, interactive, ...);
  a reason is required, and a block without a language must be marked so.
- ``<!-- readme-test: background -->``: a server (``gi-sim-ioc``, ``gi-queue-server``, ``tiled
  serve``); started in the background, waited for until its ports answer, stopped at the end.
- ``<!-- readme-test: session -->``: Python typed at the ``gi-session`` prompt; run with
  ``gi-session --prefix GI: -c BLOCK`` against the simulator started above.

Other ``bash`` blocks run in bash (``-e``), ``python`` blocks in one Python process in order (a
later block sees the names of an earlier one, as in one notebook). Everything runs with the
venv's commands first on PATH, HOME in a temporary directory (so ``~/gi-data`` is a fresh data
directory) and the Channel Access variables the README tells users to set. The README's fixed
ports (5064, 60615/60625, 8000) are replaced by free loopback ports.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from gi_instrument.sim.launcher import free_port

pytestmark = [pytest.mark.ioc, pytest.mark.timeout(1500)]

README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = re.compile(r"<!--\s*readme-test:\s*(skip\s*\((?P<reason>[^)]+)\)|background|session)\s*-->")
FENCE = re.compile(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```", re.S | re.M)
DRIVER = r"""
import json, sys, traceback
namespace = {"__name__": "__main__"}
for line in sys.stdin:
    try:
        exec(compile(json.loads(line), "<README block>", "exec"), namespace)
        print("\x00OK", flush=True)
    except BaseException:
        traceback.print_exc()
        print("\x00ERR", flush=True)
"""


@dataclass
class Block:
    line: int
    lang: str
    body: str
    mode: str  # "run", "skip", "background", "session"


def readme_blocks(text: str) -> list[Block]:
    """The fenced blocks of ``text`` with their mode (see the module docstring)."""
    blocks = []
    for match in FENCE.finditer(text):
        before = text[:match.start()].rstrip().rsplit("\n", 1)[-1]
        marker = MARKER.fullmatch(before.strip())
        mode = "run" if marker is None else marker[1].split()[0].split("(")[0]
        blocks.append(Block(text.count("\n", 0, match.start()) + 1, match["lang"], match["body"], mode))
    return blocks


def test_every_block_is_runnable_or_marked():
    blocks = readme_blocks(README.read_text())
    assert len(blocks) > 15
    unrunnable = [b.line for b in blocks if b.mode == "run" and b.lang not in ("bash", "python")]
    assert not unrunnable, f"README blocks at lines {unrunnable}: no language to run; mark them skip (why)"
    assert {b.mode for b in blocks} == {"run", "skip", "background", "session"}


def _wait_for_ports(ports: list[int], proc: subprocess.Popen, log: Path, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    for port in ports:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"background block did not listen on {port}:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)


def _stop(proc: subprocess.Popen) -> None:
    """Ctrl-C to the block's process group (servers stop cleanly), then SIGKILL if needed."""
    for sig, wait_s in ((signal.SIGINT, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            time.sleep(0.5)  # let the group's other members finish too
        except subprocess.TimeoutExpired:
            continue


def test_readme_runs_as_written(tmp_path):
    bin_dir = Path(sys.executable).parent
    ports = {"ca": free_port(), "repeater": free_port(), "control": free_port(), "info": free_port(),
             "redis": free_port(), "http": free_port()}
    substitutions = {
        "--port 5064": f"--port {ports['ca']}",
        "127.0.0.1:5064": f"127.0.0.1:{ports['ca']}",
        "--fake-redis": f"--fake-redis --redis-addr 127.0.0.1:{ports['redis']} "
                        f"--zmq-control-port {ports['control']} --zmq-info-port {ports['info']}",
        "REManagerAPI()": f"REManagerAPI(zmq_control_addr='tcp://127.0.0.1:{ports['control']}', "
                          f"zmq_info_addr='tcp://127.0.0.1:{ports['info']}')",
        "--port 8000": f"--port {ports['http']}",
        "http://127.0.0.1:8000": f"http://127.0.0.1:{ports['http']}",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EPICS_", "GI_", "TILED_"))}
    home = tmp_path / "home"
    home.mkdir()
    env.update(HOME=str(home), PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", MPLBACKEND="Agg",
               IPYTHONDIR=str(tmp_path / "ipython"), TILED_API_KEY="readmetest0123456789",
               EPICS_CA_ADDR_LIST=f"127.0.0.1:{ports['ca']}", EPICS_CA_AUTO_ADDR_LIST="NO",
               EPICS_CA_REPEATER_PORT=str(ports["repeater"]))
    background: list[subprocess.Popen] = []
    driver = None
    ran = 0
    try:
        for k, block in enumerate(readme_blocks(README.read_text())):
            if block.mode == "skip":
                continue
            body = block.body
            for old, new in substitutions.items():
                body = body.replace(old, new)
            where = f"README line {block.line}"
            if block.mode == "background":
                log = tmp_path / f"background-{k}.log"
                with open(log, "wb") as out:
                    proc = subprocess.Popen(["bash", "-c", body], env=env, cwd=home, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
                background.append(proc)
                _wait_for_ports([p for name, p in ports.items() if name != "repeater" and str(p) in body], proc, log)
            elif block.mode == "session":
                done = subprocess.run([str(bin_dir / "gi-session"), "--prefix", "GI:", "-c", body], env=env,
                                      cwd=home, capture_output=True, text=True, timeout=600)
                assert done.returncode == 0, f"{where}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            elif block.lang == "bash":
                done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", body], env=env, cwd=home,
                                      capture_output=True, text=True, timeout=600)
                assert done.returncode == 0, f"{where}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            else:
                if driver is None:
                    driver = subprocess.Popen([sys.executable, "-c", DRIVER], env=env, cwd=home, text=True,
                                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                              stderr=open(tmp_path / "python.log", "w"))
                driver.stdin.write(json.dumps(body) + "\n")
                driver.stdin.flush()
                output = []
                while (line := driver.stdout.readline()) and not line.startswith("\x00"):
                    output.append(line)
                assert line.startswith("\x00OK"), \
                    f"{where}:\n{''.join(output)[-2000:]}\n{(tmp_path / 'python.log').read_text()[-3000:]}"
            ran += 1
    finally:
        if driver is not None:
            driver.stdin.close()
            driver.wait(timeout=60)
        for proc in reversed(background):
            _stop(proc)
    assert ran >= 15
    data_dir = home / "gi-data"
    assert (data_dir / "catalog.db").is_file() and (data_dir / "runengine-md").is_dir()
    assert (home / "ct-S12.nxs").is_file() and (data_dir / "processed").is_dir()
