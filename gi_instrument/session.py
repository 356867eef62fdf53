"""One call that sets up an acquisition session: profile, devices, RunEngine, catalog, progress."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gi_instrument.catalog import CatalogPaths, catalog_paths, document_journal, open_catalog
from gi_instrument.catalog_follower import start_follower
from gi_instrument.devices import GIInstrument, make_instrument
from gi_instrument.profile import Profile, load_profile
from gi_instrument.progress import FrameProgress

__all__ = ["Session", "start_session"]


@dataclass
class Session:
    """What a user works with: ``RE(gi_ct(session.inst, ...))``, ``session.client[-1]``."""

    profile: Profile
    inst: GIInstrument
    RE: Any
    client: Any
    paths: CatalogPaths
    catalog_writer: Any = None
    """The live catalog writer process (:mod:`gi_instrument.catalog_follower`)."""


def start_session(profile: str | Path | Profile = "maast", prefix: str = "GI:", data_dir: str | Path | None = None,
                  *, progress: bool = True, timeout_s: float = 10.0, camera_layout: str = "scanner",
                  zmq_publish: str | None = None) -> Session:
    """Connect the devices under ``prefix``, open the catalog in ``data_dir`` (default
    ``$GI_DATA_DIR`` or ``~/gi-data``), subscribe the document journal and the frame progress to a
    RunEngine and start the live catalog writer that follows the journal in a process of its own
    (:mod:`gi_instrument.catalog_follower`; it ends after this process).

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
    if progress:
        RE.subscribe(FrameProgress())
    if zmq_publish:
        from bluesky.callbacks.zmq import Publisher

        RE.subscribe(Publisher(zmq_publish))
    return Session(profile=prof, inst=inst, RE=RE, client=client, paths=paths,
                   catalog_writer=start_follower(paths))
