"""Geometric optics of the simulated Talbot-Lau interferometer: where the sample sits matters.

Distances along the beam from the source (G0 for TLI, the structured anode for MAAST) at 0: G1 at
``L1``, G2 (and the detector, right behind it) at ``L = L1 + d``, the sample at ``l_s``.

**Fringe shift of a refraction angle.** In the geometric picture of a Talbot-Lau interferometer
the fringe at G2 is the shadow of a G1 line cast from the source (each G0 slit, or anode line,
casts its own, and the Lau condition puts them all in phase at G2). A sample that deflects a ray
by a small angle ``alpha`` at ``l_s`` moves that shadow; follow the ray that, after the
deflection, passes the same G1 line at lateral position ``x1``:

- Sample downstream of G1 (``L1 <= l_s < L``): the ray passes G1 undeflected, at slope
  ``x1 / L1``, and is bent at ``l_s``: at G2 it lands ``alpha (L - l_s)`` beside the undeflected
  shadow ``x1 L / L1``.
- Sample upstream of G1 (``0 < l_s < L1``): the ray leaves the source at slope ``s`` with
  ``s l_s + (s + alpha)(L1 - l_s) = x1``, i.e. ``s = (x1 - alpha (L1 - l_s)) / L1``, and reaches
  G2 at ``s L + alpha (L - l_s) = x1 L / L1 + alpha (L - l_s - L (L1 - l_s) / L1)
  = x1 L / L1 + alpha l_s d / L1``.

So the fringe moves by ``alpha * d_eff`` with the lever arm (Donath et al., J. Appl. Phys. 106,
054703, 2009)::

    d_eff = L - l_s          (sample between G1 and G2)
    d_eff = d * l_s / L1     (sample between source and G1)

continuous at ``l_s = L1`` (both give ``d``), and the stepping-curve phase moves by
``dphi = 2 pi d_eff alpha / p2``. With the profiles' magnifications the TLI sample sits 2.5 cm
downstream of G1 (``d_eff = 0.96 d``) and the MAAST sample 7.7 cm upstream (``0.86 d``).

**Penumbra.** A source of width ``s`` casts the image of a sample point onto the detector blurred
by ``s (L - l_s) / l_s`` (the similar triangles source-sample-detector), i.e. by
``s (L - l_s) / L`` in sample-plane units; the fringe pattern itself is not blurred by it
(the Lau condition), so only the sample's signals are.
"""

from __future__ import annotations

from gi_instrument.profile import Profile

__all__ = ["lever_arm_m", "penumbra_factor", "profile_lever_arm_m"]


def lever_arm_m(source_g1_m: float, g1_g2_m: float, source_sample_m: float) -> float:
    """Distance ``d_eff``, m, that turns a refraction angle at the sample into a fringe shift at G2
    (module docstring); the sample must sit between the source and G2."""
    total = source_g1_m + g1_g2_m
    if not 0.0 < source_sample_m < total:
        raise ValueError(f"sample at {source_sample_m} m must sit between the source and G2 ({total} m)")
    if source_sample_m >= source_g1_m:
        return total - source_sample_m
    return g1_g2_m * source_sample_m / source_g1_m


def profile_lever_arm_m(profile: Profile) -> float:
    """:func:`lever_arm_m` at ``profile``'s distances (sample at source-G2 / magnification)."""
    g = profile.geometry
    return lever_arm_m(g.source_g1_cm * 1e-2, g.g1_g2_cm * 1e-2, profile.source_sample_cm * 1e-2)


def penumbra_factor(source_sample_m: float, source_detector_m: float) -> float:
    """Width of a point's blurred image on the detector per unit source width: ``(L - l_s) / l_s``."""
    return (source_detector_m - source_sample_m) / source_sample_m
