"""``gi-emulator tube|pi --port N``: an emulated controller on 127.0.0.1:N until Ctrl-C."""

from __future__ import annotations

import threading

from gi_instrument.emulators import KouTubeEmulator, PIGCSEmulator
from gi_instrument.profile import load_profile


def main(argv: list[str] | None = None) -> None:
    """Console entry point ``gi-emulator``."""
    from gi_instrument import cli

    parser = cli.parser("gi-emulator", "gi-emulator tube|pi --port N: an emulated controller on 127.0.0.1:N until Ctrl-C.")
    parser.add_argument("protocol", choices=("tube", "pi"), help="tube: KOU-style tube; pi: PI GCS axis 1")
    parser.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1")
    parser.add_argument("--profile", default="maast", help="tube limits from this profile")
    parser.add_argument("--limits", default="-720,720", help="pi: travel low,high (axis units)")
    parser.add_argument("--velocity", type=float, default=100.0, help="pi: units per nominal s")
    parser.add_argument("--time-scale", type=float, default=1e-3, help="real s per nominal s")
    args = parser.parse_args(argv)
    if args.protocol == "tube":
        s = load_profile(args.profile).source
        emulator = KouTubeEmulator(max_kV=s.max_voltage_kV, max_uA=s.max_current_mA * 1e3, max_W=s.max_power_W,
                                   warmup_s=s.warmup_s, time_scale=args.time_scale, port=args.port)
        emulator.kV, emulator.uA = round(s.voltage_kV), round(s.current_mA * 1e3)
    else:
        low, high = (float(x) for x in args.limits.split(","))
        emulator = PIGCSEmulator(limits=(low, high), velocity=args.velocity, time_scale=args.time_scale,
                                 port=args.port)
    with emulator:
        print(f"gi-emulator: {args.protocol} on {emulator.url}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
