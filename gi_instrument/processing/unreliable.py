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

The retrieval's own flags (dark or undefined pixels) count as unreliable too.

**Wraps that look smooth.** A fringe shift of ``pi + x`` comes back as ``-pi + x``: next to an
edge pixel of 2.5 rad the wrapped 6.4 rad reads 0.12 rad, an ordinary step. Such wraps are found
by consistency with the transmission (:func:`unwrap_with_transmission`): across an object of one
material the phase and attenuation projections are proportional, ``P_delta = kappa A``
(``A = -ln T``), so the fringe phase is ``kappa`` times the row-derivative of ``A``. Per run of
pixels where ``A`` changes (``|dA/du| > min_gradient``), ``kappa`` is fitted on the pixels whose
predicted phase is unambiguous (``|kappa dA/du| < pi / 2``, fitted iteratively from the half
of the run with the gentler slope; a run whose unambiguous pixels do not follow ``dA/du`` with a correlation
of at least 0.8 is left alone), and every pixel of the run gets the multiple of ``2 pi`` that brings it
closest to ``kappa dA/du``.

Repair: along each detector row, every unreliable pixel's differential phase is replaced by the linear interpolation
between the nearest reliable pixels on either side (the row ends take the nearest reliable value),
so no wrapped or noise-dominated value enters the Hilbert filter, whose 1/n kernel would spread it
into a star of streaks through the slice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["Criteria", "unreliable_pixels", "repair_dpc", "unwrap_with_transmission", "repair_sinograms"]


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


_MIN_CORRELATION = 0.8
"""Correlation of phase and attenuation gradient a run needs before its wraps are undone."""


def _runs(mask: NDArray[np.bool_]) -> list[slice]:
    """Slices of the runs of True in a 1-D mask."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [slice(a, b) for a, b in zip(edges[::2], edges[1::2])]


def unwrap_with_transmission(dpc: ArrayLike, transmission: ArrayLike, *, min_gradient: float = 0.02,
                             min_run_px: int = 4) -> NDArray[np.float32]:
    """``dpc`` (..., cols), rad, with wraps undone by consistency with the attenuation (module
    docstring): runs of at least ``min_run_px`` pixels where ``|d(-ln T)/du| > min_gradient``
    (per pixel, central difference, dilated by one pixel) get ``kappa`` fitted and each pixel the
    ``2 pi`` multiple closest to ``kappa d(-ln T)/du``."""
    out = np.array(dpc, dtype=np.float32)
    a = -np.log(np.clip(np.asarray(transmission, dtype=np.float64), 1e-6, None))
    grad = np.zeros(a.shape)
    grad[..., 1:-1] = 0.5 * (a[..., 2:] - a[..., :-2])
    rows, grads = out.reshape(-1, out.shape[-1]), grad.reshape(-1, out.shape[-1])
    two_pi = 2 * np.pi
    for row, g in zip(rows, grads):
        steep = np.abs(g) > min_gradient
        steep[1:] |= steep[:-1].copy()
        steep[:-1] |= steep[1:].copy()
        for run in _runs(steep):
            if run.stop - run.start < min_run_px:
                continue
            phase, slope = row[run].astype(np.float64), g[run]
            use = (np.abs(phase) < np.pi / 2) & (np.abs(slope) <= np.median(np.abs(slope)))
            kappa = 0.0
            for _ in range(3):  # refit on the pixels the current kappa calls unambiguous
                if not use.any():
                    break
                kappa = float((phase[use] * slope[use]).sum() / max((slope[use] ** 2).sum(), 1e-30))
                use = (np.abs(kappa * slope) < np.pi / 2) & (np.abs(phase - kappa * slope) < np.pi / 2)
            if use.sum() < min_run_px or np.corrcoef(phase[use], slope[use])[0, 1] < _MIN_CORRELATION:
                continue  # the phase does not follow the attenuation here: leave it
            row[run] = phase + two_pi * np.round((kappa * slope - phase) / two_pi)
    return out


def repair_sinograms(dpc: Any, transmission: Any, darkfield: Any, flags: Any, *,
                     criteria: Criteria = Criteria(), unwrap: bool = False, path: str | Path | None = None,
                     rows_per_chunk: int = 16) -> tuple[NDArray[np.float32], float]:
    """The differential-phase sinograms (angles, rows, cols) with unreliable pixels repaired
    (:func:`repair_dpc`), with ``unwrap`` after undoing wraps (:func:`unwrap_with_transmission`:
    off by default, since on noisy, coarsely binned data tissue edges pass its gradient threshold
    and its fits add errors; measured: the FRC of a binning-16 MAAST CT's delta 9-13 -> 75 px),
    ``rows_per_chunk`` detector rows at a time, into a new ``.npy`` memory map at ``path`` (or an
    array in memory); also the fraction of pixels repaired."""
    shape = tuple(int(n) for n in np.shape(dpc))
    out = (np.empty(shape, np.float32) if path is None
           else np.lib.format.open_memmap(Path(path), mode="w+", dtype=np.float32, shape=shape))
    n_bad = 0
    for r0 in range(0, shape[1], rows_per_chunk):
        rows = slice(r0, min(r0 + rows_per_chunk, shape[1]))
        t = np.asarray(transmission[:, rows])
        unwrapped = (unwrap_with_transmission(dpc[:, rows], t) if unwrap
                     else np.asarray(dpc[:, rows], dtype=np.float32))
        bad = unreliable_pixels(unwrapped, t, darkfield[:, rows], flags[:, rows], criteria)
        n_bad += int(np.count_nonzero(bad))
        out[:, rows] = repair_dpc(unwrapped, bad)
    if path is not None:
        out.flush()
    return out, n_bad / max(1, int(np.prod(shape)))
