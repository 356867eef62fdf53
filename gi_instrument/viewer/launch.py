"""``viewer(...)`` from an IPython session: the viewer in its own process, so the RunEngine in the
session is never blocked (and a viewer crash cannot touch it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["viewer"]


def viewer(run: Any = -1, *, data_dir: str | Path | None = None, live: str | None = None,
           volume: str | Path | None = None, extra: list[str] | None = None) -> subprocess.Popen:
    """Start ``gi-viewer`` in a separate process and return it (``.terminate()`` closes it).

    Args:
        run: a run node of the catalog (``s.client[-1]``), a uid (or its beginning) or ``-N``.
        data_dir: data directory of that catalog (``s.paths.root``; default ``$GI_DATA_DIR`` or
            ``~/gi-data``).
        live: follow a running acquisition at this 0MQ address (the proxy's out port) instead.
        volume: view a ``gi-process`` output folder instead.
        extra: further ``gi-viewer`` arguments (``["--signal", "attenuation"]``).
    """
    args = [sys.executable, "-m", "gi_instrument.viewer"]
    if live is not None:
        args += ["--live", live]
    elif volume is not None:
        args += ["--volume", str(volume)]
    else:
        metadata = getattr(run, "metadata", None)
        args.append(str(metadata["start"]["uid"]) if metadata is not None else str(run))
    if data_dir is not None:
        args += ["--data-dir", str(data_dir)]
    return subprocess.Popen(args + list(extra or []))
