"""A ``gi_ct`` run from the catalog, as the viewer steps through it: stepping scans by stream and
angle, each read whole (one scan's frames at a time), the dark frames, the reference scan that
belongs to a projection (the last one taken before it), and the run's suspensions and discarded
attempts."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from gi_instrument.processing.catalog_reader import CTRun, open_ct_run
from gi_instrument.processing.quality_report import run_interruptions
from gi_instrument.processing.sinograms import SteppingScans, group_scans, read_stepping_scans
from gi_instrument.viewer.scan_signals import SteppingScan

__all__ = ["RunData", "STREAMS"]

STREAMS = ("primary", "reference")
"""Streams of stepping scans, in the order the viewer offers them."""


class RunData:
    """The stepping scans of a :class:`~gi_instrument.processing.catalog_reader.CTRun`."""

    def __init__(self, ct: CTRun) -> None:
        self.ct = ct
        self.scans: dict[str, SteppingScans] = {
            "primary": group_scans(ct.primary, ct.steps), "reference": group_scans(ct.reference, ct.steps)}
        if not len(self.scans["primary"]) or not len(self.scans["reference"]):
            raise ValueError(f"run {ct.uid} has no complete stepping scan with a reference yet")
        rows = slice(0, ct.shape[0])
        self.dark: NDArray | None = ct.read("dark", slice(0, ct.n_dark), rows) if ct.n_dark else None
        """Dark frames (n, rows, cols), counts, or ``None``."""
        interruptions = run_interruptions(ct.run)
        self.suspensions: list[dict[str, Any]] = interruptions["suspensions"]
        """The run's ``suspensions`` stream, one dict per suspension (``cause``, ``stream``,
        ``angle_index``, ``start_time``, ``end_time``; times in s since the epoch)."""
        self.discarded: list[dict[str, Any]] = interruptions["discarded_attempts"]
        """The run's ``discarded`` stream, one dict per attempt (``cause``, ``stream``,
        ``angle_index``, ``attempt``, ``file``, ``start_time``, ``end_time``)."""

    @classmethod
    def open(cls, client: Any, run_id: str | int) -> RunData:
        """The run ``run_id`` (uid, its beginning, or ``-N``) of a catalog client."""
        return cls(open_ct_run(client, run_id))

    @property
    def uid(self) -> str:
        return self.ct.uid

    @property
    def period_um(self) -> float:
        """G2 period, um."""
        return self.ct.period_um

    def count(self, stream: str) -> int:
        """Complete stepping scans in ``stream``."""
        return len(self.scans[stream])

    def angle_deg(self, stream: str, i: int) -> float:
        """Rotation readback of scan ``i`` of ``stream``, deg (NaN if not recorded)."""
        angles = self.scans[stream].angle_deg
        return float(angles[i]) if angles is not None else float("nan")

    def scan(self, stream: str, i: int) -> SteppingScan:
        """Scan ``i`` (sorted by angle index) of ``stream``, all rows."""
        scans = self.scans[stream]
        if not 0 <= i < len(scans):
            raise IndexError(f"{stream} scan {i} outside 0..{len(scans) - 1}")
        frames = read_stepping_scans(self.ct.read, stream, scans, [i], slice(0, self.ct.shape[0]))[0]
        positions = None if scans.positions_um is None else scans.positions_um[i]
        return SteppingScan(stream, int(scans.angle_index[i]), frames, positions)

    def reference_for(self, i: int) -> SteppingScan:
        """The reference scan taken last before projection scan ``i`` (the first one if none)."""
        t = self.scans["primary"].time_s[i]
        ref_t = self.scans["reference"].time_s
        before = np.nonzero(ref_t <= t)[0]
        return self.scan("reference", int(before[np.argmax(ref_t[before])]) if before.size else int(np.argmin(ref_t)))
