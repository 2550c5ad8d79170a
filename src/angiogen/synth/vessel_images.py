"""Vessel trees that fill an X-ray field, and their projected path-length images (docs/methods/dsa.md §2.3 and §4).

A scene holds one or more trees; each (stochastic L-system or coronary tree) is rotated at random, scaled so that its largest side spans
60-100 % of the field of view at the isocentre (diameters kept), squeezed to at most ``depth_mm`` along the
patient's A-P axis (the beam axis of views within about 30 degrees of AP), offset by up to 15 mm, voxelised with
partial-volume occupancy and projected: each pixel holds the path length through the lumen in mm. Iodine line
integrals are then ``delta_mu_per_mm * path_length``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from angiogen.synth.coronary import coronary_tree
from angiogen.synth.lsystem import grow_lsystem, place_tree, random_rotation, sample_params
from angiogen.synth.tree import VesselTree
from angiogen.synth.voxelize import voxelize
from angiogen.xray.geometry import CArmGeometry
from angiogen.io.coordinates import centred_affine
from angiogen.xray.projector import project


def field_tree(
    rng: np.random.Generator,
    field_mm: float,
    fill: tuple[float, float] = (0.6, 1.0),
    depth_mm: float = 80.0,
    offset_mm: float = 15.0,
    coronary_share: float = 0.25,
    n_iter: tuple[int, int] = (6, 9),
) -> VesselTree:
    """A random vessel tree placed to fill a field of view centred on the isocentre.

    Args:
        rng: NumPy generator for every draw (tree kind, shape, rotation, placement).
        field_mm: side of the field of view at the isocentre in mm.
        fill: range of the tree's largest side as a share of ``field_mm``.
        depth_mm: largest extent along the A-P (y) axis in mm.
        offset_mm: largest shift of the tree's centre along each axis in mm.
        coronary_share: probability of a coronary tree instead of an L-system tree.
        n_iter: inclusive range of L-system depths.

    Returns:
        The tree in LPS mm, diameters as grown.
    """
    seed = int(rng.integers(2**31))
    if rng.random() < coronary_share:
        tree = coronary_tree(str(rng.choice(["left", "right"])), seed=seed)
    else:
        params = sample_params(rng, n_iter=int(rng.integers(n_iter[0], n_iter[1] + 1)))
        tree = grow_lsystem(params, seed=seed)
    extent = float(rng.uniform(*fill)) * field_mm
    tree = place_tree(tree, extent_mm=extent, rotation=random_rotation(rng))
    positions = tree.positions_mm.copy()
    depth = float(np.ptp(positions[:, 1]))
    if depth > depth_mm:
        positions[:, 1] *= depth_mm / depth
    positions += rng.uniform(-offset_mm, offset_mm, 3)
    return tree.replace(positions_mm=positions)


def path_length_images(
    trees: VesselTree | Sequence[VesselTree],
    geometries: CArmGeometry | Sequence[CArmGeometry],
    grid_size: int = 96,
    spacing_mm: float = 2.0,
) -> np.ndarray:
    """Lumen path lengths (mm) of trees voxelised on a cube centred on the isocentre, at one or more views.

    Args:
        trees: one vessel tree or several (LPS mm); overlapping lumens count once (union by maximum).
        geometries: the views.
        grid_size: voxels per side of the cube. spacing_mm: voxel size in mm.

    Returns:
        (V, rows, cols) float32 path lengths in mm.
    """
    shape = (grid_size,) * 3
    affine = centred_affine(shape, spacing_mm)
    trees = [trees] if isinstance(trees, VesselTree) else list(trees)
    occupancy = voxelize(trees[0], shape, affine=affine)
    for tree in trees[1:]:
        np.maximum(occupancy, voxelize(tree, shape, affine=affine), out=occupancy)
    return project(torch.from_numpy(np.ascontiguousarray(occupancy, dtype=np.float32)), affine, geometries).numpy()
