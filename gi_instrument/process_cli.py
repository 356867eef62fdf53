"""``gi-process``: reconstruct a ``gi_ct`` run from the catalog into volumes, TIFF stacks and PNGs.

Pipeline: the run is read from the catalog (:mod:`gi_instrument.processing.catalog_reader`),
sinograms of transmission ``T``, differential phase and dark-field ``D`` are built by row chunks
(:mod:`~gi_instrument.processing.sinograms`, with time-interpolated references and the measured
G2 positions), then each slab of detector rows is rebinned to parallel beam in the run's geometry
and reconstructed (:mod:`gi_instrument.processing.reconstruction`: Fourier gridding, or FDK along
the tilted rays where the cone angle matters) and written to ``volumes.h5``; TIFF stacks and PNG
previews are made from that file. Unless ``--no-quality``, the quality of the run is measured
(:mod:`gi_instrument.processing.quality_report`: FRC resolution of the central slice of delta
and mu, visibility and angular sensitivity from the reference scans, SNR in a homogeneous
region), written to ``quality.json`` and ``quality/*.png``, stored as the ``quality`` attribute
of ``volumes.h5`` and printed.

The voxel size everywhere (volumes, TIFF, FRC in um) is the run's pixel at the sample,
``geometry.pixel_at_sample_um`` (the binned detector pixel over the magnification,
:attr:`gi_instrument.processing.catalog_reader.CTRun.voxel_um`).

Volumes and units (``v`` = voxel size at the sample, m; pixel units in the FBP):

- ``attenuation``: ``mu [1/m] = FBP_ramp(-ln T) / v`` (``-ln T`` is the line integral of ``mu``,
  the FBP returns ``mu v`` per pixel).
- ``darkfield``: linear diffusion coefficient ``eps [1/m] = FBP_ramp(-ln D) / v``; ``D`` from
  visibilities corrected for their photon-noise bias (:mod:`gi_instrument.processing.noise`,
  detector gain and read noise from the fit residuals of the first reference scan; off with
  ``--no-darkfield-bias``).
- ``delta``: ``delta = FBP_hilbert(alpha)``, ``alpha = p2 dphi / (2 pi d_eff)`` the refraction
  angle at the sample in rad (p2 the G2 period, ``d_eff`` the lever arm of the sample position
  from the run's geometry, :attr:`~gi_instrument.processing.catalog_reader.CTRun.lever_arm_cm`).
  With ``alpha = d/du integral delta dz`` (``u``
  in m) and ``u = v n`` (``n`` in pixels), the per-pixel derivative of the pixel-unit projection
  ``integral delta dz / v`` is ``alpha`` itself: the voxel size cancels
  (:func:`gi_instrument.processing.reconstruction.units.delta_from_dpc`).

Every volume carries the energy its values refer to (``energy_keV``: the interferometer's design
energy; ``delta`` scales as ``E^-2``) as a dataset attribute of ``volumes.h5`` and in the TIFF's
ImageJ ``Info``; the file's ``geometry`` attribute holds the run's values (binning, pixel at the
sample, lever arm, projections actually used), not the profile's.

``T`` and ``D`` are clipped to at least ``1e-6`` before the logarithm; pixels the retrieval
flags carry ``T = D = 1`` and ``dphi = 0`` (no signal).

Strong and weak signals: before the reconstruction, the differential phase and the dark-field of
wrapped, fringe-less, dim pixels and of refraction edges
(:mod:`gi_instrument.processing.unreliable`: neighbour step > 1.5 pi, ``D < 0.2``, ``T < 0.01``,
flagged by the retrieval, or a phase off its neighbours' mean by > 0.05 rad and > 4 x the
row's noise; widened by one pixel) are filled along each row from the reliable neighbours,
guided by the transmission (``sinograms/sinogram_dpc_repaired.npy``,
``sinogram_darkfield_repaired.npy``); their fraction is ``processing.unreliable_fraction``. Runs
that hold a whole object (no wider than the run) are left as measured; their fraction is
``processing.unrepaired_object_fraction`` (a small dense object whose edges wrap has its delta
low: a 40 um calcification at binning 1 keeps ~20 % of its delta integral).

Geometry: from the run's start document
(:meth:`~gi_instrument.processing.reconstruction.geometry.Geometry.from_run`: ``geometry.beam``,
else the profile's ``simulation.beam``, else parallel; the source-sample and source-G2 distances;
the detector pixel times the binning); ``--beam`` overrides the kind. Rotation axis: found in the
data by default (:func:`~gi_instrument.processing.reconstruction.axis.find_axis`: centre and tilt
from opposite projections of ``-ln T``; a run without an object to register keeps the detector
centre); ``--center-px`` (and ``--tilt-deg``) override it. Rings: stripes are removed from the
``-ln T`` and ``-ln D`` sinograms before rebinning
(:func:`~gi_instrument.processing.reconstruction.rings.remove_stripes`) unless ``--no-rings``.

Truncation: by default (``--truncation cylinder``) ``mu`` and ``delta`` are reconstructed with the
container correction of :mod:`gi_instrument.processing.truncation` (the formalin cylinder, wider
than the field, fitted to the edges of each slab's ``-ln T`` sinogram; projections continued
with it beyond the detector); ``--truncation none`` switches it off. The dark-field is not
corrected (a homogeneous liquid does not scatter: ``-ln D`` is ~0 at the edges).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["VOLUMES", "CONE_METHODS", "process_run", "reconstruct_slab", "preparations", "main"]

VOLUMES = {
    "attenuation": ("1/m", "linear attenuation coefficient mu, FBP (ramp) of -ln T"),
    "delta": ("1", "refractive index decrement delta, FBP (Hilbert) of the refraction angle"),
    "darkfield": ("1/m", "linear diffusion coefficient, FBP (ramp) of -ln D"),
}
"""Reconstructed volumes: name → (unit, description)."""

CONE_METHODS = ("auto", "rebin", "fdk")
"""How a cone-beam slab is reconstructed: ``auto`` (FDK where the slab's cone angle matters,
:func:`~gi_instrument.processing.reconstruction.fdk.use_fdk`), ``rebin`` (always rebinned to
parallel beam and gridded: fast, exact at the mid-plane, a height error off it), ``fdk``."""


def _check_cone_method(cone_method: str) -> None:
    """ValueError unless ``cone_method`` is one of :data:`CONE_METHODS`."""
    if cone_method not in CONE_METHODS:
        raise ValueError(f"cone_method must be one of {CONE_METHODS}, got {cone_method!r}")


def _minus_log(values: NDArray) -> NDArray[np.float32]:
    """:func:`gi_instrument.processing.unreliable.minus_log` (imported when used: the CLI starts
    without the processing package)."""
    from gi_instrument.processing.unreliable import minus_log

    return minus_log(values)


def _rows_per_slab(n_proj: int, cols: int, memory_bytes: int) -> int:
    """Detector rows reconstructed together: three volume slabs, their sinograms and the
    rebinning's temporaries (about six sinogram slabs)."""
    per_row = 4 * (3 * cols * cols + 8 * n_proj * cols)
    return max(1, memory_bytes // per_row)


def _geometry(ct: Any, beam: str | None, center_px: float | None, tilt_deg: float,
              find_center: bool, angles: NDArray, transmission: Any) -> tuple[Any, dict[str, Any]]:
    """The run's geometry with its rotation axis (given, found, or the detector centre) and a
    record of how the axis was chosen."""
    from dataclasses import replace

    from gi_instrument.processing.reconstruction import Geometry, find_axis

    geometry = Geometry.from_run(ct.geometry, ct.profile)
    if beam is not None and beam != geometry.beam:
        geometry = (Geometry.from_run({**ct.geometry, "beam": beam}, ct.profile)
                    if beam == "cone" else replace(geometry, beam="parallel", source_axis_cm=np.inf,
                                                   source_detector_cm=np.inf))
    if center_px is not None:
        return geometry.with_axis(center_px, tilt_deg), {"axis": "given"}
    if not find_center:
        return geometry.with_axis(None, tilt_deg), {"axis": "detector centre"}
    try:
        fit = find_axis(transmission, angles, prepare=_minus_log)
    except ValueError as exc:
        return geometry, {"axis": f"detector centre ({exc})"}
    return geometry.with_axis(fit.center_px, fit.tilt_deg), {"axis": "found"}


def process_run(
    ct: Any,
    out_dir: str | Path,
    *,
    memory_bytes: int = 2 << 30,
    reference_mode: str = "linear",
    use_positions: bool = True,
    correct_steps: bool = False,
    center_px: float | None = None,
    tilt_deg: float = 0.0,
    find_center: bool = True,
    beam: str | None = None,
    rings: bool = True,
    truncation: str = "cylinder",
    cone_method: str = "auto",
    tiff: bool = False,
    progress: bool = True,
    mip_slices: int = 32,
    quality: bool = True,
    snr_region: str | None = None,
    darkfield_bias: bool = True,
) -> dict[str, Path]:
    """Sinograms, reconstructions and result files of a :class:`~.catalog_reader.CTRun`.

    Writes into ``out_dir``: ``sinograms/`` (``.npy``), ``volumes.h5``, ``<volume>.tif`` (unless
    ``tiff`` is False) and ``png/<volume>_preview.png`` (central slices and a MIP over
    ``mip_slices`` central slices); with ``quality``, ``quality.json`` and ``quality/*.png``
    (:func:`gi_instrument.processing.quality_report.assess_run`; ``snr_region`` ``"r0:r1,c0:c1"``
    or ``None`` for its default disc). ``darkfield_bias``: correct the visibilities for their
    noise bias with the detector noise measured on the first reference scan
    (:mod:`gi_instrument.processing.noise`). Returns the paths by name.

    Geometry (module docstring): ``beam`` overrides the run's beam kind (``"parallel"``,
    ``"cone"``); ``center_px`` (with ``tilt_deg``) fixes the rotation axis, else it is found in
    the data (``find_center``) or put at the detector centre; ``rings`` removes stripes;
    ``cone_method`` (:data:`CONE_METHODS`) chooses between rebinning and FDK.
    """
    from tqdm import tqdm

    from gi_instrument import __version__
    from gi_instrument.processing.outputs import VolumeFile, write_previews, write_tiff_stack
    from gi_instrument.processing.reconstruction import attenuation_per_m
    from gi_instrument.processing.unreliable import MIN_SIGNAL, Criteria, repair_sinograms

    _check_cone_method(cone_method)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    noise = ct.noise_model(use_positions) if darkfield_bias else None
    criteria = Criteria()
    sino = ct.sinograms(out_dir=out / "sinograms", memory_bytes=memory_bytes,
                        reference_mode=reference_mode, use_positions=use_positions,
                        correct_steps=correct_steps, progress=progress, noise=noise)
    n_proj, rows, cols = sino.transmission.shape
    angles = sino.angles_deg
    repaired = repair_sinograms(sino.dpc, sino.transmission, sino.darkfield, sino.flags,
                                criteria=criteria, out_dir=out / "sinograms")
    sino = dataclasses.replace(sino, dpc=repaired.dpc, darkfield=repaired.darkfield)
    geometry, axis_record = _geometry(ct, beam, center_px, tilt_deg, find_center, angles,
                                      sino.transmission)
    parameters = {
        "gi_instrument_version": __version__, "reference_mode": reference_mode,
        "use_positions": use_positions, "correct_steps": correct_steps,
        "center_px": geometry.center(cols), "tilt_deg": geometry.tilt_deg, **axis_record,
        "beam": geometry.beam, "cone_method": cone_method, "rings": rings, "truncation": truncation,
        "min_signal": MIN_SIGNAL,
        "unreliable_criteria": criteria.as_dict(), "unreliable_fraction": repaired.fraction,
        "unrepaired_object_fraction": repaired.object_fraction,
        "darkfield_noise": None if noise is None else {
            "gain_adu_per_photon": noise.gain_adu_per_photon,
            "read_variance_adu2": noise.read_variance_adu2},
        "filters": {"attenuation": "ramp", "darkfield": "ramp", "delta": "hilbert"},
        "flagged_fraction": float(np.count_nonzero(sino.flags) / sino.flags.size),
        "n_projections": n_proj, "angle_range_deg": [float(angles.min()), float(angles.max())],
    }
    metadata = {"run_uid": ct.uid, "run_uids": getattr(ct, "uids", [ct.uid]),
                "incomplete": getattr(ct, "incomplete", None) or False, "profile": ct.start.get("profile"),
                "geometry": run_geometry(ct, n_proj), "plan_args": ct.start.get("plan_args"),
                "processing": parameters}
    labels = volume_labels(ct)
    slab_rows = _rows_per_slab(n_proj, cols, memory_bytes)
    paths = {"sinograms": out / "sinograms", "volumes": out / "volumes.h5"}
    with VolumeFile(paths["volumes"], metadata, ct.voxel_um) as vf:
        for name, (unit, description) in VOLUMES.items():
            vf.create(name, (rows, cols, cols), unit, description, labels)
        bar = tqdm(total=rows, unit="row", desc="reconstruction", disable=not progress)
        prepare = preparations(ct.period_um, ct.lever_arm_cm, rings)
        for r0 in range(0, rows, slab_rows):
            block = slice(r0, min(r0 + slab_rows, rows))
            slab = reconstruct_slab(sino, block, geometry, prepare, truncation, cone_method=cone_method)
            vf.volume("attenuation")[block] = attenuation_per_m(slab["attenuation"], ct.voxel_um)
            vf.volume("darkfield")[block] = attenuation_per_m(slab["darkfield"], ct.voxel_um)
            vf.volume("delta")[block] = slab["delta"]
            del slab
            sino.release_pages()
            bar.update(block.stop - block.start)
        bar.close()
        volumes = {name: vf.volume(name) for name in VOLUMES}
        if tiff:
            for name, volume in volumes.items():
                paths[name] = write_tiff_stack(out / f"{name}.tif", volume, ct.voxel_um,
                                               {"volume": name, "units": VOLUMES[name][0], **labels})
        for path in write_previews(out / "png", volumes, ct.voxel_um,
                                   units={k: v[0] for k, v in VOLUMES.items()},
                                   mip_slices=mip_slices):
            paths[path.stem] = path
        if quality:
            report = _assess(ct, sino, volumes, out, truncation=truncation, geometry=geometry,
                             prepare=prepare,
                             use_positions=use_positions, snr_region=snr_region,
                             mip_slices=mip_slices)
            vf.file.attrs["quality"] = json.dumps(
                {k: v for k, v in report.items() if k != "files"}, sort_keys=True)
            paths.update(report["files"])
    return paths


def run_geometry(ct: Any, n_projections: int) -> dict[str, Any]:
    """The geometry the volumes were reconstructed with: the run's (start document), with the
    binning, pixel at the sample and lever arm it was processed with and the number of
    projections actually used (the profile's counts do not apply to a run with its own step)."""
    geometry = dict(ct.geometry)
    schedule = ct.start.get("schedule", {})
    geometry.update({
        "binning": int(geometry.get("binning", 1)), "pixel_at_sample_um": ct.voxel_um,
        "lever_arm_cm": ct.lever_arm_cm, "n_projections": int(n_projections),
        "n_references": len(schedule.get("reference_indices", [])) or geometry.get("n_references"),
    })
    geometry.pop("reference_interval", None)  # the profile's; the run's is in plan_args
    return geometry


def volume_labels(ct: Any) -> dict[str, float]:
    """Attributes of every volume: the X-ray energy delta and mu refer to (the interferometer's
    design energy, ``source.design_energy_keV`` of the run's profile), keV."""
    return {"energy_keV": float(ct.geometry.get("design_energy_keV", ct.profile.source.design_energy_keV))}


def preparations(period_um: float, d_eff_cm: float, rings: bool) -> dict[str, Any]:
    """What each block of sinogram rows goes through before rebinning: ``"line"`` (``T`` or
    ``D``): ``-ln``, then with ``rings`` stripe removal; ``"alpha"`` (differential phase): the
    refraction angle in rad (G2 period ``period_um``, lever arm of the sample position
    ``d_eff_cm``). (The
    refraction angle is a derivative: the edges of an object centred on the axis are one-column
    spikes of its mean projection, which the stripe criterion cannot tell from a bad pixel, so
    it is left alone.)"""
    from gi_instrument.processing.reconstruction import remove_stripes
    from gi_instrument.processing.retrieval import refraction_angle_rad

    def line(values: NDArray) -> NDArray[np.float32]:
        return remove_stripes(_minus_log(values)) if rings else _minus_log(values)

    def alpha(values: NDArray) -> NDArray[np.float32]:
        return refraction_angle_rad(np.asarray(values, dtype=np.float32), period_um, d_eff_cm)

    return {"line": line, "alpha": alpha}


def reconstruct_slab(sino: Any, block: slice, geometry: Any, prepare: dict[str, Any],
                     truncation: str, volumes: tuple[str, ...] = tuple(VOLUMES), cone_method: str = "auto",
                     ) -> dict[str, NDArray[np.float32]]:
    """One slab of rows of the ``volumes`` (default all three), in pixel units: ``attenuation``
    (``mu v``), ``darkfield`` (``eps v``) and ``delta``, from the sinogram stacks
    ``sino.transmission``, ``.darkfield``, ``.dpc`` (angles, rows, cols) in ``geometry``:
    rebinned to parallel beam and reconstructed by Fourier gridding, or, where the slab's cone
    angle matters, by FDK (:func:`~gi_instrument.processing.reconstruction.fdk.use_fdk`;
    ``cone_method`` of :data:`CONE_METHODS` overrides the choice);
    ``prepare`` from :func:`preparations`; ``truncation``: ``"cylinder"`` (the container fitted
    to the slab's rebinned ``-ln T``, used for ``mu`` and ``delta``) or ``"none"``."""
    from gi_instrument.processing.reconstruction import fbp, reconstruct, to_parallel, use_fdk
    from gi_instrument.processing.truncation import fit_container

    angles = sino.angles_deg
    rows, cols = sino.transmission.shape[1:]
    _check_cone_method(cone_method)
    fdk = geometry.beam == "cone" and (cone_method == "fdk" or (
        cone_method == "auto" and use_fdk(geometry, rows, cols, range(rows)[block])))

    def rebinned(stack: Any, kind: str) -> Any:
        return to_parallel(stack, angles, geometry, slices=block, prepare=prepare[kind],
                           derivative=kind == "alpha")

    def volume(stack: Any, kind: str, filt: str, par: Any = None,
               **kwargs: Any) -> NDArray[np.float32]:
        if fdk:
            return reconstruct(stack, angles, geometry, filt, slices=block, prepare=prepare[kind],
                               method="fdk", **kwargs)
        par = rebinned(stack, kind) if par is None else par
        return fbp(par.sinograms, par.angles_deg, filt, weights=par.weights_rad,
                   center_px=par.center_px, **kwargs)

    needed = truncation == "cylinder" or (not fdk and "attenuation" in volumes)
    line = rebinned(sino.transmission, "line") if needed else None
    container = (fit_container(line.sinograms, line.angles_deg, center_px=line.center_px)
                 if truncation == "cylinder" else None)
    out = {}
    if "attenuation" in volumes:
        out["attenuation"] = volume(sino.transmission, "line", "ramp", line,
                                    truncation=truncation, container=container)
    del line
    if "darkfield" in volumes:
        out["darkfield"] = volume(sino.darkfield, "line", "ramp")
    if "delta" in volumes:
        out["delta"] = volume(sino.dpc, "alpha", "hilbert", truncation=truncation,
                              container=container)
    return out


def _assess(ct: Any, sino: Any, volumes: dict[str, Any], out: Path, *, truncation: str,
            geometry: Any, prepare: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """:func:`~gi_instrument.processing.quality_report.assess_run` on the central detector row:
    its refraction-angle and ``-ln T`` sinograms (rebinned to parallel beam as for the volumes)
    and its delta and mu slices; the even/odd reconstructions of the FRC get the same weights
    and truncation correction as the volumes."""
    from gi_instrument.processing.quality_report import assess_run
    from gi_instrument.processing.reconstruction import to_parallel
    from gi_instrument.processing.truncation import fit_container

    row = sino.transmission.shape[1] // 2
    angles = np.asarray(sino.angles_deg, dtype=np.float64)
    central = slice(row, row + 1)
    line = to_parallel(sino.transmission, angles, geometry, slices=central, prepare=prepare["line"])
    alpha = to_parallel(sino.dpc, angles, geometry, slices=central, prepare=prepare["alpha"],
                        derivative=True)
    container = (fit_container(line.sinograms, line.angles_deg, center_px=line.center_px)
                 if truncation == "cylinder" else None)
    return assess_run(
        ct, out, angles_deg=line.angles_deg, central_row=row,
        central_sinograms={"delta": (alpha.sinograms[:, 0], "hilbert"),
                           "mu": (line.sinograms[:, 0], "ramp")},
        central_slices={"delta": volumes["delta"][row], "mu": volumes["attenuation"][row]},
        center_px=line.center_px,
        fbp_kwargs={"truncation": truncation, "container": container, "weights": line.weights_rad},
        **kwargs)


def _finite_float(text: str) -> float:
    value = float(text)
    if not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = _finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text}")
    return value


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    from gi_instrument.catalog import DATA_DIR_ENV

    from gi_instrument import cli

    parser = cli.parser("gi-process", "Reconstruct a gi_ct run from the catalog into volumes, TIFF stacks and PNG\n"
                        "previews, with a quality report (FRC resolution, visibility, angular\n"
                        "sensitivity, SNR). Output: DATA_DIR/processed/<uid[:8]>/ unless --out.")
    parser.add_argument("run", help="run uid (or its beginning), or -N for the N-th last run; any run of a "
                                    "CT split over resumed runs processes the whole CT")
    parser.add_argument("--allow-incomplete", action="store_true",
                        help="process a CT whose latest run failed, was aborted or died (marked "
                             "'incomplete' in volumes.h5)")
    parser.add_argument("--out", default=None,
                        help="output folder (default DATA_DIR/processed/<uid[:8]>)")
    parser.add_argument("--data-dir", default=None,
                        help=f"catalog directory (default ${DATA_DIR_ENV} or ~/gi-data)")
    parser.add_argument("--memory-gib", type=_positive_float, default=2.0,
                        help="memory budget of one row chunk, GiB (default 2)")
    parser.add_argument("--nearest-reference", action="store_true",
                        help="use the nearest reference scan instead of interpolating in time")
    parser.add_argument("--equidistant", action="store_true",
                        help="ignore the G2 readbacks (FFT of nominal equidistant steps)")
    parser.add_argument("--correct-steps", action="store_true",
                        help="estimate each scan's G2 step positions from its curves")
    parser.add_argument("--beam", choices=("cone", "parallel"), default=None,
                        help="beam geometry (default: the run's)")
    parser.add_argument("--cone-method", choices=CONE_METHODS, default="auto",
                        help="cone beam: 'rebin' always rebins to parallel beam (fast; exact at the "
                             "mid-plane, a height error of up to a few voxels far from it), 'fdk' "
                             "always uses FDK, 'auto' (default) FDK where the cone angle matters")
    parser.add_argument("--center-px", type=_finite_float, default=None,
                        help="detector column of the rotation axis on the mid-plane row "
                             "(default: found in the data)")
    parser.add_argument("--tilt-deg", type=_finite_float, default=0.0,
                        help="with --center-px: lean of the rotation axis in the detector plane, "
                             "deg (default 0)")
    parser.add_argument("--no-find-axis", action="store_true",
                        help="put the rotation axis at the detector centre instead of finding it")
    parser.add_argument("--no-rings", action="store_true",
                        help="skip the ring suppression (stripe removal in the sinograms)")
    parser.add_argument("--truncation", choices=("cylinder", "none"), default="cylinder",
                        help="correction of projections truncated by the field of view (the "
                             "sample container wider than the detector): cylinder extrapolation "
                             "(default) or none")
    parser.add_argument("--tiff", action=argparse.BooleanOptionalAction, default=False,
                        help="also write 32-bit TIFF stacks (Fiji; a second copy of each volume beside "
                             "volumes.h5, which Fiji opens too with its HDF5 import); default --no-tiff")
    parser.add_argument("--no-darkfield-bias", action="store_true",
                        help="keep the visibilities' noise bias (default: subtract it, with the "
                             "detector noise measured on the first reference scan)")
    parser.add_argument("--mip-slices", type=_positive_int, default=32,
                        help="central slices in the maximum-intensity projection (default 32)")
    parser.add_argument("--no-quality", action="store_true",
                        help="skip the quality report (FRC, visibility, sigma_alpha, SNR)")
    parser.add_argument("--snr-region", default=None, metavar="R0:R1,C0:C1",
                        help="SNR region in the central slice, pixels (default: the disc "
                             "where the smoothed delta slice is most uniform)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Console entry point ``gi-process``."""
    from gi_instrument import cli

    args = _parse_args(argv)
    return cli.run("gi-process", lambda: _process(args))


def _process(args: argparse.Namespace) -> None:
    from gi_instrument.catalog import catalog_paths, open_catalog
    from gi_instrument.processing.catalog_reader import open_ct_chain
    from gi_instrument.processing.quality_report import format_quality, parse_region

    check_region = args.snr_region is not None and not args.no_quality
    if check_region:
        parse_region(args.snr_region)  # its syntax, before opening the catalog
    paths = catalog_paths(args.data_dir, create=False)
    client = open_catalog(paths.root, create=False)
    ct = open_ct_chain(client, args.run, allow_incomplete=args.allow_incomplete)
    if ct.incomplete:
        print(f"gi-process: incomplete CT ({ct.incomplete}), processed as it is (--allow-incomplete)",
              file=sys.stderr)
    out = Path(args.out) if args.out else paths.root / "processed" / ct.uid[:8]
    if check_region:
        parse_region(args.snr_region, (ct.shape[1], ct.shape[1]))  # fail before the work
    print(f"gi-process: run {' + '.join(u[:8] for u in ct.uids)} ({ct.profile.name}, "
          f"{len(ct.primary.angle_index)} "
          f"projection frames, {ct.shape[0]} x {ct.shape[1]} px, voxel {ct.voxel_um:.4g} um)"
          f" -> {out}", file=sys.stderr)
    written = process_run(
        ct, out, memory_bytes=int(args.memory_gib * 2**30),
        reference_mode="nearest" if args.nearest_reference else "linear",
        use_positions=not args.equidistant, correct_steps=args.correct_steps,
        center_px=args.center_px, tilt_deg=args.tilt_deg, find_center=not args.no_find_axis,
        beam=args.beam, rings=not args.no_rings, truncation=args.truncation, cone_method=args.cone_method,
        tiff=args.tiff, progress=not args.quiet, mip_slices=args.mip_slices,
        quality=not args.no_quality, snr_region=args.snr_region,
        darkfield_bias=not args.no_darkfield_bias)
    for name, path in written.items():
        print(f"{name}: {path}")
    if "quality" in written:
        print(format_quality(json.loads(written["quality"].read_text())))


if __name__ == "__main__":
    main()
