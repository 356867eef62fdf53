"""The local run catalog: an embedded tiled catalog in one data directory, no server to start.

Layout of a data directory (default ``~/gi-data``, or ``$GI_DATA_DIR``, or ``--data-dir``)::

    DIR/catalog.db      SQLite: run metadata and document structure
    DIR/tables.sqlite   SQLite: the events' scalar columns (G2 positions, angles, times, ...)
    DIR/files/          tiled's writable storage
    DIR/frames/         the detector's HDF5 files (registered as readable storage)

Frames are never copied into the catalog: each run references the HDF5 files the detector wrote
(StreamResource / StreamDatum documents). ``tiled serve catalog DIR/catalog.db -r DIR/frames
-w DIR/files -w sqlite:///DIR/tables.sqlite --api-key KEY`` serves the same directory to other
machines.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["DATA_DIR_ENV", "CatalogPaths", "default_data_dir", "catalog_paths", "open_catalog", "tiled_writer"]

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

    def create(self) -> "CatalogPaths":
        """Create the directories (idempotent)."""
        for path in (self.root, self.files, self.frames):
            path.mkdir(parents=True, exist_ok=True)
        return self

    def serve_command(self) -> str:
        """The ``tiled serve`` command line that serves this directory to other machines."""
        return (f"tiled serve catalog {self.catalog_db} -r {self.frames} -w {self.files} "
                f"-w sqlite:///{self.tables_db} --api-key $TILED_API_KEY")


def default_data_dir() -> Path:
    """``$GI_DATA_DIR`` if set, else ``~/gi-data``: the one default of every command."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / "gi-data"


def catalog_paths(data_dir: str | Path | None = None) -> CatalogPaths:
    """Paths of ``data_dir`` (default :func:`default_data_dir`), directories created."""
    return CatalogPaths(default_data_dir() if data_dir is None else data_dir).create()


def open_catalog(data_dir: str | Path | None = None) -> Any:
    """A tiled client on the embedded catalog of ``data_dir`` (created if absent).

    Read runs back with ``client[uid]["primary"].read()`` or ``client[-1]``. Opening costs a
    few seconds (database set-up); share one client per process.
    """
    from tiled.catalog import from_uri
    from tiled.client import Context, from_context
    from tiled.server.app import build_app

    paths = catalog_paths(data_dir)
    adapter = from_uri(
        f"sqlite:///{paths.catalog_db}",
        writable_storage=[str(paths.files), f"sqlite:///{paths.tables_db}"],
        readable_storage=[str(paths.frames)],
        init_if_not_exists=True,
        specs=_RUN_SPECS,
    )
    context = Context.from_app(build_app(adapter))
    return from_context(context)


def tiled_writer(client: Any) -> Any:
    """A bluesky callback that writes runs (documents + frame references) into ``client``."""
    from bluesky.callbacks.tiled_writer import TiledWriter

    return TiledWriter(client)
