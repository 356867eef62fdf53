"""The simulated grating-interferometry CT scanner: one caproto IOC, loopback only by default.

``gi-sim-ioc --profile maast --prefix GI: --port 5064 --time-scale 0.001 --binning 8`` serves

- ``{prefix}TUBE:``   X-ray tube (:class:`~gi_instrument.sim.tube.SimTube`)
- ``{prefix}G2:``     G2 piezo (:class:`~gi_instrument.sim.piezo.SimPiezo`)
- ``{prefix}ROT:``    rotation stage, deg (:class:`~gi_instrument.sim.axis.SimAxis`)
- ``{prefix}SAMPLE:`` sample translation stage, mm (:class:`~gi_instrument.sim.axis.SimAxis`)
- ``{prefix}CAM:``    sCMOS camera writing HDF5 (:class:`~gi_instrument.sim.camera.SimCamera`; with
  ``--camera-layout areadetector`` the standard ``CAM:cam1:`` + ``CAM:HDF1:`` PVs instead,
  :class:`~gi_instrument.sim.ad_camera.SimADCamera`)
- ``{prefix}SIM:``    the simulator itself: ``Restart`` (:class:`~gi_instrument.sim.control.SimControl`)

``--parts camera,sim`` serves only those groups, for a set-up where bridge IOCs
(``gi-ioc``) serve the others in front of real controllers; PV names come from
:mod:`gi_instrument.pv_interface`.

Frames come from :class:`gi_instrument.sim.scanner_model.ScannerModel` (phantom, interferometer,
detector noise). The PV names are the hardware boundary: devices and plans cannot tell this
simulator from a real controller.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from gi_instrument.ca_server import LOOPBACK, serve, server_env
from gi_instrument.catalog import default_data_dir
from gi_instrument.profile import Profile, ProfileError, Source, load_profile
from gi_instrument.pv_interface import CAMERA_LAYOUTS
from gi_instrument.sim.ad_camera import SimADCamera
from gi_instrument.sim.axis import SimAxis, SimSampleStage
from gi_instrument.sim.camera import BINNINGS, FrameModel, SimCamera
from gi_instrument.sim.clock import SimClock
from gi_instrument.sim.control import SimControl
from gi_instrument.sim.piezo import SimPiezo
from gi_instrument.sim.tube import DoseWindow, SimTube
from gi_instrument.sim.world import WorldState

__all__ = ["SimScanner", "build_scanner", "main", "LOOPBACK", "PHANTOM_NAMES"]

PHANTOM_NAMES = ("breast", "beads")
"""Specimens ``--phantom`` offers (the keys of :data:`gi_instrument.sim.scanner_model.PHANTOMS`,
named here so the command line parses without importing the physics model)."""
PARTS = ("tube", "g2", "rotation", "sample", "camera", "sim")
"""Parts of the scanner ``--parts`` can choose from (the PV groups served)."""


class ExternalTube:
    """Stands in for a tube served by another IOC (``--parts`` without ``tube``): the camera
    renders frames as if X-rays were on at the profile's setting (kV, mA), undisturbed (the
    client checks the real tube's readbacks itself)."""

    emitting = True

    def __init__(self, source: Source, clock: SimClock) -> None:
        self.voltage_rbv = self.voltage = SimpleNamespace(value=source.voltage_kV)
        self.current_rbv = self.current = SimpleNamespace(value=source.current_mA)
        self._clock = clock

    def open_window(self) -> DoseWindow:
        """The beam over an exposure: the profile's setting throughout."""
        kv, ma = self.voltage.value, self.current.value
        return DoseWindow(kv, kv, ma, ma)

    def close_window(self, window: DoseWindow) -> DoseWindow:
        return window

    async def expose(self, exposure_s: float, until: asyncio.Event | None = None) -> float:
        """Sleep through one exposure (nominal s); the real s it took."""
        return await self._clock.sleep(exposure_s, until=until)


class SimScanner:
    """The PV groups of the simulated scanner (all, or ``parts``), wired to one clock and one
    physics model; the camera in the ``scanner`` or the standard ``areadetector`` layout.
    ``world``: the physical state to go on from (after ``SIM:Restart``; default: a fresh
    instrument at time 0, stages at their start, tube warm, interlock closed)."""

    def __init__(self, profile: Profile, prefix: str, *, model: FrameModel, time_scale: float = 1.0,
                 binning: int = 1, seed: int = 0, argv: list[str] | None = None, camera_layout: str = "scanner",
                 parts: tuple[str, ...] = PARTS, data_root: str | Path = "/", world: WorldState | None = None) -> None:
        self.profile, self.model = profile, model
        sim, stage = profile.simulation, profile.sample_stage
        world = world or WorldState(nominal_s=0.0, wall_s=time.time(), rotation_deg=profile.ct.start_deg,
                                    sample_mm=stage.in_mm, g2_um=0.0, tube_warmed_up=True, interlock_open=False)
        self.clock = SimClock(time_scale, start_s=world.nominal_now_s())
        self.tube = SimTube(prefix=f"{prefix}TUBE:", clock=self.clock, source=profile.source,
                            tolerance_pct=profile.recovery.beam_tolerance_pct,
                            watchdog_timeout_s=profile.recovery.watchdog_timeout_s,
                            warmed_up=world.tube_warmed_up, interlock_open=world.interlock_open)
        self.piezo = SimPiezo(prefix=f"{prefix}G2:", clock=self.clock, settle_s=sim.piezo_settle_s,
                              jitter_nm=sim.piezo_jitter_nm, seed=seed, start_um=world.g2_um)
        self.rotation = SimAxis(prefix=f"{prefix}ROT:", clock=self.clock, start=world.rotation_deg,
                                velocity=sim.rotation_velocity_deg_s, limits=(-720.0, 720.0), egu="deg")
        self.sample = SimSampleStage(prefix=f"{prefix}SAMPLE:", clock=self.clock, start=world.sample_mm,
                                     velocity=sim.stage_velocity_mm_s, limits=(stage.min_mm, stage.max_mm),
                                     egu="mm", in_mm=stage.in_mm, out_mm=stage.out_mm)
        if world.noise:
            model.noise_state, self.piezo.rng.bit_generator.state = world.noise["frames"], world.noise["g2_jitter"]
        tube = self.tube if "tube" in parts else ExternalTube(profile.source, self.clock)
        engine_prefix = f"{prefix}CAM:" if camera_layout == "scanner" else f"{prefix}CAM:engine:"
        self.camera = SimCamera(prefix=engine_prefix, clock=self.clock, profile=profile, model=model,
                                tube=tube, piezo=self.piezo, rotation=self.rotation, sample=self.sample,
                                binning=binning, data_root=data_root)
        if camera_layout == "areadetector":
            self.camera = SimADCamera(prefix=f"{prefix}CAM:", engine=self.camera, binning=binning)
        self.control = SimControl(prefix=f"{prefix}SIM:", argv=list(argv or []), on_restart=self.camera.close,
                                  world_state=lambda: self.world_state().to_json())
        groups = {"tube": self.tube, "g2": self.piezo, "rotation": self.rotation, "sample": self.sample,
                  "camera": self.camera, "sim": self.control}
        self.groups = [group for name, group in groups.items() if name in parts]

    def world_state(self) -> WorldState:
        """The physical state now (what an IOC restart must not change)."""
        return WorldState(nominal_s=self.clock.now_s(), wall_s=time.time(), rotation_deg=self.rotation.pos_rbv.value,
                          sample_mm=self.sample.pos_rbv.value, g2_um=self.piezo.pos_rbv.value,
                          tube_warmed_up=bool(self.tube.warmed_up.value), interlock_open=not self.tube.interlock.value,
                          noise={"frames": self.model.noise_state, "g2_jitter": self.piezo.rng.bit_generator.state})

    @property
    def pvdb(self) -> dict[str, Any]:
        """The merged PV database of all groups."""
        db: dict[str, Any] = {}
        for group in self.groups:
            db.update(group.pvdb)
        return db


FRAME_MODELS = ("scanner", "flat")
"""``--frame-model``: the physics of :mod:`~gi_instrument.sim.scanner_model`, or frames without it."""


def build_scanner(profile: Profile, prefix: str, *, time_scale: float = 1.0, binning: int = 1,
                  seed: int = 0, phantom: str | None = None, argv: list[str] | None = None,
                  camera_layout: str = "scanner", parts: tuple[str, ...] = PARTS,
                  data_root: str | Path = "/", world: WorldState | None = None,
                  frame_model: str = "scanner") -> SimScanner:
    """A :class:`SimScanner` with the physics model of ``gi_instrument.sim.scanner_model``
    imaging ``phantom`` (a name of :data:`~gi_instrument.sim.scanner_model.PHANTOMS`; default the
    profile's ``simulation.phantom``), or with ``frame_model="flat"`` frames without physics
    (:class:`~gi_instrument.sim.flat_model.FlatFrameModel`: to measure the acquisition's own
    overhead); the camera writes only below ``data_root``; ``argv`` (the command line) lets
    ``SIM:Restart`` start the same IOC again, which goes on from ``world``."""
    from gi_instrument.sim.flat_model import FlatFrameModel
    from gi_instrument.sim.scanner_model import PHANTOMS, ScannerModel

    if frame_model not in FRAME_MODELS:
        raise ValueError(f"frame_model must be one of {FRAME_MODELS}, got {frame_model!r}")
    specimen = PHANTOMS[phantom](profile, seed=seed) if phantom is not None else None
    model = FlatFrameModel(profile) if frame_model == "flat" else ScannerModel(profile, seed=seed, phantom=specimen)
    return SimScanner(profile, prefix, model=model,
                      time_scale=time_scale, binning=binning, seed=seed, argv=argv,
                      camera_layout=camera_layout, parts=parts, data_root=data_root, world=world)


def port_free(interface: str, port: int) -> bool:
    """Whether no server listens on TCP ``interface:port`` (caproto would silently take another
    port if one does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # old connections do not count
        try:
            probe.bind((interface, port))
        except OSError:
            return False
    return True


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    from gi_instrument import cli

    parser = cli.parser("gi-sim-ioc", "The simulated grating-interferometry CT scanner: one caproto IOC serving\n"
                        "PREFIX TUBE:, G2:, ROT:, SAMPLE:, CAM: and SIM:, on loopback only by default.\n"
                        "Clients: EPICS_CA_ADDR_LIST=127.0.0.1:PORT EPICS_CA_AUTO_ADDR_LIST=NO")
    parser.add_argument("--profile", default="maast", help="tli, maast or a profile TOML path")
    parser.add_argument("--prefix", default="GI:", help="PV prefix (default GI:)")
    parser.add_argument("--port", type=int, default=5064, help="Channel Access server port")
    parser.add_argument("--interface", default=LOOPBACK,
                        help="address to listen on (default loopback only; 0.0.0.0 exposes it)")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="real seconds per nominal second (0.001: a 50 s exposure takes 50 ms)")
    parser.add_argument("--binning", type=int, default=1, choices=BINNINGS, help="initial detector binning")
    parser.add_argument("--seed", type=int, default=0, help="random seed of phantom and noise")
    parser.add_argument("--data-root", default=None,
                        help="the camera writes only below this directory (default $GI_DATA_DIR or ~/gi-data)")
    parser.add_argument("--phantom", choices=PHANTOM_NAMES, default=None,
                        help="specimen: breast (default: the profile's simulation.phantom) or the "
                             "beads resolution target")
    parser.add_argument("--frame-model", choices=FRAME_MODELS, default="scanner",
                        help="scanner: frames computed by the physics model; flat: every frame at the "
                             "dark offset, no physics (to measure the acquisition's own overhead)")
    parser.add_argument("--camera-layout", choices=CAMERA_LAYOUTS, default="scanner",
                        help="scanner: CAM: with stepping scans on the IOC; areadetector: CAM:cam1: + CAM:HDF1:")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated parts to serve (default all: {','.join(PARTS)}); leave out "
                             "those real controllers serve")
    parser.add_argument("--start-delay", type=float, default=0.0,
                        help="real s to wait before serving (used by SIM:Restart)")
    parser.add_argument("--world-state", type=WorldState.from_json, default=None,
                        help="JSON: time, stage positions, tube and noise state to go on from (used by SIM:Restart)")
    args = parser.parse_args(argv)
    args.parts = tuple(p for p in args.parts.split(",") if p)
    try:
        _check_options(args)
    except ValueError as exc:
        parser.exit(2, f"gi-sim-ioc: {exc}\n")  # one line, no usage block
    return args


def _check_options(args: argparse.Namespace) -> None:
    """ValueError naming the first option whose value is out of range (port, time scale, seed,
    start delay in s, prefix, parts) or a set of parts the camera layout cannot serve."""
    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be in 1..65535, got {args.port}")
    if not 0 < args.time_scale <= 1000:
        raise ValueError(f"--time-scale must be in (0, 1000], got {args.time_scale}")
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    if not 0 <= args.start_delay <= 3600:
        raise ValueError(f"--start-delay must be in [0, 3600] s, got {args.start_delay}")
    if not args.prefix or " " in args.prefix:
        raise ValueError(f"--prefix must be non-empty without spaces, got {args.prefix!r}")
    if set(args.parts) - set(PARTS) or not args.parts:
        raise ValueError(f"--parts must name some of {','.join(PARTS)}, got {','.join(args.parts) or 'none'}")
    if "camera" in args.parts and not {"tube", "g2"} <= set(args.parts) and args.camera_layout == "scanner":
        raise ValueError("the scanner camera layout steps the simulator's own G2 and records its own tube's "
                         "X-ray state: serve tube and g2 too, or use --camera-layout areadetector (the client "
                         "then steps G2 and checks the X-rays on the IOCs that serve them)")


def main(argv: list[str] | None = None) -> None:
    """Console entry point ``gi-sim-ioc``."""
    argv = sys.argv[1:] if argv is None else argv
    args = _parse_args(argv)
    try:
        profile = load_profile(args.profile)
    except ProfileError as exc:
        sys.exit(f"gi-sim-ioc: {exc}")
    os.environ.update(server_env(args.port, args.interface))

    from gi_instrument.ca_repeater import ensure_repeater, repeater_port

    # the IOC's beacons go to the repeater: without one, each beacon logs a traceback
    repeater = ensure_repeater(int(os.environ.get("EPICS_CAS_BEACON_PORT", repeater_port())), detach=False)

    time.sleep(args.start_delay)
    if not port_free(args.interface, args.port):
        sys.exit(f"gi-sim-ioc: port {args.port} on {args.interface} is already served (another IOC?); "
                 f"choose another --port")
    data_root = Path(args.data_root).expanduser() if args.data_root else default_data_dir()
    scanner = build_scanner(profile, args.prefix, time_scale=args.time_scale, binning=args.binning,
                            seed=args.seed, phantom=args.phantom, argv=argv, camera_layout=args.camera_layout,
                            parts=args.parts, data_root=data_root, world=args.world_state,
                            frame_model=args.frame_model)
    print(f"gi-sim-ioc: profile {profile.name}, prefix {args.prefix}, {args.interface}:{args.port}, "
          f"time scale {args.time_scale}, parts {','.join(args.parts)}, camera layout {args.camera_layout}, "
          f"frames below {data_root}", flush=True)
    try:
        serve(scanner.pvdb, args.interface)
    finally:
        scanner.camera.close()
        if repeater is not None:
            repeater.terminate()
            repeater.wait(timeout=10)


if __name__ == "__main__":
    main()
