"""``gi-demo``: a simulated MAAST CT end to end, with no hardware and no server to start.

Starts the simulated IOC on free loopback ports, runs a small CT (a few dozen angles, binned
frames, a scaled clock) into the local catalog, prints the run uid, the frame counts and where
the files are, and stops the IOC.
"""

from __future__ import annotations

import argparse
import sys
import time

__all__ = ["main", "run_demo"]


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    from gi_instrument.catalog import DATA_DIR_ENV
    from gi_instrument.sim.ioc import PHANTOM_NAMES

    from gi_instrument import cli
    from gi_instrument.sim.camera import BINNINGS

    parser = cli.parser("gi-demo", "A simulated MAAST CT end to end, with no hardware and no server to start:\n"
                        "starts a simulated scanner on free loopback ports, runs a small CT into the\n"
                        "catalog, prints the run uid, the frame counts and where the files are.")
    parser.add_argument("--profile", default="maast", help="tli, maast or a profile TOML path")
    parser.add_argument("--data-dir", default=None,
                        help=f"catalog directory (default ${DATA_DIR_ENV} or ~/gi-data)")
    parser.add_argument("--angle-step-deg", type=float, default=5.0, help="angular step (default 5 deg)")
    parser.add_argument("--reference-every-deg", type=float, default=25.0,
                        help="reference interval (default 25 deg)")
    parser.add_argument("--exposure-s", type=float, default=60.0, help="nominal exposure per step")
    parser.add_argument("--binning", type=int, default=8, choices=BINNINGS,
                        help="detector binning (default 8: 256 x 256)")
    parser.add_argument("--time-scale", type=float, default=2e-4,
                        help="real s per nominal s (default 2e-4: a 60 s exposure takes 12 ms)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--phantom", choices=PHANTOM_NAMES, default=None,
                        help="specimen: breast (default: the profile's) or the beads resolution target")
    return parser.parse_args(argv)


def run_demo(args: argparse.Namespace) -> str:
    """Run the demo CT; returns the run uid."""
    from gi_instrument.catalog import catalog_paths
    from gi_instrument.catalog_follower import wait_for_stop
    from gi_instrument.plans import gi_ct
    from gi_instrument.profile import load_profile
    from gi_instrument.session import start_session
    from gi_instrument.sim.launcher import SimIOC, disconnect_clients

    profile = load_profile(args.profile)
    paths = catalog_paths(args.data_dir)
    print(f"gi-demo: profile {profile.name}, data directory {paths.root}")
    ioc = SimIOC(args.profile, time_scale=args.time_scale, binning=args.binning, seed=args.seed,
                 extra_args=("--phantom", args.phantom) if args.phantom else (),
                 log_path=paths.root / "gi-sim-ioc.log", data_root=paths.root)
    ioc.apply_client_env()
    with ioc:
        print(f"gi-demo: simulated IOC on 127.0.0.1:{ioc.port}, prefix {ioc.prefix}")
        session = start_session(profile, ioc.prefix, paths.root)
        inst = session.inst
        plan = gi_ct(inst, exposure_s=args.exposure_s, angle_step_deg=args.angle_step_deg,
                     reference_every_deg=args.reference_every_deg, final_reference=True,
                     md={"purpose": "gi-demo dry-run",
                         "phantom": args.phantom or profile.simulation.phantom})
        t0 = time.monotonic()
        (uid,) = session.RE(plan)
        elapsed = time.monotonic() - t0
        disconnect_clients()
    run = wait_for_stop(session.client, uid)
    print(f"gi-demo: run {uid} finished in {elapsed:.1f} s")
    for stream in ("dark", "reference", "primary"):
        shape = run[stream]["camera_image"].shape
        print(f"  {stream:9s} {shape[0]:4d} frames of {shape[1]} x {shape[2]}")
    print(f"  frame files: {inst.frames_dir / uid}")
    print(f"  read back:   gi_instrument.catalog.open_catalog({str(paths.root)!r})[{uid[:8]!r}]")
    return uid


def main(argv: list[str] | None = None) -> int:
    """Console entry point ``gi-demo``."""
    from gi_instrument import cli

    args = _parse_args(argv)
    return cli.run("gi-demo", lambda: run_demo(args) and 0)


if __name__ == "__main__":
    sys.exit(main())
