"""One CT split over linked runs (``resumes``), merged into the event lists processing uses.

Pure functions of the per-event tables (:class:`~.sinograms.StreamFrames`), no catalog: for each
projection angle the complete stepping scan of the latest run that has one (every projection
exactly once); every complete reference scan of every run, each with its own time (a resumed run
repeats the reference before its first projection: both are kept, and the time interpolation
uses both).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from gi_instrument.processing.sinograms import StreamFrames

__all__ = ["Selection", "select_projections", "select_references", "merge_frames"]

Selection = list[NDArray[np.intp]]
"""Per run, the event indices (into that run's stream) that the merged stream takes, in order."""


def _scans(frames: StreamFrames, steps: int) -> dict[int, NDArray[np.intp]]:
    """Complete scans of one run's stream: angle index → event index of each step (the last
    event of a step wins)."""
    table: dict[int, NDArray[np.intp]] = {}
    for event, (angle, step) in enumerate(zip(np.asarray(frames.angle_index), np.asarray(frames.step_index))):
        row = table.setdefault(int(angle), np.full(steps, -1, np.intp))
        row[int(step)] = event
    return {angle: row for angle, row in table.items() if (row >= 0).all()}


def select_projections(runs: Sequence[StreamFrames], steps: int) -> Selection:
    """Each projection angle once: from the latest run (in chain order) holding it complete."""
    owner: dict[int, tuple[int, NDArray[np.intp]]] = {}
    for k, frames in enumerate(runs):
        owner.update({angle: (k, row) for angle, row in _scans(frames, steps).items()})
    chosen: list[list[int]] = [[] for _ in runs]
    for angle in sorted(owner):
        k, row = owner[angle]
        chosen[k].extend(int(e) for e in row)
    return [np.asarray(c, np.intp) for c in chosen]


def select_references(runs: Sequence[StreamFrames], steps: int) -> Selection:
    """Every complete reference scan of every run."""
    return [np.asarray([int(e) for row in _scans(frames, steps).values() for e in row], np.intp)
            for frames in runs]


def merge_frames(runs: Sequence[StreamFrames], selection: Selection, relabel: bool = False) -> StreamFrames:
    """The selected events of ``runs`` as one stream (run by run). ``relabel`` numbers the
    stepping scans 0, 1, ... in time order (so two reference scans taken before the same
    projection in different runs stay two scans)."""
    def take(name: str) -> NDArray | None:
        parts = [getattr(frames, name) for frames in runs]
        if any(p is None for p in parts):
            return None
        return np.concatenate([np.asarray(p)[sel] for p, sel in zip(parts, selection)])

    angle = take("angle_index")
    time_s = take("time_s")
    if relabel and angle is not None and angle.size:
        run_of = np.concatenate([np.full(len(sel), k) for k, sel in enumerate(selection)])
        keys = list(zip(run_of.tolist(), angle.tolist()))
        first_time: dict[tuple[int, int], float] = {}
        for key, t in zip(keys, time_s):
            first_time[key] = min(first_time.get(key, np.inf), float(t))
        rank = {key: i for i, key in enumerate(sorted(first_time, key=first_time.get))}
        angle = np.asarray([rank[key] for key in keys], np.int64)
    return StreamFrames(angle, take("step_index"), time_s, take("g2_position_um"), take("rotation_angle_deg"))
