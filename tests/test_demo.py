"""``gi-demo`` (the README's first command) runs a simulated CT end to end in its own process."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.ioc


def test_demo_end_to_end(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "gi_instrument.demo", "--data-dir", str(tmp_path), "--angle-step-deg", "37",
         "--reference-every-deg", "74", "--binning", "16", "--phantom", "beads"],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    uid = re.search(r"run ([0-9a-f-]{36}) finished", out.stdout).group(1)
    # 185/37 = 5 projections, references before 0, 2, 4 and after the last, 5 darks at each end
    assert re.search(r"dark\s+10 frames of 128 x 128", out.stdout)
    assert re.search(r"reference\s+20 frames", out.stdout)
    assert re.search(r"primary\s+25 frames", out.stdout)
    assert (tmp_path / "frames" / uid / "primary_00004_a0.h5").exists()   # attempt 0: the first try
    assert (tmp_path / "documents" / f"{uid}.jsonl").exists()


def test_phantom_choice_reaches_the_model():
    """``--phantom`` names the same specimens as the model's table; ``beads`` builds the target."""
    from gi_instrument.profile import load_profile
    from gi_instrument.sim.beads import bead_target
    from gi_instrument.sim.ioc import PHANTOM_NAMES, _parse_args, build_scanner
    from gi_instrument.sim.scanner_model import PHANTOMS

    assert set(PHANTOM_NAMES) == set(PHANTOMS)
    assert _parse_args(["--phantom", "beads"]).phantom == "beads"
    with pytest.raises(SystemExit):
        _parse_args(["--phantom", "teapot"])
    profile = load_profile("tli")
    scanner = build_scanner(profile, "T:", phantom="beads")
    assert len(scanner.camera.model.phantom.inclusions) == len(bead_target(profile).inclusions)
