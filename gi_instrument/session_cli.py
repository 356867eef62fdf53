"""gi-session: an IPython session at the instrument, everything loaded.

    gi-session                          the scanner at $EPICS_CA_ADDR_LIST, prefix GI:, MAAST
    gi-session --profile tli --prefix LAB1:
    gi-session --sim                    a simulated scanner, started and stopped with the session
    gi-session --sim -c "RE(bp.count([camera]))"   run one command and leave

In the session: RE, db (the catalog), inst and its devices by name (tube, g2, rotation, sample,
camera), bp / bps / bpp, the plans (gi_ct, gi_ct_resume, phase_step, reference_scan, dark_scan,
warm_up_tube, take_test_image), bec (BestEffortCallback); gi_help() lists them. RE.md persists in the data
directory (scan_id goes on across sessions); the log is DATA_DIR/logs/gi-instrument.log.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from gi_instrument import cli

__all__ = ["main", "session_namespace", "HELP"]

HELP = """\
gi-instrument session ({profile}, prefix {prefix}, data in {data_dir})
  Devices   inst.tube  inst.g2 (um)  inst.rotation (deg)  inst.sample (mm)  inst.camera
            also by name: tube, g2, rotation, sample, camera
  Move      RE(bps.mv(rotation, 90))   RE(bps.mv(g2, 1.2, sample, 0))   g2.position
  Ready     RE(warm_up_tube(inst))     RE(take_test_image(inst, exposure_s=5))
  Scans     RE(phase_step(inst, exposure_s=10))  RE(reference_scan(inst))  RE(dark_scan(inst))
  CT        RE(gi_ct(inst, exposure_s=60))   quick: RE(gi_ct(inst, exposure_s=1, angle_step_deg=5))
            format_duration(estimate_ct_seconds(inst.profile, exposure_s=60))
            a CT that stopped: RE(gi_ct_resume(inst, uid, client=db))
  bluesky   RE(bp.count([camera], num=3))   RE(bp.scan([camera], g2, 0, 2.4, 5))
            bec: the live table; bec.enable_plots() for plots
  Metadata  RE(gi_ct(inst, md={{"sample": "S12"}}))   RE.md["operator"] = "ana" (kept)
  Catalog   db[-1]   db[uid]["primary"].read()   db.search(Key("sample") == "S12")
            shell: gi-runs --sample S12   gi-process -1   gi-export UID --nxtomo ct.nxs
  Stop      Ctrl-C pauses a plan: RE.resume() / RE.abort() / RE.stop()
  Log       {log}
"""
"""The text of ``gi_help()`` (one screen)."""


def session_namespace(session: Any) -> dict[str, Any]:
    """The names a session offers (see :data:`HELP`), for IPython's ``user_ns`` or a notebook."""
    import bluesky.plan_stubs as bps
    import bluesky.plans as bp
    import bluesky.preprocessors as bpp
    from tiled.queries import Contains, FullText, Key

    from gi_instrument import plans
    from gi_instrument.logs import LOG_NAME

    inst = session.inst
    text = HELP.format(profile=session.profile.name, prefix=inst.tube.prefix.removesuffix("TUBE:"),
                       data_dir=session.paths.root, log=session.paths.root / "logs" / LOG_NAME)

    def gi_help() -> None:
        """Print what this session offers."""
        print(text, end="")

    namespace = {"session": session, "RE": session.RE, "db": session.client, "inst": inst,
                 "profile": session.profile, "bec": session.bec, "bp": bp, "bps": bps, "bpp": bpp,
                 "Key": Key, "Contains": Contains, "FullText": FullText, "gi_help": gi_help}
    namespace.update({device.name: device for device in inst.devices})
    namespace.update({name: getattr(plans, name) for name in plans.__all__})
    return namespace


def _parse_args(argv: Sequence[str] | None) -> Any:
    from gi_instrument.catalog import DATA_DIR_ENV
    from gi_instrument.sim.camera import BINNINGS

    parser = cli.parser("gi-session", __doc__)
    parser.add_argument("--profile", default=os.environ.get("GI_PROFILE", "maast"),
                        help="tli, maast or a profile TOML path (GI_PROFILE; default maast)")
    parser.add_argument("--prefix", default=None,
                        help="PV prefix of the IOC (GI_PREFIX; default GI:, with --sim a unique one)")
    parser.add_argument("--data-dir", default=None, help=f"data directory (${DATA_DIR_ENV} or ~/gi-data)")
    parser.add_argument("--sim", action="store_true",
                        help="start a simulated scanner on free loopback ports for this session")
    parser.add_argument("--time-scale", type=float, default=1e-3,
                        help="with --sim: real s per nominal s (default 0.001: a 60 s exposure takes 60 ms)")
    parser.add_argument("--binning", type=int, default=8, choices=BINNINGS,
                        help="with --sim: detector binning (default 8: 256 x 256 frames)")
    parser.add_argument("--timeout-s", type=float, default=10.0, help="seconds to wait for the PVs (default 10)")
    parser.add_argument("-c", dest="command", default=None, help="run this Python/IPython command and exit")
    return parser.parse_args(argv)


def _ipython(namespace: dict[str, Any], command: str | None) -> None:
    """IPython on ``namespace``: interactive, or just ``command`` (``-c``)."""
    from IPython import start_ipython

    argv = ["--no-banner", "--HistoryManager.enabled=False"] if command else ["--no-banner"]
    if command:
        argv += ["-c", command]
    else:
        print("gi-session ready: gi_help() lists what is loaded", flush=True)
    start_ipython(argv=argv, user_ns=namespace)


def _session(args: Any) -> int:
    from gi_instrument.catalog import catalog_paths
    from gi_instrument.session import start_session

    prefix = args.prefix or os.environ.get("GI_PREFIX", "GI:")
    if not args.sim:
        session = start_session(args.profile, prefix, args.data_dir, timeout_s=args.timeout_s, best_effort=True)
        _ipython(session_namespace(session), args.command)
        return 0
    from gi_instrument.sim.launcher import SimIOC, disconnect_clients

    paths = catalog_paths(args.data_dir)
    ioc = SimIOC(args.profile, prefix=args.prefix, time_scale=args.time_scale, binning=args.binning,
                 log_path=paths.root / "logs" / "gi-sim-ioc.log")
    ioc.apply_client_env()
    with ioc:
        print(f"gi-session: simulated scanner on 127.0.0.1:{ioc.port}, prefix {ioc.prefix}, time scale "
              f"{args.time_scale:g} (log {ioc.log_path})", flush=True)
        try:
            session = start_session(args.profile, ioc.prefix, paths.root, timeout_s=args.timeout_s,
                                    best_effort=True)
            _ipython(session_namespace(session), args.command)
        finally:
            disconnect_clients()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point ``gi-session``."""
    args = _parse_args(argv)
    return cli.run("gi-session", lambda: _session(args))


if __name__ == "__main__":
    sys.exit(main())
