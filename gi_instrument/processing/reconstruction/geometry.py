"""Projection geometry of a CT: beam kind, distances, detector pixel, rotation axis position.

Frames as in the simulator (:mod:`gi_instrument.sim.forward`): the source is a point on the
central ray at ``source_axis_cm`` from the rotation axis, the flat detector (at G2) at
``source_detector_cm``; the magnification at the axis is their ratio, so a detector pixel of
``pixel_um`` is ``pixel_um / magnification`` at the axis (the voxel). Detector coordinates are
given at the axis in voxels: column ``u`` right, row coordinate ``v`` up (rows count downwards).

The rotation axis is seen at detector column ``center_px`` on row ``midplane_row`` (the row of the
central ray, i.e. the mid-plane of the cone) and may lean by ``tilt_deg`` in the detector plane:
a point at ``(u, v)`` in the axis' frame sits at detector column
``center_px + u cos(tilt) + v sin(tilt)`` and row ``midplane_row - v cos(tilt) + u sin(tilt)``
(positive tilt: the axis' top leans to higher columns). An axis offset is modelled as a shift of
the detector across the beam (the central ray still meets the axis): an offset of ``o`` pixels
moved by the stage instead turns the central ray by ``o / R``, ~1e-3 rad for 40 px at binning 1.
A parallel beam is the limit of infinite distances (no magnification change across the object).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal, Mapping

__all__ = ["Geometry", "Beam"]

Beam = Literal["parallel", "cone"]


@dataclass(frozen=True)
class Geometry:
    """Where the source, the rotation axis and the detector are."""

    beam: Beam = "parallel"
    """``"parallel"`` or ``"cone"`` (a point source; a single detector row is a fan)."""
    source_axis_cm: float = math.inf
    """Source to rotation axis, cm (cone beam)."""
    source_detector_cm: float = math.inf
    """Source to detector (G2), cm (cone beam)."""
    pixel_um: float = 1.0
    """Detector pixel (binned), um; with the magnification it gives the voxel size."""
    center_px: float | None = None
    """Detector column of the rotation axis on the mid-plane row (default ``(cols - 1) / 2``)."""
    tilt_deg: float = 0.0
    """Lean of the rotation axis in the detector plane, deg (module docstring)."""
    midplane_row: float | None = None
    """Detector row of the central ray (default ``(rows - 1) / 2``)."""

    def __post_init__(self) -> None:
        if self.beam not in ("parallel", "cone"):
            raise ValueError(f"unknown beam {self.beam!r} (parallel, cone)")
        if self.beam == "cone" and not (
                0 < self.source_axis_cm < self.source_detector_cm < math.inf):
            raise ValueError("a cone beam needs 0 < source_axis_cm < source_detector_cm < inf, got "
                             f"{self.source_axis_cm} and {self.source_detector_cm}")
        if not self.pixel_um > 0:
            raise ValueError(f"pixel_um must be > 0, got {self.pixel_um}")
        if not abs(self.tilt_deg) < 45:
            raise ValueError(f"tilt_deg must be within +-45 deg, got {self.tilt_deg}")

    @property
    def magnification(self) -> float:
        """Source-detector over source-axis distance (1 for a parallel beam)."""
        return 1.0 if self.beam == "parallel" else self.source_detector_cm / self.source_axis_cm

    @property
    def voxel_um(self) -> float:
        """Detector pixel at the rotation axis, um."""
        return self.pixel_um / self.magnification

    @property
    def source_axis_px(self) -> float:
        """Source-axis distance in voxels (infinite for a parallel beam)."""
        return math.inf if self.beam == "parallel" else self.source_axis_cm * 1e4 / self.voxel_um

    def center(self, cols: int) -> float:
        """Axis column on the mid-plane row for a detector ``cols`` wide."""
        return (cols - 1) / 2 if self.center_px is None else float(self.center_px)

    def midplane(self, rows: int) -> float:
        """Row of the central ray for a detector ``rows`` high."""
        return (rows - 1) / 2 if self.midplane_row is None else float(self.midplane_row)

    @property
    def is_plain_parallel(self) -> bool:
        """Parallel beam with an untilted axis: reconstructed slice by slice without resampling."""
        return self.beam == "parallel" and self.tilt_deg == 0

    def with_axis(self, center_px: float | None, tilt_deg: float = 0.0) -> Geometry:
        """The same geometry with the rotation axis at ``center_px``, leaning by ``tilt_deg``."""
        return replace(self, center_px=center_px, tilt_deg=tilt_deg)

    @classmethod
    def from_run(cls, geometry: Mapping[str, Any], profile: Mapping[str, Any] | Any) -> Geometry:
        """The geometry a run was taken in, from its start document.

        Args:
            geometry: the start document's ``geometry``: ``beam`` (``"cone"``/``"parallel"``),
                ``source_sample_cm``, ``source_g2_cm`` (the detector sits at G2), ``binning``.
            profile: the run's profile (the start document's dict or a
                :class:`~gi_instrument.profile.Profile`): ``detector.pixel_um``; runs without
                ``geometry["beam"]`` fall back to ``simulation.beam``, else a parallel beam.
        """
        def field(obj: Any, *path: str) -> Any:
            for key in path:
                if obj is None:
                    return None
                obj = obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)
            return obj

        beam = geometry.get("beam") or field(profile, "simulation", "beam") or "parallel"
        pixel_um = float(field(profile, "detector", "pixel_um")) * int(geometry.get("binning", 1))
        if beam == "parallel":
            return cls("parallel", pixel_um=pixel_um)
        try:
            return cls(beam, float(geometry["source_sample_cm"]), float(geometry["source_g2_cm"]),
                       pixel_um)
        except KeyError as exc:
            raise ValueError(f"a {beam} beam run needs geometry[{exc.args[0]!r}]") from None
