"""2D image slices placed in world space (LGE short-axis stacks and the like): the in-memory form shared by the
readers, the simulator and the scar task."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from angiogen.io.nifti import Volume


@dataclass
class SliceStack:
    """2D slices placed in world space.

    Attributes:
        values: (S, NI, NJ) float32 scar values in [0, 1]; ``values[s, i, j]`` is pixel (i, j) of slice s.
        affines: (S, 4, 4) float64; ``affines[s] @ (i, j, k, 1)`` is the world position in mm of continuous index
            (i, j) of slice s, k = 0 on the slice plane (column 2 is the step to the next slice of a volume).
        thickness_mm: (S,) slice thickness in mm (extent of each pixel's prism along the plane normal).
        valid: (S, NI, NJ) bool, False where a slice has no pixel (a grid layer without that cell); such pixels make
            no group. Default: all True.
    """

    values: np.ndarray
    affines: np.ndarray
    thickness_mm: np.ndarray
    valid: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float32)
        self.affines = np.asarray(self.affines, dtype=np.float64)
        self.thickness_mm = np.broadcast_to(np.asarray(self.thickness_mm, np.float64), (len(self.values),)).copy()
        if self.values.ndim != 3 or self.affines.shape != (len(self.values), 4, 4):
            raise ValueError(f"SliceStack expects values (S, NI, NJ) and affines (S, 4, 4), got "
                             f"{self.values.shape} and {self.affines.shape}")
        self.valid = (np.ones(self.values.shape, dtype=bool) if self.valid is None
                      else np.broadcast_to(np.asarray(self.valid, dtype=bool), self.values.shape).copy())

    @property
    def n_slices(self) -> int:
        return int(len(self.values))

    @property
    def normals(self) -> np.ndarray:
        """(S, 3) unit plane normals, cross(column i, column j), oriented along column k."""
        normal = np.cross(self.affines[:, :3, 0], self.affines[:, :3, 1])
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)
        sign = np.sign((normal * self.affines[:, :3, 2]).sum(axis=1))
        return normal * np.where(sign == 0, 1.0, sign)[:, None]

    @property
    def pixel_mm(self) -> np.ndarray:
        """(S, 2) pixel size along i and j in mm."""
        return np.linalg.norm(self.affines[:, :3, :2], axis=1)

    def pixel_centres(self, s: int) -> np.ndarray:
        """(NI, NJ, 3) world positions in mm of the pixel centres of slice ``s``."""
        n_i, n_j = self.values.shape[1:]
        ii, jj = np.meshgrid(np.arange(n_i), np.arange(n_j), indexing="ij")
        return ii[..., None] * self.affines[s, :3, 0] + jj[..., None] * self.affines[s, :3, 1] + self.affines[s, :3, 3]

    def plane_coordinates(self, points: np.ndarray, s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Continuous in-plane indices (i, j) and signed distance to the plane (mm) of points (N, 3) for slice s.

        The in-plane indices are those of the point's orthogonal projection onto the plane, so a pixel's prism is
        its footprint extruded along the normal whatever the slice step (column k) is.
        """
        relative = points - self.affines[s, :3, 3]
        in_plane = np.linalg.pinv(self.affines[s, :3, :2])  # (2, 3); kills the normal component
        index = relative @ in_plane.T
        distance = relative @ self.normals[s]
        return index[:, 0], index[:, 1], distance

    @classmethod
    def from_volume(cls, volume: Volume, thickness_mm: float | None = None) -> SliceStack:
        """Slices along the third axis of a (X, Y, Z) volume; thickness defaults to the slice spacing."""
        data = volume.data
        n_slices = data.shape[2]
        step = np.eye(4)[None].repeat(n_slices, axis=0)
        step[:, 2, 3] = np.arange(n_slices)
        affines = volume.affine[None] @ step
        if thickness_mm is None:
            normal = np.cross(volume.affine[:3, 0], volume.affine[:3, 1])
            normal /= np.linalg.norm(normal)
            thickness_mm = abs(float(volume.affine[:3, 2] @ normal))
        return cls(np.moveaxis(data, 2, 0), affines, thickness_mm)

    def to_volume(self) -> Volume:
        """The stack as one (NI, NJ, S) volume; requires slices that step by one shared affine column."""
        affine = self.affines[0]
        expected = affine[None].repeat(self.n_slices, axis=0)
        expected[:, :3, 3] = affine[:3, 3] + np.arange(self.n_slices)[:, None] * affine[:3, 2]
        if not np.allclose(self.affines, expected, atol=1e-6):
            raise ValueError("slices are not a regular stack; write them one file per slice")
        return Volume(np.moveaxis(self.values, 0, 2), affine)
