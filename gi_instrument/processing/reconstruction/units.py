"""Physical units of reconstructions: ``mu`` and the dark-field coefficient in 1/m, ``delta``."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gi_instrument.processing.reconstruction.parallel import fbp

__all__ = ["attenuation_per_m", "delta_from_dpc"]


def attenuation_per_m(slice_px: ArrayLike, voxel_um: float) -> NDArray[np.floating]:
    """Linear attenuation ``mu`` in 1/m from a ramp-FBP of ``-ln T`` (1/pixel).

    ``-ln T = integral mu dl``; in pixel units the FBP returns ``mu * v`` with ``v`` the voxel
    size, so ``mu [1/m] = slice / (voxel_um * 1e-6)``. The same holds for the dark-field
    (``-ln D``): the linear diffusion coefficient in 1/m.
    """
    s = np.asarray(slice_px)
    return s / s.dtype.type(voxel_um * 1e-6) if s.dtype.kind == "f" else s / (voxel_um * 1e-6)


def delta_from_dpc(
    dpc_sinogram_rad: ArrayLike,
    angles_deg: ArrayLike,
    period_um: float,
    g1_g2_cm: float,
    **fbp_kwargs: object,
) -> NDArray[np.float32]:
    """Refractive-index decrement ``delta`` (dimensionless) from a DPC sinogram (rad).

    Units, step by step (``v`` the voxel size at the sample in m, ``u`` the detector coordinate
    in pixels, ``x = v u`` the transverse coordinate at the sample in m):

    - refraction angle ``alpha = p2 * dpc / (2 pi d)`` in rad, with ``p2`` the G2 period (m) and
      ``d`` the G1-G2 distance (m): :func:`gi_instrument.processing.retrieval.refraction_angle_rad`;
    - ``alpha = d/dx Phi`` with ``Phi(x) = integral delta dl`` (m) the delta projection;
    - in pixel units the projection is ``P(u) = Phi / v`` (``integral delta dl_px``), so
      ``dP/du = (dPhi/dx) (dx/du) / v = alpha``: the refraction-angle sinogram is already the
      derivative of the pixel-unit projection;
    - the Hilbert FBP of ``dP/du`` returns the object whose pixel-unit projection is ``P``,
      i.e. ``delta`` itself: ``delta = FBP_hilbert[alpha]``, no voxel factor. (Equivalently the
      FBP of ``alpha * v`` gives ``delta * v`` in m per pixel.)

    Args:
        dpc_sinogram_rad: differential phase ``wrap(phi_s - phi_r)``, (angles, cols) or
            (angles, rows, cols), rad.
        angles_deg: projection angles, deg.
        period_um: G2 period p2, um.
        g1_g2_cm: distance that turns the refraction angle into the fringe shift, cm: the lever
            arm of the sample position (:func:`~gi_instrument.processing.retrieval.lever_arm_cm`;
            the G1-G2 distance only for a sample at G1).
        fbp_kwargs: passed to :func:`fbp` (``center_px``, ``backend``, ``out``, ...). With the
            container wider than the field, ``truncation="cylinder"`` and ``container=``
            :func:`~gi_instrument.processing.truncation.fit_container` of the ``-ln T`` sinogram
            of the same rows (as ``gi-process`` does by default) continue the phase projections
            with the container; its ``delta`` is fitted to the refraction angle at the edges.
    """
    from gi_instrument.processing.retrieval import refraction_angle_rad  # noqa: PLC0415

    alpha = refraction_angle_rad(np.asarray(dpc_sinogram_rad), period_um, g1_g2_cm)
    return fbp(alpha, angles_deg, "hilbert", **fbp_kwargs)  # type: ignore[arg-type]

