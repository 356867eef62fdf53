"""RE.md kept on disk by one process at a time (gi_instrument.session.persistent_metadata)."""

from __future__ import annotations

import logging
import subprocess
import sys

from bluesky.utils import PersistentDict

from gi_instrument.session import _stored_metadata, persistent_metadata

HOLDER = """
import sys
from pathlib import Path
from gi_instrument.session import persistent_metadata
md = persistent_metadata(Path(sys.argv[1]))
md["scan_id"] = 7
md["operator"] = "ana"
print(type(md).__name__, flush=True)
sys.stdin.read()
md["scan_id"] = 8
"""


def test_a_second_process_gets_a_copy_and_never_touches_the_files(tmp_path, caplog):
    directory = tmp_path / "runengine-md"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "PersistentDict"
        with caplog.at_level(logging.WARNING, logger="gi_instrument.session"):
            md = persistent_metadata(directory)
        assert type(md) is dict and md == {"scan_id": 7, "operator": "ana"}
        assert "another process keeps the RunEngine metadata" in caplog.text
        md["scan_id"] = 100   # this session's runs: not kept
        md["sample"] = "B12"
        del md
    finally:
        holder.communicate("", timeout=60)
    assert holder.returncode == 0
    assert _stored_metadata(directory) == {"scan_id": 8, "operator": "ana"}  # the holder's, untouched
    later = subprocess.run([sys.executable, "-c", HOLDER, str(directory)], input="", capture_output=True,
                           text=True, timeout=60, check=True)
    assert later.stdout.strip() == "PersistentDict"   # the lock went with the holder


def test_one_process_shares_one_persistent_dict(tmp_path):
    first = persistent_metadata(tmp_path / "md")
    assert isinstance(first, PersistentDict) and persistent_metadata(tmp_path / "md") is first
