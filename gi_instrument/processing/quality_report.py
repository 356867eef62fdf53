"""Quality report of a processed ``gi_ct`` run: resolution, visibility, angular sensitivity, SNR.

What :func:`assess_run` measures (``gi-process`` writes it unless ``--no-quality``), each with
the functions of :mod:`.frc` and :mod:`.quality` (definitions there):

- **Resolution** of the central slice (detector row ``rows // 2``) of delta and of mu: Fourier
  ring correlation between the reconstructions of the even and of the odd projections
  (:func:`~.frc.frc_even_odd`, same filter, centre and FBP as the volume; Hann-apodised against
  the edge leakage of a specimen that fills the field of view). The projections are split by
  angle order, alternately: each half keeps the full angular range (360 deg, or the 185 deg short
  scan, which the FBP weights Parker-style in each half) at half the angular density. The
  resolution is the full period ``1 / f_c`` at the first crossing ``f_c`` of the 0.5 threshold,
  in pixels and in um with the run's pixel at the sample (``geometry.pixel_at_sample_um``, the
  binned detector pixel over the magnification: :attr:`.CTRun.voxel_um`, the voxel of the
  volumes). Few projections per half limit it: angular undersampling decorrelates the halves
  before noise does.
- **Visibility** map and mean (fraction, all finite pixels) of the run's first reference
  stepping scan.
- **Angular sensitivity** ``sigma_alpha`` from the first two reference scans in time, the second
  retrieved against the first with their G2 readbacks (:func:`~.quality.angular_sensitivity`),
  over the central half of the frame (rows and columns ``n/4 .. 3n/4``), a least-squares plane
  removed (the fringe drifts between the scans). Reported as the noise of one scan, the std of
  the difference over ``sqrt(2)`` (the source paper's convention: 62 nrad MAAST at 60 s, binning
  1); the raw std is kept as ``alpha_difference_std_nrad``. Photon noise scales it as
  ``1 / (binning sqrt(exposure))``.
- **SNR** ``mean / std`` of the delta (and mu) central slice in a homogeneous region: the given
  rectangle, or by default the disc of radius ``r = max(3, n / 20)`` pixels (``n`` the slice
  width) where a low-pass copy of the delta slice (Gaussian, sigma ``r / 2``) is most uniform
  (:func:`~.quality.homogeneous_disc`, discs inside 0.45 n of the centre): structures, edges
  and cupping show there, while the pixel noise that the SNR measures is mostly averaged out, so
  the choice hardly favours a lucky noise patch. The maximum-intensity projection
  over ``mip_slices`` is part of each volume's preview PNG (:func:`.outputs.write_previews`).

- **Interruptions**: the run's suspensions (``suspensions`` stream: cause, interrupted stepping
  scan, start and end time) and discarded stepping-scan attempts (``discarded`` stream: stream,
  projection index, attempt, cause, file left on disk, start and end time), as recorded by the
  plan (:func:`run_interruptions`); none of their frames is in the reconstruction.

Files (``out_dir``): ``quality.json`` (numbers, units in the keys), and under ``quality/``:
``frc_delta.png``, ``frc_mu.png``, ``visibility_map.png``, ``angular_sensitivity.png``,
``snr_region.png``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.ndimage import gaussian_filter

from gi_instrument.processing.frc import frc_even_odd, plot_frc, resolution_px, split_even_odd
from gi_instrument.processing.quality import (
    AngularSensitivity,
    angular_sensitivity,
    homogeneous_disc,
    mean_visibility,
    plot_angular_sensitivity,
    plot_region,
    plot_visibility_map,
    snr,
)
from gi_instrument.processing.retrieval import mean_dark, retrieve
from gi_instrument.processing.sinograms import group_scans, read_stepping_scans

__all__ = [
    "QUALITY_JSON",
    "FRC_THRESHOLD",
    "SliceResolution",
    "ReferenceQuality",
    "central_slice_resolution",
    "reference_quality",
    "parse_region",
    "assess_run",
    "format_quality",
    "run_interruptions",
]

QUALITY_JSON = "quality.json"
"""File name of the report in the output folder."""

FRC_THRESHOLD = 0.5
"""FRC threshold of the resolution (as in the source paper)."""

FRC_CONVENTION = ("full period 1/f_c at the first crossing f_c of FRC = 0.5 (linear between "
                  "rings), FRC between the FBPs of the even and odd projections (by angle "
                  "order; each half spans the full angular range at half the density) of the "
                  "central slice, Hann-apodised; um = px * pixel at the sample (binned)")
SIGMA_CONVENTION = ("one scan: std(alpha of 2nd reference scan against the 1st) / sqrt(2), "
                    "central half of the frame, plane removed")


@dataclass(frozen=True)
class SliceResolution:
    """FRC resolution of one slice from its even and odd projections."""

    resolution_px: float
    """Full period at the 0.5 crossing, pixels."""
    resolution_um: float
    """``resolution_px`` times the pixel at the sample, um."""
    freq: NDArray[np.float64]
    """Ring frequencies, cycles per pixel."""
    corr: NDArray[np.float64]
    """Correlation per ring."""
    halves_deg: tuple[tuple[int, float, float], tuple[int, float, float]]
    """(projections, first angle deg, last angle deg) of the even and of the odd half."""


def central_slice_resolution(
    sinogram: ArrayLike,
    angles_deg: ArrayLike,
    filter: str,
    voxel_um: float,
    *,
    window: str | None = "hann",
    **fbp_kwargs: Any,
) -> SliceResolution:
    """FRC resolution of the slice of one sinogram (angles, cols) (:func:`~.frc.frc_even_odd`).

    ``filter``: ``"ramp"`` for line integrals (``-ln T``), ``"hilbert"`` for the refraction
    angle; ``voxel_um``: pixel at the sample, um; ``window``: FRC apodisation; ``fbp_kwargs``
    (``center_px``, ...) go to :func:`~gi_instrument.processing.reconstruction.parallel.fbp`, as for the volume.
    """
    angles = np.asarray(angles_deg, dtype=np.float64)
    freq, corr = frc_even_odd(sinogram, angles, filter, window=window, **fbp_kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Nyquist-limited: the value says so (2 px)
        res_px = resolution_px(freq, corr, FRC_THRESHOLD)
    (_, even), (_, odd) = split_even_odd(angles, angles)
    halves = ((int(even.size), float(even.min()), float(even.max())),
              (int(odd.size), float(odd.min()), float(odd.max())))
    return SliceResolution(res_px, res_px * float(voxel_um), freq, corr, halves)


@dataclass(frozen=True)
class ReferenceQuality:
    """Visibility and angular sensitivity from a run's reference scans."""

    visibility: NDArray[np.floating]
    """Visibility map of the first reference scan (rows, cols), fraction."""
    visibility_mean: float
    """Mean of the finite pixels of :attr:`visibility`."""
    sensitivity: AngularSensitivity | None
    """Second scan against the first; ``None`` when the run has one reference scan."""
    scans: tuple[int, ...]
    """Angle indices of the scans used (the projection each precedes)."""
    gap_s: float
    """Time between the two scans' mid-points, s (0 with one scan)."""
    region: tuple[slice, slice]
    """Region of ``sigma_alpha``."""


def reference_quality(ct: Any, *, use_positions: bool = True) -> ReferenceQuality:
    """Visibility map of the first reference scan and ``sigma_alpha`` of the first two.

    ``ct``: a :class:`~.catalog_reader.CTRun`. Whole frames are read (two scans, dark-corrected
    with the run's mean dark); ``use_positions``: fit the G2 readbacks, as the reconstruction.
    """
    refs = group_scans(ct.reference, ct.steps)
    if len(refs) == 0:
        raise ValueError("the run has no complete reference scan")
    rows, cols = ct.shape
    all_rows = slice(0, rows)
    dark = mean_dark(ct.read("dark", slice(0, ct.n_dark), all_rows)) if ct.n_dark else None
    order = [int(i) for i in np.argsort(refs.time_s, kind="stable")[:2]]
    stacks = read_stepping_scans(ct.read, "reference", refs, order, all_rows)
    positions = refs.positions_um if use_positions else None
    region = (slice(rows // 4, rows - rows // 4), slice(cols // 4, cols - cols // 4))
    if len(order) < 2:
        pos = None if positions is None else positions[order[0]]
        vis = retrieve(stacks[0], stacks[0], dark=dark, positions_um=pos,
                       period_um=ct.period_um if pos is not None else None).visibility_reference
        return ReferenceQuality(vis, mean_visibility(vis), None,
                                (int(refs.angle_index[order[0]]),), 0.0, region)
    a, b = order
    sens = angular_sensitivity(
        stacks[0], stacks[1], ct.period_um, ct.lever_arm_cm, dark=dark,
        positions_um=None if positions is None else positions[b],
        positions_a_um=None if positions is None else positions[a],
        region=region, detrend=True)
    return ReferenceQuality(sens.visibility, mean_visibility(sens.visibility), sens,
                            (int(refs.angle_index[a]), int(refs.angle_index[b])),
                            float(refs.time_s[b] - refs.time_s[a]), region)


def parse_region(text: str, shape: tuple[int, int] | None = None) -> tuple[slice, slice]:
    """``"r0:r1,c0:c1"`` (pixels, half-open, as numpy slices) → slices of at least two pixels,
    checked to lie inside ``shape`` when it is given."""
    try:
        rows, cols = (tuple(int(v) for v in part.split(":")) for part in text.split(","))
        (r0, r1), (c0, c1) = rows, cols
    except ValueError as exc:
        raise ValueError(f"region {text!r}: expected r0:r1,c0:c1 (integers)") from exc
    if not (0 <= r0 < r1 and 0 <= c0 < c1) or (r1 - r0) * (c1 - c0) < 2:
        raise ValueError(f"region {text!r} is empty or a single pixel")
    if shape is not None and (r1 > shape[0] or c1 > shape[1]):
        raise ValueError(f"region {text!r} outside the {shape[0]} x {shape[1]} slice")
    return slice(r0, r1), slice(c0, c1)


def _region_json(mask: NDArray[np.bool_], box: tuple[slice, slice] | None,
                 radius_px: float | None) -> dict[str, Any]:
    if box is not None:
        return {"kind": "rectangle", "rows": [box[0].start, box[0].stop],
                "cols": [box[1].start, box[1].stop], "pixels": int(mask.sum())}
    rr, cc = np.nonzero(mask)
    return {"kind": "disc (most uniform in the low-pass delta slice)",
            "center_px": [float(rr.mean()), float(cc.mean())], "radius_px": radius_px,
            "pixels": int(mask.sum())}


_INTERRUPTION_STREAMS = {"suspensions": ("suspensions", "suspension_"),
                         "discarded_attempts": ("discarded", "discarded_")}
"""Report key -> (stream, column prefix)."""


def run_interruptions(run: Any) -> dict[str, list[dict[str, Any]]]:
    """The suspensions and discarded attempts recorded in a run (tiled run node): report key ->
    one dict per event, the column prefix dropped (``cause``, ``start_time``, ...)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for key, (stream, prefix) in _INTERRUPTION_STREAMS.items():
        if stream not in run:
            out[key] = []
            continue
        node = run[stream]
        columns = {name[len(prefix):]: np.asarray(node[name].read()).tolist() for name in node
                   if name.startswith(prefix)}
        n = len(next(iter(columns.values()), []))
        out[key] = [{name: values[i] for name, values in columns.items()} for i in range(n)]
    return out


def assess_run(
    ct: Any,
    out_dir: str | Path,
    *,
    central_sinograms: Mapping[str, tuple[ArrayLike, str]],
    central_slices: Mapping[str, ArrayLike],
    angles_deg: ArrayLike,
    central_row: int,
    center_px: float | None = None,
    use_positions: bool = True,
    snr_region: str | None = None,
    mip_slices: int = 32,
    fbp_kwargs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Measure, plot and write the quality report of a reconstructed run (module docstring).

    Args:
        ct: the :class:`~.catalog_reader.CTRun`.
        out_dir: output folder (``quality.json`` and ``quality/*.png`` go there).
        central_sinograms: ``"delta"`` → (refraction-angle sinogram (angles, cols) in rad,
            ``"hilbert"``), ``"mu"`` → (``-ln T`` sinogram, ``"ramp"``) of ``central_row``.
        central_slices: ``"delta"`` and ``"mu"`` → the reconstructed slice (cols, cols) of
            ``central_row`` (delta dimensionless, mu in 1/m).
        angles_deg: projection angles of the sinograms, deg.
        central_row: the detector row (= volume slice index) measured.
        center_px: rotation axis column, as for the volumes.
        use_positions: fit the reference scans with their G2 readbacks.
        snr_region: ``"r0:r1,c0:c1"`` in the slice, or ``None`` (the default disc).
        mip_slices: slices of the MIP in the previews (recorded).
        fbp_kwargs: further :func:`~gi_instrument.processing.reconstruction.parallel.fbp` options of the volumes,
            used for the even and odd reconstructions too.

    Returns:
        The report (what ``quality.json`` holds), with ``"files"``: name → path.
    """
    out = Path(out_dir)
    figures = out / "quality"
    voxel_um = float(ct.voxel_um)
    geometry = ct.geometry
    plan_args = ct.start.get("plan_args") or {}
    report: dict[str, Any] = {
        "run_uid": ct.uid, "voxel_um": voxel_um, "binning": int(geometry.get("binning", 1)),
        "exposure_s": plan_args.get("exposure_s"), "central_slice": int(central_row),
        "frc_threshold": FRC_THRESHOLD, "frc_convention": FRC_CONVENTION,
    }
    files: dict[str, Path] = {}
    for name, (sinogram, filt) in central_sinograms.items():
        res = central_slice_resolution(sinogram, angles_deg, filt, voxel_um, center_px=center_px,
                                       **dict(fbp_kwargs or {}))
        report[f"resolution_px_{name}"] = res.resolution_px
        report[f"resolution_um_{name}"] = res.resolution_um
        report.setdefault("frc_halves", {  # the same for every sinogram
            half: {"projections": n, "first_deg": lo, "last_deg": hi}
            for half, (n, lo, hi) in zip(("even", "odd"), res.halves_deg, strict=True)})
        files[f"frc_{name}"] = plot_frc(
            res.freq, res.corr, figures / f"frc_{name}.png", threshold=FRC_THRESHOLD,
            voxel_um=voxel_um, label=f"{name}, even vs odd projections",
            title=f"FRC of {name}, slice {central_row} (full period at 0.5)")

    refs = reference_quality(ct, use_positions=use_positions)
    report["visibility_mean"] = refs.visibility_mean
    report["reference_scans"] = list(refs.scans)
    report["reference_gap_s"] = refs.gap_s
    files["visibility_map"] = plot_visibility_map(
        refs.visibility, figures / "visibility_map.png",
        title=f"Visibility of reference scan {refs.scans[0]} (mean of all finite pixels)")
    if refs.sensitivity is not None:
        sens = refs.sensitivity
        report["angular_sensitivity_nrad"] = sens.sigma_one_scan_rad * 1e9
        report["alpha_difference_std_nrad"] = sens.sigma_rad * 1e9
        report["angular_sensitivity_convention"] = SIGMA_CONVENTION
        report["angular_sensitivity_region"] = {
            "rows": [refs.region[0].start, refs.region[0].stop],
            "cols": [refs.region[1].start, refs.region[1].stop]}
        files["angular_sensitivity"] = plot_angular_sensitivity(
            sens, figures / "angular_sensitivity.png",
            title=f"Reference scan {refs.scans[1]} against {refs.scans[0]}")
    else:
        report["angular_sensitivity_nrad"] = None

    delta = np.asarray(central_slices["delta"], dtype=np.float64)
    box = None if snr_region is None else parse_region(snr_region, delta.shape)
    radius = None
    if box is None:
        radius = max(3.0, min(delta.shape) / 20)
        mask = homogeneous_disc(gaussian_filter(np.nan_to_num(delta), radius / 2), radius)
    else:
        mask = np.zeros(delta.shape, dtype=bool)
        mask[box] = True
    for name, image in central_slices.items():
        report[f"snr_{name}"] = snr(image, mask)
    report["snr_region"] = _region_json(mask, box, radius)
    files["snr_region"] = plot_region(delta, mask, figures / "snr_region.png", unit="delta",
                                      title=f"delta, slice {central_row}")
    report["mip_slices"] = int(mip_slices)
    report.update(run_interruptions(ct.run))
    report["files"] = {name: str(path) for name, path in files.items()}
    path = out / QUALITY_JSON
    path.write_text(json.dumps(report, indent=2, allow_nan=True) + "\n")
    report["files"] = {**files, "quality": path}
    return report


def format_quality(report: Mapping[str, Any]) -> str:
    """The report's numbers as a few lines for the terminal."""
    def resolution(name: str) -> str:
        return (f"{report[f'resolution_um_{name}']:.1f} um "
                f"({report[f'resolution_px_{name}']:.2f} px)")

    scans = report["reference_scans"]
    sigma = report.get("angular_sensitivity_nrad")
    if sigma is None:
        sensitivity = "n/a (one reference scan)"
    else:
        sensitivity = f"{sigma:.1f} nrad (one scan; scans {scans[0]} and {scans[1]})"
    header = (f"quality (slice {report['central_slice']}, pixel at the sample "
              f"{report['voxel_um']:.4g} um, binning {report['binning']}, "
              f"exposure {report['exposure_s']} s):")
    return "\n".join([
        header,
        (f"  resolution (FRC 0.5, full period, even/odd projections): "
         f"delta {resolution('delta')}, mu {resolution('mu')}"),
        f"  mean visibility (reference scan {scans[0]}): {100 * report['visibility_mean']:.1f} %",
        f"  angular sensitivity: {sensitivity}",
        (f"  SNR (mean/std, {report['snr_region']['pixels']} px): "
         f"delta {report['snr_delta']:.3g}, mu {report['snr_mu']:.3g}"),
        *_interruption_lines(report),
    ])


def _interruption_lines(report: Mapping[str, Any]) -> list[str]:
    """One line per suspension and per discarded attempt."""
    suspensions, discarded = report.get("suspensions", []), report.get("discarded_attempts", [])
    lines = [f"  suspensions: {len(suspensions)}, discarded stepping-scan attempts: {len(discarded)}"]
    lines += [f"    suspended {s['end_time'] - s['start_time']:.1f} s during {s['stream'] or 'no scan'} "
              f"{s['angle_index']}: {s['cause']}" for s in suspensions]
    lines += [f"    discarded {d['stream']} {d['angle_index']} attempt {d['attempt']}: {d['cause']} "
              f"({d['file'] or 'no file'})" for d in discarded]
    return lines
