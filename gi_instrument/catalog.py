"""The local run catalog: an embedded tiled catalog in one data directory, no server to start.

Layout of a data directory (default ``~/gi-data``, or ``$GI_DATA_DIR``, or ``--data-dir``)::

    DIR/catalog.db      SQLite: run metadata and document structure
    DIR/tables.sqlite   SQLite: the events' scalar columns (G2 positions, angles, times, ...)
    DIR/files/          tiled's writable storage
    DIR/frames/         the detector's HDF5 files (registered as readable storage)
    DIR/documents/      a JSON-lines journal of every run's documents, written as they are
                        made, from which :func:`ingest_journal` rebuilds a run in the catalog
    DIR/tiled-serve.yml the configuration that serves this directory with ``tiled serve config``

Frames are never copied into the catalog: each run references the HDF5 files the detector wrote
(StreamResource / StreamDatum documents). ``tiled serve config DIR/tiled-serve.yml --api-key KEY``
serves the same directory to other machines, read back the same way (``client[-1]``: the root
carries the bluesky catalog spec, which a bare ``tiled serve catalog`` would not set).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["DATA_DIR_ENV", "CatalogPaths", "default_data_dir", "catalog_paths", "open_catalog", "tiled_writer",
           "document_journal", "ingest_journal"]

DATA_DIR_ENV = "GI_DATA_DIR"
_RUN_SPECS = [{"name": "CatalogOfBlueskyRuns", "version": "3.0"}]


class CatalogPaths:
    """Absolute paths of one data directory (see the module docstring)."""

    def __init__(self, data_dir: str | Path) -> None:
        self.root = Path(data_dir).expanduser().resolve()
        self.catalog_db = self.root / "catalog.db"
        self.tables_db = self.root / "tables.sqlite"
        self.files = self.root / "files"
        self.frames = self.root / "frames"
        self.documents = self.root / "documents"

        self.serve_config = self.root / "tiled-serve.yml"

    def create(self) -> "CatalogPaths":
        """Create the directories and the serving configuration (idempotent)."""
        for path in (self.root, self.files, self.frames, self.documents):
            path.mkdir(parents=True, exist_ok=True)
        text = self.serve_config_text()
        if not self.serve_config.is_file() or self.serve_config.read_text() != text:
            self.serve_config.write_text(text)
        return self

    def serve_config_text(self) -> str:
        """``tiled serve config`` configuration of this directory: the same catalog, storage
        and root spec as :func:`open_catalog`."""
        spec = _RUN_SPECS[0]
        return (f"# tiled serve config {self.serve_config} --api-key $TILED_API_KEY\n"
                "trees:\n  - path: /\n    tree: catalog\n    args:\n"
                f'      uri: "sqlite:///{self.catalog_db}"\n'
                f'      writable_storage: ["{self.files}", "sqlite:///{self.tables_db}"]\n'
                f'      readable_storage: ["{self.frames}"]\n'
                f'      specs: [{{name: {spec["name"]}, version: "{spec["version"]}"}}]\n')


def default_data_dir() -> Path:
    """``$GI_DATA_DIR`` if set, else ``~/gi-data``: the one default of every command."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / "gi-data"


def catalog_paths(data_dir: str | Path | None = None, *, create: bool = True) -> CatalogPaths:
    """Paths of ``data_dir`` (default :func:`default_data_dir`), directories created unless
    ``create`` is False (read-only commands create nothing)."""
    paths = CatalogPaths(default_data_dir() if data_dir is None else data_dir)
    return paths.create() if create else paths


def open_catalog(data_dir: str | Path | None = None, *, create: bool = True) -> Any:
    """A tiled client on the embedded catalog of ``data_dir`` (created if absent, unless
    ``create`` is False: then a missing catalog raises FileNotFoundError and nothing is made,
    as read-only commands need).

    Read runs back with ``client[uid]["primary"].read()`` or ``client[-1]``. Opening costs a
    few seconds (database set-up); share one client per process.
    """
    import logging
    import warnings

    from tiled.catalog import from_uri
    from tiled.client import Context, from_context
    from tiled.server.app import build_app

    paths = catalog_paths(data_dir, create=create)
    if not create and not paths.catalog_db.is_file():
        raise FileNotFoundError(f"no catalog in {paths.root} (nothing acquired there yet; "
                                f"--data-dir or ${DATA_DIR_ENV} chooses another directory)")
    adapter = from_uri(
        f"sqlite:///{paths.catalog_db}",
        writable_storage=[str(paths.files), f"sqlite:///{paths.tables_db}"],
        readable_storage=[str(paths.frames)],
        init_if_not_exists=create,
        specs=_RUN_SPECS,
    )
    # The in-process server logs "Tiled version ..." on every start through its own stderr
    # handler; a banner for a server nobody started, so only its warnings are let through.
    logging.getLogger("tiled.server.app").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        # tiled's in-process client is starlette's TestClient, which asks for the httpx2 fork
        # while tiled itself is built on httpx: installing httpx2 would split the client across
        # two HTTP libraries, so the deprecation (not ours to fix) is silenced here only.
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        context = Context.from_app(build_app(adapter))
    return from_context(context)


def tiled_writer(client: Any) -> Any:
    """A bluesky callback that writes runs (documents + frame references) into ``client``."""
    from bluesky.callbacks.tiled_writer import TiledWriter

    return TiledWriter(client)


def document_journal(paths: CatalogPaths) -> Any:
    """A bluesky callback that appends each run's documents to ``documents/<uid8>.jsonl`` as
    they are made (one file per run), so a run survives a crash before the catalog has it."""
    from bluesky.callbacks.json_writer import JSONLinesWriter
    from event_model import RunRouter

    def factory(name: str, doc: dict[str, Any]) -> tuple[list[Any], list[Any]]:
        return [JSONLinesWriter(str(paths.documents), f"{doc['uid']}.jsonl")], []

    return RunRouter([factory])


def ingest_journal(client: Any, journal: str | Path) -> str:
    """Write the run recorded in a journal file into ``client``; returns its uid.

    Refuses a run the catalog already holds (nothing is overwritten).
    """
    import json

    lines = Path(journal).read_text(encoding="utf-8").splitlines()
    items = [json.loads(line) for line in lines if line.strip()]
    if not items or items[0]["name"] != "start":
        raise ValueError(f"{journal}: not a run journal (no start document first)")
    uid = items[0]["doc"]["uid"]
    if uid in client:
        raise ValueError(f"run {uid} is already in the catalog")
    writer = tiled_writer(client)
    for item in items:
        writer(item["name"], item["doc"])
    return uid
