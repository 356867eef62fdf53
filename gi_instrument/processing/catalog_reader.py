"""Read a ``gi_ct`` run back from the tiled catalog for processing.

Run layout (written by :func:`gi_instrument.plans.gi_ct`): the start document carries
``plan_name == "gi_ct"``, ``profile`` (the profile as a dict), ``geometry`` (``voxel_um``,
``g1_g2_cm``, ``source_g1_cm``, ``source_sample_cm``, ``beam``, ``g2_period_um``, ``binning``,
``pixel_at_sample_um``, ...) and ``plan_args``.
Streams ``dark``, ``reference`` and ``primary`` hold one event per frame with the fields
``camera_image`` (rows, cols) uint16 (external HDF5), ``g2_position_um``, ``rotation_angle_deg``,
``frame_angle_index``, ``frame_step_index`` and the event ``time``.

Only the scalar columns are read whole; frames are fetched as row slabs, so
:meth:`CTRun.sinograms` keeps its memory bound on a full-size CT: straight from the HDF5 files
the catalog references when they are on this machine (:class:`HDF5Frames`), else through tiled
(``run[stream]["camera_image"][i0:i1, r0:r1, :]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import h5py
import numpy as np
from numpy.typing import NDArray

from gi_instrument.processing.chain import Selection, merge_frames, select_projections, select_references
from gi_instrument.processing.noise import AmplitudeNoise, noise_from_scan
from gi_instrument.processing.retrieval import lever_arm_cm
from gi_instrument.processing.sinograms import (Sinograms, StreamFrames, build_sinograms, group_scans,
                                                read_stepping_scans)
from gi_instrument.profile import Profile, profile_from_dict

__all__ = ["IMAGE_KEY", "CTRun", "ChainedCTRun", "HDF5Frames", "read_ct_run", "open_ct_run", "resolve_run",
           "chain_nodes", "open_ct_chain"]

IMAGE_KEY = "camera_image"
"""Data key of the frames in every stream."""


@dataclass
class CTRun:
    """A CT run's metadata, per-frame tables and a lazy row-slab frame reader."""

    uid: str
    start: dict[str, Any]
    """The start document (metadata)."""
    profile: Profile
    shape: tuple[int, int]
    """Detector frame (rows, cols) as recorded (after binning)."""
    n_dark: int
    reference: StreamFrames
    primary: StreamFrames
    run: Any = field(repr=False)
    """The tiled run node the frames are read from."""
    files: dict[str, HDF5Frames] = field(default_factory=dict, repr=False)
    """Streams whose frame files are readable here: read directly, not through tiled."""

    @property
    def geometry(self) -> dict[str, Any]:
        """The derived geometry of the start document."""
        return dict(self.start.get("geometry", {}))

    @property
    def steps(self) -> int:
        """Phase steps per stepping scan."""
        return self.profile.stepping.steps

    @property
    def period_um(self) -> float:
        """G2 period, um."""
        return float(self.geometry.get("g2_period_um", self.profile.gratings.g2_period_um))

    @property
    def g1_g2_cm(self) -> float:
        """G1-G2 distance, cm."""
        return float(self.geometry.get("g1_g2_cm", self.profile.geometry.g1_g2_cm))

    @property
    def lever_arm_cm(self) -> float:
        """Lever arm ``d_eff`` of the sample position, cm, from the run's geometry (distances of
        the profile for runs that predate them): :func:`~.retrieval.lever_arm_cm`."""
        g, pg = self.geometry, self.profile.geometry
        source_g1 = float(g.get("source_g1_cm", pg.source_g1_cm))
        source_sample = float(g.get("source_sample_cm", self.profile.source_sample_cm))
        return lever_arm_cm(source_g1, self.g1_g2_cm, source_sample)

    @property
    def voxel_um(self) -> float:
        """Pixel size at the sample of the recorded (binned) frames, um."""
        geometry = self.geometry
        if "pixel_at_sample_um" in geometry:
            return float(geometry["pixel_at_sample_um"])
        return self.profile.voxel_um * int(geometry.get("binning", 1))

    def noise_model(self, use_positions: bool = True, rows: int = 128) -> AmplitudeNoise | None:
        """Detector noise measured on the earliest reference scan (central ``rows`` rows, run's
        mean dark; :func:`~.noise.noise_from_scan`), or ``None`` when the scan shows none (noise-free
        or synthetic frames) or has fewer than 4 steps."""
        refs = group_scans(self.reference, self.steps)
        if len(refs) == 0 or self.steps < 4:
            return None
        first = int(np.argmin(refs.time_s)) if refs.time_s is not None else 0
        r0 = max(0, (self.shape[0] - rows) // 2)
        slab = slice(r0, min(self.shape[0], r0 + rows))
        (stack,) = read_stepping_scans(self.read, "reference", refs, [first], slab)
        dark = self.read("dark", slice(0, self.n_dark), slab) if self.n_dark else None
        positions = refs.positions_um[first] if use_positions and refs.positions_um is not None else None
        try:
            return noise_from_scan(stack, dark, positions, self.period_um if positions is not None else None)
        except ValueError:
            return None

    def read(self, stream: str, frames: slice, rows: slice) -> NDArray:
        """Frames ``frames`` (event order) of ``stream``, detector rows ``rows``: (n, r, cols)."""
        if stream in self.files:
            return self.files[stream].read(frames, rows)
        return np.asarray(self.run[stream][IMAGE_KEY][frames, rows, :])

    def sinograms(self, **kwargs: Any) -> Sinograms:
        """Sinograms of this run (:func:`~.sinograms.build_sinograms`; keywords passed on)."""
        return build_sinograms(self.read, self.shape, self.reference, self.primary, self.steps,
                               n_dark=self.n_dark, period_um=self.period_um, **kwargs)


class HDF5Frames:
    """The frames of one stream read straight from the detector's HDF5 files that the catalog
    references (tiled's in-process HTTP path moves ~30 MB/s; direct reads are disk-bound)."""

    def __init__(self, paths: list[Path], dataset: str, counts: list[int]) -> None:
        self.paths = paths
        self.dataset = dataset
        self.starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        """Event index of each file's first frame (and the total at the end)."""

    @classmethod
    def of(cls, node: Any) -> HDF5Frames | None:
        """From an array node's data source, or ``None`` when its files are not all local HDF5
        files or their frame counts do not add up to the node's length."""
        sources = node.data_sources()
        if len(sources) != 1 or sources[0].mimetype != "application/x-hdf5":
            return None
        source = sources[0]
        assets = sorted(source.assets, key=lambda a: a.num if a.num is not None else 0)
        paths = [Path(unquote(urlparse(a.data_uri).path)) for a in assets]
        dataset = source.parameters.get("dataset")
        if not dataset or not all(p.is_file() for p in paths):
            return None
        counts = []
        for path in paths:
            with h5py.File(path, "r") as f:
                counts.append(int(f[dataset].shape[0]))
        if sum(counts) != node.shape[0]:
            return None
        return cls(paths, dataset, counts)

    def read(self, frames: slice, rows: slice) -> NDArray:
        """Frames ``frames`` (stream order, step 1), detector rows ``rows``: (n, r, cols)."""
        first, stop, _ = frames.indices(int(self.starts[-1]))
        parts = []
        for i in range(int(np.searchsorted(self.starts, first, side="right")) - 1, len(self.paths)):
            lo, hi = max(first, self.starts[i]), min(stop, self.starts[i + 1])
            if lo >= stop:
                break
            if lo < hi:
                with h5py.File(self.paths[i], "r") as f:
                    parts.append(f[self.dataset][lo - self.starts[i]:hi - self.starts[i], rows, :])
        if not parts:
            raise IndexError(f"frames {frames} outside 0..{self.starts[-1]}")
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _column(stream: Any, key: str) -> NDArray | None:
    """A scalar column of a stream, or ``None`` if the stream lacks it."""
    return np.asarray(stream[key].read()) if key in stream else None


INSTRUMENT_TIME_SUFFIX = "_ioc_time_s"
"""Data key suffix of the instrument's clock at each frame's exposure (``camera_ioc_time_s``)."""


def _frame_times_s(streams: list[Any]) -> list[NDArray | None]:
    """Each frame's time, s, per stream: the instrument's clock at its exposure
    (``*_ioc_time_s``) where every stream records it, placed so that the run's earliest frame
    keeps its event time; else the event times. The references are interpolated in this time:
    the fringe drifts with the instrument's time, and in a dry-run (``--time-scale``) the event
    times count the client's real seconds (an IOC restart, a loaded machine) at a rate the
    exposures do not have, which put the interpolation weights off (up to 0.2 rad of phase)."""
    events = [_column(stream, "time") for stream in streams]
    keys = [[key for key in stream if key.endswith(INSTRUMENT_TIME_SUFFIX)] for stream in streams]
    if any(t is None or len(t) == 0 for t in events) or any(len(k) != 1 for k in keys):
        return events
    clocks = [np.asarray(stream[k[0]].read(), dtype=np.float64) for stream, k in zip(streams, keys)]
    first = min(range(len(streams)), key=lambda i: events[i].min())
    i = int(np.argmin(events[first]))
    offset = float(events[first][i]) - float(clocks[first][i])
    return [clock + offset for clock in clocks]


def _stream_frames(stream: Any, time_s: NDArray | None) -> StreamFrames:
    """Per-event metadata of a stream node, with its frames' times ``time_s``."""
    angle = _column(stream, "frame_angle_index")
    step = _column(stream, "frame_step_index")
    if angle is None or step is None:
        raise ValueError("stream lacks frame_angle_index / frame_step_index: not a gi_ct run")
    return StreamFrames(angle, step, time_s, _column(stream, "g2_position_um"), _column(stream, "rotation_angle_deg"))


def _no_frames() -> StreamFrames:
    """The per-event metadata of a stream without events."""
    return StreamFrames(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), np.empty(0), np.empty(0))


def read_ct_run(run: Any, direct: bool = True, part: bool = False) -> CTRun:
    """A :class:`CTRun` from a tiled run node (``client[uid]``) written by ``gi_ct``.

    ``direct``: read frames straight from their HDF5 files when they are on this machine
    (:class:`HDF5Frames`); otherwise, or for a remote catalog, row slabs come through tiled.
    ``part``: the run is one of a chain (:func:`open_ct_chain`), which may lack the ``primary``
    or ``reference`` stream (a resume that took the final reference alone); read as empty.
    """
    start = dict(run.metadata["start"])
    if start.get("plan_name") != "gi_ct":
        raise ValueError(f"run {start.get('uid')} is a {start.get('plan_name')!r} run, not gi_ct")
    streams = set(run)
    names = [name for name in ("reference", "primary") if name in streams]
    if len(names) < (1 if part else 2):
        raise ValueError(f"run {start['uid']} lacks stream(s) {sorted({'reference', 'primary'} - streams)}")
    nodes = [run[name] for name in names]
    rows, cols = nodes[-1][IMAGE_KEY].shape[1:]
    n_dark = run["dark"][IMAGE_KEY].shape[0] if "dark" in streams else 0
    frames = {name: _stream_frames(node, t) for name, node, t in zip(names, nodes, _frame_times_s(nodes))}
    reference, primary = (frames[name] if name in frames else _no_frames() for name in ("reference", "primary"))
    return CTRun(
        uid=start["uid"], start=start,
        profile=profile_from_dict(start["profile"], source=f"run {start['uid']}"),
        shape=(int(rows), int(cols)), n_dark=int(n_dark),
        reference=reference, primary=primary,
        run=run, files={} if not direct else {
            name: files for name in ("dark", "reference", "primary") if name in streams
            and (files := HDF5Frames.of(run[name][IMAGE_KEY])) is not None})


def resolve_run(client: Any, run_id: str | int) -> Any:
    """The run node for a uid (or its unique beginning) or ``-N`` (the N-th last run)."""
    if isinstance(run_id, int) or (isinstance(run_id, str) and run_id.lstrip("-").isdigit()
                                   and run_id.startswith("-")):
        index = int(run_id)
        if index >= 0:
            raise ValueError(f"use a uid or a negative index (-1 = last run), not {run_id}")
        if -index > len(client):
            raise IndexError(f"run {index}: the catalog holds {len(client)} run(s)")
        return client.values()[index]
    try:
        return client[run_id]
    except KeyError:
        raise KeyError(f"no run {run_id!r} in the catalog (gi-runs lists them)") from None


def open_ct_run(client: Any, run_id: str | int, direct: bool = True) -> CTRun:
    """:func:`read_ct_run` of :func:`resolve_run`."""
    return read_ct_run(resolve_run(client, run_id), direct)


@dataclass
class ChainedCTRun(CTRun):
    """A CT split over linked runs (``resumes``), read as one (:mod:`.chain`): the first run's
    metadata and darks, each projection once, every reference scan."""

    parts: list[CTRun] = field(default_factory=list, repr=False)
    """The runs, first to latest."""
    selection: dict[str, Selection] = field(default_factory=dict, repr=False)
    """Per stream, the events each run contributes."""
    incomplete: str | None = None
    """Why the CT is incomplete (processed anyway), or ``None``."""

    @property
    def uids(self) -> list[str]:
        """Uids of the runs, first to latest."""
        return [part.uid for part in self.parts]

    def read(self, stream: str, frames: slice, rows: slice) -> NDArray:
        if stream == "dark":
            return next(p for p in self.parts if p.n_dark).read("dark", frames, rows)
        selection = self.selection[stream]
        offsets = np.concatenate([[0], np.cumsum([len(s) for s in selection])])
        first, stop, _ = frames.indices(int(offsets[-1]))
        blocks = []
        for part, local, lo_k, hi_k in zip(self.parts, selection, offsets[:-1], offsets[1:]):
            lo, hi = max(first, lo_k), min(stop, hi_k)
            if lo < hi:
                events = local[lo - lo_k:hi - lo_k]
                block = part.read(stream, slice(int(events.min()), int(events.max()) + 1), rows)
                blocks.append(block[events - events.min()])
        return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)


def chain_nodes(client: Any, run: Any) -> list[Any]:
    """The run nodes of the CT that ``run`` belongs to, first to latest: back through the start
    documents' ``resumes``, forward through the runs that resume it (the latest one when a run
    was resumed twice)."""
    from tiled.queries import Key

    nodes = [run]
    while (previous := nodes[0].metadata["start"].get("resumes")) is not None:
        if previous not in client:
            raise ValueError(f"run {nodes[0].metadata['start']['uid']} resumes run {previous}, "
                             f"which is not in the catalog")
        nodes.insert(0, client[previous])
    while True:
        later = list(client.search(Key("start.resumes") == nodes[-1].metadata["start"]["uid"]).values())
        if not later:
            return nodes
        nodes.append(max(later, key=lambda node: node.metadata["start"]["time"]))


def _ended_badly(node: Any) -> str | None:
    """Why the run of ``node`` did not succeed (its stop document's exit status), or None."""
    stop = node.metadata.get("stop") or {}
    if stop.get("exit_status") == "success":
        return None
    status = stop.get("exit_status", "no stop document: the process died")
    reason = f": {stop['reason']}" if stop.get("reason") else ""
    return f"run {node.metadata['start']['uid']} ended with {status}{reason}"


def _missing_projections(node: Any, primary: StreamFrames) -> str | None:
    """How many of the schedule's projections the CT lacks (``node``: its latest run), or None."""
    expected = node.metadata["start"].get("schedule", {}).get("n_projections")
    found = len(set(np.asarray(primary.angle_index).tolist()))
    return f"{found} of {expected} projections" if expected is not None and found < expected else None


def _refuse_incomplete(why: str | None, allow_incomplete: bool) -> None:
    if why is not None and not allow_incomplete:
        raise ValueError(f"incomplete CT ({why}); resume it with gi_ct_resume, or process what there is "
                         f"with --allow-incomplete")


def open_ct_chain(client: Any, run_id: str | int, direct: bool = True,
                  allow_incomplete: bool = False) -> CTRun:
    """The CT that run ``run_id`` (any run of it) belongs to: a :class:`ChainedCTRun` of all its
    linked runs. ValueError for an incomplete CT (its latest run failed, was aborted or died:
    found before any run is read; or projections are missing) unless ``allow_incomplete``; then
    ``incomplete`` says why."""
    nodes = chain_nodes(client, resolve_run(client, run_id))
    why = _ended_badly(nodes[-1])
    _refuse_incomplete(why, allow_incomplete)
    parts = [read_ct_run(node, direct, part=len(nodes) > 1) for node in nodes]
    steps = parts[0].steps
    selection = {"primary": select_projections([p.primary for p in parts], steps),
                 "reference": select_references([p.reference for p in parts], steps)}
    primary = merge_frames([p.primary for p in parts], selection["primary"])
    why = why or _missing_projections(nodes[-1], primary)
    _refuse_incomplete(why, allow_incomplete)
    first = parts[0]
    return ChainedCTRun(
        uid=first.uid, start=first.start, profile=first.profile, shape=first.shape,
        n_dark=next((p.n_dark for p in parts if p.n_dark), 0),
        reference=merge_frames([p.reference for p in parts], selection["reference"], relabel=len(parts) > 1),
        primary=primary, run=first.run, parts=parts, selection=selection, incomplete=why)
