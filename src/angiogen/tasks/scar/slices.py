"""LGE slice stacks: the in-memory form, reading and writing NIfTI, and simulating a short-axis stack from the
LV phantom with partial volume, noise and per-slice misalignment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from angiogen.errors import InputError
from angiogen.io.nifti import NIFTI_SUFFIXES, Volume, write_nifti
from angiogen.synth.lv_phantom import LVGeometry, ScarField


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



def read_dicom_stack(directory: str | Path, thickness_mm: float | None = None) -> SliceStack:
    """Read a DICOM series of slices (one file per slice; :func:`angiogen.io.dicom_slices.read_dicom_slices`).

    Each slice keeps its own affine (RAS, from ImagePositionPatient, ImageOrientationPatient and PixelSpacing), so
    oblique and non-parallel planes are placed exactly; slices are ordered by position along the first slice's
    normal, and an affine's column 2 is the step to the next slice (the normal times the thickness for the last).

    Args:
        directory: the series folder; pixel values (after the modality rescale) in [0, 1].
        thickness_mm: slice thickness; defaults to each file's SliceThickness.

    Raises:
        InputError: see ``read_dicom_slices``; slices of different sizes, no SliceThickness (without
            ``thickness_mm``), NaN pixels or values outside [0, 1], each naming the file.
    """
    from angiogen.io.dicom_slices import read_dicom_slices

    planes = read_dicom_slices(directory)
    for plane in planes:
        if plane.pixels.shape != planes[0].pixels.shape:
            raise InputError(f"has {plane.pixels.shape[1]} x {plane.pixels.shape[0]} pixels, the first slice "
                             f"{planes[0].pixels.shape[1]} x {planes[0].pixels.shape[0]}", plane.path)
        if not np.all(np.isfinite(plane.pixels)) or plane.pixels.min() < 0 or plane.pixels.max() > 1:
            raise InputError(f"holds values in [{np.nanmin(plane.pixels):.3g}, {np.nanmax(plane.pixels):.3g}] "
                             "after the rescale; expected scar probabilities or masks in [0, 1]", plane.path)
        if thickness_mm is None and plane.thickness_mm is None:
            raise InputError("has no SliceThickness; give the thickness explicitly", plane.path)
    if thickness_mm is not None and thickness_mm <= 0:
        raise InputError(f"slice thickness must be positive, got {thickness_mm}", directory)
    normal = planes[0].affine[:3, 2]
    planes = sorted(planes, key=lambda plane: float(plane.affine[:3, 3] @ normal))
    thickness = np.array([thickness_mm if thickness_mm is not None else plane.thickness_mm for plane in planes])
    affines = np.stack([plane.affine for plane in planes])
    for s in range(len(planes)):
        step = affines[s + 1, :3, 3] - affines[s, :3, 3] if s + 1 < len(planes) else None
        affines[s, :3, 2] = step if step is not None and step @ normal > 1e-6 else affines[s, :3, 2] * thickness[s]
    return SliceStack(np.stack([plane.pixels for plane in planes]), affines, thickness)


def read_slices(path: str | Path, thickness_mm: float | None = None, array: str | None = None) -> SliceStack:
    """Read a slice stack from any of the supported layouts.

    Args:
        path: a .nii/.nii.gz/.nrrd/.nhdr volume (X, Y, S) with its affine (any orientation, oblique included); a
            folder holding a DICOM series with one file per slice (:func:`read_dicom_stack`); or a folder of the
            original method's VTK grid layers, one .vtk/.vtu/.vtp per slice
            (:func:`angiogen.tasks.scar.layers.read_vtk_layers`). Values in [0, 1].
        thickness_mm: slice thickness; defaults to the distance between slices along the normal (volumes), the
            files' SliceThickness (DICOM), or a layer's z range + 10 mm (VTK layers, as the original).
        array: VTK layers only: the cell array holding the pixel values, when a layer has several.

    Raises:
        InputError: unreadable file, NaN pixels, a 4D image, no spatial metadata (NIfTI qform and sform codes both
            0, NRRD without space directions), values outside [0, 1].
    """
    from angiogen.io.volumes import read_volume

    path = Path(path)
    if path.is_dir():
        from angiogen.tasks.scar.layers import layer_files, read_vtk_layers

        if layer_files(path):
            return read_vtk_layers(path, thickness_mm, array)
        return read_dicom_stack(path, thickness_mm)
    volume = read_volume(path)
    if volume.data.ndim != 3:
        raise InputError(f"holds a 4D image {volume.data.shape}; expected slices (X, Y, S)", path)
    if path.name.lower().endswith(NIFTI_SUFFIXES):
        header = nib.load(path).header
        if int(header["qform_code"]) == 0 and int(header["sform_code"]) == 0:
            raise InputError("has no spatial metadata (qform and sform codes are 0); the slices cannot be placed "
                             "relative to the mesh", path)
    if volume.data.min() < 0 or volume.data.max() > 1:
        raise InputError(f"holds values in [{volume.data.min():.3g}, {volume.data.max():.3g}]; expected scar "
                         "probabilities or masks in [0, 1]", path)
    if thickness_mm is not None and thickness_mm <= 0:
        raise InputError(f"slice thickness must be positive, got {thickness_mm}", path)
    return SliceStack.from_volume(volume, thickness_mm)


def write_slices(path: str | Path, stack: SliceStack, overwrite: bool = False) -> Path:
    """Write a regular stack as a NIfTI (NI, NJ, S) with its affine (atomically)."""
    return write_nifti(path, stack.to_volume(), overwrite=overwrite)


@dataclass
class SimulatedSlices:
    """A simulated LGE stack and what produced it.

    Attributes:
        stack: the slices as a user would receive them (nominal affines, noisy values).
        myocardial_fraction: (S, NI, NJ) fraction of each pixel's prism that is myocardium.
        clean_values: (S, NI, NJ) scar fraction of the myocardium in each prism, before noise.
        shift_mm: (S, 2) true in-plane shift of each slice (along i and j) not reflected in its affine.
    """

    stack: SliceStack
    myocardial_fraction: np.ndarray
    clean_values: np.ndarray
    shift_mm: np.ndarray


def short_axis_affines(
    geometry: LVGeometry,
    spacing_mm: float = 8.0,
    pixel_mm: float = 1.5,
    tilt_deg: float = 0.0,
    tilt_azimuth_deg: float = 0.0,
    phase: float = 0.5,
    margin_mm: float = 6.0,
) -> tuple[np.ndarray, tuple[int, int]]:
    """Affines (S, 4, 4) and image size (NI, NJ) of a short-axis stack covering the LV.

    The normal is the long axis (+z) tilted by ``tilt_deg`` towards azimuth ``tilt_azimuth_deg``; slices step by
    ``spacing_mm``; ``phase`` in [0, 1) places the first slice centre at ``phase * spacing_mm`` past the apex.
    """
    tilt, azimuth = np.deg2rad(tilt_deg), np.deg2rad(tilt_azimuth_deg)
    normal = np.array([np.sin(tilt) * np.cos(azimuth), np.sin(tilt) * np.sin(azimuth), np.cos(tilt)])
    helper = np.array([1.0, 0.0, 0.0]) if abs(normal[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    axis_i = helper - (helper @ normal) * normal
    axis_i /= np.linalg.norm(axis_i)
    axis_j = np.cross(normal, axis_i)
    shell = _shell_samples(geometry)
    along, u, v = shell @ normal, shell @ axis_i, shell @ axis_j
    n_slices = int(np.floor((along.max() - along.min()) / spacing_mm - phase)) + 1
    first = along.min() + phase * spacing_mm
    n_i = int(np.ceil((u.max() - u.min() + 2 * margin_mm) / pixel_mm))
    n_j = int(np.ceil((v.max() - v.min() + 2 * margin_mm) / pixel_mm))
    u0 = (u.max() + u.min()) / 2 - (n_i - 1) / 2 * pixel_mm
    v0 = (v.max() + v.min()) / 2 - (n_j - 1) / 2 * pixel_mm
    affines = np.zeros((n_slices, 4, 4))
    affines[:, :3, 0] = axis_i * pixel_mm
    affines[:, :3, 1] = axis_j * pixel_mm
    affines[:, :3, 2] = normal * spacing_mm
    affines[:, :3, 3] = u0 * axis_i + v0 * axis_j + (first + np.arange(n_slices)[:, None] * spacing_mm) * normal
    affines[:, 3, 3] = 1.0
    return affines, (n_i, n_j)


def _shell_samples(geometry: LVGeometry, n: int = 60) -> np.ndarray:
    # Points on the epicardium below the base (for extents).
    a, b, c = geometry.epi_semi_axes_mm
    theta, phi = np.meshgrid(np.linspace(0, np.pi, n), np.linspace(-np.pi, np.pi, n), indexing="ij")
    points = np.stack([a * np.sin(theta) * np.cos(phi), b * np.sin(theta) * np.sin(phi), c * np.cos(theta)], -1)
    points = points.reshape(-1, 3)
    points[:, 2] = np.minimum(points[:, 2], geometry.base_z_mm)
    return points


def simulate_slices(
    scar: ScarField,
    spacing_mm: float = 8.0,
    pixel_mm: float = 1.5,
    thickness_mm: float | None = None,
    tilt_deg: float = 0.0,
    noise_sd: float = 0.05,
    shift_sd_mm: float = 1.0,
    supersample: tuple[int, int, int] = (4, 4, 16),
    seed: int = 0,
) -> SimulatedSlices:
    """Simulate a short-axis LGE stack of the phantom: each pixel holds the scar fraction of the myocardium in its
    prism (pixel footprint x thickness, ``supersample`` points per axis), plus Gaussian noise (clipped to [0, 1])
    on pixels that contain myocardium; each slice is sampled shifted in-plane by N(0, shift_sd_mm) per axis
    while its affine stays nominal (breath-hold misalignment). Pixels without myocardium are 0.

    Args:
        scar: the truth.
        spacing_mm: distance between slice centres.
        pixel_mm: in-plane pixel size.
        thickness_mm: slice thickness; defaults to ``spacing_mm``.
        tilt_deg: tilt of the stack normal from the long axis (azimuth drawn from ``seed``).
        noise_sd: standard deviation of the additive noise.
        shift_sd_mm: standard deviation of the per-slice in-plane shift.
        supersample: sub-points per pixel along i, j and the normal.
        seed: seed of the slice phase, tilt azimuth, shifts and noise.
    """
    rng = np.random.default_rng(seed)
    geometry = scar.geometry
    thickness_mm = spacing_mm if thickness_mm is None else thickness_mm
    affines, (n_i, n_j) = short_axis_affines(
        geometry, spacing_mm, pixel_mm, tilt_deg, rng.uniform(0, 360), phase=rng.uniform(0.2, 0.8)
    )
    stack = SliceStack(np.zeros((len(affines), n_i, n_j), np.float32), affines, thickness_mm)
    normal = stack.normals
    shift = rng.normal(0.0, shift_sd_mm, size=(len(affines), 2))
    sub_i, sub_j, sub_k = (((np.arange(n) + 0.5) / n - 0.5) for n in supersample)
    myo_fraction = np.zeros(stack.values.shape)
    clean = np.zeros(stack.values.shape)
    for s in range(stack.n_slices):
        unit_i = affines[s, :3, 0] / pixel_mm
        unit_j = affines[s, :3, 1] / pixel_mm
        centres = stack.pixel_centres(s) + shift[s, 0] * unit_i + shift[s, 1] * unit_j
        flat = centres.reshape(-1, 3)
        candidate = np.flatnonzero(_near(geometry, flat, pixel_mm + thickness_mm / 2 + 1.0))
        offsets = (
            sub_i[:, None, None, None] * pixel_mm * unit_i
            + sub_j[None, :, None, None] * pixel_mm * unit_j
            + sub_k[None, None, :, None] * thickness_mm * normal[s]
        ).reshape(-1, 3)
        for start in range(0, len(candidate), 2048):
            block = candidate[start : start + 2048]
            samples = flat[block, None, :] + offsets[None]
            myo = geometry.inside(samples)
            scarred = np.zeros_like(myo)
            scarred[myo] = scar(samples[myo])
            n_myo = myo.sum(axis=1)
            myo_fraction[s].reshape(-1)[block] = n_myo / offsets.shape[0]
            clean[s].reshape(-1)[block] = scarred.sum(axis=1) / np.maximum(n_myo, 1)
    noisy = np.clip(clean + rng.normal(0.0, noise_sd, clean.shape), 0.0, 1.0)
    stack.values = np.where(myo_fraction > 0, noisy, 0.0).astype(np.float32)
    return SimulatedSlices(stack, myo_fraction.astype(np.float32), clean.astype(np.float32), shift)


def _near(geometry: LVGeometry, points: np.ndarray, margin_mm: float) -> np.ndarray:
    # Points within about margin_mm of the myocardium.
    epi = np.asarray(geometry.epi_semi_axes_mm) + margin_mm
    endo = np.maximum(np.asarray(geometry.endo_semi_axes_mm) - margin_mm, 1e-3)
    rho_epi = np.sqrt(((points / epi) ** 2).sum(-1))
    rho_endo = np.sqrt(((points / endo) ** 2).sum(-1))
    return (rho_epi <= 1.0) & (rho_endo >= 1.0) & (points[:, 2] <= geometry.base_z_mm + margin_mm)
