"""A small CT in a process of its own, as a user session runs it: the RunEngine writes the
document journal and the live catalog writer follows it in another process. Run by
tests/test_catalog_live.py (which kills it); prints ``follower <pid>`` once it starts.

    python tests/ct_process.py DATA_DIR PREFIX
"""

from __future__ import annotations

import sys

from bluesky import RunEngine

from gi_instrument.catalog import catalog_paths, document_journal
from gi_instrument.catalog_follower import start_follower
from gi_instrument.devices import make_instrument
from gi_instrument.plans import gi_ct
from gi_instrument.profile import load_profile

if __name__ == "__main__":
    paths = catalog_paths(sys.argv[1])
    inst = make_instrument(load_profile("maast"), sys.argv[2], paths.frames)
    RE = RunEngine({}, call_returns_result=False)
    RE.subscribe(document_journal(paths))
    follower = start_follower(paths)
    print(f"follower {follower.pid}", flush=True)
    RE(gi_ct(inst, exposure_s=60.0, angle_step_deg=5.0, range_deg=40.0, reference_every_deg=20.0,
             final_reference=True, n_darks=2))
    print("done", flush=True)
