"""Analytic phantoms with closed-form line integrals, and their partial-volume voxelisation.

Shapes add: each carries ``mu_per_mm``, the attenuation it adds to what lies around it (docs/methods/engine.md §2.6). The
closed forms test and benchmark the projector: voxelise a shape with supersampling, project it, and compare with
:func:`line_integrals` along the same rays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.special import ndtr

from angiogen.errors import InputError
from angiogen.io.coordinates import centred_affine
from angiogen.xray.geometry import CArmGeometry


def _interval_in_quadric(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Roots t1 <= t2 of a t^2 + b t + c = 0 where real (the interval where the quadric is <= 0); empty as (0, 0)."""
    disc = b * b - 4 * a * c
    hit = (disc > 0) & (a > 0)
    root = np.sqrt(np.where(hit, disc, 0.0))
    safe_a = np.where(hit, a, 1.0)
    t1 = np.where(hit, (-b - root) / (2 * safe_a), 0.0)
    t2 = np.where(hit, (-b + root) / (2 * safe_a), 0.0)
    return t1, t2


def _clip_length(t1: np.ndarray, t2: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Length of [t1, t2] ∩ [0, T]."""
    return np.clip(np.minimum(t2, lengths) - np.maximum(t1, 0.0), 0.0, None)


@dataclass(frozen=True)
class Ellipsoid:
    """A uniform ellipsoid.

    Args:
        center_mm: (3,) centre in LPS mm.
        semi_axes_mm: (3,) semi-axis lengths in mm, along the columns of ``rotation``.
        mu_per_mm: attenuation added inside, 1/mm.
        rotation: (3, 3) orthonormal matrix whose columns are the ellipsoid's axes in the world; default identity.
    """

    center_mm: tuple[float, float, float]
    semi_axes_mm: tuple[float, float, float]
    mu_per_mm: float
    rotation: tuple[tuple[float, ...], ...] = field(default=((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)))

    def __post_init__(self) -> None:
        if np.asarray(self.semi_axes_mm).shape != (3,) or min(self.semi_axes_mm) <= 0:
            raise InputError(f"ellipsoid semi-axes must be 3 positive lengths in mm, got {self.semi_axes_mm}")

    def _to_unit(self, points: np.ndarray) -> np.ndarray:
        """Map world points (or directions, with ``center`` 0) into the frame where the ellipsoid is the unit ball."""
        return (points @ np.asarray(self.rotation, dtype=float)) / np.asarray(self.semi_axes_mm, dtype=float)

    def line_integrals(self, origins: np.ndarray, directions: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """∫ mu dl along rays ``o + t d``, ``t ∈ [0, T]``, ``|d| = 1``; arrays (..., 3), (..., 3), (...)."""
        o = self._to_unit(np.asarray(origins, dtype=float) - np.asarray(self.center_mm, dtype=float))
        d = self._to_unit(np.asarray(directions, dtype=float))
        t1, t2 = _interval_in_quadric((d * d).sum(-1), 2 * (o * d).sum(-1), (o * o).sum(-1) - 1)
        return self.mu_per_mm * _clip_length(t1, t2, np.asarray(lengths, dtype=float))

    def level(self, points: torch.Tensor) -> torch.Tensor:
        """Implicit function, <= 1 inside: ``|A^-1 Q^T (x - c)|`` of (..., 3) points."""
        rotation = torch.as_tensor(self.rotation, dtype=points.dtype)
        centre = torch.as_tensor(self.center_mm, dtype=points.dtype)
        axes = torch.as_tensor(self.semi_axes_mm, dtype=points.dtype)
        return torch.linalg.vector_norm(((points - centre) @ rotation) / axes, dim=-1)

    @property
    def lipschitz_per_mm(self) -> float:
        """Bound on the change of :meth:`level` per mm."""
        return 1.0 / min(self.semi_axes_mm)

    @property
    def bounds_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned bounding box (low, high) in mm."""
        half = np.abs(np.asarray(self.rotation, dtype=float)) @ np.asarray(self.semi_axes_mm, dtype=float)
        centre = np.asarray(self.center_mm, dtype=float)
        return centre - half, centre + half


@dataclass(frozen=True)
class Cylinder:
    """A uniform circular cylinder with flat end caps.

    Args:
        center_mm: (3,) centre in LPS mm.
        axis: (3,) direction of the axis (normalised here).
        radius_mm: radius in mm.
        length_mm: length between the caps in mm.
        mu_per_mm: attenuation added inside, 1/mm.
    """

    center_mm: tuple[float, float, float]
    axis: tuple[float, float, float]
    radius_mm: float
    length_mm: float
    mu_per_mm: float

    def __post_init__(self) -> None:
        norm = float(np.linalg.norm(self.axis))
        if self.radius_mm <= 0 or self.length_mm <= 0 or norm == 0:
            raise InputError("cylinder needs a positive radius and length and a non-zero axis")
        object.__setattr__(self, "axis", tuple(float(v) / norm for v in self.axis))

    def line_integrals(self, origins: np.ndarray, directions: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """∫ mu dl along rays ``o + t d``, ``t ∈ [0, T]``, ``|d| = 1``; arrays (..., 3), (..., 3), (...)."""
        w = np.asarray(self.axis, dtype=float)
        o = np.asarray(origins, dtype=float) - np.asarray(self.center_mm, dtype=float)
        d = np.asarray(directions, dtype=float)
        o_along, d_along = o @ w, d @ w
        o_across, d_across = o - o_along[..., None] * w, d - d_along[..., None] * w
        # Inside the infinite cylinder: |o_across + t d_across|^2 <= r^2.
        t1, t2 = _interval_in_quadric(
            (d_across**2).sum(-1), 2 * (o_across * d_across).sum(-1), (o_across**2).sum(-1) - self.radius_mm**2
        )
        parallel = (d_across**2).sum(-1) < 1e-18
        inside_axis = (o_across**2).sum(-1) <= self.radius_mm**2
        t1 = np.where(parallel, np.where(inside_axis, -np.inf, 0.0), t1)
        t2 = np.where(parallel, np.where(inside_axis, np.inf, 0.0), t2)
        # Between the caps: |o_along + t d_along| <= L/2.
        half = self.length_mm / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            ta, tb = (-half - o_along) / d_along, (half - o_along) / d_along
        flat = np.abs(d_along) < 1e-12
        inside_slab = np.abs(o_along) <= half
        t3 = np.where(flat, np.where(inside_slab, -np.inf, 0.0), np.minimum(ta, tb))
        t4 = np.where(flat, np.where(inside_slab, np.inf, 0.0), np.maximum(ta, tb))
        return self.mu_per_mm * _clip_length(np.maximum(t1, t3), np.minimum(t2, t4), np.asarray(lengths, dtype=float))

    def level(self, points: torch.Tensor) -> torch.Tensor:
        """Implicit function, <= 1 inside: ``max(ρ / r, |s| / (L/2))`` of (..., 3) points."""
        w = torch.as_tensor(self.axis, dtype=points.dtype)
        rel = points - torch.as_tensor(self.center_mm, dtype=points.dtype)
        along = rel @ w
        across = torch.linalg.vector_norm(rel - along[..., None] * w, dim=-1)
        return torch.maximum(across / self.radius_mm, along.abs() / (self.length_mm / 2))

    @property
    def lipschitz_per_mm(self) -> float:
        """Bound on the change of :meth:`level` per mm."""
        return 1.0 / min(self.radius_mm, self.length_mm / 2)

    @property
    def bounds_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned bounding box (low, high) in mm."""
        w = np.asarray(self.axis, dtype=float)
        half = np.abs(w) * self.length_mm / 2 + self.radius_mm * np.sqrt(np.clip(1 - w**2, 0, None))
        centre = np.asarray(self.center_mm, dtype=float)
        return centre - half, centre + half


@dataclass(frozen=True)
class GaussianBlob:
    """A smooth lump of attenuation ``mu(x) = amplitude * exp(-|x - c|^2 / (2 sigma^2))`` (may be negative).

    Used for soft-tissue texture in projection backgrounds; it has closed-form line integrals but no sharp
    surface, so :func:`voxelise` does not take it.

    Args:
        center_mm: (3,) centre in LPS mm.
        sigma_mm: standard deviation in mm (> 0).
        amplitude_per_mm: peak attenuation added, 1/mm.
    """

    center_mm: tuple[float, float, float]
    sigma_mm: float
    amplitude_per_mm: float

    def __post_init__(self) -> None:
        if not self.sigma_mm > 0:
            raise InputError(f"Gaussian blob sigma must be positive (mm), got {self.sigma_mm}")

    def line_integrals(self, origins: np.ndarray, directions: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """∫ mu dl along rays ``o + t d``, ``t ∈ [0, T]``: A sqrt(2 pi) s exp(-b^2 / 2 s^2) [Phi((T - t0)/s) - Phi(-t0/s)]."""
        rel = np.asarray(self.center_mm, dtype=float) - np.asarray(origins, dtype=float)
        d = np.asarray(directions, dtype=float)
        t0 = (rel * d).sum(-1)  # ray parameter of the point closest to the centre
        miss_sq = np.clip((rel * rel).sum(-1) - t0 * t0, 0.0, None)  # squared distance of the ray to the centre
        s = self.sigma_mm
        along = ndtr((np.asarray(lengths, dtype=float) - t0) / s) - ndtr(-t0 / s)
        return self.amplitude_per_mm * math.sqrt(2 * math.pi) * s * np.exp(-miss_sq / (2 * s * s)) * along


Shape = Ellipsoid | Cylinder


def line_integrals(
    shapes: Shape | GaussianBlob | Sequence[Shape | GaussianBlob],
    geometry: CArmGeometry,
    rotation: np.ndarray | None = None,
    translation_mm: np.ndarray | None = None,
) -> np.ndarray:
    """Exact line integrals of a sum of shapes on every detector pixel of a view.

    Args:
        shapes: one shape or several (their mu add).
        geometry: the C-arm view.
        rotation, translation_mm: optional rigid motion of the whole phantom, ``x -> R x + t`` (R (3, 3), t (3,)
            in mm); computed exactly by moving the rays the opposite way.

    Returns:
        (rows, cols) float64 array, ``∫ mu dl`` from the source to each pixel centre.
    """
    shapes = [shapes] if isinstance(shapes, Ellipsoid | Cylinder | GaussianBlob) else list(shapes)
    origins, directions, lengths = geometry.rays()
    if rotation is not None or translation_mm is not None:
        rot = np.eye(3) if rotation is None else np.asarray(rotation, dtype=float)
        shift = np.zeros(3) if translation_mm is None else np.asarray(translation_mm, dtype=float)
        origins, directions = (origins - shift) @ rot, directions @ rot  # R^T (o - t), R^T d
    return sum(shape.line_integrals(origins, directions, lengths) for shape in shapes)


def voxelise(
    shapes: Shape | Sequence[Shape],
    shape: Sequence[int],
    affine: np.ndarray,
    supersample: int = 4,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Partial-volume voxelisation: each voxel holds mu times the fraction of it inside each shape.

    Voxels whose centre is farther from a surface than the voxel's half-diagonal are filled from the centre alone;
    the others are supersampled on a ``supersample^3`` grid.

    Args:
        shapes: one shape or several (their mu add).
        shape: (D, H, W) grid size.
        affine: (4, 4) voxel-to-LPS matrix in mm (``volume[d, h, w]`` at ``affine @ (d, h, w, 1)``).
        supersample: sub-samples per axis for boundary voxels; default 4.
        dtype: dtype of the result.

    Returns:
        (D, H, W) tensor of attenuation in 1/mm.
    """
    shapes = [shapes] if isinstance(shapes, Ellipsoid | Cylinder) else list(shapes)
    affine_t = torch.as_tensor(np.asarray(affine, dtype=float), dtype=torch.float64)
    linear, offset = affine_t[:3, :3], affine_t[:3, 3]
    half_diagonal_mm = 0.5 * float(torch.linalg.vector_norm(linear.abs().sum(dim=1)))
    inverse = torch.linalg.inv(affine_t)
    volume = torch.zeros(tuple(int(s) for s in shape), dtype=torch.float64)
    sub = (torch.arange(supersample, dtype=torch.float64) + 0.5) / supersample - 0.5
    sub_offsets = torch.stack(torch.meshgrid(sub, sub, sub, indexing="ij"), dim=-1).reshape(-1, 3)
    for item in shapes:
        # Voxel index box covering the shape.
        low, high = item.bounds_mm
        corners = np.array([[x, y, z, 1.0] for x in (low[0], high[0]) for y in (low[1], high[1]) for z in (low[2], high[2])])
        index = corners @ inverse.numpy().T
        begin = np.clip(np.floor(index[:, :3].min(0)) - 1, 0, None).astype(int)
        end = np.minimum(np.ceil(index[:, :3].max(0)) + 2, np.asarray(volume.shape)).astype(int)
        if np.any(end <= begin):
            continue
        axes = [torch.arange(b, e, dtype=torch.float64) for b, e in zip(begin, end)]
        grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)  # (d, h, w, 3) voxel indices
        centres = grid @ linear.T + offset
        level = item.level(centres)
        margin = item.lipschitz_per_mm * half_diagonal_mm
        fraction = (level <= 1).to(torch.float64)
        boundary = (level - 1).abs() <= margin
        if bool(boundary.any()):
            points = grid[boundary]  # (n, 3) voxel indices
            per_chunk = max(1, (1 << 22) // len(sub_offsets))
            inside = [
                (item.level((part[:, None, :] + sub_offsets) @ linear.T + offset) <= 1).to(torch.float64).mean(dim=1)
                for part in points.split(per_chunk)
            ]
            fraction[boundary] = torch.cat(inside)
        window = tuple(slice(b, e) for b, e in zip(begin, end))
        volume[window] += item.mu_per_mm * fraction
    return volume.to(dtype)


__all__ = ["Cylinder", "Ellipsoid", "GaussianBlob", "Shape", "centred_affine", "line_integrals", "voxelise"]
