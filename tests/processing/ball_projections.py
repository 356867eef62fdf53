"""Closed-form projections of balls for the reconstruction tests (independent of the simulator).

The chord of a ball (centre ``p``, radius ``a``) along the ray from the source through a detector
point is ``2 sqrt(a^2 - d^2)``, ``d`` the distance from ``p`` to the ray. Frames as in
:mod:`gi_instrument.sim.forward`: source at lab ``y = -R`` (voxels), detector coordinates at the
axis, a sample point ``(x, y_fbp, z)`` at angle ``theta`` sits at lab
``(x cos - y_s sin, x sin + y_s cos, z)`` with ``y_s = -y_fbp``.
"""

from __future__ import annotations

import math

import numpy as np


def cone_projections(angles_deg, rows, cols, source_axis_px, balls, *, center=None, sub=2):
    """(angles, rows, cols) line integrals of balls ``(x, y, z, radius, value)`` (voxels),
    pixel-averaged over ``sub x sub`` points; ``source_axis_px = inf`` for a parallel beam."""
    center = (cols - 1) / 2 if center is None else center
    mid = (rows - 1) / 2
    th = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))[:, None, None]
    out = np.zeros((th.size, rows, cols))
    offs = (np.arange(sub) + 0.5) / sub - 0.5
    for x, y, z, a, value in balls:
        px = x * np.cos(th) + y * np.sin(th)                       # lab x (y_s = -y)
        py = x * np.sin(th) - y * np.cos(th)                       # lab y, towards the detector
        # the shadow's height and size at the axis scale by R / (R + depth), |depth| <= |x| + |y|
        grow, shrink = ((1.0, 1.0) if math.isinf(source_axis_px) else
                        (source_axis_px / (source_axis_px - abs(x) - abs(y)),
                         source_axis_px / (source_axis_px + abs(x) + abs(y))))
        r0 = max(0, int(mid - max(z * grow, z * shrink) - (a + 2) * grow))
        r1 = min(rows, int(mid - min(z * grow, z * shrink) + (a + 2) * grow) + 2)
        for du in offs:
            for dv in offs:
                u = (np.arange(cols) - center + du)[None, None, :]
                v = (mid - np.arange(r0, r1) + dv)[None, :, None]
                if math.isinf(source_axis_px):                    # rays along +y
                    d2 = (u - px) ** 2 + (v - z) ** 2
                else:
                    big_r = source_axis_px
                    norm = np.sqrt(u**2 + big_r**2 + v**2)
                    qx, qy, qz = px, py + big_r, z                 # ball centre from the source
                    dot = (qx * u + qy * big_r + qz * v) / norm
                    d2 = qx**2 + qy**2 + qz**2 - dot**2
                out[:, r0:r1] += value * 2 * np.sqrt(np.clip(a * a - d2, 0, None)) / sub**2
    return out
