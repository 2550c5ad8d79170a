"""Random analytic anatomies (thorax, abdomen, pelvis, limb) for X-ray projection backgrounds (docs/methods/dsa.md §2.3).

Each anatomy is a list of shapes of :mod:`angiogen.xray.phantoms` whose attenuations add (1/mm at 60 keV), so
its projection is exact and fast (closed-form line integrals, no voxels): a fat body ellipsoid with a muscle core,
11 vertebrae (cortical shell over a trabecular core) every 32 mm, thin cortical plates (ribs, iliac crests) that
look like vessels when seen edge-on, gas or fat pockets, 40 Gaussian lumps of soft-tissue texture and a random
table shift. The thorax adds lungs and a blood-filled heart; the abdomen more gas; the pelvis iliac plates and
femoral heads; the limb is a muscle cylinder around a femoral shaft. Line integrals span about 1-7.5.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from angiogen.errors import InputError
from angiogen.synth.lsystem import axis_angle_rotation, random_rotation
from angiogen.xray.phantoms import Cylinder, Ellipsoid, GaussianBlob
from angiogen.xray.physics import MU_60KEV_PER_MM as MU

ANATOMIES = ("thorax", "abdomen", "pelvis", "limb")
AnalyticShape = Ellipsoid | Cylinder | GaussianBlob


def random_anatomy(kind: str, rng: np.random.Generator) -> list[AnalyticShape]:
    """One random anatomy of ``kind`` (see :data:`ANATOMIES`), centred near the isocentre, in LPS mm.

    Args:
        kind: "thorax", "abdomen", "pelvis" or "limb".
        rng: the NumPy generator every draw comes from.

    Returns:
        Shapes whose ``mu_per_mm`` (or amplitude) add up to the anatomy's attenuation.
    """
    if kind not in ANATOMIES:
        raise InputError(f"unknown anatomy {kind!r}; expected one of {', '.join(ANATOMIES)}")
    shapes = _limb(rng) if kind == "limb" else _trunk(kind, rng)
    shift = np.array([rng.uniform(-40, 40), rng.uniform(-10, 10), rng.uniform(-100, 100)])
    return [_shifted(shape, shift) for shape in shapes]


def _trunk(kind: str, rng: np.random.Generator) -> list[AnalyticShape]:
    """Body, spine, plates, pockets and lumps of a thorax, abdomen or pelvis."""
    lr, ap = rng.uniform(140, 170), rng.uniform(95, 120)
    tissue = MU["soft_tissue"]
    shapes: list[AnalyticShape] = [
        Ellipsoid((0, 0, 0), (lr, ap, 400), MU["fat"]),
        Ellipsoid((0, 0, 0), (0.85 * lr, 0.85 * ap, 400), tissue - MU["fat"]),
    ]
    shapes += _spine(ap, rng)
    shapes += [_plate(lr, ap, rng) for _ in range(rng.integers(2, 6))]
    n_pockets = rng.integers(6, 13) if kind == "abdomen" else rng.integers(3, 9)
    for _ in range(n_pockets):
        radius = rng.uniform(5, 22.5)  # 10-45 mm across
        centre = (rng.uniform(-0.6, 0.6) * lr, rng.uniform(-0.5, 0.5) * ap, rng.uniform(-150, 150))
        content = MU["air"] if rng.random() < 0.7 else MU["fat"]
        shapes.append(Ellipsoid(centre, tuple(radius * rng.uniform(0.7, 1.3, 3)), content - tissue))
    if kind == "thorax":
        for side in (-1, 1):
            shapes.append(Ellipsoid((side * 0.45 * lr, 0.0, 0.0), (min(60.0, 0.35 * lr), min(80.0, 0.7 * ap), 120),
                                    MU["lung"] - tissue))
        shapes.append(Ellipsoid((0.15 * lr, -0.35 * ap, -20.0), (55, 45, 60), MU["blood"] - MU["lung"],
                                rotation=tuple(map(tuple, random_rotation(rng)))))
    if kind == "pelvis":
        for side in (-1, 1):
            iliac = _tilted(rng, 25.0)
            shapes.append(Ellipsoid((side * 0.5 * lr, 0.2 * ap, 60.0), (45, 6, 60), MU["cortical_bone"] - tissue,
                                    rotation=iliac))
            shapes.append(Ellipsoid((side * 0.55 * lr, -0.05 * ap, -60.0), (22, 22, 22), MU["cortical_bone"] - tissue))
    shapes += _lumps(lr, ap, rng)
    return shapes


def _limb(rng: np.random.Generator) -> list[AnalyticShape]:
    """A muscle cylinder (radius 70-90 mm) around a cortical femoral shaft with marrow, plus lumps."""
    radius = rng.uniform(70, 90)
    axis = (rng.normal(0, 0.1), rng.normal(0, 0.1), 1.0)
    bone_radius = rng.uniform(12, 15)
    bone_centre = (rng.uniform(-20, 20), rng.uniform(-20, 20), 0.0)
    shapes: list[AnalyticShape] = [
        Cylinder((0, 0, 0), axis, radius, 800.0, MU["fat"]),
        Cylinder((0, 0, 0), axis, 0.85 * radius, 800.0, MU["soft_tissue"] - MU["fat"]),
        Cylinder(bone_centre, axis, bone_radius, 800.0, MU["cortical_bone"] - MU["soft_tissue"]),
        Cylinder(bone_centre, axis, 0.6 * bone_radius, 800.0, MU["fat"] - MU["cortical_bone"]),
    ]
    return shapes + _lumps(radius, radius, rng)


def _spine(ap: float, rng: np.random.Generator) -> list[Ellipsoid]:
    """11 vertebral bodies (20 x 17 x 13 mm semi-axes) every 32 mm: cortical shell over trabecular core."""
    x0, y0 = rng.uniform(-5, 5), 0.55 * ap
    tissue = MU["soft_tissue"]
    shapes = []
    for level in range(-5, 6):
        centre = (x0, y0, level * 32.0 + rng.uniform(-2, 2))
        shapes.append(Ellipsoid(centre, (20, 17, 13), MU["cortical_bone"] - tissue))
        shapes.append(Ellipsoid(centre, (17, 14, 10.5), MU["trabecular_bone"] - MU["cortical_bone"]))
    return shapes


def _plate(lr: float, ap: float, rng: np.random.Generator) -> Ellipsoid:
    """A thin cortical plate (rib or crest): a flat ellipsoid at a random tilt inside the body."""
    centre = (rng.uniform(-0.7, 0.7) * lr, rng.uniform(-0.6, 0.6) * ap, rng.uniform(-150, 150))
    semi = (rng.uniform(40, 90), rng.uniform(2.0, 4.0), rng.uniform(4, 8))
    return Ellipsoid(centre, semi, MU["cortical_bone"] - MU["soft_tissue"], rotation=_tilted(rng, 40.0))


def _lumps(lr: float, ap: float, rng: np.random.Generator, n: int = 40) -> list[GaussianBlob]:
    """Soft-tissue texture: Gaussian lumps with amplitude ~ N(0, 0.002) 1/mm and sigma 6-25 mm."""
    return [
        GaussianBlob((rng.uniform(-0.5, 0.5) * lr, rng.uniform(-0.5, 0.5) * ap, rng.uniform(-150, 150)),
                     float(rng.uniform(6, 25)), float(rng.normal(0, 0.002)))
        for _ in range(n)
    ]


def _tilted(rng: np.random.Generator, max_deg: float) -> tuple[tuple[float, ...], ...]:
    """A rotation about a random axis by up to ``max_deg`` degrees, as a nested tuple."""
    axis = rng.normal(size=3)
    return tuple(map(tuple, axis_angle_rotation(axis, float(rng.uniform(-max_deg, max_deg)))))


def _shifted(shape: AnalyticShape, shift: np.ndarray) -> AnalyticShape:
    """The same shape moved by ``shift`` mm."""
    return dataclasses.replace(shape, center_mm=tuple(float(c) for c in np.asarray(shape.center_mm) + shift))
