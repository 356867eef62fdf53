"""Make ``docs/bead_target.png``: the bead target (TLI, cone beam, binning 4) reconstructed as if
the beam were parallel and in its real cone geometry.

The simulator (:mod:`gi_instrument.sim`) images :func:`gi_instrument.sim.beads.bead_target` with
the TLI profile's defaults (cone beam, source spot and detector blur), noise-free, over 360 deg in
0.3 deg on 8 detector rows around the central plane; gi-process's slab reconstruction
(:func:`gi_instrument.process_cli.reconstruct_slab`) makes ``mu`` once in a parallel-beam and
once in the cone-beam geometry. The figure shows the central-plane slab (5 slices summed) and
zooms on the calcium-oxalate beads of the central plane at 0.3, 0.55 and 0.8 of the field radius.

Run: ``.venv/bin/python docs/make_bead_figure.py`` (about 2 minutes).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gi_instrument.process_cli import preparations, reconstruct_slab  # noqa: E402
from gi_instrument.processing import lever_arm_cm, sinograms_from_arrays  # noqa: E402
from gi_instrument.processing.reconstruction import Geometry, attenuation_per_m  # noqa: E402
from gi_instrument.profile import load_profile  # noqa: E402
from gi_instrument.sim.beads import bead_centres, bead_target  # noqa: E402
from gi_instrument.sim.scanner_model import ScannerModel, Window  # noqa: E402

BINNING, ROWS = 4, 8
OUT = Path(__file__).with_name("bead_target.png")


def main() -> None:
    profile = load_profile("tli")
    cols, rows = profile.detector.width_px // BINNING, profile.detector.height_px // BINNING
    row0 = (rows - ROWS) // 2
    window = Window(row0, 0, ROWS, cols)
    model = ScannerModel(profile, phantom=bead_target(profile))
    angles = profile.ct.start_deg + profile.ct.angle_step_deg * np.arange(profile.n_projections)
    kw = dict(exposure_s=profile.ct.exposure_s, current_mA=profile.source.current_mA, time_s=0.0,
              binning=BINNING, window=window)

    def scan(angle: float, offset_mm: float) -> np.ndarray:
        return np.stack([model.expected_photons(angle_deg=angle, g2_um=x, sample_offset_mm=offset_mm, **kw)
                         for x in profile.stepping_positions_um])

    out_mm = profile.sample_stage.out_mm - profile.sample_stage.in_mm
    sino = sinograms_from_arrays(None, scan(0.0, out_mm)[None], [0.0], np.stack([scan(a, 0.0) for a in angles]),
                                 angles, np.zeros(len(angles)))
    g = {**profile.geometry_summary(), "binning": BINNING}
    prepare = preparations(profile.gratings.g2_period_um,
                           lever_arm_cm(g["source_g1_cm"], g["g1_g2_cm"], g["source_sample_cm"]), False)
    midplane = (rows - 1) / 2 - row0
    voxel_um = profile.voxel_um * BINNING
    images = {}
    for beam in ("parallel", "cone"):
        geometry = dataclasses.replace(Geometry.from_run({**g, "beam": beam}, profile), midplane_row=midplane)
        mu = attenuation_per_m(reconstruct_slab(sino, slice(0, ROWS), geometry, prepare, "cylinder")["attenuation"],
                               voxel_um)
        k = int(round(midplane))
        images[beam] = mu[k - 2:k + 3].sum(axis=0)
    c = (cols - 1) / 2
    beads = [(c + y / (voxel_um * 1e-6), c + x / (voxel_um * 1e-6))
             for (x, y, z), m in bead_centres(profile) if z == 0.0 and m == "calcium_oxalate"]
    fig, axes = plt.subplots(2, 1 + len(beads), figsize=(3 * (1 + len(beads)), 6.4))
    lo, hi = np.percentile(images["cone"], [1, 99.5])
    for i, beam in enumerate(("parallel", "cone")):
        axes[i, 0].imshow(images[beam], cmap="gray", vmin=lo, vmax=hi)
        axes[i, 0].set_title(f"{beam} reconstruction")
        for j, (r, cc) in enumerate(beads, start=1):
            r, cc = int(round(r)), int(round(cc))
            axes[i, j].imshow(images[beam][r - 8:r + 9, cc - 8:cc + 9], cmap="magma",
                              vmin=0, vmax=images["cone"][r - 1:r + 2, cc - 1:cc + 2].max())
            radius_mm = np.hypot(r - c, cc - c) * voxel_um * 1e-3
            axes[i, j].set_title(f"bead at {radius_mm:.1f} mm")
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("TLI bead target, cone-beam data, binning 4 (mu, 5 central slices summed)")
    fig.tight_layout()
    fig.savefig(OUT, dpi=80)
    print(OUT)


if __name__ == "__main__":
    main()
