"""One call that sets up an acquisition session: profile, devices, RunEngine, catalog, progress."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gi_instrument.catalog import CatalogPaths, catalog_paths, document_journal, open_catalog, tiled_writer
from gi_instrument.devices import GIInstrument, make_instrument
from gi_instrument.profile import Profile, load_profile
from gi_instrument.progress import FrameProgress
from gi_instrument.suspenders import Heartbeat, install_suspenders

__all__ = ["Session", "start_session"]


@dataclass
class Session:
    """What a user works with: ``RE(gi_ct(session.inst, ...))``, ``session.client[-1]``."""

    profile: Profile
    inst: GIInstrument
    RE: Any
    client: Any
    paths: CatalogPaths
    suspenders: list[Any]
    """bluesky suspenders on the tube and the connections (:mod:`gi_instrument.suspenders`)."""
    heartbeat: Heartbeat
    """Keeps the tube's watchdog from switching the X-rays off while this process lives."""


def start_session(profile: str | Path | Profile = "maast", prefix: str = "GI:", data_dir: str | Path | None = None,
                  *, progress: bool = True, timeout_s: float = 10.0, camera_layout: str = "scanner",
                  zmq_publish: str | None = None) -> Session:
    """Connect the devices under ``prefix``, open the catalog in ``data_dir`` (default
    ``$GI_DATA_DIR`` or ``~/gi-data``) and subscribe it, the document journal and the frame
    progress to a RunEngine. The RunEngine gets the suspenders of
    :func:`~gi_instrument.suspenders.install_suspenders` (a CT waits out tube faults and lost
    connections and repeats the interrupted stepping scan), and a heartbeat to the tube's
    watchdog starts (X-rays off ``recovery.watchdog_timeout_s`` after this process is gone).

    Channel Access settings (``EPICS_CA_ADDR_LIST`` ...) come from the environment.
    ``camera_layout="areadetector"`` drives a standard areaDetector camera IOC
    (see :func:`~gi_instrument.devices.make_instrument`).
    ``zmq_publish`` (``"host:port"``, a ``bluesky-0MQ-proxy``'s in port) also publishes every
    document there for ``gi-viewer --live`` (a 0MQ PUB socket: never waits for a viewer).
    """
    from bluesky import RunEngine

    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    paths = catalog_paths(data_dir)
    inst = make_instrument(prof, prefix, paths.frames, timeout_s=timeout_s, camera_layout=camera_layout)
    client = open_catalog(paths.root)
    RE = RunEngine({}, call_returns_result=False)
    RE.subscribe(document_journal(paths))
    RE.subscribe(tiled_writer(client))
    if progress:
        RE.subscribe(FrameProgress())
    if zmq_publish:
        from bluesky.callbacks.zmq import Publisher

        RE.subscribe(Publisher(zmq_publish))
    suspenders = install_suspenders(RE, inst)
    heartbeat = Heartbeat(inst.tube.heartbeat, prof.recovery.watchdog_timeout_s / 5.0)
    return Session(profile=prof, inst=inst, RE=RE, client=client, paths=paths, suspenders=suspenders,
                   heartbeat=heartbeat)
