"""Shared fixtures: a simulated IOC on free loopback ports, the instrument, a RunEngine and an
embedded catalog, each started once per test session (the catalog takes seconds to open)."""

from __future__ import annotations

import faulthandler
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import zmq

SPARE_CA_PORTS: list[int] = []
"""Free loopback ports in the session's Channel Access address list (see ``sim_ioc``)."""


def _close_sockets_without_term(self: zmq.Context) -> None:
    """A 0MQ context collected with open sockets has them closed with linger 0 and is not
    terminated. pyzmq's own ``__del__`` calls ``destroy()``, whose ``term()`` waits until every
    socket of the context is closed, also one that a library's thread still holds (an asyncio
    socket is polled through its file descriptor, so ``term`` cannot interrupt it): pytest's
    final garbage collection then blocked for ever, after every test had passed. The process
    ends right after; its 0MQ threads end with it."""
    if not self._shadow and not self.closed:
        for socket in list(getattr(self, "_sockets", None) or []):
            if socket is not None and not socket.closed:
                socket.close(linger=0)


zmq.Context.__del__ = _close_sockets_without_term

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
"""``../shared`` beside the checkout (real data); tests that need it skip when it is absent."""


@pytest.fixture(scope="session")
def sim_ioc(tmp_path_factory):
    """A MAAST simulated IOC at binning 8 (256 x 256 frames), time scale 1e-4, on free ports."""
    from gi_instrument.sim.launcher import LOOPBACK, SimIOC, free_port

    log = tmp_path_factory.mktemp("ioc") / "ioc.log"
    ioc = SimIOC("maast", time_scale=1e-4, binning=8, seed=1, log_path=log,
                 data_root=tmp_path_factory.getbasetemp())
    ioc.apply_client_env()
    # ports for further IOCs (bridges, another camera layout): Channel Access clients read their
    # address list once, so it names these ports from the start
    SPARE_CA_PORTS.extend(free_port() for _ in range(12))
    os.environ["EPICS_CA_ADDR_LIST"] += "".join(f" {LOOPBACK}:{port}" for port in SPARE_CA_PORTS)
    with ioc:
        yield ioc


@pytest.fixture(scope="session")
def spare_ca_port(sim_ioc):
    """``spare_ca_port()``: a Channel Access port the session's clients already search (one IOC each)."""
    return SPARE_CA_PORTS.pop


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("gi-data")


@pytest.fixture(scope="session")
def catalog(data_dir):
    from gi_instrument.catalog import open_catalog

    return open_catalog(data_dir)


@pytest.fixture(scope="session")
def instrument(sim_ioc, data_dir):
    from gi_instrument.catalog import catalog_paths
    from gi_instrument.devices import make_instrument
    from gi_instrument.profile import load_profile

    return make_instrument(load_profile("maast"), sim_ioc.prefix, catalog_paths(data_dir).frames)


@pytest.fixture(scope="session")
def RE(catalog):
    """A RunEngine whose runs are written to the session's catalog; collects all documents."""
    from bluesky import RunEngine

    from gi_instrument.catalog import tiled_writer

    engine = RunEngine({}, call_returns_result=False)
    engine.subscribe(tiled_writer(catalog))
    return engine


@pytest.fixture
def documents(RE):
    """Documents of the runs made during one test, as (name, doc) pairs."""
    docs: list[tuple[str, dict]] = []
    token = RE.subscribe(lambda name, doc: docs.append((name, doc)))
    yield docs
    RE.unsubscribe(token)


@pytest.fixture(scope="session")
def sim_pv(sim_ioc):
    """``sim_pv("CAM:DropFrame")``: a connected EpicsSignal on the simulated IOC (fault injection)."""
    from ophyd import EpicsSignal

    cache: dict[str, EpicsSignal] = {}

    def get(suffix: str) -> EpicsSignal:
        if suffix not in cache:
            cache[suffix] = EpicsSignal(sim_ioc.prefix + suffix, name=suffix.replace(":", "_").lower())
            cache[suffix].wait_for_connection(timeout=10)
        return cache[suffix]

    return get


@pytest.fixture(scope="session")
def zmq_proxy():
    """``bluesky-0MQ-proxy`` on two free loopback ports; yields (in address, out address)."""
    from gi_instrument.sim.launcher import free_port

    exe = shutil.which("bluesky-0MQ-proxy", path=os.path.dirname(sys.executable))
    in_addr, out_addr = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen([exe, "--in-address", in_addr, "--out-address", out_addr],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    try:
        yield in_addr, out_addr
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def follow_documents():
    """:func:`follow`."""
    return follow


def follow(in_addr: str, out_addr: str, callback):
    """Subscribe ``callback`` to the proxy's out port as ``gi-viewer --live`` does (a
    :class:`~gi_instrument.viewer.live.LiveReceiver`) and make sure documents come through (0MQ
    subscriptions take a moment to reach the publishers: a probe stop document is published from
    here until one arrives). Returns (receiver, a Publisher on the in port); stop/close both."""
    from gi_instrument.session import zmq_publisher
    from gi_instrument.viewer.live import LiveReceiver

    seen: list[str] = []
    receiver = LiveReceiver(out_addr, lambda name, doc: (seen.append(name), callback(name, doc))).start()
    publisher = zmq_publisher(in_addr)
    deadline = time.monotonic() + 20
    while not seen:
        assert time.monotonic() < deadline, "nothing came through the 0MQ proxy"
        publisher("stop", {"uid": "probe", "run_start": "probe", "exit_status": "probe"})
        time.sleep(0.1)
    return receiver, publisher


def pytest_configure(config):
    """One port registry for the whole test run (:data:`~gi_instrument.sim.launcher.PORT_REGISTRY_ENV`):
    the parallel workers inherit it, so no two of them pick the same free port."""
    if not hasattr(config, "workerinput"):
        from gi_instrument.sim.launcher import PORT_REGISTRY_ENV

        handle, path = tempfile.mkstemp(prefix="gi-test-ports-")
        os.close(handle)
        os.environ[PORT_REGISTRY_ENV] = config._gi_port_registry = path


SHARED_SESSION_FIXTURES = {"test_night_resumed.py": "night", "test_unattended_ct.py": "night"}
"""Test modules that share an expensive session-scoped fixture (``undisturbed_cts``), by group."""
LONG_GROUPS = ("tests/test_readme.py", "night", "tests/validation/test_bead_target.py", "tests/test_session_cli.py",
               "tests/test_queueserver.py", "tests/test_ad_camera.py", "tests/test_catalog_live.py", "viewer",
               "tests/processing/test_process_cli_chain.py", "tests/test_runs_export.py")
"""The groups of most time (over a minute each, longest first, as measured with ``--durations=0``),
started first so that none of them runs alone at the end."""


def worker_group(nodeid: str) -> str:
    """The group of tests that one parallel worker runs together: a test module (its
    module-scoped fixtures are made once), all viewer tests (their session-scoped runs and
    renderings) and the modules of :data:`SHARED_SESSION_FIXTURES`."""
    path = nodeid.split("::")[0]
    name = path.rsplit("/", 1)[-1]
    return SHARED_SESSION_FIXTURES.get(name) or ("viewer" if path.startswith("tests/viewer/") else path)


def pytest_collection_modifyitems(config, items):
    """The long groups first (a stable sort: the order within each group is kept)."""
    strays = {item.path.name for item in items if "undisturbed_cts" in item.fixturenames} - set(SHARED_SESSION_FIXTURES)
    if strays:
        raise pytest.UsageError(f"{sorted(strays)} use undisturbed_cts: add them to SHARED_SESSION_FIXTURES")
    rank = {group: k for k, group in enumerate(LONG_GROUPS)}
    items.sort(key=lambda item: rank.get(worker_group(item.nodeid), len(rank)))


def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist (the suite runs on 2 workers, pyproject's addopts) sends each
    :func:`worker_group` whole to one worker, in collection order. (Its ``loadgroup`` mode does not
    group under pytest 9: the group suffix it sets on node ids is not seen.)"""
    from xdist.scheduler import LoadScopeScheduling

    class Groups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return worker_group(nodeid)

    config.option.loadscopereorder = False
    return Groups(config, log)


def pytest_unconfigure(config):
    """Remove the port registry; then, if the process has not ended 120 s after the last test (a
    thread or a socket holding it), print every thread's stack and exit with status 1, instead of
    hanging until CI's timeout."""
    registry = getattr(config, "_gi_port_registry", None)
    if registry is not None:
        Path(registry).unlink(missing_ok=True)
    faulthandler.dump_traceback_later(120, exit=True)


@pytest.fixture(scope="session")
def undisturbed_cts(RE, instrument, catalog, tmp_path_factory):
    """Two undisturbed runs of :data:`delta_comparison.CT` (uids) and their 5 central delta
    slices, A and B (:func:`delta_comparison.central_delta`), shared by the night-of-faults tests."""
    from delta_comparison import CT, central_delta

    from gi_instrument.plans import gi_ct
    from gi_instrument.processing.catalog_reader import open_ct_run

    uids = [RE(gi_ct(instrument, **CT, md={"case": f"undisturbed {k}"}))[0] for k in range(2)]
    out = tmp_path_factory.mktemp("undisturbed")
    return uids, [central_delta(open_ct_run(catalog, uid), out / uid[:8]) for uid in uids]
