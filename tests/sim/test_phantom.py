"""The breast-specimen phantom: seeded, nested without overlaps, with the paper's structures."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from gi_instrument.profile import load_profile
from gi_instrument.sim.materials import breast_materials
from gi_instrument.sim.phantom import breast_specimen
from gi_instrument.sim.truth import render_slice

MATERIALS = breast_materials(20.0)


def fingerprint(phantom) -> list[tuple]:
    return [(inc.material, inc.surrounding, type(inc.shape).__name__,
             tuple(np.round(inc.shape.center_m, 12))) for inc in phantom.inclusions]


@pytest.mark.parametrize("name", ["tli", "maast"])
def test_same_seed_same_phantom(name):
    p = load_profile(name)
    assert fingerprint(breast_specimen(p, seed=3)) == fingerprint(breast_specimen(p, seed=3))
    assert fingerprint(breast_specimen(p, seed=3)) != fingerprint(breast_specimen(p, seed=4))


@pytest.mark.parametrize("name", ["tli", "maast"])
def test_specimen_holds_every_structure_and_fills_the_field_of_view(name):
    p = load_profile(name)
    ph = breast_specimen(p, seed=0)
    counts = Counter(inc.material for inc in ph.inclusions)
    for material in MATERIALS:
        assert counts[material] >= 1, material
    assert counts["hydroxyapatite"] >= 10 and counts["adipose"] >= 5
    container = ph.inclusions[0]
    assert container.material == "formalin" and container.surrounding is None
    assert 2 * container.shape.radius_m == pytest.approx(p.geometry.field_of_view_cm * 1e-2)
    # The cylinder clears the imaged field once the stage is at its out position.
    field_half_m = p.detector.width_px * p.voxel_um * 1e-6 / 2
    assert (p.sample_stage.out_mm - p.sample_stage.in_mm) * 1e-3 - container.shape.radius_m > field_half_m


def test_content_follows_the_parameters():
    p = load_profile("tli")
    ph = breast_specimen(p, seed=1, diameter_mm=8.0, n_lobules=0, n_ducts=0, n_cysts=0,
                         n_isolated_calcifications=0)
    counts = Counter(inc.material for inc in ph.inclusions)
    assert counts["adipose"] == 0 and counts["cyst_fluid"] == 0
    assert counts["necrosis"] == 1  # the DCIS duct is always there
    assert ph.inclusions[0].shape.radius_m == pytest.approx(4e-3)


@pytest.mark.parametrize("seed", [0, 5])
def test_inclusions_are_nested_without_overlaps(seed):
    """Every voxel of a rendered slice holds exactly one material: the additive sum over nested
    inclusions never mixes two (overlapping siblings or a child sticking out of its parent would)."""
    p = load_profile("tli")
    ph = breast_specimen(p, seed=seed)
    allowed = np.array([0.0] + [m.delta for m in MATERIALS.values()])
    for row in (300, 450, 512, 700):
        truth = render_slice(ph, MATERIALS, p, row=row, binning=2)
        gap = np.abs(truth.delta.ravel()[:, None] - allowed[None, :]).min(axis=1)
        assert gap.max() < 1e-15, row
        assert len(np.unique(np.round(truth.delta / 1e-12))) >= 3
