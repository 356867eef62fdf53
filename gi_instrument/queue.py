"""Queue overnight scans with bluesky-queueserver: the startup folder and ``gi-queue-server``.

The startup folder (``profiles/queueserver/``, installed as ``gi_instrument/profiles/queueserver``)
builds one session with :func:`gi_instrument.session.start_session` from ``GI_PROFILE``,
``GI_PREFIX`` and ``GI_DATA_DIR`` and exposes ``gi_ct``, ``phase_step``, ``reference_scan`` and
``dark_scan`` with the instrument bound. ``gi-queue-server`` runs ``start-re-manager`` on it with
its control and info sockets on loopback::

    gi-queue-server --profile maast --prefix GI: --redis-addr 127.0.0.1:6379
    gi-queue-server --fake-redis          # no Redis installed: an in-process fakeredis server
    gi-queue-server --zmq-publish 127.0.0.1:5577   # documents to a bluesky-0MQ-proxy (gi-viewer --live)

Clients (``qserver``, ``bluesky_queueserver_api.zmq.REManagerAPI``) talk to
``tcp://127.0.0.1:60615`` (control) and ``tcp://127.0.0.1:60625`` (info, console output).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from gi_instrument.catalog import DATA_DIR_ENV, catalog_paths

__all__ = ["LOOPBACK", "REDIS_PORT", "ZMQ_CONTROL_PORT", "ZMQ_INFO_PORT", "ZMQ_PUBLISH_ENV", "existing_plans_path",
           "fake_redis",
           "main", "permissions_path", "re_manager_command", "startup_dir"]

LOOPBACK = "127.0.0.1"
ZMQ_CONTROL_PORT = 60615
"""The queue server's default control port (``qserver`` and the API use it unless told otherwise)."""
ZMQ_INFO_PORT = 60625
"""The queue server's default info port (console output)."""
REDIS_PORT = 6379
ZMQ_PUBLISH_ENV = "GI_ZMQ_PUBLISH"
"""Environment variable through which the startup folder gets the 0MQ proxy address: the RE
manager of bluesky-queueserver 0.0.25 has no option for it (its RunEngine is the startup's)."""
PERMISSIONS_FILE = "user_group_permissions.yaml"
EXISTING_PLANS_FILE = "existing_plans_and_devices.yaml"


def startup_dir() -> Path:
    """The installed startup folder for ``start-re-manager --startup-dir``."""
    return Path(str(resources.files("gi_instrument.profiles") / "queueserver"))


def permissions_path() -> Path:
    """The user-group permissions file in :func:`startup_dir` (group ``primary`` may queue the four
    plans)."""
    return startup_dir() / PERMISSIONS_FILE


def existing_plans_path(data_dir: str | Path | None = None) -> Path:
    """Where the RE manager keeps its list of existing plans and devices: ``DATA_DIR/queueserver/``
    (written when the environment opens; the installed startup folder may be read-only)."""
    folder = catalog_paths(data_dir).root / "queueserver"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / EXISTING_PLANS_FILE


def re_manager_command(*, redis_addr: str = f"{LOOPBACK}:{REDIS_PORT}", zmq_control_port: int = ZMQ_CONTROL_PORT,
                       zmq_info_port: int = ZMQ_INFO_PORT, existing_plans: str | Path,
                       redis_name_prefix: str = "gi", startup: str | Path | None = None) -> list[str]:
    """The ``start-re-manager`` command line: startup folder and permissions, Redis at
    ``redis_addr`` (``host:port``) with keys under ``redis_name_prefix``, control/info sockets on
    loopback at the given ports, console output published on the info socket."""
    folder = Path(startup) if startup is not None else startup_dir()
    exe = shutil.which("start-re-manager", path=os.path.dirname(sys.executable)) or shutil.which("start-re-manager")
    if exe is None:
        raise FileNotFoundError("start-re-manager not found: pip install bluesky-queueserver")
    return [exe, "--startup-dir", str(folder),
            "--user-group-permissions", str(folder / PERMISSIONS_FILE),
            "--existing-plans-devices", str(existing_plans),
            "--update-existing-plans-devices", "ENVIRONMENT_OPEN",
            "--redis-addr", redis_addr, "--redis-name-prefix", redis_name_prefix,
            "--zmq-control-addr", f"tcp://{LOOPBACK}:{zmq_control_port}",
            "--zmq-info-addr", f"tcp://{LOOPBACK}:{zmq_info_port}",
            "--zmq-publish-console", "ON"]


@contextmanager
def fake_redis(port: int, host: str = LOOPBACK) -> Iterator[str]:
    """An in-memory Redis (``fakeredis.TcpFakeServer``, pure Python) on ``host:port`` served from a
    thread while the context is open; yields ``"host:port"``. The queue lives only as long as the
    server: use a real ``redis-server`` where a queue must survive a restart."""
    try:
        from fakeredis import TcpFakeServer
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("fakeredis is not installed: pip install fakeredis") from exc
    server = TcpFakeServer((host, port))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="fake-redis", daemon=True)
    thread.start()
    try:
        yield f"{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _run_manager(cmd: list[str], env: dict[str, str], stop_timeout_s: float = 15.0) -> int:
    """Run the RE manager in the foreground until it exits (``qserver manager stop``); SIGTERM is
    passed on, and Ctrl-C (which the manager receives from the terminal too) stops it, with
    SIGTERM after ``stop_timeout_s`` s if it is still running."""
    proc = subprocess.Popen(cmd, env=env)

    def forward(signum: int, _frame: object) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        try:
            return proc.wait()
        except KeyboardInterrupt:
            try:
                return proc.wait(timeout=stop_timeout_s)
            except subprocess.TimeoutExpired:
                forward(signal.SIGTERM, None)
                return proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """``gi-queue-server``: start the RE manager for one instrument (blocks until stopped)."""
    from gi_instrument import cli

    parser = cli.parser("gi-queue-server", "Start the bluesky-queueserver RE manager for one instrument (blocks until\n"
                        "stopped: qserver manager stop, or Ctrl-C). Its worker builds the same session as\n"
                        "gi-session and runs the queued plans; qserver and the API talk to it on loopback.")
    parser.add_argument("--profile", default=os.environ.get("GI_PROFILE", "maast"),
                        help="profile name or path (GI_PROFILE; default maast)")
    parser.add_argument("--prefix", default=os.environ.get("GI_PREFIX", "GI:"),
                        help="PV prefix of the IOC (GI_PREFIX; default GI:)")
    parser.add_argument("--data-dir", default=None,
                        help=f"data directory (${DATA_DIR_ENV} or ~/gi-data)")
    parser.add_argument("--redis-addr", default=f"{LOOPBACK}:{REDIS_PORT}", help="Redis host:port")
    parser.add_argument("--redis-name-prefix", default="gi", help="prefix of the queue's Redis keys")
    parser.add_argument("--fake-redis", action="store_true",
                        help="serve an in-memory Redis (fakeredis) at --redis-addr from this process")
    parser.add_argument("--zmq-control-port", type=int, default=ZMQ_CONTROL_PORT, help="control port on 127.0.0.1")
    parser.add_argument("--zmq-info-port", type=int, default=ZMQ_INFO_PORT, help="info/console port on 127.0.0.1")
    parser.add_argument("--zmq-publish", metavar="HOST:PORT", default=os.environ.get(ZMQ_PUBLISH_ENV),
                        help="publish the worker's documents to this bluesky-0MQ-proxy in port (gi-viewer --live)")
    args = parser.parse_args(argv)
    return cli.run("gi-queue-server", lambda: _serve(args))


def _serve(args: argparse.Namespace) -> int:
    from gi_instrument.profile import load_profile

    load_profile(args.profile)  # a bad profile fails here, not later in the worker
    data_dir = catalog_paths(args.data_dir).root
    env = {**os.environ, "GI_PROFILE": str(args.profile), "GI_PREFIX": args.prefix, DATA_DIR_ENV: str(data_dir)}
    if args.zmq_publish:
        env[ZMQ_PUBLISH_ENV] = args.zmq_publish
    cmd = re_manager_command(redis_addr=args.redis_addr, zmq_control_port=args.zmq_control_port,
                             zmq_info_port=args.zmq_info_port, existing_plans=existing_plans_path(data_dir),
                             redis_name_prefix=args.redis_name_prefix)
    print(f"gi-queue-server: {args.profile} at {args.prefix}, data in {data_dir}, control "
          f"tcp://{LOOPBACK}:{args.zmq_control_port}, Redis {args.redis_addr}"
          f"{' (fakeredis)' if args.fake_redis else ''}", flush=True)
    if not args.fake_redis:
        return _run_manager(cmd, env)
    host, _, port = args.redis_addr.rpartition(":")
    with fake_redis(int(port), host or LOOPBACK):
        return _run_manager(cmd, env)


if __name__ == "__main__":
    sys.exit(main())
