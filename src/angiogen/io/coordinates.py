"""Patient coordinate frames in one place: RAS (NIfTI, nibabel) and LPS (DICOM, ITK, the projector).

Both are right-handed millimetre frames that differ by a half turn about the z axis, so one flip of x and y
converts either way; the two names say which way a call goes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

_XY_FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])


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
