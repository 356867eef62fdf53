"""Optical constants of the specimen's materials at 20 keV."""

from __future__ import annotations

import pytest

from gi_instrument.sim.materials import breast_materials, delta_of, mu_of

WATER = {"H": 0.111894, "O": 0.888106}


def test_water_matches_nist_and_electron_density():
    # NIST SRD 126, "Water, Liquid": mu/rho(20 keV) = 0.8096 cm^2/g.
    assert mu_of(WATER, 1.0, 20.0) == pytest.approx(80.96, rel=2e-3)
    # delta = r_e lambda^2 n_e / 2 pi with n_e = 3.343e29 /m^3 (10 electrons per 18.015 g/mol).
    assert delta_of(WATER, 1.0, 20.0) == pytest.approx(5.762e-7, rel=2e-3)
    # delta scales as E^-2 away from edges.
    assert delta_of(WATER, 1.0, 40.0) == pytest.approx(delta_of(WATER, 1.0, 20.0) / 4, rel=1e-12)


def test_specimen_materials_are_ordered_as_the_tissues():
    m = breast_materials(20.0)
    assert set(m) == {"formalin", "adipose", "fibroglandular", "epithelium", "cyst_fluid",
                      "necrosis", "hydroxyapatite", "calcium_oxalate"}
    delta = {k: v.delta for k, v in m.items()}
    mu = {k: v.mu_per_m for k, v in m.items()}
    assert delta["adipose"] < delta["formalin"] < delta["fibroglandular"] < delta["epithelium"]
    assert delta["calcium_oxalate"] < delta["hydroxyapatite"]
    assert mu["adipose"] < mu["fibroglandular"] < mu["formalin"] < mu["calcium_oxalate"] < mu["hydroxyapatite"]
    assert m["formalin"].darkfield_per_m == 0.0 and m["hydroxyapatite"].darkfield_per_m > m["necrosis"].darkfield_per_m
    for v in m.values():
        assert sum(v.composition.values()) == pytest.approx(1.0, abs=1e-12)


def test_other_energies_are_refused():
    with pytest.raises(ValueError, match="20.0 keV"):
        breast_materials(30.0)
