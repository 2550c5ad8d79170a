"""Reading LGE slice stacks (NIfTI/NRRD volumes, DICOM series, the original's VTK grid layers) and writing them
as NIfTI."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from angiogen.errors import InputError
from angiogen.io.nifti import NIFTI_SUFFIXES, write_nifti
from angiogen.io.slice_stack import SliceStack


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
