"""Patient coordinate frames in one place: RAS (NIfTI, nibabel) and LPS (DICOM, ITK, NRRD from Slicer, the
projector).

Both are right-handed millimetre frames that differ by a half turn about the z axis, so one flip of x and y
converts either way; the function names say which way a call goes. :data:`SPACE_FLIPS_TO_RAS` maps the named
patient spaces of NRRD headers onto RAS; :func:`points_to_ras` / :func:`points_from_ras` move point sets (mesh
nodes) between a named frame and RAS.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

_XY_FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])

# The frames a point set (a mesh's nodes) can be declared in.
PATIENT_FRAMES = ("ras", "lps")

# Sign flips of (x, y, z) from each named 3D world space (NRRD ``space`` values) to RAS+.
SPACE_FLIPS_TO_RAS = {
    "right-anterior-superior": (1, 1, 1), "ras": (1, 1, 1),
    "left-anterior-superior": (-1, 1, 1), "las": (-1, 1, 1),
    "left-posterior-superior": (-1, -1, 1), "lps": (-1, -1, 1),
    "scanner-xyz": (1, 1, 1), "3d-right-handed": (1, 1, 1),
}


def ras_to_lps(affine: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Turn a (4, 4) voxel-to-RAS affine (NIfTI, nibabel) into a voxel-to-LPS affine (DICOM, the projector)."""
    if isinstance(affine, torch.Tensor):
        return torch.as_tensor(_XY_FLIP, dtype=affine.dtype, device=affine.device) @ affine
    return _XY_FLIP @ np.asarray(affine, dtype=float)


def lps_to_ras(affine: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Turn a (4, 4) voxel-to-LPS affine into a voxel-to-RAS affine (the inverse of :func:`ras_to_lps`)."""
    return ras_to_lps(affine)  # the flip is its own inverse


def centred_affine(shape: Sequence[int], spacing_mm: float = 1.0) -> np.ndarray:
    """(4, 4) voxel-to-world affine of an axis-aligned grid of ``shape`` (D, H, W) with isotropic ``spacing_mm``
    whose centre lies at the origin (the isocentre); index (d, h, w) runs along (x, y, z)."""
    affine = np.diag([spacing_mm, spacing_mm, spacing_mm, 1.0])
    affine[:3, 3] = -0.5 * (np.asarray(shape, dtype=np.float64) - 1.0) * spacing_mm
    return affine


def points_to_ras(points_mm: np.ndarray, frame: str) -> np.ndarray:
    """(N, 3) points given in ``frame`` ("ras" or "lps") as RAS millimetres (a new array)."""
    return _flip_points(points_mm, frame)


def points_from_ras(points_mm: np.ndarray, frame: str) -> np.ndarray:
    """(N, 3) RAS points in ``frame`` ("ras" or "lps"): the inverse of :func:`points_to_ras`."""
    return _flip_points(points_mm, frame)


def _flip_points(points_mm: np.ndarray, frame: str) -> np.ndarray:
    """``points_mm`` with x and y negated for "lps", copied unchanged for "ras"."""
    if frame not in PATIENT_FRAMES:
        raise ValueError(f"unknown patient frame {frame!r}; expected one of {', '.join(PATIENT_FRAMES)}")
    points = np.array(points_mm, dtype=np.float64)
    if frame == "lps":
        points[..., :2] *= -1.0
    return points
