"""gi-runs: list the runs of the catalog, newest last, with filters.

    gi-runs                               the last 20 runs
    gi-runs --sample S12 --plan gi_ct     CTs of one sample
    gi-runs --since 2026-11-30            runs started on or after a date (or "2026-11-30 18:00", or 3d, 12h)
    gi-runs --all

Columns: uid (its beginning is enough for gi-process / gi-export), scan id, plan, sample (the
"sample" of md=...), start (local time), duration, status (the stop document's exit status;
"no stop" while a run is going on or if its session died), projections (gi_ct: done/planned).
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from gi_instrument import cli
from gi_instrument.plans.schedule import format_duration

__all__ = ["main", "parse_since", "run_row", "find_runs"]

COLUMNS = ("uid", "scan", "plan", "sample", "start", "duration", "status", "projections")


def parse_since(text: str, now_s: float | None = None) -> float:
    """Epoch seconds of ``text``: an ISO date or date and time (local), or ``N d`` / ``N h`` /
    ``N min`` ago (``3d``, ``12h``). ValueError otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(d|h|min)\s*", text)
    if match:
        seconds = float(match[1]) * {"d": 86400, "h": 3600, "min": 60}[match[2]]
        return (time.time() if now_s is None else now_s) - seconds
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise ValueError(f"--since {text!r}: give a date (2026-11-30), a date and time "
                         f"(2026-11-30 18:00) or an age (3d, 12h, 30min)") from None


def run_row(metadata: Any) -> dict[str, str]:
    """One line of the listing from a run's metadata (``{"start": ..., "stop": ...}``)."""
    start, stop = metadata["start"], metadata.get("stop") or {}
    projections = "-"
    if start.get("plan_name") == "gi_ct":
        steps = int(start.get("profile", {}).get("stepping", {}).get("steps", 1))
        planned = start.get("schedule", {}).get("n_projections", "?")
        done = int((stop.get("num_events") or {}).get("primary", 0)) // max(steps, 1)
        projections = f"{done}/{planned}" if stop else f"?/{planned}"
    return {
        "uid": start["uid"][:8],
        "scan": str(start.get("scan_id", "")),
        "plan": str(start.get("plan_name", "")),
        "sample": str(start.get("sample", "")),
        "start": time.strftime("%Y-%m-%d %H:%M", time.localtime(start["time"])),
        "duration": format_duration(stop["time"] - start["time"]) if stop else "-",
        "status": str(stop.get("exit_status", "")) if stop else "no stop",
        "projections": projections,
    }


def find_runs(client: Any, *, sample: str | None = None, plan: str | None = None,
              since_s: float | None = None) -> Any:
    """The runs of ``client`` matching every filter given (tiled queries on the start document)."""
    from tiled.queries import Key

    results = client
    if sample is not None:
        results = results.search(Key("sample") == sample)
    if plan is not None:
        results = results.search(Key("plan_name") == plan)
    if since_s is not None:
        results = results.search(Key("time") >= since_s)
    return results


def _table(rows: list[dict[str, str]]) -> str:
    widths = {c: max([len(c), *(len(r[c]) for r in rows)]) for c in COLUMNS}
    lines = ["  ".join(c.ljust(widths[c]) for c in COLUMNS)]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in COLUMNS) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point ``gi-runs``."""
    from gi_instrument.catalog import DATA_DIR_ENV

    parser = cli.parser("gi-runs", __doc__)
    parser.add_argument("--sample", default=None, help="only runs with this sample (md={'sample': ...})")
    parser.add_argument("--plan", default=None, help="only runs of this plan (gi_ct, phase_step, count, ...)")
    parser.add_argument("--since", default=None, help="only runs started since: 2026-11-30, '2026-11-30 18:00', 3d, 12h")
    parser.add_argument("--last", type=int, default=20, help="show the last N matching runs (default 20)")
    parser.add_argument("--all", action="store_true", help="show every matching run")
    parser.add_argument("--data-dir", default=None, help=f"catalog directory (${DATA_DIR_ENV} or ~/gi-data)")
    args = parser.parse_args(argv)

    def listing() -> None:
        from gi_instrument.catalog import open_catalog

        since = parse_since(args.since) if args.since is not None else None
        results = find_runs(open_catalog(args.data_dir, create=False), sample=args.sample, plan=args.plan,
                            since_s=since)
        total = len(results)
        shown = total if args.all else min(args.last, total)
        rows = [run_row(run.metadata) for run in results.values()[total - shown:]] if shown else []
        print(_table(rows) if rows else "no runs match")
        if shown < total:
            print(f"({total - shown} earlier runs not shown: --all)")

    return cli.run("gi-runs", listing)


if __name__ == "__main__":
    sys.exit(main())
