"""Strong and weak signals: differential-phase pixels that cannot be trusted, found and repaired
per projection before the delta reconstruction.

Criteria, per pixel of a projection (rows, cols) (defaults of :class:`Criteria`):

- **phase wrap**: the differential phase jumps by more than ``pi`` between neighbours along the
  row, ``|dpc[j+1] - dpc[j]| > wrap_jump_rad``: at a calcification edge the true fringe shift
  passes ``+-pi`` and the retrieved one comes back from the other end of ``(-pi, pi]`` (both
  pixels of the jump are marked);
- **lost visibility**: ``D = V_s / V_r < min_darkfield``: the fringe has (nearly) vanished, so
  ``sigma_phi ~ sqrt(2) / (V_s sqrt(N a0))`` is large and, where refraction varies within a pixel
  or within the source/detector blur, the phase is an average over several wraps (strong edges
  look like strong scatterers);
- **dim**: ``T < min_transmission``: too few photons for a phase (behind dense calcifications).

The retrieval's own flags (dark or undefined pixels) count as unreliable too. Repair: along each
detector row, every unreliable pixel's differential phase is replaced by the linear interpolation
between the nearest reliable pixels on either side (the row ends take the nearest reliable value),
so no wrapped or noise-dominated value enters the Hilbert filter, whose 1/n kernel would spread it
into a star of streaks through the slice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["Criteria", "unreliable_pixels", "repair_dpc"]


@dataclass(frozen=True)
class Criteria:
    """Thresholds of :func:`unreliable_pixels` (module docstring)."""

    wrap_jump_rad: float = 1.5 * np.pi
    """Largest differential-phase step between row neighbours, rad."""
    min_darkfield: float = 0.2
    """Smallest ``D = V_s / V_r`` with a usable phase."""
    min_transmission: float = 0.01
    """Smallest transmission with a usable phase."""

    def as_dict(self) -> dict[str, float]:
        """The thresholds by name (for metadata)."""
        return asdict(self)


def unreliable_pixels(dpc: ArrayLike, transmission: ArrayLike, darkfield: ArrayLike,
                      flags: ArrayLike | None = None, criteria: Criteria = Criteria()) -> NDArray[np.bool_]:
    """Mask (..., cols) of the unreliable pixels of projections (..., cols) (module docstring)."""
    dpc = np.asarray(dpc)
    jump = np.abs(np.diff(dpc, axis=-1)) > criteria.wrap_jump_rad
    bad = np.zeros(dpc.shape, dtype=bool)
    bad[..., :-1] |= jump
    bad[..., 1:] |= jump
    bad |= np.asarray(darkfield) < criteria.min_darkfield
    bad |= np.asarray(transmission) < criteria.min_transmission
    if flags is not None:
        bad |= np.asarray(flags) != 0
    return bad


def repair_dpc(dpc: ArrayLike, bad: ArrayLike) -> NDArray[np.float32]:
    """``dpc`` (..., cols) with the ``bad`` pixels of each row replaced by the linear
    interpolation between the row's nearest good pixels; a row without good pixels becomes 0."""
    out = np.array(dpc, dtype=np.float32)
    bad = np.asarray(bad, dtype=bool)
    rows = out.reshape(-1, out.shape[-1])
    masks = bad.reshape(-1, out.shape[-1])
    cols = np.arange(out.shape[-1])
    for row, mask in zip(rows, masks):
        if not mask.any():
            continue
        good = ~mask
        row[mask] = np.interp(cols[mask], cols[good], row[good]) if good.any() else 0.0
    return out
