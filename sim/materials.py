"""X-ray optical constants of a formalin-fixed breast specimen at the interferometer's design energy.

Each material is given by its elemental composition (mass fractions) and density; from these:

- ``delta`` (refractive index decrement, n = 1 - delta + i beta) from the electron density,
  ``delta = r_e lambda^2 n_e / (2 pi)`` (far from absorption edges; for the light elements of
  tissue and for Ca/P at 20 keV the anomalous correction f' is below 1 % and neglected);
- ``mu_per_m`` (linear attenuation coefficient, 1/m) by the mixture rule
  ``mu = rho * sum_i w_i (mu/rho)_i`` with the elemental mass attenuation coefficients of
  NIST (Hubbell & Seltzer, NIST SRD 126, "Tables of X-ray mass attenuation coefficients", total
  with coherent scattering) at 20 keV;
- ``darkfield_per_m``: the linear diffusion coefficient epsilon (1/m) of the dark-field signal,
  ``D = exp(-integral of epsilon dl)`` (Bech et al., Phys. Med. Biol. 55 (2010) 5529; Lynch et al.,
  Appl. Opt. 50 (2011) 4310). It depends on the interferometer's autocorrelation length (~1 um
  here) as much as on the material, so the values are order-of-magnitude estimates, stated per
  material below.

Only 20 keV is tabulated (both profiles' ``source.design_energy_keV``); ``delta`` alone scales as
E^-2, attenuation does not, so :func:`breast_materials` refuses other energies rather than
extrapolate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

__all__ = ["Material", "breast_materials", "electron_density_per_m3", "delta_of", "mu_of",
           "TABULATED_ENERGY_KEV"]

TABULATED_ENERGY_KEV = 20.0
"""Energy of the tabulated attenuation coefficients, keV."""

_R_E_M = 2.8179403262e-15
"""Classical electron radius, m (CODATA 2018)."""
_HC_KEV_M = 1.239841984e-9
"""h c, keV m (CODATA 2018): lambda = hc / E."""
_N_A = 6.02214076e23
"""Avogadro constant, 1/mol."""

# Element: (Z, standard atomic weight g/mol (IUPAC 2013, conventional values),
#           mu/rho at 20 keV in cm^2/g (NIST SRD 126, Hubbell & Seltzer, ElemTab z01...z20)).
_ELEMENTS: Mapping[str, tuple[int, float, float]] = MappingProxyType({
    "H": (1, 1.008, 0.3695),
    "C": (6, 12.011, 0.4420),
    "N": (7, 14.007, 0.6178),
    "O": (8, 15.999, 0.8651),
    "Na": (11, 22.990, 2.057),
    "P": (15, 30.974, 5.352),
    "S": (16, 32.06, 6.708),
    "Cl": (17, 35.45, 7.739),
    "K": (19, 39.098, 10.93),
    "Ca": (20, 40.078, 13.06),
})


@dataclass(frozen=True)
class Material:
    """A material of the specimen with its optical constants at ``energy_keV``."""

    name: str
    density_g_cm3: float
    """Mass density, g/cm^3."""
    composition: Mapping[str, float]
    """Elemental mass fractions (sum 1)."""
    darkfield_per_m: float
    """Linear diffusion coefficient epsilon of the dark-field signal, 1/m."""
    energy_keV: float
    """Photon energy the constants refer to, keV."""

    @property
    def delta(self) -> float:
        """Refractive index decrement (dimensionless)."""
        return delta_of(self.composition, self.density_g_cm3, self.energy_keV)

    @property
    def mu_per_m(self) -> float:
        """Linear attenuation coefficient, 1/m."""
        return mu_of(self.composition, self.density_g_cm3, self.energy_keV)


def electron_density_per_m3(composition: Mapping[str, float], density_g_cm3: float) -> float:
    """Electron density n_e, 1/m^3, of a composition (mass fractions) at ``density_g_cm3``."""
    z_over_a = sum(w * _ELEMENTS[el][0] / _ELEMENTS[el][1] for el, w in composition.items())
    return density_g_cm3 * 1e6 * _N_A * z_over_a  # g/m^3 * mol/g * electrons


def delta_of(composition: Mapping[str, float], density_g_cm3: float, energy_keV: float) -> float:
    """Refractive index decrement delta = r_e lambda^2 n_e / (2 pi) at ``energy_keV``."""
    wavelength_m = _HC_KEV_M / energy_keV
    return _R_E_M * wavelength_m**2 * electron_density_per_m3(composition, density_g_cm3) / (2 * math.pi)


def mu_of(composition: Mapping[str, float], density_g_cm3: float, energy_keV: float) -> float:
    """Linear attenuation coefficient, 1/m, by the mixture rule (only at 20 keV)."""
    _check_energy(energy_keV)
    mu_rho_cm2_g = sum(w * _ELEMENTS[el][2] for el, w in composition.items())
    return mu_rho_cm2_g * density_g_cm3 * 100.0  # 1/cm -> 1/m


def _check_energy(energy_keV: float) -> None:
    if not math.isclose(energy_keV, TABULATED_ENERGY_KEV, rel_tol=1e-9):
        raise ValueError(f"attenuation is tabulated at {TABULATED_ENERGY_KEV} keV only, "
                         f"got {energy_keV} keV")


def _mix(parts: list[tuple[Mapping[str, float], float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for comp, weight in parts:
        for el, w in comp.items():
            out[el] = out.get(el, 0.0) + weight * w
    return out


def _normalised(comp: Mapping[str, float]) -> Mapping[str, float]:
    total = sum(comp.values())
    return MappingProxyType({el: w / total for el, w in comp.items()})


# Water: H2O by stoichiometry.
_WATER = {"H": 2 * 1.008 / 18.015, "O": 15.999 / 18.015}
# Formaldehyde CH2O by stoichiometry.
_FORMALDEHYDE = {"C": 12.011 / 30.026, "H": 2 * 1.008 / 30.026, "O": 15.999 / 30.026}
# ICRU Report 44 (1989) "Tissue, Soft", as tabulated by NIST SRD 126 (density 1.06 g/cm^3).
_ICRU44_SOFT = {"H": 0.102, "C": 0.143, "N": 0.034, "O": 0.708, "Na": 0.002, "P": 0.003,
                "S": 0.003, "Cl": 0.002, "K": 0.003}
# ICRU Report 44 "Adipose Tissue", NIST SRD 126 (density 0.95 g/cm^3).
_ICRU44_ADIPOSE = {"H": 0.114, "C": 0.598, "N": 0.007, "O": 0.278, "Na": 0.001, "S": 0.001,
                   "Cl": 0.001}
# Hammerstein et al., Radiology 130 (1979) 485, glandular breast tissue (density 1.04 g/cm^3);
# the 0.5 % ash is counted as phosphorus.
_HAMMERSTEIN_GLANDULAR = {"H": 0.102, "C": 0.184, "N": 0.032, "O": 0.677, "P": 0.005}
# Hydroxyapatite Ca10(PO4)6(OH)2 by stoichiometry (M = 1004.6 g/mol).
_HYDROXYAPATITE = {"Ca": 10 * 40.078 / 1004.62, "P": 6 * 30.974 / 1004.62,
                   "O": 26 * 15.999 / 1004.62, "H": 2 * 1.008 / 1004.62}
# Calcium oxalate monohydrate (whewellite) CaC2O4.H2O by stoichiometry (M = 146.11 g/mol).
_CALCIUM_OXALATE = {"Ca": 40.078 / 146.11, "C": 2 * 12.011 / 146.11, "O": 5 * 15.999 / 146.11,
                    "H": 2 * 1.008 / 146.11}

# name: (composition, density g/cm^3 and its source, epsilon 1/m and its reasoning)
_TABLE: Mapping[str, tuple[Mapping[str, float], float, float]] = MappingProxyType({
    # 4 % formaldehyde in water (10 % neutral-buffered formalin; buffer salts neglected);
    # density 1.01 g/cm^3 (formalin 4 %, CRC Handbook, aqueous solution tables). Homogeneous
    # liquid: no small-angle scattering.
    "formalin": (_mix([(_WATER, 0.96), (_FORMALDEHYDE, 0.04)]), 1.01, 0.0),
    # Adipose tissue, ICRU 44 (0.95 g/cm^3). Fat cells (50-100 um) are far larger than the
    # autocorrelation length: weak scattering, epsilon ~ 5 /m (estimate; dark-field of fat is
    # small, cf. Michel et al., Phys. Med. Biol. 58 (2013) 2713).
    "adipose": (_ICRU44_ADIPOSE, 0.95, 5.0),
    # Fibro-glandular / connective tissue, Hammerstein 1979 glandular (1.04 g/cm^3). Collagen
    # fibre bundles scatter weakly: epsilon ~ 20 /m (estimate).
    "fibroglandular": (_HAMMERSTEIN_GLANDULAR, 1.04, 20.0),
    # Duct wall / epithelium: cellular soft tissue, ICRU 44 soft tissue (1.06 g/cm^3);
    # epsilon ~ 20 /m (estimate, as connective tissue).
    "epithelium": (_ICRU44_SOFT, 1.06, 20.0),
    # Cyst fluid: water with ~3 % protein (taken as ICRU 44 soft tissue) at 1.02 g/cm^3;
    # Fredenberg et al., Phys. Med. Biol. 55 (2010) 7235 measured cyst-fluid attenuation between
    # water and glandular tissue. Liquid: no scattering.
    "cyst_fluid": (_mix([(_WATER, 0.97), (_ICRU44_SOFT, 0.03)]), 1.02, 0.0),
    # Comedo necrosis: dense granular cell debris, ICRU 44 soft tissue at 1.08 g/cm^3 (estimate,
    # denser than epithelium). Granular micro-structure near the autocorrelation length:
    # epsilon ~ 300 /m (estimate; necroses appear bright in the paper's MIPs).
    "necrosis": (_ICRU44_SOFT, 1.08, 300.0),
    # Type II micro-calcification: hydroxyapatite, 3.16 g/cm^3 (crystal density, CRC Handbook);
    # polycrystalline, strongly scattering: epsilon ~ 3000 /m, i.e. D ~ 0.7 for a 100 um grain
    # (order of magnitude of Michel et al. 2013, Wang et al., Nat. Commun. 5 (2014) 3797).
    "hydroxyapatite": (_HYDROXYAPATITE, 3.16, 3000.0),
    # Type I micro-calcification: calcium oxalate monohydrate, 2.23 g/cm^3 (whewellite, CRC
    # Handbook); larger, more transparent crystals scatter less: epsilon ~ 1000 /m (estimate).
    "calcium_oxalate": (_CALCIUM_OXALATE, 2.23, 1000.0),
})


def breast_materials(energy_keV: float) -> Mapping[str, Material]:
    """The specimen's materials by name at ``energy_keV`` (20 keV only), read-only mapping."""
    _check_energy(energy_keV)
    return MappingProxyType({
        name: Material(name=name, density_g_cm3=rho, composition=_normalised(comp),
                       darkfield_per_m=eps, energy_keV=energy_keV)
        for name, (comp, rho, eps) in _TABLE.items()
    })
