"""The compiled inner loop of the voxeliser (Numba): paint cones and spheres into a flat occupancy array.

Each primitive is visited row by row along its row axis c (the grid axis closest to its own axis). Within a plane
of fixed index a, only the rows b whose line passes within reach of the axis or the sphere centre are visited
(closed-form interval in b); along a row, only the voxels k where the cone or the sphere can reach (closed-form
interval in k). Every visited voxel gets the exact occupancy of :mod:`angiogen.synth.voxelize`, united by the
maximum; an optional owner array keeps, per voxel, the lowest edge id among those reaching its final occupancy.
All arithmetic is float64; the stored occupancy is the float32 (or float64) of the output array.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

_MARGIN = 1e-6  # index units: visited intervals are widened by this much against rounding
_SQRT3 = math.sqrt(3.0)


@njit(cache=True, nogil=True)
def radial(rho: float, radius: float, h: float) -> float:
    """Area-preserving radial occupancy at distance ``rho`` of a tube (or ball) of ``radius`` on voxels of ``h``."""
    if radius >= h / _SQRT3:
        value = (math.sqrt(radius * radius - h * h / 12.0) - rho) / h + 0.5
        return min(max(value, 0.0), 1.0)
    return 3.0 * radius * radius / (h * h) * max(0.0, 1.0 - rho / h)


@njit(cache=True, nogil=True)
def _below(quadratic: float, half_linear: float, constant: float, limit: float, scale: float) -> tuple[float, float]:
    """Interval of x with quadratic x^2 + 2 half_linear x + constant < limit; (1, 0) when empty, (-inf, inf) when
    the quadratic term vanishes (relative to ``scale``) and the constant is below the limit."""
    if quadratic <= 1e-12 * scale:
        if constant < limit:
            return -np.inf, np.inf
        return 1.0, 0.0
    disc = half_linear * half_linear - quadratic * (constant - limit)
    if disc < 0.0:
        return 1.0, 0.0
    root = math.sqrt(disc)
    return (-half_linear - root) / quadratic, (-half_linear + root) / quadratic


@njit(cache=True, nogil=True)
def _hull(lo_1: float, hi_1: float, lo_2: float, hi_2: float, first: int, last: int) -> tuple[int, int]:
    """Integer range [first', last'] of the hull of two intervals (empty ones ignored) within [first, last]."""
    empty_1, empty_2 = lo_1 > hi_1, lo_2 > hi_2
    if empty_1 and empty_2:
        return 1, 0
    lo = lo_2 if empty_1 else (lo_1 if empty_2 else min(lo_1, lo_2))
    hi = hi_2 if empty_1 else (hi_1 if empty_2 else max(hi_1, hi_2))
    lo = max(lo - _MARGIN, first - 1.0)
    hi = min(hi + _MARGIN, last + 1.0)
    return max(int(math.ceil(lo)), first), min(int(math.floor(hi)), last)


@njit(cache=True, nogil=True)
def _dot(x: np.ndarray, y: np.ndarray) -> float:
    return x[0] * y[0] + x[1] * y[1] + x[2] * y[2]


@njit(cache=True, parallel=True)
def paint(out: np.ndarray, owner: np.ndarray, dims: np.ndarray, origin: np.ndarray, linear: np.ndarray,
          lo: np.ndarray, hi: np.ndarray, axis_c: np.ndarray, start: np.ndarray, unit: np.ndarray,
          length: np.ndarray, has_cone: np.ndarray, r_start: np.ndarray, r_end: np.ndarray,
          sphere_t: np.ndarray, sphere_r: np.ndarray, edge: np.ndarray, cone_reach2s: np.ndarray,
          sphere_reach2s: np.ndarray, inner2s: np.ndarray, h: float, splits: np.ndarray, block_shift: int) -> None:
    """Paint P primitives into ``out`` (flat, C order over ``dims``) by maximum, the slabs of first indices
    ``splits[n] <= i < splits[n + 1]`` in parallel (threads write disjoint voxels).

    Args:
        out: flat occupancy (float32/64), updated in place.
        owner: flat int32 edge of the occupancy (updated where a primitive sets or ties it), or an empty array.
        dims: (3,) grid shape; origin (3,) and linear (3, 3): world mm = origin + linear @ (i, j, k).
        lo, hi: (P, 3) inclusive index box of each primitive's support, clipped to the grid.
        axis_c: (P,) row axis per primitive.
        start, unit, length: cone axis start (mm), unit direction, length (mm); has_cone False: a sphere alone.
        r_start, r_end: cone radii at its start and end (mm).
        sphere_t, sphere_r: sphere centre along the axis (mm) and radius (mm; < 0: no sphere).
        edge: tree edge of each primitive.
        cone_reach2s, sphere_reach2s: squared support radius (mm^2) of each cone and sphere (-1: none).
        inner2s: squared radius (mm^2) within which a thick cone's occupancy is 1 (-1: no such core).
        h: voxel size (mm) of the occupancy profile.
        splits: (n + 1,) increasing slab bounds along the first axis, from 0 to dims[0].
        block_shift: log2 of the elements per memory page of ``out``. A first read of an untouched page maps the
            shared zero page and the write then faults again; blocks of ``out`` never written are known to be zero,
            so their first write goes without a read.
    """
    scratch = np.zeros((len(splits) - 1, 1), dtype=out.dtype)
    written = np.zeros((len(out) >> block_shift) + 1, dtype=np.uint8)
    for part in prange(len(splits) - 1):
        _paint_slab(out, owner, scratch[part], written, block_shift, dims, origin, linear, lo, hi, axis_c, start,
                    unit, length, has_cone, r_start, r_end, sphere_t, sphere_r, edge, cone_reach2s, sphere_reach2s,
                    inner2s, h, splits[part], splits[part + 1] - 1)


@njit(cache=True, nogil=True)
def _paint_slab(out: np.ndarray, owner: np.ndarray, scratch: np.ndarray, written: np.ndarray, block_shift: int,
                dims: np.ndarray, origin: np.ndarray,
                linear: np.ndarray, box_lo: np.ndarray, box_hi: np.ndarray, axis_c: np.ndarray, start: np.ndarray,
                unit: np.ndarray, length: np.ndarray, has_cone: np.ndarray, r_start: np.ndarray, r_end: np.ndarray,
                sphere_t: np.ndarray, sphere_r: np.ndarray, edge: np.ndarray, cone_reach2s: np.ndarray,
                sphere_reach2s: np.ndarray, inner2s: np.ndarray, h: float, i_first: int, i_last: int) -> None:
    """:func:`paint` (same arguments, ``lo``/``hi`` as ``box_lo``/``box_hi``) restricted to the voxels with first
    index in [i_first, i_last]; ``scratch``: one element of ``out``'s dtype (rounds an occupancy as ``out`` stores
    it); ``written``: per block of 2**block_shift elements of ``out``, 1 once painted (shared by the slabs: a thread
    only relies on it for its own voxels, which no other thread writes)."""
    strides = np.array([dims[1] * dims[2], dims[2], 1])
    lo = box_lo.copy()
    hi = box_hi.copy()
    lo[:, 0] = np.maximum(lo[:, 0], i_first)
    hi[:, 0] = np.minimum(hi[:, 0], i_last)
    step = np.empty((3, 3))
    for axis in range(3):
        for row in range(3):
            step[axis, row] = linear[row, axis]
    v = np.empty(3)
    perp_a = np.empty(3)
    perp_b = np.empty(3)
    perp_c = np.empty(3)
    base = np.empty(3)
    for p in range(len(length)):
        if lo[p, 0] > hi[p, 0]:
            continue
        c = axis_c[p]
        a = 1 if c == 0 else 0
        b = 1 if c == 2 else 2
        u = unit[p]
        cone, L, st = has_cone[p], length[p], sphere_t[p]
        taper = (r_end[p] - r_start[p]) / L if cone else 0.0
        cone_reach2, sphere_reach2, inner2 = cone_reach2s[p], sphere_reach2s[p], inner2s[p]
        sphere = sphere_r[p] >= 0.0
        sr = sphere_r[p]
        # Position of voxel lo relative to the cone start; steps along a, b, c and their parts across the axis.
        for row in range(3):
            base[row] = origin[row] - start[p, row]
            for axis in range(3):
                base[row] += linear[row, axis] * lo[p, axis]
        tau_a, tau_b, tau = _dot(step[a], u), _dot(step[b], u), _dot(step[c], u)
        for row in range(3):
            perp_a[row] = step[a, row] - tau_a * u[row]
            perp_b[row] = step[b, row] - tau_b * u[row]
            perp_c[row] = step[c, row] - tau * u[row]
        rho2_k2 = _dot(perp_c, perp_c)
        step2 = _dot(step[c], step[c])
        n_a, n_b, n_c = hi[p, a] - lo[p, a], hi[p, b] - lo[p, b], hi[p, c] - lo[p, c]
        for ia in range(n_a + 1):
            # At k = 0 of row (ia, ib): offset = base + ia step_a + ib step_b.
            for row in range(3):
                v[row] = base[row] + ia * step[a, row]
            t_a = _dot(v, u)
            # Rows within reach of the axis: min over k of rho^2 is a quadratic in ib (or rho^2 itself when the
            # rows run along the axis); of the sphere centre: min over k of d^2, likewise.
            p0_pb, p0_pc = _dot(v, perp_b), _dot(v, perp_c)  # perp_b, perp_c are orthogonal to u
            p0_p0 = _dot(v, v) - t_a * t_a
            pb_pb, pb_pc = _dot(perp_b, perp_b), _dot(perp_b, perp_c)
            if not cone:
                near_lo, near_hi = 1.0, 0.0
            elif rho2_k2 > 1e-12 * step2:
                near_lo, near_hi = _below(pb_pb - pb_pc * pb_pc / rho2_k2, p0_pb - p0_pc * pb_pc / rho2_k2,
                                          p0_p0 - p0_pc * p0_pc / rho2_k2, cone_reach2, step2)
            else:
                near_lo, near_hi = _below(pb_pb, p0_pb, p0_p0, cone_reach2, step2)
            w_sc = _dot(v, step[c]) - st * tau
            w_sb = _dot(v, step[b]) - st * tau_b
            w_w = _dot(v, v) - 2.0 * st * t_a + st * st
            sb_sc, sb_sb = _dot(step[b], step[c]), _dot(step[b], step[b])
            ball_lo, ball_hi = 1.0, 0.0
            if sphere:
                ball_lo, ball_hi = _below(sb_sb - sb_sc * sb_sc / step2, w_sb - w_sc * sb_sc / step2,
                                          w_w - w_sc * w_sc / step2, sphere_reach2, step2)
            b_first, b_last = _hull(near_lo, near_hi, ball_lo, ball_hi, 0, n_b)
            for ib in range(b_first, b_last + 1):
                t0 = t_a + ib * tau_b
                half_b = p0_pc + ib * pb_pc
                rho2_0 = p0_p0 + ib * (2.0 * p0_pb + ib * pb_pb)
                # Along the row: the cone's support (within reach, between the end planes moved out by h/2) ...
                cyl_lo, cyl_hi = 1.0, 0.0
                if cone:
                    cyl_lo, cyl_hi = _below(rho2_k2, half_b, rho2_0, cone_reach2, step2)
                if cyl_lo <= cyl_hi:
                    if abs(tau) > 1e-12:
                        end_0, end_1 = (-0.5 * h - t0) / tau, (L + 0.5 * h - t0) / tau
                        cyl_lo, cyl_hi = max(cyl_lo, min(end_0, end_1)), min(cyl_hi, max(end_0, end_1))
                    elif t0 <= -0.5 * h or t0 >= L + 0.5 * h:
                        cyl_lo, cyl_hi = 1.0, 0.0
                # ... and the sphere's.
                t_rel = t0 - st
                s_lo, s_hi = 1.0, 0.0
                if sphere:
                    s_lo, s_hi = _below(step2, half_b + tau * t_rel, rho2_0 + t_rel * t_rel, sphere_reach2, step2)
                k_first, k_last = _hull(cyl_lo, cyl_hi, s_lo, s_hi, 0, n_c)
                index = (lo[p, a] + ia) * strides[a] + (lo[p, b] + ib) * strides[b] + (lo[p, c] + k_first) * strides[c]
                for k in range(k_first, k_last + 1):
                    t = t0 + k * tau
                    rho2 = max(rho2_0 + k * (2.0 * half_b + k * rho2_k2), 0.0)
                    if rho2 <= inner2 and 0.5 * h <= t <= L - 0.5 * h:
                        occupancy = 1.0
                    else:
                        occupancy = 0.0
                        if cone:
                            ends = min(t, L - t) / h + 0.5
                            if ends > 0.0:
                                radius = r_start[p] + taper * min(max(t, 0.0), L)
                                occupancy = radial(math.sqrt(rho2), radius, h) * min(ends, 1.0)
                        if sphere:
                            occupancy = max(occupancy, radial(math.sqrt(rho2 + (t - st) ** 2), sr, h))
                    if occupancy > 0.0:
                        scratch[0] = occupancy
                        stored = scratch[0]  # the occupancy as the output stores it
                        block = index >> block_shift
                        if written[block] == 0:  # still all zero: write without reading (one page fault, not two)
                            written[block] = 1
                            out[index] = stored
                            if owner.size:
                                owner[index] = edge[p]
                        elif stored > out[index]:
                            out[index] = stored
                            if owner.size:
                                owner[index] = edge[p]
                        elif stored == out[index] and owner.size and edge[p] < owner[index]:
                            owner[index] = edge[p]
                    index += strides[c]
