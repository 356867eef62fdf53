"""Angular (quadrature) weights: every line through the object counts once in the back-projection.

Parallel beam (:func:`angular_weights`): the ray ``(theta + 180 deg, s)`` is the ray
``(theta, -s)``, so projections are weighted on the 180-deg circle of line directions: 360-deg
scans half each, short scans (180 + e deg) Parker-type ``sin^2``/``cos^2`` ramps over the doubly
measured ``e`` at both ends.

Fan / cone beam (:func:`fan_weights`): the ray at source angle ``beta`` and fan angle ``gamma``
(``tan gamma = u / R``, ``u`` the detector column at the axis, ``R`` the source-axis distance) is
the parallel ray ``theta = beta + gamma``, ``s = R sin gamma``; it is measured again at
``(beta + 180 deg + 2 gamma, -gamma)``. A 360-deg scan measures every ray twice (weight 1/2). A
short scan over ``180 deg + 2 eps`` needs ``eps >= delta``, the half fan angle at the field edge
(so a scan must cover 180 deg plus the full fan angle: MAAST's 185 deg against its ~2.1 deg fan),
and gets Parker's weights (D. L. Parker, Med. Phys. 9 (1982) 254) with ``delta`` replaced by
``eps`` (the overscan form of S. Wesarg, M. Ebert, T. Bortfeld, Med. Phys. 29 (2002) 1906):
with ``t`` the source angle from the scan start,

- ``w = sin^2(pi/4 * t / (eps - gamma))`` for ``0 <= t < 2 (eps - gamma)``,
- ``w = sin^2(pi/4 * (180 deg + 2 eps - t) / (eps + gamma))`` for ``t > 180 deg - 2 gamma``,
- ``w = 1`` between,

so that the two measurements of every ray sum to one, smoothly in ``t`` and ``gamma``.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["angular_weights", "uniform_step_rad", "fan_weights", "ScanTooShortError"]


class ScanTooShortError(ValueError):
    """A short scan does not cover 180 deg plus the full fan angle at the field edge."""


def angular_weights(angles_deg: ArrayLike) -> NDArray[np.float64]:
    """Quadrature weight (rad) of each projection; the weights of one line direction sum to a step.

    - Equidistant angles over ``k * 180 deg`` (180, 360, ...): ``180 deg / n`` each.
    - Equidistant over ``180 + e deg`` with ``0 < e < 180`` (short scan, e.g. 740 x 0.25 deg =
      185 deg): Parker-type weights. With ``t`` the angle from the scan start plus half a step
      (``0 < t < 180 + e``): ``w = sin^2(pi t / (2 e))`` for ``t < e``,
      ``w = cos^2(pi (t - 180) / (2 e))`` for ``t > 180``, else 1, times the step. The two
      measurements of a line (``t`` and ``t + 180``) sum to one step, smoothly.
    - Equidistant over less than 180 deg: one step each (limited angle; a warning).
    - Otherwise: each projection gets half the gap to its neighbours on the 180-deg circle of line
      directions (equal directions share).

    The weights sum to pi (limited-angle scans: to the scanned range).
    """
    theta = np.deg2rad(np.asarray(angles_deg, dtype=np.float64).ravel())
    n = theta.size
    if n == 0:
        raise ValueError("no angles")
    if n == 1:
        return np.array([np.pi])
    order = np.argsort(theta, kind="stable")
    diffs = np.diff(theta[order])
    step = float(np.median(diffs))
    uniform = step > 0 and np.all(np.abs(diffs - step) <= 1e-3 * step)
    if uniform:
        span = n * step
        k = span / np.pi
        if k < 1 - 1e-6:
            warnings.warn(f"scan covers {np.rad2deg(span):.2f} deg < 180 deg: limited-angle "
                          "reconstruction", stacklevel=3)
            return np.full(n, step)
        if abs(k - round(k)) <= 1e-6 or k > 2:
            return np.full(n, step / k)
        eps = span - np.pi
        t = theta - theta[order[0]] + step / 2
        w = np.ones(n)
        lo = t < eps
        hi = t > np.pi
        w[lo] = np.sin(np.pi * t[lo] / (2 * eps)) ** 2
        w[hi] = np.cos(np.pi * (t[hi] - np.pi) / (2 * eps)) ** 2
        return w * step
    phi = np.mod(theta, np.pi)
    order = np.argsort(phi, kind="stable")
    ps = phi[order]
    gaps = np.diff(np.concatenate([ps, ps[:1] + np.pi]))
    w_sorted = 0.5 * (gaps + np.roll(gaps, 1))
    w = np.empty(n)
    w[order] = w_sorted
    return w


def uniform_step_rad(angles_deg: ArrayLike) -> float:
    """The angular step (rad) of equidistant, increasing ``angles_deg``; ``ValueError`` otherwise
    (fan and cone beam reconstruction interpolate between neighbouring source angles)."""
    theta = np.deg2rad(np.asarray(angles_deg, dtype=np.float64).ravel())
    if theta.size < 2:
        raise ValueError("fan/cone beam reconstruction needs at least two angles")
    diffs = np.diff(theta)
    step = float(np.median(diffs))
    if step <= 0 or np.any(np.abs(diffs - step) > 1e-3 * step):
        raise ValueError("fan/cone beam reconstruction needs equidistant, increasing angles")
    return step


def fan_weights(angles_deg: ArrayLike, gamma_rad: ArrayLike) -> tuple[NDArray[np.float64], bool]:
    """Redundancy weights ``(angles, len(gamma))`` of fan-beam projections and whether the scan
    is a full turn (multiples of 360 deg: constant weights, periodic in angle).

    Args:
        angles_deg: equidistant source angles, deg; projection ``j`` covers
            ``[angle_j - step/2, angle_j + step/2]``, so the scan spans ``n * step``.
        gamma_rad: fan angle of each detector column, rad (module docstring).

    Raises:
        ScanTooShortError: a scan shorter than 360 deg does not cover 180 deg plus the full fan
            angle ``2 max|gamma|``.
    """
    step = uniform_step_rad(angles_deg)
    gamma = np.asarray(gamma_rad, dtype=np.float64).ravel()
    n = np.asarray(angles_deg).size
    span = n * step
    turns = span / (2 * np.pi)
    if abs(turns - round(turns)) <= 1e-6 and round(turns) >= 1:
        return np.full((n, gamma.size), 1.0 / (2 * round(turns))), True
    fan = 2 * float(np.max(np.abs(gamma)))
    if span >= 2 * np.pi:
        raise ValueError(f"a fan-beam scan over {np.rad2deg(span):.2f} deg is neither a short scan "
                         "(< 360 deg) nor whole turns")
    if span < np.pi + fan - 1e-9:
        raise ScanTooShortError(
            f"the scan covers {np.rad2deg(span):.2f} deg, less than 180 deg + the full fan angle "
            f"{np.rad2deg(fan):.2f} deg at the field edge = {180 + np.rad2deg(fan):.2f} deg: "
            "some lines through the object are never measured")
    eps = (span - np.pi) / 2
    t = (np.arange(n) * step + step / 2)[:, None]
    g = gamma[None, :]
    w = np.ones((n, gamma.size))
    lo = t < 2 * (eps - g)
    hi = t > np.pi - 2 * g
    w = np.where(lo, np.sin(np.pi / 4 * t / (eps - g)) ** 2, w)
    w = np.where(hi, np.sin(np.pi / 4 * np.clip(np.pi + 2 * eps - t, 0, None) / (eps + g)) ** 2, w)
    return w, False
