"""A formalin-fixed breast specimen built from analytic solids (seeded, reproducible).

The phantom is an ordered tuple of :class:`Inclusion` s. Each one lies wholly inside an earlier
one (its ``surrounding`` material) or in the open beam (``surrounding=None``) and overlaps none of
its siblings, so a property of the specimen is exactly the sum over inclusions of
``(property(material) - property(surrounding)) * indicator(shape)``; line integrals are the same
sums over chord lengths. Placement is by rejection sampling against bounding balls/capsules.

Anatomy (sizes from breast histology; the paper shows fat, connective tissue, vessels, cysts, milk
ducts, a duct with oxalate crystals, DCIS ducts with necrosis and micro-calcifications):

- a vertical formalin cylinder (the sample tube's content) filling the profile's field of view;
- a fibro-glandular/connective tissue block (ellipsoid) in it, inside the imaged field;
- adipose lobules (ellipsoids, 0.4-1.5 mm) in the block, crossed by connective septa (thin tubes);
- milk ducts (tubes 80-200 um radius: epithelial wall around a fluid lumen), one holding calcium
  oxalate crystals;
- cysts (fluid-filled ellipsoids, 0.2-0.8 mm);
- a DCIS duct (wall around a necrotic core with a cluster of hydroxyapatite micro-calcifications);
- isolated hydroxyapatite calcifications in the lower half of the block.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.spatial.transform import Rotation

from gi_instrument.profile import Profile
from gi_instrument.sim.materials import Material
from gi_instrument.sim.shapes import Cylinder, Ellipsoid, Shape, Sphere

__all__ = ["Inclusion", "Phantom", "breast_specimen"]

_MAX_TRIES = 500


@dataclass(frozen=True, eq=False)
class Inclusion:
    """A solid of ``material`` displacing ``surrounding`` (``None``: the open beam, i.e. air)."""

    shape: Shape
    material: str
    surrounding: str | None


@dataclass(frozen=True, eq=False)
class Phantom:
    """Nested, non-overlapping inclusions in painter's order (container first)."""

    inclusions: tuple[Inclusion, ...]

    def contrasts(self, materials: Mapping[str, Material]) -> NDArray[np.float64]:
        """Per inclusion (mu 1/m, delta, epsilon 1/m) minus those of its surrounding, (n, 3)."""
        def props(name: str | None) -> tuple[float, float, float]:
            if name is None:
                return (0.0, 0.0, 0.0)
            m = materials[name]
            return (m.mu_per_m, m.delta, m.darkfield_per_m)

        return np.array([np.subtract(props(i.material), props(i.surrounding))
                         for i in self.inclusions], dtype=np.float64).reshape(-1, 3)


# ---- placement -------------------------------------------------------------------------------

@dataclass
class _Slot:
    """A parent solid and the bounds (segment p0-p1 plus radius) of the children placed in it."""

    shape: Shape
    material: str
    children: list[tuple[NDArray, NDArray, float]]


def _bounds(shape: Shape) -> tuple[NDArray, NDArray, float]:
    if isinstance(shape, Cylinder):
        p0, p1 = shape.end_points_m
        return p0, p1, shape.radius_m
    return shape.center_m, shape.center_m, shape.bounding_radius_m


def _segment_distance(p0: NDArray, p1: NDArray, q0: NDArray, q1: NDArray) -> float:
    """Shortest distance between segments p0-p1 and q0-q1 (points allowed)."""
    d1, d2, r = p1 - p0, q1 - q0, p0 - q0
    a, e, f = d1 @ d1, d2 @ d2, d2 @ r
    if a < 1e-30 and e < 1e-30:
        return float(np.linalg.norm(r))
    if a < 1e-30:
        s, t = 0.0, float(np.clip(f / e, 0.0, 1.0))
    else:
        c = d1 @ r
        if e < 1e-30:
            s, t = float(np.clip(-c / a, 0.0, 1.0)), 0.0
        else:
            b = d1 @ d2
            denom = a * e - b * b
            s = float(np.clip((b * f - c * e) / denom, 0.0, 1.0)) if denom > 1e-30 else 0.0
            t = (b * s + f) / e
            if t < 0.0:
                s, t = float(np.clip(-c / a, 0.0, 1.0)), 0.0
            elif t > 1.0:
                s, t = float(np.clip((b - c) / a, 0.0, 1.0)), 1.0
    return float(np.linalg.norm((p0 + s * d1) - (q0 + t * d2)))


def _inside(parent: Shape, points: list[NDArray], radius: float) -> bool:
    """Whether balls of ``radius`` around ``points`` (and the segment between them) fit in parent."""
    for p in points:
        rel = p - parent.center_m
        if isinstance(parent, Cylinder):
            s = rel @ parent.axis
            perp = rel - s * parent.axis
            if abs(s) > parent.half_length_m - radius or np.linalg.norm(perp) > parent.radius_m - radius:
                return False
        elif isinstance(parent, Ellipsoid):
            # (1 - r/a_min) E + ball(r) lies in E (support functions), so test the scaled body.
            scale = 1.0 - radius / float(np.min(parent.semi_axes_m))
            o = (rel @ parent.rotation) / parent.semi_axes_m
            if scale <= 0.0 or o @ o > scale**2:
                return False
        else:
            if np.linalg.norm(rel) > parent.radius_m - radius:
                return False
    return True


def _place(slot: _Slot, make: Callable[[NDArray], Shape], rng: np.random.Generator) -> Shape | None:
    """Sample centres uniformly in the parent's bounding box until ``make(center)`` fits."""
    r_box = slot.shape.bounding_radius_m
    for _ in range(_MAX_TRIES):
        center = slot.shape.center_m + rng.uniform(-r_box, r_box, 3)
        shape = make(center)
        p0, p1, radius = _bounds(shape)
        if not _inside(slot.shape, [p0, p1], radius):
            continue
        if all(_segment_distance(p0, p1, q0, q1) > radius + rq for q0, q1, rq in slot.children):
            slot.children.append((p0, p1, radius))
            return shape
    return None


def _random_axis(rng: np.random.Generator) -> NDArray:
    v = rng.normal(size=3)
    return v / np.linalg.norm(v)


def _random_rotation(rng: np.random.Generator) -> NDArray:
    return Rotation.random(random_state=rng).as_matrix()


def breast_specimen(
    profile: Profile,
    *,
    seed: int = 0,
    diameter_mm: float | None = None,
    n_lobules: int = 30,
    n_septa_per_lobule: int = 2,
    n_ducts: int = 10,
    n_cysts: int = 6,
    n_cluster_calcifications: int = 12,
    n_isolated_calcifications: int = 10,
) -> Phantom:
    """Build the specimen phantom for ``profile``'s imaged field.

    Args:
        profile: gives the imaged field (detector size / magnification).
        seed: seed of the placement; equal seeds give identical phantoms.
        diameter_mm: formalin cylinder diameter; default ``geometry.field_of_view_cm``, wider
            than the imaged field (detector width / magnification), as in the paper, so the
            cylinder's edges stay outside the frames; the tissue block sits inside the imaged
            field.
        n_*: how many of each structure to place (structures that do not fit are skipped).
    """
    rng = np.random.default_rng(seed)
    um = 1e-6
    field_w_m = profile.detector.width_px * profile.voxel_um * um
    field_h_m = profile.detector.height_px * profile.voxel_um * um
    diameter_m = profile.geometry.field_of_view_cm * 1e-2 if diameter_mm is None else diameter_mm * 1e-3
    radius = 0.5 * diameter_m
    z_axis = np.array([0.0, 0.0, 1.0])
    container = Cylinder(np.zeros(3), z_axis, radius, field_h_m)  # taller than the field
    out: list[Inclusion] = [Inclusion(container, "formalin", None)]

    yaw = Rotation.from_euler("z", rng.uniform(0, 180), degrees=True).as_matrix()
    half_w = min(0.45 * field_w_m, 0.95 * radius)
    block_axes = np.array([half_w, 0.85 * half_w, min(0.42 * field_h_m, 0.95 * field_h_m)])
    block = Ellipsoid(np.array([0.0, 0.0, 0.0]), block_axes, yaw)
    out.append(Inclusion(block, "fibroglandular", "formalin"))
    stroma = _Slot(block, "fibroglandular", [])

    def add(slot: _Slot, material: str, make: Callable[[NDArray], Shape]) -> Shape | None:
        shape = _place(slot, make, rng)
        if shape is not None:
            out.append(Inclusion(shape, material, slot.material))
        return shape

    # Largest structures with the most constraints first.
    r_dcis, h_dcis, ax = rng.uniform(250, 400) * um, rng.uniform(1.5, 3.0) * 1e-3, _random_axis(rng)
    dcis = add(stroma, "epithelium", lambda c, r=r_dcis, h=h_dcis, a=ax: Cylinder(c, a, r, h))
    if dcis is not None:
        core = Cylinder(dcis.center_m, dcis.axis, 0.6 * dcis.radius_m, dcis.half_length_m)
        out.append(Inclusion(core, "necrosis", "epithelium"))
        cluster = _Slot(core, "necrosis", [])
        for _ in range(n_cluster_calcifications):
            r_c = rng.uniform(8, 30) * um
            add(cluster, "hydroxyapatite", lambda c, r=r_c: Sphere(c, r))

    for k in range(n_ducts):
        r_d, h_d, ax = rng.uniform(80, 200) * um, rng.uniform(1.0, 3.0) * 1e-3, _random_axis(rng)
        wall = add(stroma, "epithelium", lambda c, r=r_d, h=h_d, a=ax: Cylinder(c, a, r, h))
        if wall is None:
            continue
        lumen = Cylinder(wall.center_m, wall.axis, 0.55 * wall.radius_m, wall.half_length_m)
        out.append(Inclusion(lumen, "cyst_fluid", "epithelium"))
        if k == 0:  # columnar-cell duct with oxalate crystals in its lumen (paper, Fig. 2)
            crystals = _Slot(lumen, "cyst_fluid", [])
            for _ in range(5):
                axes = rng.uniform(5, 20, 3) * um
                rot = _random_rotation(rng)
                add(crystals, "calcium_oxalate", lambda c, a=axes, r=rot: Ellipsoid(c, a, r))

    for _ in range(n_cysts):
        axes = rng.uniform(200, 800, 3) * um
        rot = _random_rotation(rng)
        add(stroma, "cyst_fluid", lambda c, a=axes, r=rot: Ellipsoid(c, a, r))

    lobules = []
    for _ in range(n_lobules):
        axes = rng.uniform(400, 1500, 3) * um
        rot = _random_rotation(rng)
        lob = add(stroma, "adipose", lambda c, a=axes, r=rot: Ellipsoid(c, a, r))
        if lob is not None:
            lobules.append(lob)
    for lob in lobules:
        septa = _Slot(lob, "adipose", [])
        for _ in range(n_septa_per_lobule):
            r_s, h_s, ax = rng.uniform(12, 30) * um, rng.uniform(0.3, 0.8) * np.min(lob.semi_axes_m), _random_axis(rng)
            add(septa, "fibroglandular", lambda c, r=r_s, h=h_s, a=ax: Cylinder(c, a, r, h))

    lower = _Slot(block, "fibroglandular", stroma.children)  # same siblings as the stroma
    for _ in range(n_isolated_calcifications):
        r_c = rng.uniform(10, 60) * um
        add(lower, "hydroxyapatite",
            lambda c, r=r_c: Sphere(np.array([c[0], c[1], -abs(c[2])]), r))
    return Phantom(tuple(out))
