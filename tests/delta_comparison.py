"""How closely the delta reconstruction of a disturbed CT matches undisturbed scans of the same
phantom: the measure of tests/test_unattended_ct.py and tests/test_night_resumed.py.

Each CT (one run, or a chain of runs) goes through ``gi-process``'s
:func:`~gi_instrument.process_cli.process_run` with the rotation axis fixed at the detector centre
(where the simulator puts it), so that the comparison is of the data, not of the axis each run's
noise would suggest. On the 5 central delta slices, a disturbed CT D matches the undisturbed A
as closely as the undisturbed B does when RMS(D - A) <= 1.5 x RMS(B - A) (noise and fringe drift
are all that separate two undisturbed scans) and the correlation r(D, A) >= r(B, A) - 0.05.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np

CT = dict(exposure_s=60.0, angle_step_deg=18.5, range_deg=185.0, reference_every_deg=37.0, n_darks=5,
          final_reference=True)
"""The CT of these tests: 10 projections, references before 0, 2, 4, 6, 8 and a final one (index
10): 16 stepping scans of 5 frames, and 5 darks at each end. 60 s (nominal) per step: the longest
MAAST exposure, and the delta of the small phantom stands clear of the noise (at 1 s two
undisturbed scans correlate ~0.1).

References every two projections (~0.28 h nominal apart), because the references are interpolated
linearly in time and the simulated fringe drift has a wobble (profile: 0.1 rad, 3 h period): a
sinusoid sampled every ``dt`` leaves an interpolation error of up to ``a (2 pi dt / P)^2 / 8``
between the samples, and its pattern over the projections depends on the wobble's phase when the
run happened. With references every 5 projections (0.7 h) the error was up to ~0.03 rad, the
same for every pixel of a projection: two runs differed by it according to when they ran, and
that luck, not the noise, set RMS(B - A) and RMS(D - A) (measured ratios 0.9-2.0 from one full
test run to the next; the per-projection phase offsets of D - A and B - A followed the predicted
interpolation errors). At 0.28 h it is below 0.004 rad. The final reference brackets the last
projections in time, so that the drift is interpolated, not extrapolated, for every projection."""
N_PROJECTIONS, REFERENCES = 10, [0, 2, 4, 6, 8, 10]


def central_delta(ct: Any, out: Path) -> np.ndarray:
    """The 5 central delta slices (float64, (5, cols, cols)) of the CT ``ct`` (a
    :class:`~gi_instrument.processing.catalog_reader.CTRun`), processed into ``out``."""
    from gi_instrument.process_cli import process_run

    process_run(ct, out, find_center=False, tiff=False, progress=False, quality=False)
    with h5py.File(out / "volumes.h5", "r") as f:
        delta = f["volumes"]["delta"]
        mid = delta.shape[0] // 2
        return np.asarray(delta[mid - 2: mid + 3], dtype=np.float64)


def assert_delta_matches(a: np.ndarray, b: np.ndarray, d: np.ndarray) -> dict[str, float]:
    """Assert that D matches A as closely as B does (module docstring); returns the measures."""
    rms_ba, rms_da = np.sqrt(np.mean((b - a) ** 2)), np.sqrt(np.mean((d - a) ** 2))
    corr_ba, corr_da = np.corrcoef(b.ravel(), a.ravel())[0, 1], np.corrcoef(d.ravel(), a.ravel())[0, 1]
    print(f"delta, 5 central slices: RMS(B-A) {rms_ba:.3e}, RMS(D-A) {rms_da:.3e}, "
          f"r(B,A) {corr_ba:.4f}, r(D,A) {corr_da:.4f}")
    assert rms_da <= 1.5 * rms_ba, (rms_da, rms_ba)
    assert corr_da >= corr_ba - 0.05, (corr_da, corr_ba)
    return {"rms_ba": rms_ba, "rms_da": rms_da, "corr_ba": corr_ba, "corr_da": corr_da}
