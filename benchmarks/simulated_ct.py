"""What the acquisition benchmarks share: a ``gi_ct`` dry-run on the simulated IOC (MAAST, in a
temporary data directory), its command-line arguments and its timing. Imported by
``bench_acquisition.py`` and ``bench_live_viewer.py`` (run as scripts from ``benchmarks/``)."""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = ["SimulatedScanner", "add_ct_arguments", "simulated_scanner", "timed_ct"]


def add_ct_arguments(parser: argparse.ArgumentParser, *, range_deg: float, reference_every_deg: float,
                     time_scale: float) -> None:
    """The CT's arguments (with these defaults), the exposure, the IOC's time scale and binning."""
    parser.add_argument("--range-deg", type=float, default=range_deg)
    parser.add_argument("--angle-step-deg", type=float, default=5.0)
    parser.add_argument("--reference-every-deg", type=float, default=reference_every_deg)
    parser.add_argument("--exposure-s", type=float, default=10.0, help="nominal exposure per frame")
    parser.add_argument("--time-scale", type=float, default=time_scale)
    parser.add_argument("--binning", type=int, default=8, help="8: 256 x 256 frames; 1: full frames")


@dataclass
class SimulatedScanner:
    """The simulated IOC (``ioc``), its devices (``inst``), a bare RunEngine and the data
    directory's paths (:func:`gi_instrument.catalog.catalog_paths`)."""

    ioc: Any
    inst: Any
    RE: Any
    paths: Any


@contextmanager
def simulated_scanner(args: argparse.Namespace, camera_layout: str = "scanner",
                      frame_model: str = "scanner") -> Iterator[SimulatedScanner]:
    """The simulated MAAST scanner at ``args.time_scale`` and ``args.binning`` in a temporary data
    directory, for the ``with`` block (``frame_model``: the IOC's ``--frame-model``); Channel
    Access is finalised on the way out (no teardown noise)."""
    from bluesky import RunEngine

    from gi_instrument.catalog import catalog_paths
    from gi_instrument.devices import make_instrument
    from gi_instrument.profile import load_profile
    from gi_instrument.sim.launcher import SimIOC

    with tempfile.TemporaryDirectory() as tmp:
        paths = catalog_paths(tmp)
        ioc = SimIOC("maast", time_scale=args.time_scale, binning=args.binning, data_root=tmp,
                     extra_args=("--camera-layout", camera_layout, "--frame-model", frame_model))
        ioc.apply_client_env()
        with ioc:
            inst = make_instrument(load_profile("maast"), ioc.prefix, paths.frames, camera_layout=camera_layout)
            if camera_layout == "areadetector":
                inst.camera.time_scale.put(args.time_scale)
            yield SimulatedScanner(ioc, inst, RunEngine({}), paths)
            from epics import ca

            ca.finalize_libca()


def timed_ct(scanner: SimulatedScanner, args: argparse.Namespace) -> tuple[float, list[tuple[str, dict[str, Any]]]]:
    """Wall time of one ``gi_ct`` with ``args``' geometry, s, and its documents."""
    from gi_instrument.plans import gi_ct

    docs: list[tuple[str, dict[str, Any]]] = []
    token = scanner.RE.subscribe(lambda name, doc: docs.append((name, doc)))
    t0 = time.perf_counter()
    try:
        scanner.RE(gi_ct(scanner.inst, exposure_s=args.exposure_s, angle_step_deg=args.angle_step_deg,
                         range_deg=args.range_deg, reference_every_deg=args.reference_every_deg))
    finally:
        scanner.RE.unsubscribe(token)
    return time.perf_counter() - t0, docs
