"""File formats: NIfTI, NRRD, DICOM (incl. XA/RF multi-frame), frame stacks in their own format, 2D images,
meshes, slice stacks, run directories; RAS/LPS coordinate frames.

The names below are re-exported lazily (PEP 562), so that ``import angiogen.io.atomic`` at CLI
start-up does not pull in nibabel, pydicom, imageio and meshio.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "atomic_path": "atomic",
    "check_writable": "atomic",
    "write_bytes_atomic": "atomic",
    "write_text_atomic": "atomic",
    "MAX_VOXELS": "checks",
    "require_file": "checks",
    "require_finite": "checks",
    "require_sane_shape": "checks",
    "DicomFrames": "dicom",
    "XAGeometry": "dicom",
    "find_dicom_value": "dicom",
    "geometry_from_dataset": "dicom",
    "read_dicom": "dicom",
    "read_dicom_series": "dicom",
    "write_dicom_xa": "dicom",
    "FrameStack": "frames",
    "attenuation_frames": "frames",
    "read_frames": "frames",
    "write_frames_like": "frames",
    "centred_affine": "coordinates",
    "lps_to_ras": "coordinates",
    "ras_to_lps": "coordinates",
    "SliceStack": "slice_stack",
    "read_image": "images",
    "read_image_stack": "images",
    "read_tiff_stack": "images",
    "write_png": "images",
    "write_tiff": "images",
    "Mesh": "meshes",
    "read_mesh": "meshes",
    "write_mesh": "meshes",
    "Volume": "nifti",
    "read_nifti": "nifti",
    "write_nifti": "nifti",
    "read_nrrd": "nrrd",
    "read_volume": "volumes",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from angiogen.io.atomic import atomic_path, check_writable, write_bytes_atomic, write_text_atomic
    from angiogen.io.checks import MAX_VOXELS, require_file, require_finite, require_sane_shape
    from angiogen.io.coordinates import centred_affine, lps_to_ras, ras_to_lps
    from angiogen.io.dicom import (DicomFrames, XAGeometry, find_dicom_value, geometry_from_dataset, read_dicom,
                                   read_dicom_series, write_dicom_xa)
    from angiogen.io.frames import FrameStack, attenuation_frames, read_frames, write_frames_like
    from angiogen.io.images import read_image, read_image_stack, read_tiff_stack, write_png, write_tiff
    from angiogen.io.meshes import Mesh, read_mesh, write_mesh
    from angiogen.io.nifti import Volume, read_nifti, write_nifti
    from angiogen.io.nrrd import read_nrrd
    from angiogen.io.slice_stack import SliceStack
    from angiogen.io.volumes import read_volume


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` on first access."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'angiogen.io' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"angiogen.io.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
