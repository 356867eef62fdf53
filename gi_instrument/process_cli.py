"""``gi-process``: reconstruct a ``gi_ct`` run from the catalog into volumes, TIFF stacks and PNGs.

Pipeline: the run is read from the catalog (:mod:`gi_instrument.processing.catalog_reader`),
sinograms of transmission ``T``, differential phase and dark-field ``D`` are built by row chunks
(:mod:`~gi_instrument.processing.sinograms`, with time-interpolated references and the measured
G2 positions), then each slab of detector rows is reconstructed with
:func:`gi_instrument.processing.fbp.fbp` and written to ``volumes.h5``; TIFF stacks and PNG
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
- ``darkfield``: linear diffusion coefficient ``eps [1/m] = FBP_ramp(-ln D) / v``.
- ``delta``: ``delta = FBP_hilbert(alpha)``, ``alpha = p2 dphi / (2 pi d)`` the refraction angle
  in rad (p2 the G2 period, d the G1-G2 distance). With ``alpha = d/du integral delta dz`` (``u``
  in m) and ``u = v n`` (``n`` in pixels), the per-pixel derivative of the pixel-unit projection
  ``integral delta dz / v`` is ``alpha`` itself: the voxel size cancels
  (:func:`gi_instrument.processing.fbp.delta_from_dpc`).

``T`` and ``D`` are clipped to at least ``1e-6`` before the logarithm; pixels the retrieval
flags carry ``T = D = 1`` and ``dphi = 0`` (no signal).

Truncation: by default (``--truncation cylinder``) ``mu`` and ``delta`` are reconstructed with the
container correction of :mod:`gi_instrument.processing.truncation` (the formalin cylinder, wider
than the field, fitted to the edges of each slab's ``-ln T`` sinogram; projections continued
with it beyond the detector); ``--truncation none`` switches it off. The dark-field is not
corrected (a homogeneous liquid does not scatter: ``-ln D`` is ~0 at the edges).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["VOLUMES", "process_run", "main"]

VOLUMES = {
    "attenuation": ("1/m", "linear attenuation coefficient mu, FBP (ramp) of -ln T"),
    "delta": ("1", "refractive index decrement delta, FBP (Hilbert) of the refraction angle"),
    "darkfield": ("1/m", "linear diffusion coefficient, FBP (ramp) of -ln D"),
}
"""Reconstructed volumes: name → (unit, description)."""

_MIN_SIGNAL = 1e-6


def _minus_log(values: NDArray) -> NDArray[np.float32]:
    """``-ln(max(x, 1e-6))`` as float32 (line integral of a transmission-like ratio)."""
    return -np.log(np.maximum(np.asarray(values, dtype=np.float32), np.float32(_MIN_SIGNAL)))


def _rows_per_slab(n_proj: int, cols: int, memory_bytes: int) -> int:
    """Detector rows reconstructed together: three volume slabs and their sinograms."""
    per_row = 3 * 4 * (cols * cols + 2 * n_proj * cols)
    return max(1, memory_bytes // per_row)


def process_run(
    ct: Any,
    out_dir: str | Path,
    *,
    memory_bytes: int = 2 << 30,
    reference_mode: str = "linear",
    use_positions: bool = True,
    correct_steps: bool = False,
    center_px: float | None = None,
    truncation: str = "cylinder",
    tiff: bool = True,
    progress: bool = True,
    mip_slices: int = 32,
    quality: bool = True,
    snr_region: str | None = None,
) -> dict[str, Path]:
    """Sinograms, reconstructions and result files of a :class:`~.catalog_reader.CTRun`.

    Writes into ``out_dir``: ``sinograms/`` (``.npy``), ``volumes.h5``, ``<volume>.tif`` (unless
    ``tiff`` is False) and ``png/<volume>_preview.png`` (central slices and a MIP over
    ``mip_slices`` central slices); with ``quality``, ``quality.json`` and ``quality/*.png``
    (:func:`gi_instrument.processing.quality_report.assess_run`; ``snr_region`` ``"r0:r1,c0:c1"``
    or ``None`` for its default disc). Returns the paths by name.
    """
    from tqdm import tqdm

    from gi_instrument import __version__
    from gi_instrument.processing.fbp import attenuation_per_m, delta_from_dpc, fbp
    from gi_instrument.processing.outputs import VolumeFile, write_previews, write_tiff_stack
    from gi_instrument.processing.truncation import fit_container

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sino = ct.sinograms(out_dir=out / "sinograms", memory_bytes=memory_bytes,
                        reference_mode=reference_mode, use_positions=use_positions,
                        correct_steps=correct_steps, progress=progress)
    n_proj, rows, cols = sino.transmission.shape
    angles = sino.angles_deg
    parameters = {
        "gi_instrument_version": __version__, "reference_mode": reference_mode,
        "use_positions": use_positions, "correct_steps": correct_steps, "center_px": center_px,
        "truncation": truncation,
        "min_signal": _MIN_SIGNAL,
        "filters": {"attenuation": "ramp", "darkfield": "ramp", "delta": "hilbert"},
        "flagged_fraction": float(np.count_nonzero(sino.flags) / sino.flags.size),
        "n_projections": n_proj, "angle_range_deg": [float(angles.min()), float(angles.max())],
    }
    metadata = {"run_uid": ct.uid, "run_uids": getattr(ct, "uids", [ct.uid]),
                "incomplete": getattr(ct, "incomplete", None) or False, "profile": ct.start.get("profile"),
                "geometry": ct.geometry, "plan_args": ct.start.get("plan_args"),
                "processing": parameters}
    slab_rows = _rows_per_slab(n_proj, cols, memory_bytes)
    paths = {"sinograms": out / "sinograms", "volumes": out / "volumes.h5"}
    with VolumeFile(paths["volumes"], metadata, ct.voxel_um) as vf:
        for name, (unit, description) in VOLUMES.items():
            vf.create(name, (rows, cols, cols), unit, description)
        bar = tqdm(total=rows, unit="row", desc="reconstruction", disable=not progress)
        for r0 in range(0, rows, slab_rows):
            block = slice(r0, min(r0 + slab_rows, rows))
            line = _minus_log(sino.transmission[:, block])
            container = (fit_container(line, angles, center_px=center_px)
                         if truncation == "cylinder" else None)
            mu = fbp(line, angles, "ramp", center_px=center_px, truncation=truncation,
                     container=container)
            vf.volume("attenuation")[block] = attenuation_per_m(mu, ct.voxel_um)
            eps = fbp(_minus_log(sino.darkfield[:, block]), angles, "ramp", center_px=center_px)
            vf.volume("darkfield")[block] = attenuation_per_m(eps, ct.voxel_um)
            vf.volume("delta")[block] = delta_from_dpc(
                np.asarray(sino.dpc[:, block]), angles, ct.period_um, ct.g1_g2_cm,
                center_px=center_px, truncation=truncation, container=container)
            sino.release_pages()
            bar.update(block.stop - block.start)
        bar.close()
        volumes = {name: vf.volume(name) for name in VOLUMES}
        if tiff:
            for name, volume in volumes.items():
                paths[name] = write_tiff_stack(out / f"{name}.tif", volume, ct.voxel_um)
        for path in write_previews(out / "png", volumes, ct.voxel_um,
                                   units={k: v[0] for k, v in VOLUMES.items()},
                                   mip_slices=mip_slices):
            paths[path.stem] = path
        if quality:
            report = _assess(ct, sino, volumes, out, truncation=truncation, center_px=center_px,
                             use_positions=use_positions, snr_region=snr_region,
                             mip_slices=mip_slices)
            vf.file.attrs["quality"] = json.dumps(
                {k: v for k, v in report.items() if k != "files"}, sort_keys=True)
            paths.update(report["files"])
    return paths


def _assess(ct: Any, sino: Any, volumes: dict[str, Any], out: Path, *, truncation: str, center_px: float | None,
            **kwargs: Any) -> dict[str, Any]:
    """:func:`~gi_instrument.processing.quality_report.assess_run` on the central detector row:
    its refraction-angle and ``-ln T`` sinograms and its delta and mu slices; the even/odd
    reconstructions of the FRC get the same truncation correction as the volumes."""
    from gi_instrument.processing.quality_report import assess_run
    from gi_instrument.processing.retrieval import refraction_angle_rad
    from gi_instrument.processing.truncation import fit_container

    row = sino.transmission.shape[1] // 2
    angles = np.asarray(sino.angles_deg, dtype=np.float64)
    container = (fit_container(_minus_log(sino.transmission[:, row:row + 1]), angles, center_px=center_px)
                 if truncation == "cylinder" else None)
    return assess_run(
        ct, out, angles_deg=sino.angles_deg, central_row=row,
        central_sinograms={
            "delta": (refraction_angle_rad(np.asarray(sino.dpc[:, row], dtype=np.float64),
                                           ct.period_um, ct.g1_g2_cm), "hilbert"),
            "mu": (_minus_log(sino.transmission[:, row]), "ramp")},
        central_slices={"delta": volumes["delta"][row], "mu": volumes["attenuation"][row]},
        center_px=center_px, fbp_kwargs={"truncation": truncation, "container": container}, **kwargs)


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

    parser = argparse.ArgumentParser(prog="gi-process", description=__doc__.split("\n\n")[0])
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
    parser.add_argument("--center-px", type=_finite_float, default=None,
                        help="detector column of the rotation axis (default: the centre)")
    parser.add_argument("--truncation", choices=("cylinder", "none"), default="cylinder",
                        help="correction of projections truncated by the field of view (the "
                             "sample container wider than the detector): cylinder extrapolation "
                             "(default) or none")
    parser.add_argument("--no-tiff", action="store_true", help="skip the TIFF stacks")
    parser.add_argument("--mip-slices", type=_positive_int, default=32,
                        help="central slices in the maximum-intensity projection (default 32)")
    parser.add_argument("--no-quality", action="store_true",
                        help="skip the quality report (FRC, visibility, sigma_alpha, SNR)")
    parser.add_argument("--snr-region", default=None, metavar="R0:R1,C0:C1",
                        help="SNR region in the central slice, pixels (default: the disc "
                             "where the smoothed delta slice is most uniform)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Console entry point ``gi-process``."""
    args = _parse_args(argv)
    from gi_instrument.catalog import CatalogPaths, default_data_dir, open_catalog
    from gi_instrument.processing.catalog_reader import open_ct_chain
    from gi_instrument.processing.quality_report import format_quality, parse_region

    check_region = args.snr_region is not None and not args.no_quality
    try:
        if check_region:
            parse_region(args.snr_region)  # its syntax, before opening the catalog
        paths = CatalogPaths(default_data_dir() if args.data_dir is None else args.data_dir)
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
            center_px=args.center_px, truncation=args.truncation,
            tiff=not args.no_tiff, progress=not args.quiet, mip_slices=args.mip_slices,
            quality=not args.no_quality, snr_region=args.snr_region)
    except (KeyError, IndexError, ValueError) as exc:
        sys.exit(f"gi-process: {exc}")
    for name, path in written.items():
        print(f"{name}: {path}")
    if "quality" in written:
        print(format_quality(json.loads(written["quality"].read_text())))


if __name__ == "__main__":
    main()
