"""Strong and weak signals: pixels whose differential phase or dark-field cannot be trusted,
found and repaired per projection before the reconstruction.

Criteria, per pixel of a projection (rows, cols) (defaults of :class:`Criteria`):

- **phase wrap**: the differential phase jumps by more than ``pi`` between neighbours along the
  row, ``|dpc[j+1] - dpc[j]| > wrap_jump_rad``: at a calcification edge the true fringe shift
  passes ``+-pi`` and the retrieved one comes back from the other end of ``(-pi, pi]`` (both
  pixels of the jump are marked);
- **lost visibility**: ``D = V_s / V_r < min_darkfield``: the fringe has (nearly) vanished, so
  ``sigma_phi ~ sqrt(2) / (V_s sqrt(N a0))`` is large and, where refraction varies within a pixel
  or within the source/detector blur, the phase is an average over several wraps (strong edges
  look like strong scatterers);
- **dim**: ``T < min_transmission``: too few photons for a phase (behind dense calcifications);
- **refraction edge**: the pixel's differential phase departs from the mean of its two row
  neighbours (differences wrapped to ``(-pi, pi]``) by more than ``edge_rad``, or by more than
  ``edge_noise_factor`` times that departure's robust spread over the row (1.4826 x its median
  absolute value: the noise sets the floor, so noise alone rarely marks a pixel). An object edge
  inside the pixel: the fringe phase varies within the pixel's footprint (pixel and blur), the
  measured phase is the argument of the mean of ``exp(i phi)`` (not the mean phase; past ``pi``
  a wrap that reads like an ordinary value), and the visibility drops by ``|mean exp(i phi)|``
  from refraction, not small-angle scattering: the "edge dark-field" of unresolved edges
  (Yashiro & Momose, Opt. Express 23, 9233, 2015). A smooth phase (an object's interior, a
  container) stays below both thresholds.

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

**Repair, guided by the transmission** (:func:`repair_rows`). First, the phase of each
unreliable pixel is replaced by the linear interpolation between the
row's nearest reliable pixels (a wrapped or noise-dominated value would otherwise enter the
Hilbert filter, whose 1/n kernel spreads it into a star of streaks through the slice). Then each
run of unreliable or edge pixels (widened by ``dilation_px`` along the row: the blur spreads an
edge over its neighbours) is filled from its reliable
neighbours, using the one-material relation where it holds, so that what the edge pixels carried
is kept rather than cut off:

- differential phase: ``dpc = kappa dA/du + c`` fitted (least squares) on up to
  ``fit_span_px`` reliable pixels either side of the run; used when they follow it with a
  correlation of at least ``min_correlation`` in magnitude (the sign of ``kappa`` is the
  instrument's convention), i.e. at the edge of a resolved object of one material against a
  smooth background; otherwise the run keeps the values of the first step. Half of a sphere's
  phase step lies in its outer tenth, so interpolating the edge away leaves delta 10-15 % low;
- dark-field line integral ``-ln D``: for one material it is proportional to the chord, as is
  the attenuation's part above the background, so across the run ``-ln D = k A + b u + c``
  (``k`` the ratio of the material's scattering and attenuation contrasts to its surrounding,
  ``b u + c`` the line of the background's smooth variation, e.g. a container's attenuation
  sloping under a soft-tissue sphere) is fitted (least squares) on up to ``fit_span_px``
  reliable pixels either side and used where ``-ln D`` follows ``A`` there beyond a line in
  ``u`` (partial correlation at least ``min_correlation``); otherwise it is interpolated
  linearly along the row. Left in place, the edge dark-field of a sphere (a spike at its tangent
  in every projection) reconstructs as a bright shell with a negative interior (the inverse Abel
  transform of the spike): 15-25 % off a calcium-oxalate sphere's 1000 /m. Interpolated along
  the row (or in ``A`` alone, blind to the background's slope) the fill puts the chord's steep
  rise at the tangent into the pixels outside it: measured, an adipose sphere's 5 /m came out
  5 % low, with the fit 0.4 % low.

A run that holds a whole object is left as measured (an object no wider than the run, such as a
calcification of a few pixels: with no interior to learn from, its scattering cannot be told from
its unresolved refraction, and filling would erase it), as is a run that touches the row's end.
A run holds an object when its ``A`` rises above both neighbours', or falls below both, by more
than ``min_contrast``, *and* departs by more than ``min_contrast`` from the parabola in ``u``
fitted on its reliable neighbours (``fit_span_px`` either side; with fewer than four the run
is filled: nothing tells an object from the background there). The parabola is the background's
own curve: a faint bead seen through a large sphere's projection rises above both neighbours by
the sphere's curvature alone at the angles where it crosses the sphere's crest, and with the
first test only it was left as measured at those angles and filled at all others, so its edge
dark-field entered the sinogram at some angles only and streaked along them (measured on the
bead target: the adipose sphere's 5 /m +9 % (TLI) / +5 % (MAAST); judged against the curve,
+0.8 % / +2.7 %). Known limit: where the projections of a strong and a weak scatterer overlap
(~8 % of the bead target's angles), runs merge: a run holding both spheres' edges is filled
with the strong one's ratio (errors ~3 % of calcium oxalate's ``-ln D``), and at a few angles
the weak sphere's edges, the beads and the strong sphere's edges join into one run across the
whole strong sphere, which is then a "whole object" left as measured, its edge spikes included
(the largest errors). Each is several times the adipose sphere's whole signal, so that sphere's
dark-field (200 x below calcium oxalate's) depends on a handful of runs (measured: -10 % to +8 %
over plausible rules for the runs with too few reliable neighbours on a side). A fix needs a
fill of two materials, or runs that do not merge across a strong object's interior: not done.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

MIN_SIGNAL = 1e-6
"""``T`` and ``D`` are clipped to at least this before the logarithm."""

__all__ = ["MIN_SIGNAL", "minus_log", "Criteria", "Repaired", "RepairedRows", "unreliable_pixels", "refraction_edges", "interpolate_rows",
           "repair_rows", "unwrap_with_transmission", "repair_sinograms"]


@dataclass(frozen=True)
class Criteria:
    """Thresholds of :func:`unreliable_pixels` and :func:`refraction_edges`, and the repair's
    settings (module docstring)."""

    wrap_jump_rad: float = 1.5 * np.pi
    """Largest differential-phase step between row neighbours, rad."""
    min_darkfield: float = 0.2
    """Smallest ``D = V_s / V_r`` with a usable phase."""
    min_transmission: float = 0.01
    """Smallest transmission with a usable phase."""
    edge_rad: float = 0.05
    """Smallest departure of a pixel's differential phase from its neighbours' mean that marks a
    refraction edge, rad."""
    edge_noise_factor: float = 4.0
    """The same departure in units of its robust spread over the row (the noise floor)."""
    dilation_px: int = 1
    """Masked pixels are widened by this many pixels along the row."""
    fit_span_px: int = 6
    """Reliable pixels each side of a masked run that the phase-attenuation fit uses."""
    min_correlation: float = 0.9
    """Correlation of phase and attenuation gradient the fit needs."""
    min_contrast: float = 0.02
    """How far ``-ln T`` inside a masked run must rise above (or fall below) both its neighbours,
    and depart from the parabola fitted on them, for the run to hold a whole object (left as
    measured)."""

    def as_dict(self) -> dict[str, float]:
        """The thresholds by name (for metadata)."""
        return asdict(self)


@dataclass(frozen=True)
class Repaired:
    """Output of :func:`repair_sinograms`: stacks (angles, rows, cols)."""

    dpc: NDArray[np.float32]
    """Differential phase, rad, repaired."""
    darkfield: NDArray[np.float32]
    """Dark-field ``D``, repaired (``exp`` of the repaired ``-ln D``)."""
    fraction: float
    """Fraction of pixels whose phase or dark-field was changed."""
    object_fraction: float
    """Fraction of pixels in runs left as measured as whole objects (module docstring): objects
    no wider than a masked run, whose phase, where their edges wrap, is a mean over wraps (their
    delta comes out low)."""


class RepairedRows(NamedTuple):
    """Output of :func:`repair_rows`, each (..., cols)."""

    dpc: NDArray[np.float32]
    """Differential phase, rad, repaired."""
    minus_log_d: NDArray[np.float32]
    """``-ln D``, repaired."""
    objects: NDArray[np.bool_]
    """The pixels of the runs left as measured as whole objects."""


def minus_log(values: ArrayLike) -> NDArray[np.float32]:
    """``-ln(max(x, MIN_SIGNAL))`` as float32 (line integral of a transmission-like ratio)."""
    return -np.log(np.maximum(np.asarray(values, dtype=np.float32), np.float32(MIN_SIGNAL)))


def _wrap(x: NDArray[np.float32]) -> NDArray[np.float32]:
    """``x`` wrapped to ``[-pi, pi]`` (float32)."""
    return x - np.float32(2 * np.pi) * np.rint(x * np.float32(0.5 / np.pi))


def unreliable_pixels(dpc: ArrayLike, transmission: ArrayLike, darkfield: ArrayLike,
                      flags: ArrayLike | None = None, criteria: Criteria = Criteria()) -> NDArray[np.bool_]:
    """Mask (..., cols) of the wrapped, fringe-less, dim and flagged pixels of projections
    (..., cols) (module docstring)."""
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


def refraction_edges(dpc: ArrayLike, criteria: Criteria = Criteria()) -> NDArray[np.bool_]:
    """Mask (..., cols) of the refraction-edge pixels of projections (..., cols) of differential
    phase, rad (module docstring); the first and last column are never marked."""
    phase = np.asarray(dpc, dtype=np.float32)
    departure = np.zeros(phase.shape, np.float32)
    departure[..., 1:-1] = np.abs(np.float32(0.5) * (_wrap(phase[..., :-2] - phase[..., 1:-1])
                                                     + _wrap(phase[..., 2:] - phase[..., 1:-1])))
    spread = 1.4826 * np.median(departure[..., 1:-1], axis=-1, keepdims=True)
    return departure > np.maximum(criteria.edge_rad, criteria.edge_noise_factor * spread)


def interpolate_rows(values: ArrayLike, bad: ArrayLike) -> NDArray[np.float32]:
    """``values`` (..., cols) with the ``bad`` pixels of each row replaced by the linear
    interpolation between the row's nearest good pixels (the row ends take the nearest good
    value); a row without good pixels becomes 0."""
    out = np.array(values, dtype=np.float32)
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


def _runs(mask: NDArray[np.bool_]) -> list[slice]:
    """Slices of the runs of True in a 1-D mask."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [slice(a, b) for a, b in zip(edges[::2], edges[1::2])]


def _row_gradient(a: NDArray) -> NDArray[np.float64]:
    """Central difference of ``a`` (..., cols) along the row, per pixel (0 at the ends)."""
    grad = np.zeros(a.shape)
    grad[..., 1:-1] = 0.5 * (a[..., 2:] - a[..., :-2])
    return grad


def _dilated(mask: NDArray[np.bool_], px: int) -> NDArray[np.bool_]:
    """``mask`` (..., cols) widened by ``px`` pixels along the row."""
    for _ in range(px):
        grown = mask.copy()
        grown[..., 1:] |= mask[..., :-1]
        grown[..., :-1] |= mask[..., 1:]
        mask = grown
    return mask


def _window_sums(values: NDArray[np.float64], rows: NDArray[np.intp], lo: NDArray[np.intp],
                 hi: NDArray[np.intp], span: int) -> NDArray[np.float64]:
    """Per run (``rows``, ``[lo, hi)``), the sum of ``values`` (R, C) over the ``span`` columns
    either side of it within the row."""
    cum = np.zeros((values.shape[0], values.shape[1] + 1))
    np.cumsum(values, axis=1, out=cum[:, 1:])
    cols = values.shape[1]
    return (cum[rows, lo] - cum[rows, np.maximum(lo - span, 0)]
            + cum[rows, np.minimum(hi + span, cols)] - cum[rows, hi])


def repair_rows(dpc: ArrayLike, minus_log_d: ArrayLike, attenuation: ArrayLike, unreliable: ArrayLike,
                edges: ArrayLike, criteria: Criteria = Criteria()) -> RepairedRows:
    """Differential phase (rad) and ``-ln D`` (..., cols) repaired, guided by the attenuation
    ``A = -ln T`` (module docstring): the ``unreliable`` pixels' phase interpolated along the row,
    then each run of ``unreliable | edges`` (widened by ``criteria.dilation_px``) that is an
    object's edge filled from its neighbours (all runs at once); the runs that hold a whole
    object are left as measured and marked in ``objects``."""
    unreliable = np.asarray(unreliable, dtype=bool)
    phase = interpolate_rows(dpc, unreliable)
    lnd = np.array(minus_log_d, dtype=np.float32)
    cols = phase.shape[-1]
    mask = _dilated(unreliable | np.asarray(edges, dtype=bool), criteria.dilation_px).reshape(-1, cols)
    a = np.asarray(attenuation, dtype=np.float64).reshape(-1, cols)
    step = np.diff(np.pad(mask, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    rows, lo = np.nonzero(step == 1)
    hi = np.nonzero(step == -1)[1]
    inner = (lo > 0) & (hi < cols)  # a run at the row's end has no neighbour to learn from
    rows, lo, hi = rows[inner], lo[inner], hi[inner]
    objects = np.zeros(mask.shape, dtype=bool)
    if rows.size == 0:
        return RepairedRows(phase, lnd, objects.reshape(phase.shape))
    a_left, a_right = a[rows, lo - 1], a[rows, hi]
    bounds = np.stack([rows * cols + lo, rows * cols + hi], axis=1).ravel()
    run_max = np.maximum.reduceat(a.ravel(), bounds)[::2]
    run_min = np.minimum.reduceat(a.ravel(), bounds)[::2]
    beyond = ((run_max > np.maximum(a_left, a_right) + criteria.min_contrast)
              | (run_min < np.minimum(a_left, a_right) - criteria.min_contrast))
    beyond[beyond] = _departs_from_background(a, ~mask, rows[beyond], lo[beyond], hi[beyond], criteria)
    _, object_row, object_col = _run_pixels(rows[beyond], lo[beyond], hi[beyond])
    objects[object_row, object_col] = True
    rows, lo, hi = rows[~beyond], lo[~beyond], hi[~beyond]  # the edge runs: filled below
    run, row, col = _run_pixels(rows, lo, hi)
    # phase: kappa dA/du + c, least squares over the reliable pixels either side of each run
    gradient = _row_gradient(a)
    reliable = ~mask
    x = np.where(reliable, gradient, 0.0)
    y = np.where(reliable, np.asarray(dpc, dtype=np.float64).reshape(-1, cols), 0.0)
    span = criteria.fit_span_px
    n, sx, sy, sxx, sxy, syy = (_window_sums(v, rows, lo, hi, span)
                                for v in (reliable.astype(np.float64), x, y, x * x, x * y, y * y))
    with np.errstate(divide="ignore", invalid="ignore"):
        var_x, var_y = sxx / n - (sx / n) ** 2, syy / n - (sy / n) ** 2
        cov = sxy / n - sx * sy / n**2
        fit = ((n >= 4) & (var_x > 1e-12 * sxx / n) & (var_y > 1e-12 * syy / n)
               & (np.abs(cov) >= criteria.min_correlation * np.sqrt(var_x * var_y)))
        kappa = np.where(fit, cov / var_x, 0.0)
    offset = np.where(fit, (sy - kappa * sx) / np.where(fit, n, 1), 0.0)
    flat_phase, flat_lnd = phase.reshape(-1, cols), lnd.reshape(-1, cols)
    use = fit[run]
    flat_phase[row[use], col[use]] = (kappa[run] * gradient[row, col] + offset[run])[use]
    # -ln D: k A + b u + c fitted on the reliable pixels either side, where it holds; else linear
    flat_lnd[row, col] = _fill_minus_log_d(flat_lnd, a, reliable, rows, lo, hi, run, row, col, criteria)
    return RepairedRows(phase, lnd, objects.reshape(phase.shape))


def _run_pixels(rows: NDArray[np.intp], lo: NDArray[np.intp], hi: NDArray[np.intp]
                ) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]:
    """The pixels of the runs ``[lo, hi)`` of rows ``rows``: each one's run number, row and column."""
    length = hi - lo
    run = np.repeat(np.arange(rows.size), length)
    col = np.repeat(lo, length) + np.arange(run.size) - np.repeat(np.cumsum(length) - length, length)
    return run, rows[run], col


def _departs_from_background(a: NDArray[np.float64], reliable: NDArray[np.bool_], rows: NDArray[np.intp],
                             lo: NDArray[np.intp], hi: NDArray[np.intp], criteria: Criteria) -> NDArray[np.bool_]:
    """Per run (``rows``, ``[lo, hi)``) of ``a`` (R, C): whether ``a`` inside it departs by more
    than ``criteria.min_contrast`` from the parabola in ``u`` fitted (least squares) on the
    reliable pixels within ``criteria.fit_span_px`` either side (a run with fewer than four does
    not: no background to judge it against). A curved background alone (a large sphere's projection under the run) stays on its
    parabola; an object inside the run does not."""
    cols = a.shape[1]
    span = criteria.fit_span_px
    offsets = np.r_[-span:0, 0:span]
    near = np.where(offsets < 0, lo[:, None], hi[:, None]) + offsets
    inside_row = (near >= 0) & (near < cols)
    near = np.clip(near, 0, cols - 1)
    w = (inside_row & reliable[rows[:, None], near]).astype(np.float64)
    u0, scale = 0.5 * (lo + hi - 1), 0.5 * (hi - lo) + span
    powers = ((near - u0[:, None]) / scale[:, None])[..., None] ** np.arange(3)  # (runs, 2 span, 3)
    weighted = powers * w[..., None]
    gram = np.einsum("rki,rkj->rij", weighted, powers)
    moments = np.einsum("rki,rk->ri", weighted, a[rows[:, None], near])
    fitted = w.sum(axis=1) >= 4
    coef = np.zeros((rows.size, 3))
    coef[fitted] = np.linalg.solve(gram[fitted], moments[fitted][..., None])[..., 0]
    run, row, col = _run_pixels(rows, lo, hi)
    background = (((col - u0[run]) / scale[run])[:, None] ** np.arange(3) * coef[run]).sum(axis=1)
    departure = np.zeros(rows.size)
    np.maximum.at(departure, run, np.abs(a[row, col] - background))
    return fitted & (departure > criteria.min_contrast)


def _fill_minus_log_d(lnd: NDArray[np.float32], a: NDArray[np.float64], reliable: NDArray[np.bool_],
                      rows: NDArray[np.intp], lo: NDArray[np.intp], hi: NDArray[np.intp], run: NDArray[np.intp],
                      row: NDArray[np.intp], col: NDArray[np.intp], criteria: Criteria) -> NDArray[np.float64]:
    """``-ln D`` of the runs' pixels (``row``, ``col``; ``run`` their run's number) from the
    reliable pixels within ``criteria.fit_span_px`` either side of each run (``rows``,
    ``[lo, hi)``) of ``lnd`` and ``a`` (R, C): ``k A + b u + c`` by least squares where ``-ln D``
    follows ``A`` beyond a line in ``u`` (partial correlation at least
    ``criteria.min_correlation``), else linear along the row between the run's two neighbours."""
    cols = lnd.shape[1]
    w = reliable.astype(np.float64)
    u = np.broadcast_to(np.arange(cols, dtype=np.float64), a.shape)
    y = np.asarray(lnd, dtype=np.float64)
    span = criteria.fit_span_px
    n, su, suu, sa, sau, saa, sy, suy, say, syy = (
        _window_sums(w * v, rows, lo, hi, span) for v in (1.0, u, u * u, a, a * u, a * a, y, y * u, y * a, y * y))
    # centred on each run (u0: its middle, a0: its neighbours' mean) for the conditioning
    u0, a0 = 0.5 * (lo + hi - 1), 0.5 * (a[rows, lo - 1] + a[rows, hi])
    suu, sau, saa = suu - 2 * u0 * su + u0**2 * n, sau - a0 * su - u0 * sa + a0 * u0 * n, saa - 2 * a0 * sa + a0**2 * n
    suy, say = suy - u0 * sy, say - a0 * sy
    su, sa = su - u0 * n, sa - a0 * n
    det = n * suu - su**2

    def residual(sx: NDArray, sux: NDArray, sz: NDArray, suz: NDArray, sxz: NDArray) -> NDArray:
        """Inner product of x and z after each is regressed on (1, u) over the fit pixels."""
        return sxz - (suu * sx * sz - su * (sx * suz + sux * sz) + n * sux * suz) / det

    with np.errstate(divide="ignore", invalid="ignore"):
        r_aa, r_yy, r_ay = residual(sa, sau, sa, sau, saa), residual(sy, suy, sy, suy, syy), residual(sa, sau, sy, suy, say)
        fit = ((n >= 4) & (det > 0) & (r_aa > 1e-12 * saa) & (r_yy > 0)
               & (r_ay**2 >= criteria.min_correlation**2 * r_aa * r_yy))
        k = np.where(fit, r_ay / r_aa, 0.0)
        c = np.where(fit, (suu * (sy - k * sa) - su * (suy - k * sau)) / det, 0.0)
        b = np.where(fit, (n * (suy - k * sau) - su * (sy - k * sa)) / det, 0.0)
    fitted = k[run] * (a[row, col] - a0[run]) + b[run] * (col - u0[run]) + c[run]
    left, right = lnd[rows, lo - 1], lnd[rows, hi]
    linear = left[run] + (col - lo[run] + 1) / (hi - lo + 1)[run] * (right - left)[run]
    return np.where(fit[run], fitted, linear)


_MIN_CORRELATION = 0.8
"""Correlation of phase and attenuation gradient a run needs before its wraps are undone."""


def unwrap_with_transmission(dpc: ArrayLike, transmission: ArrayLike, *, min_gradient: float = 0.02,
                             min_run_px: int = 4) -> NDArray[np.float32]:
    """``dpc`` (..., cols), rad, with wraps undone by consistency with the attenuation (module
    docstring): runs of at least ``min_run_px`` pixels where ``|d(-ln T)/du| > min_gradient``
    (per pixel, central difference, dilated by one pixel) get ``kappa`` fitted and each pixel the
    ``2 pi`` multiple closest to ``kappa d(-ln T)/du``."""
    out = np.array(dpc, dtype=np.float32)
    grad = _row_gradient(minus_log(transmission).astype(np.float64))
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
                     criteria: Criteria = Criteria(), unwrap: bool = False, out_dir: str | Path | None = None,
                     rows_per_chunk: int = 16) -> Repaired:
    """The differential-phase and dark-field sinograms (angles, rows, cols) with the
    :func:`unreliable_pixels` and :func:`refraction_edges` repaired by :func:`repair_rows`, with ``unwrap`` after undoing wraps
    (:func:`unwrap_with_transmission`: off by default, since on noisy, coarsely binned data
    tissue edges pass its gradient threshold and its fits add errors; measured: the FRC of a
    binning-16 MAAST CT's delta 9-13 -> 75 px), ``rows_per_chunk`` detector rows at a time, into
    new ``.npy`` memory maps ``sinogram_dpc_repaired.npy`` and ``sinogram_darkfield_repaired.npy``
    in ``out_dir`` (or arrays in memory)."""
    shape = tuple(int(n) for n in np.shape(dpc))

    def output(name: str) -> NDArray[np.float32]:
        if out_dir is None:
            return np.empty(shape, np.float32)
        return np.lib.format.open_memmap(Path(out_dir) / f"sinogram_{name}_repaired.npy", mode="w+",
                                         dtype=np.float32, shape=shape)

    out_dpc, out_d = output("dpc"), output("darkfield")
    n_bad = n_objects = 0
    for r0 in range(0, shape[1], rows_per_chunk):
        rows = slice(r0, min(r0 + rows_per_chunk, shape[1]))
        t = np.asarray(transmission[:, rows], dtype=np.float32)
        d = np.asarray(darkfield[:, rows], dtype=np.float32)
        phase = (unwrap_with_transmission(dpc[:, rows], t) if unwrap
                 else np.asarray(dpc[:, rows], dtype=np.float32))
        unreliable = unreliable_pixels(phase, t, d, flags[:, rows], criteria)
        edges = refraction_edges(phase, criteria)
        measured_lnd = minus_log(d)
        out_dpc[:, rows], lnd, objects = repair_rows(phase, measured_lnd, minus_log(t), unreliable, edges, criteria)
        n_bad += int(np.count_nonzero((out_dpc[:, rows] != phase) | (lnd != measured_lnd)))
        n_objects += int(np.count_nonzero(objects))
        out_d[:, rows] = np.exp(-lnd)
    for out in (out_dpc, out_d):
        if isinstance(out, np.memmap):
            out.flush()
    size = max(1, int(np.prod(shape)))
    return Repaired(out_dpc, out_d, n_bad / size, n_objects / size)
