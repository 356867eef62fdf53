"""``gi-ioc``: a bridge IOC in front of one real controller, serving the scanner's PV interface.

    gi-ioc tube  --driver kou    --port /dev/ttyUSB0 --prefix GI:
    gi-ioc piezo --driver pi-gcs --port socket://192.168.0.20:50000 --prefix GI: --axis 1
    gi-ioc stage --stage rotation --driver pi-gcs --port /dev/ttyUSB1 --prefix GI: --axis 1

``--port`` is any pyserial URL. Channel Access listens on loopback unless ``--interface`` says
otherwise; ``--ca-port`` picks the server port (one per IOC on one machine).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from gi_instrument.ca_server import LOOPBACK, serve, server_env
from gi_instrument.drivers import AXIS_DRIVERS, TUBE_DRIVERS
from gi_instrument.profile import ProfileError, load_profile
from gi_instrument.pv_interface import GROUP_PREFIXES

__all__ = ["main", "build_bridge"]

KINDS = ("tube", "piezo", "stage")


def build_bridge(args: argparse.Namespace) -> Any:
    """The bridge PV group for parsed ``gi-ioc`` arguments."""
    from gi_instrument.ioc.positioner import PiezoBridge, SampleStageBridge, StageBridge
    from gi_instrument.ioc.tube import TubeBridge

    profile = load_profile(args.profile)
    common = dict(poll_s=args.poll_s)
    if args.kind == "tube":
        driver = TUBE_DRIVERS[args.driver].open(args.port, timeout_s=args.timeout_s, echo=args.echo)
        return TubeBridge(prefix=args.prefix + GROUP_PREFIXES["tube"], driver=driver, source=profile.source,
                          tolerance_pct=profile.recovery.beam_tolerance_pct,
                          watchdog_timeout_s=profile.recovery.watchdog_timeout_s,
                          **common)
    driver = AXIS_DRIVERS[args.driver].open(args.port, axis=args.axis, timeout_s=args.timeout_s, echo=args.echo)
    if args.kind == "piezo":
        return PiezoBridge(prefix=args.prefix + GROUP_PREFIXES["g2"], driver=driver, egu="um", **common)
    if args.stage == "rotation":
        return StageBridge(prefix=args.prefix + GROUP_PREFIXES["rotation"], driver=driver, egu="deg", **common)
    stage = profile.sample_stage
    return SampleStageBridge(prefix=args.prefix + GROUP_PREFIXES["sample"], driver=driver, egu="mm",
                             in_mm=stage.in_mm, out_mm=stage.out_mm, **common)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    from gi_instrument import cli

    parser = cli.parser("gi-ioc", __doc__.replace("``", ""))
    parser.add_argument("kind", choices=KINDS, help="which part of the scanner the controller drives")
    parser.add_argument("--driver", required=True,
                        help=f"tube: {sorted(TUBE_DRIVERS)}; piezo, stage: {sorted(AXIS_DRIVERS)}")
    parser.add_argument("--port", required=True, help="pyserial port or URL (/dev/ttyUSB0, socket://host:port)")
    parser.add_argument("--prefix", default="GI:", help="instrument PV prefix (default GI:)")
    parser.add_argument("--stage", choices=("rotation", "sample"), default="rotation", help="for kind stage")
    parser.add_argument("--axis", default="1", help="controller axis (piezo, stage; default 1)")
    parser.add_argument("--profile", default="maast", help="tli, maast or a profile TOML (tube limits, sample in/out)")
    parser.add_argument("--ca-port", type=int, default=5064, help="Channel Access server port")
    parser.add_argument("--interface", default=LOOPBACK, help="address to listen on (default loopback only)")
    parser.add_argument("--poll-s", type=float, default=0.2, help="controller poll period, s")
    parser.add_argument("--timeout-s", type=float, default=1.0, help="reply timeout, s")
    parser.add_argument("--echo", action="store_true", help="the controller echoes each command")
    args = parser.parse_args(argv)
    drivers = TUBE_DRIVERS if args.kind == "tube" else AXIS_DRIVERS
    if args.driver not in drivers:
        parser.error(f"--driver for {args.kind} must be one of {sorted(drivers)}, got {args.driver!r}")
    if not 0 < args.ca_port < 65536:
        parser.error(f"--ca-port must be in 1..65535, got {args.ca_port}")
    if not args.poll_s > 0 or not args.timeout_s > 0:
        parser.error("--poll-s and --timeout-s must be > 0")
    if not args.prefix or " " in args.prefix:
        parser.error(f"--prefix must be non-empty without spaces, got {args.prefix!r}")
    return args


def main(argv: list[str] | None = None) -> None:
    """Console entry point ``gi-ioc``."""
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    try:
        bridge = build_bridge(args)
    except ProfileError as exc:
        sys.exit(f"gi-ioc: {exc}")
    os.environ.update(server_env(args.ca_port, args.interface))
    print(f"gi-ioc: {args.kind} ({args.driver} on {args.port}) as {bridge.prefix}, "
          f"{args.interface}:{args.ca_port}", flush=True)
    serve(bridge.pvdb, args.interface)


if __name__ == "__main__":
    main()
