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

What is processed, with the functions and defaults of ``gi-process``
(:func:`gi_instrument.process_cli.process_run`):
:func:`~gi_instrument.processing.sinograms.sinograms_from_arrays` (the chunked builder: stepping
fits, references interpolated in time, dark subtraction; per projection it is
:func:`~gi_instrument.processing.retrieve`, checked below), then the container fitted to the
edges of ``-ln T`` (:func:`~gi_instrument.processing.truncation.fit_container`),
:func:`~gi_instrument.processing.delta_from_dpc` (Hilbert FBP of the refraction angle -> delta) and
:func:`~gi_instrument.processing.fbp` + :func:`~gi_instrument.processing.attenuation_per_m`
(ramp FBP of ``-ln T`` -> mu, 1/m), both with gi-process's default truncation correction
(``truncation="cylinder"``), :func:`~gi_instrument.processing.mip` and
:func:`~gi_instrument.processing.snr`. Nothing of the phantom enters the processing.

Truncation. The formalin tube is wider than the field, so every projection is truncated (the
interior problem). Without correction (``truncation="none"``, ``test_uncorrected_tomograms``)
the ramp filter's short kernel and edge padding keep the error of ``-ln T`` moderate (mu low by
~9/m at the centre to ~25/m at the field edge, on 81/m), but the Hilbert kernel of the phase
decays like 1/n: delta is low by 43 % at the centre to 61 % at the field edge (Pearson r = 0.31
over the specimen). The cylinder extrapolation of
:mod:`gi_instrument.processing.truncation` removes both (measured: delta r = 0.988, slope 0.999,
mean over the specimen 0.1 % low; mu within 0.2/m of the truth in the formalin and the tissue).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import ndimage

from gi_instrument.plans.schedule import ct_schedule
from gi_instrument.process_cli import process_run
from gi_instrument.processing import (
    attenuation_per_m,
    delta_from_dpc,
    fbp,
    lever_arm_cm,
    mip,
    retrieve,
    sinograms_from_arrays,
    snr,
)
from gi_instrument.processing.truncation import fit_container
from gi_instrument.profile import Profile, load_profile
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
TRUNCATION = inspect.signature(process_run).parameters["truncation"].default
"""gi-process's default truncation correction (``"cylinder"``), which the chain runs with."""


@dataclass
class Tomograms:
    """Reconstructed slab of one CT, (ROWS, cols, cols) each."""

    delta: NDArray[np.float32]
    """delta from the chain."""
    mu_per_m: NDArray[np.float32]
    """Linear attenuation from the chain, 1/m."""


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
    uncorrected: Tomograms
    """CT at ``EXPOSURE_S`` reconstructed with ``truncation="none"``."""
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


def _reconstruct(stacks: dict[str, NDArray], profile: Profile, truncation: str = TRUNCATION
                 ) -> Tomograms:
    """The user's chain, as ``gi-process`` runs it on a slab: sinograms (linear reference
    interpolation), the container fitted to ``-ln T`` (with the correction), Hilbert FBP ->
    delta, ramp FBP of ``-ln T`` -> mu."""
    sino = sinograms_from_arrays(**stacks)
    assert not sino.flags.any(), "no pixel of the simulated CT should be flagged"
    line = -np.log(sino.transmission)
    container = (fit_container(line, sino.angles_deg) if truncation == "cylinder" else None)
    geometry = profile.geometry_summary()  # as in the run's metadata
    d_eff_cm = lever_arm_cm(geometry["source_g1_cm"], geometry["g1_g2_cm"], geometry["source_sample_cm"])
    delta = delta_from_dpc(sino.dpc, sino.angles_deg, profile.gratings.g2_period_um,
                           d_eff_cm, truncation=truncation, container=container)
    mu = attenuation_per_m(fbp(line, sino.angles_deg, truncation=truncation, container=container),
                           profile.voxel_um * BINNING)
    return Tomograms(delta, mu)


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
    uncorrected = _reconstruct(full_stacks, profile, truncation="none")
    return SimulatedCT(profile, phantom, materials, window, full, half, uncorrected, first)


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
    """Central slice of the phase tomogram (gi-process's default path: truncation corrected, no
    knowledge of the phantom) vs the phantom's delta: Pearson r >= 0.9 over the specimen (voxels
    inside the tissue block; the formalin around it excluded); the delta scale is right to 3 %,
    its mean over the specimen to 2 %. Measured: r = 0.988, slope 0.999, mean 0.1 % low."""
    k = ROWS // 2
    truth = ct.truth(k).delta
    rec = ct.full.delta[k]
    inside = ct.inside_specimen(k)
    assert inside.sum() > 0.3 * ct.cols**2  # the specimen fills much of the slice
    r = np.corrcoef(rec[inside], truth[inside])[0, 1]
    assert r >= 0.9, f"Pearson r = {r:.3f}"
    # units and sign: the regression of the reconstruction on the truth (both at the
    # reconstruction's resolution) has slope 1
    slope, _ = np.polyfit(ndimage.gaussian_filter(truth, 1.5)[inside],
                          ndimage.gaussian_filter(rec, 1.5)[inside], 1)
    assert slope == pytest.approx(1.0, abs=0.03)
    assert rec[inside].mean() == pytest.approx(truth[inside].mean(), rel=0.02)
    # the same reconstruction flipped does not fit (orientation is checked, not only contrast)
    assert np.corrcoef(rec[::-1][inside], truth[inside])[0, 1] < 0.5


def test_attenuation_tomogram_units(ct: SimulatedCT) -> None:
    """Central slice of the mu tomogram (truncation corrected): mean mu of the fibroglandular
    tissue within 2 % of the material's mu (1/m), of the formalin in the field within 1/m;
    r >= 0.9 at 1.5-voxel smoothing. Measured: tissue +0.07/m, formalin +0.12/m, r = 0.994."""
    k = ROWS // 2
    truth = ct.truth(k).mu_per_m
    rec = ct.full.mu_per_m[k]
    tissue = ndimage.binary_erosion(np.isclose(truth, ct.materials["fibroglandular"].mu_per_m,
                                               rtol=1e-9), iterations=3)
    assert rec[tissue].mean() == pytest.approx(ct.materials["fibroglandular"].mu_per_m, rel=0.02)
    formalin = _formalin_in_field(ct, truth, ct.materials["formalin"].mu_per_m)
    assert rec[formalin].mean() == pytest.approx(ct.materials["formalin"].mu_per_m, abs=1.0)
    inside = ct.inside_specimen(k)
    r = np.corrcoef(ndimage.gaussian_filter(rec, 1.5)[inside],
                    ndimage.gaussian_filter(truth, 1.5)[inside])[0, 1]
    assert r >= 0.9, f"Pearson r = {r:.3f}"


def _formalin_in_field(ct: SimulatedCT, truth: NDArray, value: float) -> NDArray[np.bool_]:
    """Voxels of the formalin inside the field's circle (3 voxels from the tissue and the rim)."""
    c = (ct.cols - 1) / 2
    rows, cols = np.mgrid[: ct.cols, : ct.cols]
    in_field = np.hypot(rows - c, cols - c) < c - 3
    return ndimage.binary_erosion(np.isclose(truth, value, rtol=1e-9), iterations=3) & in_field


def test_uncorrected_tomograms(ct: SimulatedCT) -> None:
    """``truncation="none"`` (``gi-process --truncation none``) misses the truth: delta over the
    specimen r < 0.5 and ~50 % low, the formalin's mu > 5/m low; the default path does not
    (the tests above). Measured: r = 0.31, mean 0.50, mu of the formalin 24/m low."""
    k = ROWS // 2
    truth = ct.truth(k)
    inside = ct.inside_specimen(k)
    delta = ct.uncorrected.delta[k]
    r = np.corrcoef(delta[inside], truth.delta[inside])[0, 1]
    assert r < 0.5, f"Pearson r = {r:.3f}"
    assert delta[inside].mean() / truth.delta[inside].mean() < 0.7
    formalin_mu = ct.materials["formalin"].mu_per_m
    formalin = _formalin_in_field(ct, truth.mu_per_m, formalin_mu)
    assert ct.uncorrected.mu_per_m[k][formalin].mean() < formalin_mu - 5


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

    Measured (default, truncation-corrected path): the 28 (delta) and 37 (mu) brightest pixels
    are on calcifications; all 9 groups
    that the slab cuts peak above the rest (delta 6.5e-7 to 8.0e-7 against 6.4e-7 elsewhere,
    the densest soft tissue, necrosis, being 6.2e-7; mu 153 to 553 1/m against 128 1/m)."""
    volume = getattr(ct.full, signal)
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

    Measured on the default (truncation-corrected) path: 1.42 (delta) and 1.48 (mu); with the
    exact tube background subtracted from uncorrected tomograms instead, delta gave 1.50 (its
    std in the region was 6 % higher than with the correction). Behind 35 mm of formalin
    (T ~ 6 %) a binned pixel gets ~36 ADU per step at 15 s, and the detector's fixed noise (read
    noise 0.25 ADU and rounding to 1 ADU = 64 photons of the 8 x 8 averaging binning) adds ~26 %
    to the photon variance at 15 s but ~13 % at 30 s: sqrt(2) x sqrt(1.26 / 1.13) = 1.49. At
    longer exposures the ratio falls below sqrt(2) instead (60 s vs 30 s: ~1.3 for delta), as
    reconstruction artefacts that do not scale with exposure (streaks of the calcifications,
    ringing at edges, ~6e-10 in delta) become comparable to the noise."""
    fg = ct.materials["fibroglandular"].delta
    region = np.stack([ndimage.binary_erosion(np.isclose(ct.truth(k, 2).delta, fg, rtol=1e-9),
                                              iterations=4) for k in range(ROWS)])
    assert region.sum() > 10_000
    full = getattr(ct.full, signal)
    half = getattr(ct.half, signal)
    ratio = snr(full, region) / snr(half, region)
    assert ratio == pytest.approx(np.sqrt(2), rel=SQRT2_TOLERANCE), f"SNR ratio {ratio:.3f}"
