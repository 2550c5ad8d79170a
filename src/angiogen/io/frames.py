"""Runs of X-ray frames in any supported file format: read them as one stack, write a stack back in the same format.

Inputs: a DICOM file (XA/RF multi-frame or single frame), a folder of DICOM files of one series, a NIfTI stack
(X, Y, N: frame n is ``data[:, :, n]``), a TIFF stack, or a folder / one file of PNG/JPEG/TIFF images. Every run
is read as (F, H, W) float32 frames in a :class:`FrameStack` that keeps what writing back needs (DICOM C-arm
geometry, NIfTI affine); :func:`write_frames_like` writes a new (F, H, W) stack in the run's format with those.
:func:`attenuation_frames` turns a run attenuation-positive (bone, iodine positive) from what its format and
DICOM PixelIntensityRelationship say about its values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from angiogen.errors import InputError
from angiogen.io.checks import has_suffix, require_finite

NIFTI_SUFFIXES = (".nii", ".nii.gz")
# The file suffix a stack of each kind is written back with (display images come back as float TIFF).
NATIVE_SUFFIXES = {"dicom": ".dcm", "nifti": ".nii.gz", "tiff": ".tif", "images": ".tif"}


@dataclass
class FrameStack:
    """Frames of one run and what is needed to write results back in its format.

    Attributes:
        frames: (F, H, W) float32 frames in the file's units (DICOM after the modality rescale, integer images
            scaled to [0, 1], float TIFF/NIfTI as stored).
        kind: "dicom", "nifti", "tiff" or "images".
        path: the file or folder they came from.
        extra: format details kept for writing and for :func:`attenuation_frames`: DICOM ``geometry``
            (XAGeometry), ``intensity_relationship``, ``intensity_sign``, ``line_integrals``; NIfTI ``affine``
            ((4, 4) voxel to world in mm).
    """

    frames: np.ndarray
    kind: str
    path: Path
    extra: dict[str, Any] = field(default_factory=dict)


def read_frames(path: str | Path) -> FrameStack:
    """Read a run of frames in any of the formats of the module docs.

    Args:
        path: a DICOM file or series folder, a .nii/.nii.gz stack, a .tif/.tiff stack, one PNG/JPEG file, or a
            folder of PNG/JPEG/TIFF images (a folder of TIFFs only reads as kind "tiff", any PNG/JPEG as "images").

    Returns:
        The (F, H, W) float32 frames with their kind and format details.

    Raises:
        InputError: a missing path, an empty folder, empty stacks, frames of mixed sizes, NaN/Inf, or a
            non-3-D NIfTI, in one line naming the file.
    """
    from angiogen.io import read_dicom, read_dicom_series, read_image_stack, read_nifti, read_tiff_stack

    path = Path(path)
    if not path.exists():
        raise InputError("no such file or folder", path)
    if path.is_dir():
        names = [p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")]
        if not names:
            raise InputError("the folder is empty: no frames to read", path)
        if any(has_suffix(p, (".png", ".jpg", ".jpeg", ".tif", ".tiff")) for p in names):
            only_tiff = all(has_suffix(p, (".tif", ".tiff")) for p in names)  # float TIFFs: line integrals
            stack = FrameStack(read_image_stack(path), "tiff" if only_tiff else "images", path)
        else:
            series = read_dicom_series(path)
            stack = FrameStack(series.frames, "dicom", path, _dicom_extra(series))
    elif has_suffix(path, NIFTI_SUFFIXES):
        volume = read_nifti(path)
        if volume.data.ndim != 3:
            raise InputError(f"expected a 3-D NIfTI stack (X, Y, frames), got shape {volume.data.shape}", path)
        stack = FrameStack(np.moveaxis(volume.data, 2, 0), "nifti", path, {"affine": volume.affine})
    elif has_suffix(path, (".tif", ".tiff")):
        stack = FrameStack(read_tiff_stack(path), "tiff", path)
    elif has_suffix(path, (".png", ".jpg", ".jpeg")):
        stack = FrameStack(read_image_stack([path]), "images", path)
    else:
        dicom = read_dicom(path)
        stack = FrameStack(dicom.frames, "dicom", path, _dicom_extra(dicom))
    if stack.frames.ndim != 3 or 0 in stack.frames.shape:
        raise InputError(f"no frames to read (shape {stack.frames.shape})", path)
    require_finite(stack.frames, path)
    return stack


def _dicom_extra(dicom: Any) -> dict[str, Any]:
    """What a DICOM run keeps beside its frames: geometry, and how its values relate to attenuation."""
    return {"geometry": dicom.geometry, "intensity_relationship": dicom.intensity_relationship,
            "intensity_sign": dicom.intensity_sign, "line_integrals": dicom.manufacturer == "angiogen"}


def holds_line_integrals(stack: FrameStack) -> bool:
    """True when the frames are line integrals (dimensionless, -log of transmitted intensity): NIfTI, float TIFF,
    and the DICOM files angiogen writes; False for display images and other DICOM."""
    return stack.kind in ("nifti", "tiff") or (stack.kind == "dicom" and bool(stack.extra.get("line_integrals")))


def attenuation_frames(stack: FrameStack) -> np.ndarray:
    """(F, H, W) float32 frames oriented so that attenuation (bone, iodine) is positive, up to an affine map.

    Line integrals as read. Display images (bright = transmitted) and DICOM whose values rise with intensity
    (PixelIntensityRelationship LOG or DISP, or absent, with sign +1) are negated; LIN values (proportional to
    intensity) become -log(value); DICOM with sign -1 (values rise with attenuation) are kept as read.
    """
    frames = stack.frames
    if stack.kind == "images":
        return 1.0 - frames
    if holds_line_integrals(stack) or stack.extra.get("intensity_sign", 1) < 0:
        return frames
    if stack.extra.get("intensity_relationship") == "LIN":
        return -np.log(np.maximum(frames, 1.0)).astype(np.float32)
    return -frames


def native_path(out_dir: str | Path, stem: str, stack: FrameStack) -> Path:
    """``out_dir / (stem + suffix)`` with the suffix :func:`write_frames_like` writes ``stack``'s kind in:
    .dcm for DICOM, .nii.gz for NIfTI, .tif for TIFF and display images."""
    return Path(out_dir) / f"{stem}{NATIVE_SUFFIXES[stack.kind]}"


def write_frames_like(path: str | Path, frames: np.ndarray, stack: FrameStack, overwrite: bool = False) -> Path:
    """Write a stack of frames in the format ``stack`` was read from, keeping its format details.

    Args:
        path: target file, usually :func:`native_path`.
        frames: (F, H, W) float array of the stack's size (H, W), in any units.
        stack: the run whose format is kept: DICOM is written as multi-frame XA with its C-arm geometry tags,
            NIfTI as (X, Y, F) with its affine, TIFF and display images as a float32 TIFF stack.
        overwrite: replace an existing file; otherwise an existing file raises InputError.

    Returns:
        ``path`` as a Path.
    """
    from angiogen.io import write_dicom_xa, write_nifti, write_tiff
    from angiogen.io.nifti import Volume

    if stack.kind == "dicom":
        return write_dicom_xa(path, frames, stack.extra.get("geometry"), overwrite=overwrite)
    if stack.kind == "nifti":
        return write_nifti(path, Volume(np.moveaxis(frames, 0, 2), stack.extra["affine"]), overwrite=overwrite)
    return write_tiff(path, frames, overwrite=overwrite)
