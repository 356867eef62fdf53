"""The session's log file: ``DATA_DIR/logs/gi-instrument.log``, rotated at 10 MiB, 5 kept.

What goes in: this package's messages (INFO and up: session start, every run's start and end
with its exit status and reason), bluesky's RunEngine state changes and warnings of ophyd and
caproto. Nothing is printed on the terminal by these handlers.
"""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

__all__ = ["LOG_NAME", "log_to_file", "log_runs"]

LOG_NAME = "gi-instrument.log"
MAX_BYTES = 10 << 20
BACKUPS = 5
_LEVELS = {"gi_instrument": logging.INFO, "bluesky": logging.INFO, "ophyd": logging.WARNING,
           "caproto": logging.WARNING}
"""Loggers written to the file and their levels."""

logger = logging.getLogger("gi_instrument")


def log_to_file(log_dir: str | Path) -> Path:
    """Attach the rotating file handler for ``log_dir/gi-instrument.log`` to the package's,
    bluesky's, ophyd's and caproto's loggers (once per file); returns the file's path."""
    path = Path(log_dir) / LOG_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    for name, level in _LEVELS.items():
        log = logging.getLogger(name)
        if any(isinstance(h, RotatingFileHandler) and Path(h.baseFilename) == path for h in log.handlers):
            continue
        handler = RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.setLevel(level)
        log.addHandler(handler)
        if log.getEffectiveLevel() > level or log.level == logging.NOTSET:
            log.setLevel(level)
    return path


def log_runs(name: str, doc: dict[str, Any]) -> None:
    """A RunEngine callback that logs each run's start (uid, plan, scan id) and end (exit status,
    reason)."""
    if name == "start":
        logger.info("run %s started: %s, scan_id %s", doc["uid"], doc.get("plan_name"), doc.get("scan_id"))
    elif name == "stop":
        level = logging.INFO if doc.get("exit_status") == "success" else logging.WARNING
        logger.log(level, "run %s ended: %s %s", doc["run_start"], doc.get("exit_status"), doc.get("reason", ""))
