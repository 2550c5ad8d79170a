"""Partial-volume voxelisation of vessel trees onto any regular grid (docs/methods/engine.md §2.2).

Each edge is a truncated cone with flat ends; every node where two or more edges meet adds a sphere of its
radius so that bends and bifurcations have no cracks. For a voxel centre at distance rho from the axis, local
radius r and signed distance s inside the end planes, the occupancy is ``o_rad(rho, r) * clip(s/h + 1/2, 0, 1)``
with the area-preserving radial ramp

    o_rad = clip((r_e - rho)/h + 1/2, 0, 1),  r_e = sqrt(r^2 - h^2/12)   for r >= h/sqrt(3)
    o_rad = (3 r^2/h^2) * max(0, 1 - rho/h)                              below,

both of which integrate to pi r^2 over the cross-section. Structures are united by the maximum; an optional
value per edge (e.g. iodine in mg/mL) is carried by the edge that set the occupancy.

The work follows the vessels, not their bounding boxes: (1) each edge becomes a cone plus the sphere it owns
(vectorised here); (2) a compiled loop (:mod:`angiogen.synth.voxel_kernel`, Numba) cuts each primitive's box into
rows of voxels along the grid axis closest to its axis, where t and rho^2 are linear and quadratic in the voxel
index, so the rows within reach and the run of voxels with positive occupancy are solved in closed form, and every
voxel of the run gets its exact occupancy.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numba
import numpy as np

from angiogen.errors import InputError
from angiogen.io.meshes import Mesh, write_mesh
from angiogen.synth.voxel_kernel import paint

if TYPE_CHECKING:
    from angiogen.synth.tree import VesselTree

MAX_VOXELS = 1024**3  # refuse grids above this many voxels (absurd sizes)
_PAGE_BYTES = 4096  # memory page (the painting kernel tracks which pages it has written)
_PARALLEL_MIN_VOXELS = 1 << 16  # box volume below which one thread paints (thread start-up would dominate)


def grid_affine(spacing_mm: float | tuple[float, float, float], origin_mm: tuple[float, float, float] = (0, 0, 0)) -> np.ndarray:
    """(4, 4) voxel-to-world affine of an axis-aligned grid: voxel (i, j, k) lies at origin + spacing * (i, j, k).

    Raises:
        InputError: a non-positive or non-finite spacing.
    """
    spacing = np.broadcast_to(np.asarray(spacing_mm, dtype=np.float64), (3,))
    if not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
        raise InputError(f"voxel spacing must be positive (mm), got {tuple(float(s) for s in spacing)}")
    origin = np.asarray(origin_mm, dtype=np.float64).reshape(3)
    affine = np.eye(4)
    affine[:3, :3] = np.diag(spacing)
    affine[:3, 3] = origin
    return affine


def check_shape(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """Validate a 3-D grid shape: three positive integers, at most :data:`MAX_VOXELS` voxels in all."""
    try:
        dims = tuple(int(n) for n in shape)
    except (TypeError, ValueError) as error:
        raise InputError(f"grid shape must be three positive integers, got {shape!r}") from error
    if len(dims) != 3 or any(n < 1 for n in dims) or any(int(n) != n for n in shape):
        raise InputError(f"grid shape must be three positive integers, got {tuple(shape)}")
    if np.prod(np.asarray(dims, dtype=np.float64)) > MAX_VOXELS:
        raise InputError(f"grid shape {dims} has more than {MAX_VOXELS} voxels (absurd size)")
    return dims  # type: ignore[return-value]


def grid_around(tree: VesselTree, spacing_mm: float, margin_mm: float = 0.0) -> tuple[tuple[int, int, int], np.ndarray]:
    """Shape and affine of the smallest axis-aligned grid holding ``tree`` plus ``margin_mm`` on every side."""
    lo, hi = tree.bounds_mm()
    lo = lo - margin_mm
    shape = tuple(int(n) for n in np.ceil((hi + margin_mm - lo) / spacing_mm).astype(int) + 1)
    return check_shape(shape), grid_affine(spacing_mm, tuple(lo))


def voxelize(
    tree: VesselTree,
    shape: tuple[int, int, int],
    spacing_mm: float | tuple[float, float, float] | None = None,
    origin_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
    affine: np.ndarray | None = None,
    edge_values: np.ndarray | None = None,
    dtype: type = np.float32,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Partial-volume occupancy of a vessel tree on a regular grid.

    Args:
        tree: the vessel tree (positions and radii in mm).
        shape: grid shape (X, Y, Z), voxel (i, j, k) indexing.
        spacing_mm: voxel size (one number or three); used with ``origin_mm`` when ``affine`` is not given.
        origin_mm: world position of voxel (0, 0, 0) in mm.
        affine: (4, 4) voxel-to-world matrix in mm (any orientation); overrides spacing and origin.
        edge_values: optional (E,) value per edge (e.g. iodine mg/mL); each voxel takes the value of the edge
            that set its occupancy (the first edge listed among equal occupancies).
        dtype: float dtype of the output.

    Returns:
        occupancy: (X, Y, Z) array in [0, 1]; with ``edge_values`` also values: (X, Y, Z) array (0 outside).

    Raises:
        InputError: empty tree, bad shape, non-positive spacing, singular affine, wrong number of values.
    """
    tree.require_nonempty()
    dims = check_shape(shape)
    if affine is None:
        if spacing_mm is None:
            raise InputError("voxelize needs spacing_mm or an affine")
        affine = grid_affine(spacing_mm, origin_mm)
    affine = np.asarray(affine, dtype=np.float64)
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise InputError("affine must be a finite invertible (4, 4) voxel-to-world matrix")
    h = float(np.sqrt((affine[:3, :3] ** 2).sum(axis=0)).mean())
    if edge_values is not None:
        edge_values = np.asarray(edge_values, dtype=np.float64).reshape(-1)
        if edge_values.shape != (tree.n_edges,):
            raise InputError(f"edge_values must have one value per edge ({tree.n_edges}), got {edge_values.shape}")

    occupancy = _zeros_untouched(dims, dtype)
    owner = _zeros_untouched(dims, np.int32) if edge_values is not None else np.zeros(0, np.int32)
    primitives = _primitives(tree, h)
    cone_reach2, sphere_reach2, inner2 = _reaches(primitives, h)
    lo, hi, axis_c = _boxes(primitives, affine, dims, cone_reach2, sphere_reach2, h)
    paint(occupancy.reshape(-1), owner.reshape(-1), np.asarray(dims, np.int64), affine[:3, 3].copy(),
          affine[:3, :3].copy(), lo, hi, axis_c, primitives.start_mm, primitives.unit, primitives.length_mm,
          primitives.has_cone, primitives.r_start_mm, primitives.r_end_mm, primitives.sphere_t_mm,
          primitives.sphere_radius_mm, primitives.edge.astype(np.int64), cone_reach2, sphere_reach2, inner2, h,
          _slabs(lo, hi, dims[0]), int(np.log2(_PAGE_BYTES // np.dtype(dtype).itemsize)))
    if edge_values is None:
        return occupancy
    values = _zeros_untouched(dims, dtype)
    filled = np.flatnonzero(occupancy.reshape(-1))
    values.reshape(-1)[filled] = edge_values[owner.reshape(-1)[filled]]
    return occupancy, values


def surface_mesh(tree: VesselTree, spacing_mm: float | None = None, level: float = 0.5) -> Mesh:
    """Triangle surface of the vessel lumen: marching cubes of the partial-volume voxelisation.

    Args:
        tree: the vessel tree (positions and radii in mm).
        spacing_mm: grid spacing; default a third of the smallest radius, at least 1/192 of the largest extent.
        level: occupancy iso-level (0.5 puts the surface at the vessel wall).

    Returns:
        Mesh with "triangle" cells in world millimetres.
    """
    from skimage.measure import marching_cubes

    tree.require_nonempty()
    lo, hi = tree.bounds_mm()
    if spacing_mm is None:
        spacing_mm = max(float(tree.radii_mm.min()) / 3.0, float((hi - lo).max()) / 192.0)
    shape, affine = grid_around(tree, spacing_mm, margin_mm=2 * spacing_mm)
    occupancy = voxelize(tree, shape, affine=affine)
    verts, faces, _normals, _values = marching_cubes(occupancy, level=level)
    world = verts @ affine[:3, :3].T + affine[:3, 3]
    return Mesh(points=world, cells={"triangle": faces.astype(np.int64)})


def write_surface(tree: VesselTree, path: str | Path, spacing_mm: float | None = None,
                  overwrite: bool = False) -> Path:
    """Write the lumen surface of ``tree`` (:func:`surface_mesh`) as .vtk, .vtu or .stl."""
    return write_mesh(path, surface_mesh(tree, spacing_mm), overwrite=overwrite)


def _slabs(lo: np.ndarray, hi: np.ndarray, n_first: int) -> np.ndarray:
    """Bounds along the first grid axis of one slab per thread, holding about equal shares of the primitives'
    box volumes (the painting work); one slab for small work or one thread."""
    n_threads = numba.get_num_threads()
    volume = np.prod(np.maximum(hi - lo + 1, 0), axis=1).astype(np.float64)
    if n_threads < 2 or volume.sum() < _PARALLEL_MIN_VOXELS:
        return np.array([0, n_first], dtype=np.int64)
    per_index = volume / np.maximum(hi[:, 0] - lo[:, 0] + 1, 1)
    density = np.zeros(n_first + 1)
    np.add.at(density, np.clip(lo[:, 0], 0, n_first), per_index)
    np.add.at(density, np.clip(hi[:, 0] + 1, 0, n_first), -per_index)
    work = np.cumsum(np.cumsum(density)[:n_first])
    cuts = np.searchsorted(work, work[-1] * np.arange(1, n_threads) / n_threads) + 1
    return np.unique(np.concatenate([[0], np.clip(cuts, 0, n_first), [n_first]])).astype(np.int64)


def _zeros_untouched(dims: tuple[int, int, int], dtype: type) -> np.ndarray:
    """Zero array whose memory is only backed where written.

    Vessels fill a small part of a grid. NumPy asks the kernel for transparent huge pages on large arrays, and
    then every 2 MB region a vessel touches is zeroed in full; a private anonymous mapping without huge pages
    only pays for the 4 kB pages written (Linux; elsewhere, and for small grids, plain ``np.zeros``).
    """
    n_bytes = int(np.prod(dims)) * np.dtype(dtype).itemsize
    if n_bytes < 1 << 22 or not (hasattr(mmap, "MADV_NOHUGEPAGE") and hasattr(mmap, "MAP_ANONYMOUS")):
        return np.zeros(dims, dtype=dtype)
    buffer = mmap.mmap(-1, n_bytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    buffer.madvise(mmap.MADV_NOHUGEPAGE)
    return np.frombuffer(buffer, dtype=dtype).reshape(dims)


# --- step 1: primitives ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Primitives:
    """P cones with flat ends, each with at most one sphere on its axis, in world mm.

    The cone runs from ``start_mm`` along ``unit`` for ``length_mm`` (a sphere alone: ``has_cone`` False) with
    radius ``r_start_mm`` -> ``r_end_mm``; the sphere of ``sphere_radius_mm`` (< 0: none) is centred
    ``sphere_t_mm`` along the axis; ``edge`` is the tree edge a primitive belongs to.
    """

    start_mm: np.ndarray  # (P, 3)
    unit: np.ndarray  # (P, 3)
    length_mm: np.ndarray  # (P,)
    has_cone: np.ndarray  # (P,) bool
    r_start_mm: np.ndarray  # (P,)
    r_end_mm: np.ndarray  # (P,)
    sphere_t_mm: np.ndarray  # (P,)
    sphere_radius_mm: np.ndarray  # (P,)
    edge: np.ndarray  # (P,) int


def _primitives(tree: VesselTree, h: float, min_length_mm: float = 1e-9) -> _Primitives:
    """Every edge's cone plus the node spheres it owns (a node joining >= 2 edges: its first listed edge)."""
    n_edges = tree.n_edges
    edge_ids = np.arange(n_edges)
    first_edge = np.full(tree.n_nodes, n_edges, dtype=np.int64)
    np.minimum.at(first_edge, tree.edges.reshape(-1), np.repeat(edge_ids, 2))
    owner = np.where(tree.node_degree() >= 2, first_edge, -1)
    a, b = tree.edges[:, 0], tree.edges[:, 1]
    own_a, own_b = owner[a] == edge_ids, owner[b] == edge_ids
    positions, radii = tree.positions_mm, tree.radii_mm
    length = np.linalg.norm(positions[b] - positions[a], axis=1)
    cone = length > min_length_mm
    # A cone is symmetric: an edge owning only its start sphere is turned around so the sphere sits at its end.
    flip = own_a & ~own_b
    start, end = np.where(flip, b, a)[cone], np.where(flip, a, b)[cone]
    # Spheres left over stand alone: the start sphere of a cone owning both, the spheres of a zero-length edge
    # (they coincide: the larger is their maximum).
    alone = (cone & own_a & own_b) | (~cone & (own_a | own_b))
    alone_radius = np.maximum(np.where(own_a, radii[a], -1.0), np.where(own_b & ~cone, radii[b], -1.0))[alone]
    n_cones, n_alone = len(start), int(alone.sum())
    return _Primitives(
        start_mm=np.concatenate([positions[start], positions[a[alone]]]),
        unit=np.concatenate([(positions[end] - positions[start]) / length[cone, None],
                             np.tile([0.0, 0, 1], (n_alone, 1))]),
        length_mm=np.concatenate([length[cone], np.zeros(n_alone)]),
        has_cone=np.arange(n_cones + n_alone) < n_cones,
        r_start_mm=np.concatenate([radii[start], np.full(n_alone, h)]),  # a sphere alone: any thick radius
        r_end_mm=np.concatenate([radii[end], np.full(n_alone, h)]),
        sphere_t_mm=np.concatenate([length[cone], np.zeros(n_alone)]),
        sphere_radius_mm=np.concatenate([np.where((own_a | own_b)[cone], radii[end], -1.0), alone_radius]),
        edge=np.concatenate([edge_ids[cone], edge_ids[alone]]),
    )


def _effective_radius(radius: np.ndarray, h: float) -> np.ndarray:
    """r_e = sqrt(r^2 - h^2/12) of the thick radial ramp (0 below r = h/sqrt(12))."""
    return np.sqrt(np.maximum(radius * radius - h * h / 12.0, 0.0))


def _reaches(primitives: _Primitives, h: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per primitive (P,), in mm^2: the squared support radius of its cone and of its sphere (the profile is 0
    beyond r_e + h/2, or beyond h when thin), and the squared radius of a thick cone's core, where the occupancy is
    exactly 1 (r_e(r_min) - h/2); -1 where there is no cone, sphere or core."""
    has_cone, has_sphere = primitives.has_cone, primitives.sphere_radius_mm >= 0
    r_min = np.minimum(primitives.r_start_mm, primitives.r_end_mm)
    r_max = np.maximum(primitives.r_start_mm, primitives.r_end_mm)
    cone = np.maximum(_effective_radius(r_max, h) + 0.5 * h, h)
    sphere = np.maximum(_effective_radius(primitives.sphere_radius_mm, h) + 0.5 * h, h)
    inner = _effective_radius(r_min, h) - 0.5 * h
    core = has_cone & (r_min >= h / np.sqrt(3.0)) & (inner > 0)
    return np.where(has_cone, cone**2, -1.0), np.where(has_sphere, sphere**2, -1.0), np.where(core, inner**2, -1.0)


def _boxes(primitives: _Primitives, affine: np.ndarray, dims: tuple[int, int, int], cone_reach2: np.ndarray,
           sphere_reach2: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inclusive index box (lo, hi: (P, 3), clipped to the grid) of each primitive's support, and its row axis: the
    grid axis closest to the cone's axis (so t changes along every row); a sphere alone: the last."""
    linear, origin = affine[:3, :3], affine[:3, 3]
    inverse = np.linalg.inv(linear)
    unit, start, length, has_cone = primitives.unit, primitives.start_mm, primitives.length_mm, primitives.has_cone
    # The cone's support lies within its reach + h/2 of the axis segment, the sphere's within its reach.
    reach = np.maximum(np.where(has_cone, np.sqrt(np.maximum(cone_reach2, 0.0)) + 0.5 * h, 0.0),
                       np.sqrt(np.maximum(sphere_reach2, 0.0)))
    ball = np.sqrt((inverse**2).sum(axis=1))  # index units per mm of a world ball, per grid axis
    q_start = (start - origin) @ inverse.T
    q_end = (start + length[:, None] * unit - origin) @ inverse.T
    upper = np.asarray(dims) - 1
    lo = np.clip(np.ceil(np.minimum(q_start, q_end) - reach[:, None] * ball), 0, upper + 1).astype(np.int64)
    hi = np.clip(np.floor(np.maximum(q_start, q_end) + reach[:, None] * ball), -1, upper).astype(np.int64)
    cosine = np.abs(unit @ linear) / np.sqrt((linear**2).sum(axis=0))
    axis_c = np.where(has_cone, np.argmax(cosine, axis=1), 2).astype(np.int64)
    return lo, hi, axis_c
