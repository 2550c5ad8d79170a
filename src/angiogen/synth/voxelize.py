"""Partial-volume voxelisation of vessel trees onto any regular grid (engine.md 2.2).

Each edge is a truncated cone with flat ends; every node where two or more edges meet adds a sphere of its
radius so that bends and bifurcations have no cracks. For a voxel centre at distance rho from the axis, local
radius r and signed distance s inside the end planes, the occupancy is ``o_rad(rho, r) * clip(s/h + 1/2, 0, 1)``
with the area-preserving radial ramp

    o_rad = clip((r_e - rho)/h + 1/2, 0, 1),  r_e = sqrt(r^2 - h^2/12)   for r >= h/sqrt(3)
    o_rad = (3 r^2/h^2) * max(0, 1 - rho/h)                              below,

both of which integrate to pi r^2 over the cross-section. Structures are united by the maximum; an optional
value per edge (e.g. iodine in mg/mL) is carried by the edge that set the occupancy.

The work follows the vessels, not their bounding boxes, and is vectorised over the whole tree (no Python loop
over edges): (1) each edge becomes a cone plus the sphere it owns; (2) each cone's box is cut into rows of voxels
along the grid axis closest to its axis, where t and rho^2 are linear and quadratic in the voxel index, so the
run of voxels with positive occupancy and its interior (occupancy exactly 1) are solved in closed form per row;
(3) the boundary runs are evaluated in groups of equal length as (length, runs) arrays, the interior is set to 1.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from angiogen.errors import InputError

if TYPE_CHECKING:
    from angiogen.synth.tree import VesselTree

MAX_VOXELS = 1024**3  # refuse grids above this many voxels (absurd sizes)


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


def radial_occupancy(rho: np.ndarray, radius: np.ndarray, h: float) -> np.ndarray:
    """Area-preserving radial occupancy profile (integrates to pi r^2 over the cross-section)."""
    if np.ndim(radius) == 0:
        radius = float(radius)
        if radius >= h / np.sqrt(3.0):
            out = (np.sqrt(radius * radius - h * h / 12.0) / h + 0.5) - rho * (1.0 / h)
            return np.clip(out, 0.0, 1.0, out=out).astype(rho.dtype, copy=False)
        out = (3.0 * radius * radius / (h * h)) * np.maximum(0.0, 1.0 - rho / h)
        return out.astype(rho.dtype, copy=False)
    radius = np.asarray(radius, dtype=rho.dtype)
    thick = radius >= h / np.sqrt(3.0)
    r_eff = np.sqrt(np.maximum(radius * radius - h * h / 12.0, 0.0))
    ramp = np.clip((r_eff - rho) / h + 0.5, 0.0, 1.0)
    thin = (3.0 * radius * radius / (h * h)) * np.maximum(0.0, 1.0 - rho / h)
    return np.where(thick, ramp, thin).astype(rho.dtype, copy=False)


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
    flat = occupancy.reshape(-1)
    primitives = _primitives(tree, h)
    work_dtype = np.promote_types(dtype, np.float32)
    profile = _profile_table(primitives, h, work_dtype)
    boundary, interior = [], []  # per chunk of rows: boundary and interior runs
    with np.errstate(invalid="ignore"):  # NaN marks an empty interval
        for chunk_boundary, chunk_interior in _runs(primitives, affine, dims, h, work_dtype):
            boundary.append(chunk_boundary)
            interior.append(chunk_interior)
    boundary = list(_evaluate_boundary(_concatenate(boundary), profile)) if boundary else []
    interior = list(_interior_index(_concatenate(interior))) if interior else []
    # Union by maximum. Writing first maps each page once (a first read would map the zero page, and the write
    # then fault again); the interior, exactly 1, goes last.
    for index, occ, _ in boundary:
        flat[index] = occ
    for index, occ, _ in boundary:
        np.maximum.at(flat, index, occ.astype(dtype, copy=False))
    for index, _ in interior:
        flat[index] = 1
    if edge_values is None:
        return occupancy
    edge = profile["edge"]
    painted = [(index, occ.astype(dtype, copy=False), np.tile(edge[prim], len(index) // max(len(prim), 1)))
               for index, occ, prim in boundary]
    painted += [(index, np.ones(len(index), dtype), np.tile(edge[prim], len(index) // max(len(prim), 1)))
                for index, prim in interior]
    return occupancy, _value_field(flat, painted, edge_values, tree.n_edges, dims, dtype)


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


def _profile_table(primitives: _Primitives, h: float, dtype: np.dtype) -> dict:
    """Per primitive (P,), in units of h (``dtype``): what a voxel's occupancy needs besides its t and rho^2.

    Cone: end ``cone_end`` (a sphere alone: far below 0, so its end ramp is 0), radius ``r_start`` +
    ``taper`` clip(t, 0, ``taper_end``). Sphere at ``sphere_t``: profile clip(alpha - beta d, 0, gamma) at
    distance d (alpha < 0: no sphere). Also ``thin`` (a cone or sphere below r = h/sqrt(3): the general radial
    profile is needed) and the tree ``edge``.
    """
    has_cone, has_sphere = primitives.has_cone, primitives.sphere_radius_mm >= 0
    r_start, r_end, length = primitives.r_start_mm / h, primitives.r_end_mm / h, primitives.length_mm / h
    sphere_radius = np.maximum(primitives.sphere_radius_mm, 0.0) / h
    thick_sphere = sphere_radius >= 1.0 / np.sqrt(3.0)
    peak = 3.0 * sphere_radius**2  # the thin profile's centre value
    table = {
        "cone_end": np.where(has_cone, length, -1e30), "taper_end": length, "r_start": r_start,
        "taper": (r_end - r_start) / np.where(has_cone, length, 1.0),
        "sphere_t": primitives.sphere_t_mm / h,
        "alpha": np.where(has_sphere, np.where(thick_sphere, _effective_radius(sphere_radius, 1.0) + 0.5, peak), -1.0),
        "beta": np.where(thick_sphere, 1.0, peak), "gamma": np.where(thick_sphere, 1.0, peak),
    }
    table = {name: value.astype(dtype) for name, value in table.items()}
    table["thin"] = (has_cone & (np.minimum(r_start, r_end) < 1.0 / np.sqrt(3.0))) | (has_sphere & ~thick_sphere)
    table["edge"] = primitives.edge
    return table


# --- step 2: runs of voxels along grid rows ---------------------------------------------------------------------------

_MAX_ROWS = 1 << 13  # most rows set up at once: a small working set is reused, not faulted in anew
_MARGIN = 1e-3  # voxels: runs are widened, interiors narrowed, by this much against rounding
_SLACK = 1e-3  # h^2: squared reaches are widened, squared inner radii narrowed, by this much against rounding


def _runs(primitives: _Primitives, affine: np.ndarray, dims: tuple[int, int, int], h: float, dtype: np.dtype):
    """Yield, per chunk of rows, where each primitive's occupancy is in (0, 1) and where it is exactly 1.

    A row is a line of voxels along the grid axis c closest to a primitive's axis, the other two indices (a, b)
    fixed. Along a row (voxel k) the axial position t is linear in k, and rho^2 (squared distance from the axis)
    and d^2 (from the sphere centre) are quadratic, so where the occupancy can be positive is the hull of two
    closed-form intervals, {rho < cone reach, -h/2 < t < L + h/2} and {d < sphere reach}; where it is exactly
    1, {rho <= r_e(r_min) - h/2, h/2 <= t <= L - h/2} for a thick cone, joined by {d <= r_e - h/2} of a thick
    sphere where they overlap. Rows are visited plane by plane (fixed a), each plane only over the rows b whose
    line passes within reach of the axis or the sphere centre.

    Yields (boundary runs, see :func:`_boundary_params`; interior runs: ``prim``, voxel count ``n``, flat
    index ``base`` of the first voxel and ``step`` along the row).
    """
    linear, origin = affine[:3, :3], affine[:3, 3]
    inverse = np.linalg.inv(linear)
    unit, start, length = primitives.unit, primitives.start_mm, primitives.length_mm
    has_cone, has_sphere = primitives.has_cone, primitives.sphere_radius_mm >= 0
    r_min = np.minimum(primitives.r_start_mm, primitives.r_end_mm)
    r_max = np.maximum(primitives.r_start_mm, primitives.r_end_mm)
    # Support radii (profile 0 beyond r_e + h/2, or beyond h when thin) and the cone's inner radius (profile 1).
    cone_reach = np.maximum(_effective_radius(r_max, h) + 0.5 * h, h)
    sphere_reach = np.maximum(_effective_radius(primitives.sphere_radius_mm, h) + 0.5 * h, h)
    inner = _effective_radius(r_min, h) - 0.5 * h
    kernel = _effective_radius(primitives.sphere_radius_mm, h) - 0.5 * h

    # Index-space box of each support (the cone's lies within cone_reach + h/2 of its axis segment).
    reach = np.maximum(np.where(has_cone, cone_reach + 0.5 * h, 0.0), np.where(has_sphere, sphere_reach, 0.0))
    ball = np.sqrt((inverse**2).sum(axis=1))  # index units per mm of a world ball, per grid axis
    q_start = (start - origin) @ inverse.T
    q_end = (start + length[:, None] * unit - origin) @ inverse.T
    upper = np.asarray(dims) - 1
    lo = np.clip(np.ceil(np.minimum(q_start, q_end) - reach[:, None] * ball), 0, upper + 1).astype(np.int64)
    hi = np.clip(np.floor(np.maximum(q_start, q_end) + reach[:, None] * ball), -1, upper).astype(np.int64)

    # Row axis c: the grid axis closest to the cone axis (so t changes along every row); a sphere alone: the last.
    cosine = np.abs(unit @ linear) / np.sqrt((linear**2).sum(axis=0))
    axis_c = np.where(has_cone, np.argmax(cosine, axis=1), 2)
    axis_a, axis_b = np.where(axis_c == 0, 1, 0), np.where(axis_c == 2, 1, 2)
    prim = np.arange(len(unit))
    size = np.maximum(hi - lo + 1, 0)
    n_a, n_b, n_c = size[prim, axis_a], size[prim, axis_b], size[prim, axis_c]
    n_a = n_a * (n_b > 0) * (n_c > 0)
    strides = np.array([dims[1] * dims[2], dims[2], 1])

    # At voxel lo + (a, b, k): t = t_lo + tau_a a + tau_b b + tau k; the offset perpendicular to the axis is
    # perp_lo + perp_a a + perp_b b + perp_c k.
    offset = origin + lo @ linear.T - start
    step_a, step_b, step_c = linear.T[axis_a], linear.T[axis_b], linear.T[axis_c]
    t_lo, tau_a, tau_b, tau = ((v * unit).sum(axis=1) for v in (offset, step_a, step_b, step_c))
    perp_lo, perp_a, perp_b, perp_c = (v - s[:, None] * unit for v, s in
                                       ((offset, t_lo), (step_a, tau_a), (step_b, tau_b), (step_c, tau)))
    dot = lambda x, y: (x * y).sum(axis=1)  # noqa: E731
    rho2_k2, step2 = dot(perp_c, perp_c), dot(step_c, step_c)
    never = np.full(len(prim), -np.inf)  # a squared reach no distance is below: an empty interval
    coef = {
        # Within a plane a: t, half_b = perp . perp_c and rho^2 = |perp|^2 at k = 0 are polynomials in (a, b).
        "t_lo": t_lo, "tau_a": tau_a, "tau_b": tau_b,
        "hb_lo": dot(perp_lo, perp_c), "hb_a": dot(perp_a, perp_c), "hb_b": dot(perp_b, perp_c),
        "r2_lo": dot(perp_lo, perp_lo), "r2_a": 2 * dot(perp_lo, perp_a), "r2_b": 2 * dot(perp_lo, perp_b),
        "r2_aa": dot(perp_a, perp_a), "r2_ab": 2 * dot(perp_a, perp_b), "r2_bb": dot(perp_b, perp_b),
        "tau": tau, "inv_tau": (1.0 / np.where(tau == 0, 1.0, tau)).astype(np.float32),
        "rho2_k2": np.maximum(rho2_k2, 1e-12 * step2),  # a row along the axis: rho^2 constant, any k or none
        "step2": step2, "n_b": n_b, "n_c": n_c.astype(np.float32), "length": length.astype(np.float32),
        "sphere_t": primitives.sphere_t_mm,
        # Squared reaches (support: widened) and inner radii (profile 1: narrowed) against float32 rounding.
        "cone_reach2": np.where(has_cone, cone_reach**2 + _SLACK * h * h, never).astype(np.float32),
        "sphere_reach2": np.where(has_sphere, sphere_reach**2 + _SLACK * h * h, never).astype(np.float32),
        "inner2": np.where(has_cone & (inner > 0), inner**2 - _SLACK * h * h, never).astype(np.float32),
        "sphere_inner2": np.where(has_sphere & (kernel > 0), kernel**2 - _SLACK * h * h, never).astype(np.float32),
        "base": (lo * strides).sum(axis=1), "stride_a": strides[axis_a], "stride_b": strides[axis_b],
        "step": strides[axis_c], "prim": prim,
    }
    plane = _planes(coef, n_a)
    row_ends = np.cumsum(plane["n_rows"])
    first = 0
    while first < len(row_ends):  # chunks of planes with at most _MAX_ROWS rows (one plane at least)
        last = max(int(np.searchsorted(row_ends, row_ends[first] - plane["n_rows"][first] + _MAX_ROWS, "right")),
                   first + 1)
        rows = _rows(plane, slice(first, last))
        first = last
        if len(rows["t"]):
            boundary, interior = _row_runs(rows, h)
            row, k0, n = interior
            yield _boundary_params(rows, boundary, h, dtype), {
                "prim": rows["prim"][row], "n": n, "base": rows["base"][row] + k0.astype(np.int64) * rows["step"][row],
                "step": rows["step"][row]}
        del rows  # before the next chunk's rows: a small working set is reused, not faulted in anew


def _interval(a: np.ndarray, half_b: np.ndarray, c: np.ndarray, *limits: np.ndarray) -> list[tuple[np.ndarray, ...]]:
    """Open interval of x where a x^2 + 2 half_b x + c < limit (a > 0), per limit; NaN where empty.

    The discriminant is formed in float64 (it cancels); the rest runs in float32 (NumPy's float64 sqrt is slow),
    good to ~1e-6 of the box size, which the callers' margins cover.
    """
    disc = (half_b * half_b - a * c).astype(np.float32)
    a, half_b = a.astype(np.float32), half_b.astype(np.float32)
    inv_a = 1.0 / a
    intervals = []
    for limit in limits:
        root = a * limit
        root += disc
        np.sqrt(root, out=root)
        intervals.append(((-half_b - root) * inv_a, (root - half_b) * inv_a))
    return intervals


def _planes(coef: dict, n_a: np.ndarray) -> dict:
    """Every plane (a primitive at a fixed a) with the range of rows b whose line passes within reach of the
    primitive's axis or sphere centre: ``first_b`` and ``n_rows``, plus what :func:`_rows` needs."""
    plane = {name: np.repeat(value, n_a) for name, value in coef.items()}
    index_a = np.arange(len(plane["prim"]), dtype=np.float64) - np.repeat(np.cumsum(n_a) - n_a, n_a)
    # At k = 0: t = t_0 + tau_b b, half_b = hb_0 + hb_b b, rho^2 = r2_0 + b (r2_1 + r2_bb b).
    t_0 = plane["t_0"] = plane["t_lo"] + plane["tau_a"] * index_a
    hb_0 = plane["hb_0"] = plane["hb_lo"] + plane["hb_a"] * index_a
    r2_0 = plane["r2_0"] = plane["r2_lo"] + index_a * (plane["r2_a"] + plane["r2_aa"] * index_a)
    r2_1 = plane["r2_1"] = plane["r2_b"] + plane["r2_ab"] * index_a
    plane["base_0"] = plane["base"] + index_a.astype(np.int64) * plane["stride_a"]
    tiny = 1e-12 * plane["step2"]
    # Rows within reach of the axis: min over k of rho^2 = rho^2 - half_b^2 / rho2_k2, a quadratic in b ...
    inv_k2, hb_b, r2_bb = 1.0 / plane["rho2_k2"], plane["hb_b"], plane["r2_bb"]
    (near_lo, near_hi), = _interval(np.maximum(r2_bb - hb_b * hb_b * inv_k2, tiny), 0.5 * r2_1 - hb_0 * hb_b * inv_k2,
                                    r2_0 - hb_0 * hb_0 * inv_k2, plane["cone_reach2"])
    # ... or of the sphere centre: min over k of d^2 = rho^2 + t_rel^2 - (half_b + tau t_rel)^2 / step2.
    t_rel_0, tau, tau_b, inv_step2 = t_0 - plane["sphere_t"], plane["tau"], plane["tau_b"], 1.0 / plane["step2"]
    g_0, g_1 = hb_0 + tau * t_rel_0, hb_b + tau * tau_b
    (ball_lo, ball_hi), = _interval(np.maximum(r2_bb + tau_b * tau_b - g_1 * g_1 * inv_step2, tiny),
                                    0.5 * r2_1 + t_rel_0 * tau_b - g_0 * g_1 * inv_step2,
                                    r2_0 + t_rel_0 * t_rel_0 - g_0 * g_0 * inv_step2, plane["sphere_reach2"])
    first_b = np.clip(np.ceil(np.fmin(near_lo, ball_lo) - _MARGIN), 0, None)
    last_b = np.minimum(np.floor(np.fmax(near_hi, ball_hi) + _MARGIN), plane["n_b"] - 1)
    plane["n_rows"] = np.nan_to_num(last_b - first_b + 1).clip(0, None).astype(np.int64)
    plane["first_b"] = np.nan_to_num(first_b)
    return plane


_ROW_FIELDS = ("prim", "tau", "inv_tau", "rho2_k2", "step2", "n_c", "length", "sphere_t", "cone_reach2",
               "sphere_reach2", "inner2", "sphere_inner2", "step")


def _rows(plane: dict, part: slice) -> dict:
    """Per-row arrays of the planes ``part``: ``prim``, the primitive's coefficients needed per row (``tau``,
    ``rho2_k2``, flat ``step`` along the row, ...), and at k = 0 ``t``, ``half_b`` (perp . perp_c), ``rho2`` and
    the flat index ``base``."""
    n_rows = plane["n_rows"][part]
    local_b = np.arange(n_rows.sum(), dtype=np.float64) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows)
    per_row = lambda name: np.repeat(plane[name][part], n_rows)  # noqa: E731
    index_b = local_b + per_row("first_b")
    rows = {name: per_row(name) for name in _ROW_FIELDS}
    rows["t"] = per_row("t_0") + per_row("tau_b") * index_b
    rows["half_b"] = per_row("hb_0") + per_row("hb_b") * index_b
    rows["rho2"] = per_row("r2_0") + index_b * (per_row("r2_1") + per_row("r2_bb") * index_b)
    rows["base"] = per_row("base_0") + index_b.astype(np.int64) * per_row("stride_b")
    return rows


def _row_runs(rows: dict, h: float) -> tuple[tuple, tuple]:
    """Each row's boundary runs (occupancy in (0, 1)) and interior run (exactly 1) as (row, k0, n); see _runs."""
    t, half_b, rho2 = rows["t"], rows["half_b"], rows["rho2"]
    # Cone: rho < reach (support) or <= inner radius (profile 1), between its end planes moved out (in) by h/2.
    (cyl_lo, cyl_hi), (core_lo, core_hi) = _interval(rows["rho2_k2"], half_b, rho2, rows["cone_reach2"], rows["inner2"])
    # Sphere: d^2(k) = rho^2(k) + (t(k) - sphere_t)^2 below the reach or the inner radius squared.
    t_rel = t - rows["sphere_t"]
    (ball_lo, ball_hi), (kernel_lo, kernel_hi) = _interval(
        rows["step2"], half_b + rows["tau"] * t_rel, rho2 + t_rel * t_rel, rows["sphere_reach2"], rows["sphere_inner2"])
    t = t.astype(np.float32)
    inv_tau, length = rows["inv_tau"], rows["length"]
    plane_0, plane_1 = (-0.5 * h - t) * inv_tau, (length + 0.5 * h - t) * inv_tau
    cone_lo = np.maximum(cyl_lo, np.minimum(plane_0, plane_1))
    cone_hi = np.minimum(cyl_hi, np.maximum(plane_0, plane_1))
    plane_0, plane_1 = (0.5 * h - t) * inv_tau, (length - 0.5 * h - t) * inv_tau
    core_lo = np.maximum(core_lo, np.minimum(plane_0, plane_1))
    core_hi = np.minimum(core_hi, np.maximum(plane_0, plane_1))
    # The run: the hull of both supports. Its interior: the cone's core, joined by the sphere's where they overlap
    # (or the sphere's alone).
    k_first = np.clip(np.ceil(np.fmin(cone_lo, ball_lo) - _MARGIN), 0, None)
    k_last = np.minimum(np.floor(np.fmax(cone_hi, ball_hi) + _MARGIN), rows["n_c"] - 1)
    no_core = 0.0 / (core_lo <= core_hi)  # 0, or NaN where the cone's core misses the row
    core_lo += no_core
    core_hi += no_core
    no_kernel = 0.0 / ((np.maximum(core_lo, kernel_lo) <= np.minimum(core_hi, kernel_hi)) | np.isnan(core_lo))
    i_first = np.ceil(np.fmin(core_lo, kernel_lo + no_kernel) + _MARGIN)
    i_last = np.floor(np.fmax(core_hi, kernel_hi + no_kernel) - _MARGIN)
    i_first = np.fmin(np.maximum(i_first, k_first), k_last + 1)  # no interior: i_first = k_last + 1
    i_last = np.fmax(np.minimum(i_last, k_last), i_first - 1)
    # Boundary runs k_first .. i_first - 1 and i_last + 1 .. k_last; the interior i_first .. i_last.
    runs = []
    for first, last in ((k_first, i_first - 1), (i_last + 1, k_last), (i_first, i_last)):
        row = np.flatnonzero(last >= first)  # NaN (an empty row) compares False
        runs.append((row, first[row], (last[row] - first[row]).astype(np.int64) + 1))
    left, right, interior = runs
    return tuple(np.concatenate(part) for part in zip(left, right)), interior


# --- step 3: occupancy of the runs ------------------------------------------------------------------------------------

_EXACT_WIDTH = 8  # boundary runs up to this long are evaluated by exact length, longer ones padded together
_MAX_BATCH = 1 << 16  # most runs evaluated at once


def _boundary_params(rows: dict, runs: tuple, h: float, dtype: np.dtype) -> dict:
    """What the occupancy along each boundary run needs.

    Per run: ``prim``, voxel count ``n``, flat index ``base`` of the first voxel and ``step`` along the row,
    and, in units of h, at its voxel j: t(j) = t0 + tau j and rho^2(j) = rho2_c + (j - j_c) (slope_c + rho2_k2 j),
    about the voxel j_c of the run closest to the axis (two non-negative terms: no cancellation near it).
    """
    row, k0, n = runs
    tau, step = rows["tau"][row], rows["step"][row]
    inv_h2 = 1.0 / (h * h)
    rho2_k2 = rows["rho2_k2"][row] * inv_h2
    slope_0 = (2.0 * inv_h2) * rows["half_b"][row] + (2.0 * k0) * rho2_k2  # d(rho^2)/dj at j = 0 minus rho2_k2
    rho2_0 = (rows["rho2"][row] + k0 * (2.0 * rows["half_b"][row] + rows["rho2_k2"][row] * k0)) * inv_h2
    j_c = np.clip(-0.5 * slope_0 / rho2_k2, 0, n - 1)
    slope_c = slope_0 + rho2_k2 * j_c
    return {
        "prim": rows["prim"][row], "n": n, "last": (n - 1).astype(dtype),
        "base": rows["base"][row] + k0.astype(np.int64) * step, "step": step,
        "t0": ((rows["t"][row] + tau * k0) / h).astype(dtype), "tau": (tau / h).astype(dtype),
        "rho2_c": (rho2_0 + j_c * slope_c).astype(dtype), "j_c": j_c.astype(dtype),
        "slope_c": slope_c.astype(dtype), "rho2_k2": rho2_k2.astype(dtype),
    }


def _evaluate_boundary(runs: dict, profile: dict):
    """Yield (flat index, occupancy, primitive) per group of boundary runs: raveled (K, runs) arrays and the (runs,)
    primitives.

    Runs of each length up to _EXACT_WIDTH form a group of that K; longer ones one group of their longest K, where
    a shorter run repeats its last voxel (the union by maximum ignores it). Primitives with a thin cone or sphere
    take the general radial profile, the others the thick ramp alone.
    """
    key = np.minimum(runs.pop("n"), _EXACT_WIDTH + 1) + (_EXACT_WIDTH + 2) * profile["thin"][runs["prim"]]
    order = np.argsort(key)
    key, prim = key[order], runs.pop("prim")[order]
    params = {name: runs.pop(name)[order] for name in ("t0", "tau", "rho2_c", "j_c", "slope_c", "rho2_k2", "last",
                                                       "base", "step")}
    params.update({name: profile[name][prim] for name in ("cone_end", "taper_end", "r_start", "taper", "sphere_t",
                                                          "alpha", "beta", "gamma")})
    for lo, hi in _groups(key):
        part = {name: value[lo:hi] for name, value in params.items()}
        width = int(key[lo]) % (_EXACT_WIDTH + 2)
        j = np.arange(width, dtype=part["t0"].dtype)[:, None]
        if width > _EXACT_WIDTH:  # the long runs: shorter ones repeat their last voxel
            j = np.minimum(np.arange(int(part["last"].max()) + 1, dtype=j.dtype)[:, None], part["last"])
        occ = _occupancy(j, part, thin=bool(key[lo] >= _EXACT_WIDTH + 2))
        index = part["base"] + j.astype(np.int64) * part["step"]
        yield index.reshape(-1), occ.reshape(-1), prim[lo:hi]


def _occupancy(j: np.ndarray, p: dict, thin: bool) -> np.ndarray:
    """(K, R) occupancy at voxel j of R runs, lengths in units of h; ``p`` holds (R,) run parameters."""
    t = j * p["tau"]
    t += p["t0"]  # position along the axis
    rho2 = j * p["rho2_k2"]
    rho2 += p["slope_c"]
    rho2 *= np.subtract(j, p["j_c"])
    rho2 += p["rho2_c"]
    np.abs(rho2, out=rho2)  # squared distance from the axis (>= 0 up to rounding)
    radius = np.clip(t, 0.0, None)
    np.minimum(radius, p["taper_end"], out=radius)
    radius *= p["taper"]
    radius += p["r_start"]  # local cone radius
    if thin:
        occ = radial_occupancy(np.sqrt(rho2), radius, 1.0)
    else:  # clip(r_e - rho + 1/2, 0, 1), r_e = sqrt(r^2 - 1/12)
        radius *= radius
        radius -= 1.0 / 12.0
        occ = np.sqrt(radius, out=radius)
        occ += 0.5
        occ -= np.sqrt(rho2)
        np.clip(occ, 0.0, 1.0, out=occ)
    ends = np.subtract(p["cone_end"], t)  # signed distance inside the end planes
    np.minimum(ends, t, out=ends)
    ends += 0.5
    occ *= np.clip(ends, 0.0, 1.0, out=ends)
    t -= p["sphere_t"]
    t *= t
    t += rho2
    sphere = np.sqrt(t, out=t)  # distance from the sphere centre
    if thin:
        sphere *= p["beta"]
        np.subtract(p["alpha"], sphere, out=sphere)
        np.minimum(np.clip(sphere, 0.0, None, out=sphere), p["gamma"], out=sphere)
    else:
        np.subtract(p["alpha"], sphere, out=sphere)
        np.clip(sphere, 0.0, 1.0, out=sphere)
    return np.maximum(occ, sphere, out=occ)


def _interior_index(runs: dict):
    """Yield (flat index, primitive) per group of interior runs of equal length K: a raveled (K, runs) array and
    the (runs,) primitives."""
    order = np.argsort(runs["n"])
    n, prim, base, step = runs["n"][order], runs["prim"][order], runs["base"][order], runs["step"][order]
    for lo, hi in _groups(n):
        yield (base[lo:hi] + np.arange(n[lo])[:, None] * step[lo:hi]).reshape(-1), prim[lo:hi]


def _groups(key: np.ndarray):
    """(lo, hi) of each stretch of equal ``key`` (sorted), cut to at most _MAX_BATCH runs (bounds memory)."""
    bounds = np.flatnonzero(np.diff(key)) + 1
    for lo, hi in zip([0, *bounds.tolist()], [*bounds.tolist(), len(key)]):
        for start in range(lo, hi, _MAX_BATCH):
            yield start, min(hi, start + _MAX_BATCH)


def _concatenate(chunks: list[dict]) -> dict:
    """One dict of arrays from per-chunk dicts (emptied as they are joined)."""
    return {name: np.concatenate([chunk.pop(name) for chunk in chunks]) for name in list(chunks[0])}


def _value_field(
    flat: np.ndarray, painted: list, edge_values: np.ndarray, n_edges: int, dims: tuple, dtype: type
) -> np.ndarray:
    """Value field: each voxel takes the value of the first edge listed that reached its occupancy.

    ``painted`` holds (flat index, occupancy, edge) of every evaluated voxel; ``flat`` the final occupancy.
    """
    rank = _zeros_untouched(dims, np.int32).reshape(-1)  # n_edges - winning edge, 0 where nothing
    winners = []
    for index, occ, edge in painted:
        won = np.flatnonzero((occ == flat[index]) & (occ > 0))
        np.maximum.at(rank, index[won], (n_edges - edge[won]).astype(np.int32))
        winners.append(index[won])
    values = _zeros_untouched(dims, dtype)
    flat_values = values.reshape(-1)
    for index in winners:
        flat_values[index] = edge_values[n_edges - rank[index]]
    return values
