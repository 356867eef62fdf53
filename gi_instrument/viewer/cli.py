"""``gi-viewer``: view a run from the catalog, a processed volume, or a running acquisition.

    gi-viewer -1                                # the last run: scroll scans and steps
    gi-viewer 3f2a --data-dir /data/gi          # a run by (the beginning of) its uid
    gi-viewer --volume ~/gi-data/processed/<uid> --signal delta --mip 20 --clahe
    gi-viewer --live 127.0.0.1:5578             # follow the 0MQ proxy's out port
    gi-viewer ... --snapshot view.png           # render headless to a PNG and exit
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["DEFAULT_LIVE", "main"]

DEFAULT_LIVE = "127.0.0.1:5578"
"""Default 0MQ address the live viewer subscribes to (the proxy's out port)."""


def _pair(text: str, kind: type, name: str) -> tuple:
    parts = text.split(",")
    try:
        return tuple(kind(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name} must be numbers separated by commas, got {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    from gi_instrument import cli

    parser = cli.parser("gi-viewer", __doc__.split("\n\n")[0].replace("``", ""), epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("run", nargs="?", help="run uid (or its beginning) or -N (N-th last run)")
    parser.add_argument("--data-dir", default=None,
                        help="data directory of the catalog and, live, of the journal to catch up from a run's "
                             "start ($GI_DATA_DIR or ~/gi-data)")
    parser.add_argument("--volume", metavar="DIR", help="a gi-process output folder (or its volumes.h5)")
    parser.add_argument("--live", nargs="?", const=DEFAULT_LIVE, metavar="HOST:PORT",
                        help=f"follow the documents of the 0MQ proxy's out port (default {DEFAULT_LIVE})")
    parser.add_argument("--snapshot", metavar="FILE.png", help="render the view headless to a PNG and exit")
    parser.add_argument("--size", default="1400,900", type=lambda t: _pair(t, int, "--size"),
                        help="window size W,H in pixels (default 1400,900)")
    run = parser.add_argument_group("run")
    run.add_argument("--stream", choices=["primary", "reference"], default="primary")
    run.add_argument("--scan", type=int, default=0, help="stepping scan in the stream (0 = first, -1 = last)")
    run.add_argument("--step", type=int, default=0, help="phase step shown")
    run.add_argument("--pixel", type=lambda t: _pair(t, int, "--pixel"), help="ROW,COL of the stepping curve")
    volume = parser.add_argument_group("volume")
    volume.add_argument("--signal", default="delta", help="volume: delta, attenuation or darkfield")
    volume.add_argument("--plane", choices=["xy", "xz", "yz"], default="xy")
    volume.add_argument("--slice", type=int, default=None, help="slice index (default: the middle)")
    volume.add_argument("--mip", type=int, default=1, metavar="N", help="MIP over N slices around the slice")
    volume.add_argument("--levels", type=lambda t: _pair(t, float, "--levels"), metavar="LO,HI",
                        help="contrast limits (default: 0.5 / 99.5 percentiles)")
    volume.add_argument("--clahe", nargs="?", const="127,256,3", metavar="BLOCK,BINS,SLOPE",
                        type=lambda t: _pair(t, float, "--clahe"),
                        help="CLAHE with Fiji's block size (px), bins, slope (default 127,256,3)")
    volume.add_argument("--nlm", nargs="?", const=0.8, type=float, metavar="H",
                        help="2-D non-local means, strength H in noise sigmas (default 0.8)")
    live = parser.add_argument_group("live")
    live.add_argument("--wait-s", type=float, default=30.0,
                      help="with --snapshot: wait at most this long for a stepping scan (default 30 s)")
    return parser


def _open_run(args: argparse.Namespace, parser: argparse.ArgumentParser):
    """The run ``args.run`` of the catalog in ``args.data_dir``, read before any window: a missing
    catalog exits with one line (status 1, nothing created), a missing run with status 2."""
    from gi_instrument.catalog import open_catalog
    from gi_instrument.viewer.run_data import RunData

    try:
        client = open_catalog(args.data_dir, create=False)
    except FileNotFoundError as exc:
        raise SystemExit(f"gi-viewer: {exc}") from None
    try:
        return RunData.open(client, args.run)
    except (KeyError, ValueError, IndexError) as exc:
        parser.exit(2, f"gi-viewer: run {args.run}: {exc}\n")


def _run_window(data, args: argparse.Namespace, parser: argparse.ArgumentParser):
    from gi_instrument.viewer.windows import RunWindow

    count = data.count(args.stream)
    scan = args.scan + count if args.scan < 0 else args.scan
    if not 0 <= scan < count or not 0 <= args.step < data.ct.steps:
        parser.error(f"--scan {args.scan} / --step {args.step} outside the run's {count} {args.stream} scans "
                     f"of {data.ct.steps} steps")
    window = RunWindow(data)
    window.select(args.stream, scan, args.step)
    if args.pixel:
        rows, cols = data.ct.shape
        if len(args.pixel) != 2 or not (0 <= args.pixel[0] < rows and 0 <= args.pixel[1] < cols):
            parser.error(f"--pixel {args.pixel} outside the {rows} x {cols} frame")
        window.view.select_pixel(*args.pixel)
    return window


def _volume_window(args: argparse.Namespace, parser: argparse.ArgumentParser):
    from gi_instrument.viewer.display import Clahe, NlMeans
    from gi_instrument.viewer.volume_data import VolumeData
    from gi_instrument.viewer.windows import VolumeWindow

    try:
        data = VolumeData(args.volume)
    except (OSError, ValueError) as exc:
        parser.exit(2, f"gi-viewer: {exc}\n")
    if args.signal not in data.names:
        parser.error(f"--signal {args.signal}: the volumes are {', '.join(data.names)}")
    depth = data.depth(args.signal, args.plane)
    index = depth // 2 if args.slice is None else args.slice
    if not 0 <= index < depth or args.mip < 1:
        parser.error(f"--slice {index} / --mip {args.mip}: the {args.plane} plane has {depth} slices")
    if args.levels and (len(args.levels) != 2 or not args.levels[1] > args.levels[0]):
        parser.error(f"--levels {args.levels}: give LO,HI with HI > LO")
    try:
        clahe = Clahe(int(args.clahe[0]), int(args.clahe[1]), args.clahe[2]) if args.clahe else None
        nlm = NlMeans(h_sigma=args.nlm) if args.nlm is not None else None
    except (ValueError, IndexError) as exc:
        parser.error(f"--clahe BLOCK,BINS,SLOPE / --nlm H: {exc}")
    window = VolumeWindow(data)
    if clahe is not None:
        window.clahe_block.setValue(clahe.block_px)
        window.clahe_bins.setValue(clahe.bins)
        window.clahe_slope.setValue(clahe.slope)
        window.use_clahe.setChecked(True)
    if nlm is not None:
        window.nlm_h.setValue(nlm.h_sigma)
        window.use_nlm.setChecked(True)
    window.go_to(args.signal, args.plane, index, args.mip, tuple(args.levels) if args.levels else None)
    return window


def _render(window, app, path: str | Path) -> Path:
    from gi_instrument.viewer.windows import save_png

    for _ in range(5):
        app.processEvents()
    return save_png(window, path)


def main(argv: Sequence[str] | None = None) -> int:
    """``gi-viewer``: opens a window (or, with ``--snapshot``, writes a PNG and exits)."""
    parser = _parser()
    args = parser.parse_args(argv)
    chosen = [name for name, value in (("RUN", args.run), ("--volume", args.volume), ("--live", args.live)) if value]
    if len(chosen) != 1:
        parser.error("give exactly one of RUN (uid or -N), --volume DIR or --live [HOST:PORT]")
    if len(args.size) != 2 or min(args.size) < 100:
        parser.error(f"--size {args.size}: give W,H of at least 100 pixels")
    run = _open_run(args, parser) if args.run else None

    from gi_instrument.viewer.qt import application

    app = application(headless=bool(args.snapshot))
    receiver = None
    if args.live:
        from gi_instrument.catalog import CatalogPaths, default_data_dir
        from gi_instrument.viewer.live import LiveReceiver, LiveState, journal_catch_up
        from gi_instrument.viewer.windows import LiveWindow

        documents = CatalogPaths(args.data_dir or default_data_dir()).documents  # to catch up mid-run
        state = LiveState(catch_up=journal_catch_up(documents) if documents.is_dir() else None)
        receiver = LiveReceiver(args.live, state).start()
        window = LiveWindow(state)
    elif args.volume:
        window = _volume_window(args, parser)
    else:
        window = _run_window(run, args, parser)
    window.resize(*args.size)
    window.show()
    try:
        if args.snapshot:
            if receiver is not None:
                deadline = time.monotonic() + args.wait_s
                while window.shown_seq == 0 and time.monotonic() < deadline:
                    app.processEvents()
                    time.sleep(0.05)
                window.refresh()
            print(f"gi-viewer: wrote {_render(window, app, args.snapshot)}")
            return 0
        return app.exec()
    finally:
        if receiver is not None:
            receiver.stop()
        window.close()
        window.deleteLater()  # deleted by Qt, while the application is alive
        app.processEvents()


if __name__ == "__main__":
    sys.exit(main())
