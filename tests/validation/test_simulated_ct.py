"""The processing chain validated on a simulated CT of the breast specimen (issue 4, item 7).

What is simulated. The MAAST scanner model (:class:`gi_instrument.sim.scanner_model.ScannerModel`,
the code the simulated IOC calls for every frame) images the default breast specimen
(:func:`~gi_instrument.sim.phantom.breast_specimen`, seed ``PHANTOM_SEED``) in a 35 mm formalin
tube, wider than the 17.4 mm field as in the paper. Detector binning 8 (256 columns of 68.2 um at
the sample) and a window of ``ROWS`` detector rows: the 0.82 mm slab of the specimen holding the
most calcification volume (13 calcifications, 9-46 um radius, with seed 5; rows 128-139, the
detector centre). The CT follows the plans' own schedule
(:func:`gi_instrument.plans.schedule.ct_schedule`): 185 deg in 0.5 deg steps (370 projections;
MAAST's 0.25 deg halved for the 256-column slab), a reference stepping scan (sample out) every 5 deg
plus a final one, 5 phase steps over one G2 period, 5 darks, 1 s of motion and read-out per step
on the drift clock (fringe drift and wobble of the profile). The same acquisition is made at
``EXPOSURE_S`` per step and at half of it (independent noise).

What is processed, with the functions a user runs (``gi-process`` goes the same way):
:func:`~gi_instrument.processing.sinograms.sinograms_from_arrays` (the chunked builder: stepping
fits, references interpolated in time, dark subtraction; per projection it is
:func:`~gi_instrument.processing.retrieve`, checked below), then
:func:`~gi_instrument.processing.delta_from_dpc` (Hilbert FBP of the refraction angle -> delta) and
:func:`~gi_instrument.processing.fbp` + :func:`~gi_instrument.processing.attenuation_per_m`
(ramp FBP of ``-ln T`` -> mu, 1/m), :func:`~gi_instrument.processing.mip` and
:func:`~gi_instrument.processing.snr`.

The truncation correction. The formalin tube is wider than the field, so every projection is
truncated (the interior problem). For ``-ln T`` the ramp filter's short kernel and edge padding
keep the error moderate (mu low by ~9/m at the centre to ~30/m at the field edge, on 81/m), but
the Hilbert kernel of the phase decays like 1/n: the uncorrected delta tomogram carries a smooth
bowl, delta low by 42 % at the centre to 63 % at the field edge, which the chain does not
correct (``test_uncorrected_phase_tomogram``, an expected failure that documents it: r = 0.31). FBP is linear and the tissue block lies inside the field,
so the bowl is exactly the chain's FBP of the tube's own projections minus the tube's delta; the
tests subtract that background (exact projections of the tube alone through the same ``fbp``),
as a user could do for a tube of known diameter and content.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import ndimage

from gi_instrument.plans.schedule import ct_schedule
from gi_instrument.processing import (
    attenuation_per_m,
    delta_from_dpc,
    fbp,
    mip,
    retrieve,
    sinograms_from_arrays,
    snr,
)
from gi_instrument.profile import Profile, load_profile
from gi_instrument.sim.forward import BeamGeometry, Projector
from gi_instrument.sim.materials import Material, breast_materials
from gi_instrument.sim.phantom import Phantom, breast_specimen
from gi_instrument.sim.scanner_model import ScannerModel, Window
from gi_instrument.sim.truth import SliceTruth, render_slice, slice_height_um

PROFILE = "maast"
BINNING = 8
"""8 x 8 binning: 256 columns of 8 x 8.52 um = 68.2 um at the sample."""
ROWS = 12
"""Detector rows simulated (slices reconstructed): 0.82 mm of specimen."""
ANGLE_STEP_DEG = 0.5
"""370 projections over 185 deg (~pi/2 x 256 columns, enough for the slab's width)."""
EXPOSURE_S = 30.0
"""Exposure per phase step of the high-exposure CT, s; the second CT uses half of it."""
OVERHEAD_S = 1.0
"""Motion and read-out per step on the drift clock, s."""
PHANTOM_SEED = 5
NOISE_SEED = 1
CALCIFICATIONS = ("hydroxyapatite", "calcium_oxalate")
SQRT2_TOLERANCE = 0.15
"""Allowed relative deviation of SNR(E) / SNR(E / 2) from sqrt(2)."""


@dataclass
class Tomograms:
    """Reconstructed slab of one CT, (ROWS, cols, cols) each."""

    delta: NDArray[np.float32]
    """delta from the chain (uncorrected)."""
    mu_per_m: NDArray[np.float32]
    """Linear attenuation from the chain (uncorrected), 1/m."""


@dataclass
class SimulatedCT:
    """Everything the tests compare: raw stacks of the first projection, tomograms, truth."""

    profile: Profile
    phantom: Phantom
    materials: dict[str, Material]
    window: Window
    full: Tomograms
    """CT at ``EXPOSURE_S``."""
    half: Tomograms
    """CT at ``EXPOSURE_S / 2``."""
    background_delta: NDArray[np.float32]
    """Truncation background of delta (cols, cols): FBP of the tube alone minus its delta."""
    background_mu_per_m: NDArray[np.float32]
    """Same for mu, 1/m."""
    first_projection: dict[str, NDArray]
    """``sample``, ``reference``, ``dark`` stacks of projection 0 (full exposure) and the
    ``transmission``, ``dpc``, ``darkfield`` rows the builder made of it with nearest references."""

    @property
    def cols(self) -> int:
        return self.window.cols

    @property
    def voxel_um(self) -> float:
        return self.profile.voxel_um * BINNING

    def truth(self, k: int, supersampling: int = 4) -> SliceTruth:
        """Ground truth of slice ``k`` of the slab (its detector row's height)."""
        return render_slice(self.phantom, self.materials, self.profile, row=self.window.row0 + k,
                            binning=BINNING, supersampling=supersampling)

    def inside_specimen(self, k: int) -> NDArray[np.bool_]:
        """Voxels of slice ``k`` inside the tissue block (the specimen, not the formalin)."""
        block = self.phantom.inclusions[1]
        assert block.material == "fibroglandular"
        c = (self.cols - 1) / 2
        coords = (np.arange(self.cols) - c) * self.voxel_um * 1e-6
        y, x = np.meshgrid(coords, coords, indexing="ij")  # truth grid: y_sample = (row - c) v
        z = slice_height_um(self.profile, self.window.row0 + k, BINNING) * 1e-6
        return block.shape.contains(np.stack([x, y, np.full_like(x, z)], axis=-1))


def calcified_band(phantom: Phantom, profile: Profile, binning: int, rows: int) -> int:
    """First detector row (binned) of the ``rows``-row band that cuts the most calcification
    volume (sum of radius^3 of the calcifications each row's slice plane passes within a half
    row of)."""
    n_rows = profile.detector.height_px // binning
    z_m = np.array([slice_height_um(profile, r, binning) for r in range(n_rows)]) * 1e-6
    half_row_m = 0.5 * binning * profile.voxel_um * 1e-6
    score = np.zeros(n_rows)
    for inc in phantom.inclusions:
        if inc.material in CALCIFICATIONS:
            radius = inc.shape.bounding_radius_m
            score += (np.abs(z_m - inc.shape.center_m[2]) < radius + half_row_m) * radius**3
    return int(np.argmax(np.convolve(score, np.ones(rows), mode="valid")))


def _acquire(model: ScannerModel, profile: Profile, window: Window, exposures_s: tuple[float, ...]
             ) -> list[dict[str, NDArray]]:
    """One CT per exposure (s per step), each on its own drift clock, scan by scan in the order
    of ``ct_schedule`` (each angle's projection terms are computed once for all exposures)."""
    schedule = ct_schedule(profile, angle_step_deg=ANGLE_STEP_DEG, final_reference=True)
    steps = profile.stepping.steps
    g2_um = np.arange(steps) * profile.gratings.g2_period_um / steps
    stage = profile.sample_stage
    cts = []
    for exposure in exposures_s:
        kw = {"exposure_s": exposure, "current_mA": profile.source.current_mA,
              "binning": BINNING, "window": window}
        darks = np.stack([model.frame(angle_deg=0.0, g2_um=0.0, sample_offset_mm=stage.out_mm,
                                      xray_on=False, time_s=0.0, **kw)
                          for _ in range(profile.ct.dark_frames)])
        cts.append({"kw": kw, "clock": 0.0, "darks": darks, "reference": [], "reference_t": [],
                    "primary": [], "primary_t": [], "angles": []})
    for item in schedule.items():
        offset_mm = stage.out_mm if item.kind == "reference" else stage.in_mm
        stream = "reference" if item.kind == "reference" else "primary"
        for ct, exposure in zip(cts, exposures_s):
            frames, times = [], []
            for x in g2_um:
                frames.append(model.frame(angle_deg=item.angle_deg, g2_um=float(x),
                                          sample_offset_mm=offset_mm, xray_on=True,
                                          time_s=ct["clock"], **ct["kw"]))
                times.append(ct["clock"])
                ct["clock"] += exposure + OVERHEAD_S
            ct[stream].append(np.stack(frames))
            ct[stream + "_t"].append(times)
            if stream == "primary":
                ct["angles"].append(item.angle_deg)
    return [{"darks": ct["darks"], "references": np.stack(ct["reference"]),
             "reference_times_s": np.array(ct["reference_t"]),
             "projections": np.stack(ct["primary"]), "angles_deg": np.array(ct["angles"]),
             "projection_times_s": np.array(ct["primary_t"])} for ct in cts]


def _reconstruct(stacks: dict[str, NDArray], profile: Profile) -> Tomograms:
    """The user's chain: sinograms (linear reference interpolation), Hilbert FBP -> delta,
    ramp FBP of -ln T -> mu."""
    sino = sinograms_from_arrays(**stacks)
    assert not sino.flags.any(), "no pixel of the simulated CT should be flagged"
    delta = delta_from_dpc(sino.dpc, sino.angles_deg, profile.gratings.g2_period_um,
                           profile.geometry.g1_g2_cm)
    mu = attenuation_per_m(fbp(-np.log(sino.transmission), sino.angles_deg),
                           profile.voxel_um * BINNING)
    return Tomograms(delta, mu)


def _tube_background(phantom: Phantom, materials: dict[str, Material], profile: Profile,
                     window: Window, angles_deg: NDArray) -> tuple[NDArray, NDArray]:
    """Truncation background (delta, mu 1/m), (cols, cols): the chain's FBP of the exact
    projections of the formalin tube alone, minus the tube's own delta and mu. The tube is a
    vertical cylinder taller than the field, so every slice of the slab has this background."""
    tube = Phantom(phantom.inclusions[:1])
    assert tube.inclusions[0].material == "formalin"
    projector = Projector(tube, materials, BeamGeometry.from_profile(profile))
    voxel_m = profile.voxel_um * BINNING * 1e-6
    edges_m = (np.arange(window.cols + 1) - window.cols / 2) * voxel_m
    z_m = np.array([slice_height_um(profile, window.row0 + ROWS // 2, BINNING) * 1e-6])
    signals = [projector.pixel_signals(a, 0.0, edges_m, z_m) for a in angles_deg]
    alpha = np.stack([s.refraction_rad[0] for s in signals])
    attenuation = np.stack([s.attenuation[0] for s in signals])
    formalin = materials["formalin"]
    background_delta = fbp(alpha, angles_deg, "hilbert") - np.float32(formalin.delta)
    background_mu = (attenuation_per_m(fbp(attenuation, angles_deg), profile.voxel_um * BINNING)
                     - np.float32(formalin.mu_per_m))
    return background_delta, background_mu


def simulate_ct() -> SimulatedCT:
    """Simulate and reconstruct the two CTs (module docstring)."""
    profile = load_profile(PROFILE)
    phantom = breast_specimen(profile, seed=PHANTOM_SEED)
    materials = dict(breast_materials(profile.source.design_energy_keV))
    cols = profile.detector.width_px // BINNING
    window = Window(calcified_band(phantom, profile, BINNING, ROWS), 0, ROWS, cols)
    model = ScannerModel(profile, seed=NOISE_SEED, phantom=phantom)
    full_stacks, half_stacks = _acquire(model, profile, window, (EXPOSURE_S, EXPOSURE_S / 2))
    # projection 0 with the nearest reference: the builder against retrieve() itself
    nearest = sinograms_from_arrays(**full_stacks, reference_mode="nearest")
    first = {"sample": full_stacks["projections"][0], "reference": full_stacks["references"][0],
             "dark": full_stacks["darks"], "transmission": nearest.transmission[0],
             "dpc": nearest.dpc[0], "darkfield": nearest.darkfield[0]}
    full, half = _reconstruct(full_stacks, profile), _reconstruct(half_stacks, profile)
    bg_delta, bg_mu = _tube_background(phantom, materials, profile, window,
                                       full_stacks["angles_deg"])
    return SimulatedCT(profile, phantom, materials, window, full, half, bg_delta, bg_mu, first)


@pytest.fixture(scope="module")
def ct() -> SimulatedCT:
    return simulate_ct()


def test_builder_is_retrieve(ct: SimulatedCT) -> None:
    """The sinogram builder's projection 0 (nearest reference: reference scan 0, taken just
    before it) is :func:`retrieve` of that stepping scan against that reference and the darks."""
    f = ct.first_projection
    res = retrieve(f["sample"], f["reference"], dark=f["dark"])
    np.testing.assert_allclose(f["transmission"], res.transmission, rtol=1e-5)
    np.testing.assert_allclose(f["dpc"], res.dpc, atol=1e-5)
    np.testing.assert_allclose(f["darkfield"], res.darkfield, rtol=1e-5)
    # the projection does see the specimen (transmission through 35 mm of formalin ~ 6 %)
    assert res.transmission.min() < 0.1


def test_phase_tomogram_correlates_with_truth(ct: SimulatedCT) -> None:
    """Central slice of the phase tomogram vs the phantom's delta: Pearson r >= 0.9 over the
    specimen (voxels inside the tissue block; the formalin around it excluded), after the tube's
    truncation background is removed; the delta scale is right to 3 %."""
    k = ROWS // 2
    truth = ct.truth(k).delta
    rec = ct.full.delta[k] - ct.background_delta
    inside = ct.inside_specimen(k)
    assert inside.sum() > 0.3 * ct.cols**2  # the specimen fills much of the slice
    r = np.corrcoef(rec[inside], truth[inside])[0, 1]
    assert r >= 0.9, f"Pearson r = {r:.3f}"
    # units and sign: the regression of the reconstruction on the truth (both at the
    # reconstruction's resolution) has slope 1
    slope, _ = np.polyfit(ndimage.gaussian_filter(truth, 1.5)[inside],
                          ndimage.gaussian_filter(rec, 1.5)[inside], 1)
    assert slope == pytest.approx(1.0, abs=0.03)
    # the same reconstruction flipped does not fit (orientation is checked, not only contrast)
    assert np.corrcoef(rec[::-1][inside], truth[inside])[0, 1] < 0.5


def test_attenuation_tomogram_units(ct: SimulatedCT) -> None:
    """Central slice of the mu tomogram: mean mu of the fibroglandular tissue within 2 % of the
    material's mu (1/m) after the truncation background; r >= 0.9 at 1.5-voxel smoothing."""
    k = ROWS // 2
    truth = ct.truth(k).mu_per_m
    rec = ct.full.mu_per_m[k] - ct.background_mu_per_m
    tissue = ndimage.binary_erosion(np.isclose(truth, ct.materials["fibroglandular"].mu_per_m,
                                               rtol=1e-9), iterations=3)
    assert rec[tissue].mean() == pytest.approx(ct.materials["fibroglandular"].mu_per_m, rel=0.02)
    inside = ct.inside_specimen(k)
    r = np.corrcoef(ndimage.gaussian_filter(rec, 1.5)[inside],
                    ndimage.gaussian_filter(truth, 1.5)[inside])[0, 1]
    assert r >= 0.9, f"Pearson r = {r:.3f}"


@pytest.mark.xfail(strict=True, reason="the Hilbert FBP of DPC sinograms truncated by the formalin "
                   "tube leaves a ~40-60 % bowl in delta; no truncation correction in processing")
def test_uncorrected_phase_tomogram(ct: SimulatedCT) -> None:
    """Without the tube background the phase tomogram misses the truth (r < 0.9, delta ~40 %
    low): XPASS once processing corrects truncated phase projections."""
    k = ROWS // 2
    truth = ct.truth(k).delta
    inside = ct.inside_specimen(k)
    r = np.corrcoef(ct.full.delta[k][inside], truth[inside])[0, 1]
    mean_ratio = ct.full.delta[k][inside].mean() / truth[inside].mean()
    assert r >= 0.9 and mean_ratio == pytest.approx(1.0, abs=0.05), (r, mean_ratio)


def _calcification_footprint(ct: SimulatedCT) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Voxels (cols, cols) where any slice of the slab cuts a calcification (4 x 4 in-plane
    samples per voxel), and those where any slice is inside the specimen."""
    calcs = Phantom(tuple(i for i in ct.phantom.inclusions if i.material in CALCIFICATIONS))
    footprint = np.zeros((ct.cols, ct.cols), dtype=bool)
    for k in range(ROWS):
        part = render_slice(calcs, ct.materials, ct.profile, row=ct.window.row0 + k,
                            binning=BINNING, supersampling=4)
        footprint |= part.delta > 0
    specimen = np.any([ct.inside_specimen(k) for k in range(ROWS)], axis=0)
    return footprint, specimen


@pytest.mark.parametrize("signal", ["delta", "mu_per_m"])
def test_calcifications_brightest_in_mip(ct: SimulatedCT, signal: str) -> None:
    """MIP over the slab's ``ROWS`` slices: its 10 brightest pixels in the specimen lie on
    calcifications of the truth (within one voxel, the reconstruction's blur), and at least 5
    calcifications (groups of calcified voxels) peak above every pixel of the specimen farther
    than two voxels from any calcification.

    Measured: the 29 (delta) and 37 (mu) brightest pixels are on calcifications; all 9 groups
    that the slab cuts peak above the rest (delta 6.5e-7 to 8.0e-7 against 6.4e-7 elsewhere,
    the densest soft tissue, necrosis, being 6.2e-7; mu 153 to 553 1/m against 128 1/m)."""
    background = ct.background_delta if signal == "delta" else ct.background_mu_per_m
    volume = getattr(ct.full, signal) - background[None]
    projection = mip(volume, axis=0, start=0, n=ROWS)
    footprint, specimen = _calcification_footprint(ct)
    near = ndimage.binary_dilation(footprint, iterations=1)
    values = np.where(specimen, projection, -np.inf).ravel()
    top = np.argsort(values)[::-1][:10]
    assert near.ravel()[top].all(), "a top-10 MIP pixel is off the calcifications"
    far = specimen & ~ndimage.binary_dilation(footprint, iterations=2)
    labels, n = ndimage.label(near)
    peaks = ndimage.maximum(projection, labels, np.arange(1, n + 1))
    brightest_else = projection[far].max()
    shown = peaks > brightest_else
    assert shown.sum() >= 5, f"{shown.sum()} calcifications above {brightest_else}: {peaks}"


@pytest.mark.parametrize("signal", ["delta", "mu_per_m"])
def test_snr_halves_exposure_by_sqrt2(ct: SimulatedCT, signal: str) -> None:
    """SNR (mean / std) in a homogeneous region, fibroglandular tissue 4 voxels away from any
    other material in all slices of the slab: SNR(E) / SNR(E / 2) = sqrt(2) within 15 %.

    Measured: 1.50 (delta) and 1.48 (mu), 5-6 % above sqrt(2). Behind 35 mm of formalin
    (T ~ 6 %) a binned pixel gets ~36 ADU per step at 15 s, and the detector's fixed noise (read
    noise 0.25 ADU and rounding to 1 ADU = 64 photons of the 8 x 8 averaging binning) adds ~26 %
    to the photon variance at 15 s but ~13 % at 30 s: sqrt(2) x sqrt(1.26 / 1.13) = 1.49. At
    longer exposures the ratio falls below sqrt(2) instead (60 s vs 30 s: ~1.3 for delta), as
    reconstruction artefacts that do not scale with exposure (streaks of the calcifications,
    ringing at edges, ~6e-10 in delta) become comparable to the noise."""
    background = ct.background_delta if signal == "delta" else ct.background_mu_per_m
    fg = ct.materials["fibroglandular"].delta
    region = np.stack([ndimage.binary_erosion(np.isclose(ct.truth(k, 2).delta, fg, rtol=1e-9),
                                              iterations=4) for k in range(ROWS)])
    assert region.sum() > 10_000
    full = getattr(ct.full, signal) - background[None]
    half = getattr(ct.half, signal) - background[None]
    ratio = snr(full, region) / snr(half, region)
    assert ratio == pytest.approx(np.sqrt(2), rel=SQRT2_TOLERANCE), f"SNR ratio {ratio:.3f}"
