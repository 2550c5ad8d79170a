"""X-ray backgrounds for training data: C-arm views drawn at random and the projections of random anatomy at
them, either an analytic anatomy (exact line integrals) or the engine's voxel CT torso at a random breathing
state, texture and pose (ray-marched). Everything is a function of the generator handed in, so a sample is
reproducible from its seed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from angiogen.synth.anatomy import random_anatomy
from angiogen.synth.torso import torso_phantom
from angiogen.xray.geometry import CArmGeometry
from angiogen.xray.phantoms import line_integrals
from angiogen.xray.physics import hu_to_mu
from angiogen.xray.projector import project

TORSO_SHAPE, TORSO_SPACING_MM = (96, 96, 96), 3.2  # 307 mm cube around the isocentre, as the engine's runs


@dataclass(frozen=True)
class ViewSampler:
    """Draws C-arm views with LAO/RAO uniform in +-``primary_range_deg`` and CRA/CAU uniform in
    +-``secondary_range_deg``, at a fixed source, detector (``detector_px`` square, ``pixel_mm``) and distances."""

    primary_range_deg: float = 30.0
    secondary_range_deg: float = 20.0
    sid_mm: float = 1000.0
    sod_mm: float = 750.0
    detector_px: int = 128
    pixel_mm: float = 2.0

    def __call__(self, rng: np.random.Generator) -> CArmGeometry:
        """One random view (two draws of ``rng``: primary, then secondary angle)."""
        return CArmGeometry(
            primary_deg=float(rng.uniform(-self.primary_range_deg, self.primary_range_deg)),
            secondary_deg=float(rng.uniform(-self.secondary_range_deg, self.secondary_range_deg)),
            sid_mm=self.sid_mm, sod_mm=self.sod_mm, rows=self.detector_px, cols=self.detector_px,
            pixel_spacing_mm=self.pixel_mm,
        )


def draw_anatomy(rng: np.random.Generator, anatomies: Sequence[str]) -> list:
    """The analytic shapes of one anatomy drawn from ``anatomies`` (names of :data:`synth.anatomy.ANATOMIES`)."""
    return random_anatomy(str(rng.choice(list(anatomies))), rng)


def ct_torso_views(rng: np.random.Generator, views: ViewSampler, n_views: int,
                   shape: tuple[int, int, int] = TORSO_SHAPE, spacing_mm: float = TORSO_SPACING_MM) -> np.ndarray:
    """(n_views, H, W) float32 line integrals (clipped at 0) of the CT torso at a random breathing state, texture
    and rigid pose (N(0, 15 mm) per axis, N(0, 4 deg) per Euler angle) on a ``shape`` grid of ``spacing_mm``
    voxels, at ``n_views`` random views."""
    torso = torso_phantom(shape, spacing_mm, seed=int(rng.integers(2**31)),
                          breathing=float(rng.uniform(0.0, 1.0)), shift_mm=tuple(rng.normal(0.0, 15.0, 3)),
                          rotation_deg=tuple(rng.normal(0.0, 4.0, 3)))
    geometries = [views(rng) for _ in range(n_views)]
    projected = project(hu_to_mu(torch.from_numpy(torso.hu)), torso.affine, geometries)
    return np.clip(projected.numpy(), 0, None).astype(np.float32)


def background_views(rng: np.random.Generator, views: ViewSampler, n_views: int, anatomies: Sequence[str],
                     ct_torso_fraction: float = 0.0) -> np.ndarray:
    """(n_views, H, W) float32 line integrals (clipped at 0) of one random phantom at random views: the CT torso
    with probability ``ct_torso_fraction`` (:func:`ct_torso_views`), else an analytic anatomy drawn from
    ``anatomies``."""
    if rng.random() < ct_torso_fraction:
        return ct_torso_views(rng, views, n_views)
    shapes = draw_anatomy(rng, anatomies)
    geometries = [views(rng) for _ in range(n_views)]
    return np.stack([np.clip(line_integrals(shapes, view), 0, None) for view in geometries]).astype(np.float32)
