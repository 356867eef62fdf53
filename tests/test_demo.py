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
         "--reference-every-deg", "74", "--binning", "16"],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    uid = re.search(r"run ([0-9a-f-]{36}) finished", out.stdout).group(1)
    # 185/37 = 5 projections, references before 0, 2, 4 and after the last, 5 darks
    assert re.search(r"dark\s+5 frames of 128 x 128", out.stdout)
    assert re.search(r"reference\s+20 frames", out.stdout)
    assert re.search(r"primary\s+25 frames", out.stdout)
    assert (tmp_path / "frames" / uid / "primary_00004_a0.h5").exists()   # attempt 0: the first try
    assert (tmp_path / "documents" / f"{uid}.jsonl").exists()
