"""Prediction on user frames: read a run in any supported format, predict every frame, write the same format back.

Inputs: a DICOM file (XA/RF multi-frame or single frame), a folder of DICOM files of one series, a NIfTI stack
(X, Y, N: frame n is ``data[:, :, n]``), a TIFF stack, or a folder / one file of PNG/JPEG/TIFF images. Outputs in
``OUT``: ``dsa.<same format>`` (DICOM keeps the C-arm geometry tags, NIfTI the affine), ``dsa.tif`` (float32) and
PNG previews of the first frames. With mask frames, the conventional ``live - mean(mask)`` is written as well.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from angiogen.errors import InputError
from angiogen.io.atomic import check_writable
from angiogen.io.checks import has_suffix, require_finite

NIFTI_SUFFIXES = (".nii", ".nii.gz")
DICOM_SUFFIXES = (".dcm", ".dicom")
MAX_PREVIEWS = 4


@dataclass
class FrameStack:
    """Frames of one run and what is needed to write results back in its format.

    Attributes:
        frames: (F, H, W) float32. kind: "dicom", "nifti", "tiff" or "images". path: where they came from.
        extra: format details kept for writing (DICOM geometry, NIfTI affine).
    """

    frames: np.ndarray
    kind: str
    path: Path
    extra: dict[str, Any] = field(default_factory=dict)


def read_frames(path: str | Path) -> FrameStack:
    """Read a run of frames (see module docs); refuse empty stacks, mixed sizes and NaN/Inf with one clear line."""
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
    """True when the frames are line integrals on the training scale: NIfTI, float TIFF, and the DICOM files
    angiogen writes; such runs are normalised with the training statistics ("global") by default, all others
    (display images, other DICOM) with their own ("local")."""
    return stack.kind in ("nifti", "tiff") or (stack.kind == "dicom" and bool(stack.extra.get("line_integrals")))


def attenuation_frames(stack: FrameStack) -> np.ndarray:
    """(F, H, W) frames oriented so that attenuation (bone, iodine) is positive, up to an affine map.

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


def output_paths(out_dir: Path, stack: FrameStack, with_mask: bool) -> dict[str, Path]:
    """Every file :func:`write_results` writes, by role."""
    native = {"dicom": "dsa.dcm", "nifti": "dsa.nii.gz", "tiff": "dsa.tif", "images": "dsa.tif"}[stack.kind]
    paths = {"native": out_dir / native, "float": out_dir / "dsa.tif"}
    if with_mask:
        paths["conventional"] = out_dir / "conventional_dsa.tif"
    for frame in range(min(MAX_PREVIEWS, len(stack.frames))):
        paths[f"preview_{frame}"] = out_dir / f"preview_{frame:03d}.png"
    return paths


def write_results(out_dir: str | Path, stack: FrameStack, predicted: np.ndarray, conventional: np.ndarray | None,
                  overwrite: bool = False) -> list[Path]:
    """Write the predicted vessel images in the input's format, as float TIFF, and PNG previews (live | DSA)."""
    from angiogen.io import write_dicom_xa, write_nifti, write_png, write_tiff
    from angiogen.io.nifti import Volume

    out_dir = Path(out_dir)
    paths = output_paths(out_dir, stack, conventional is not None)
    for path in paths.values():
        check_writable(path, overwrite)
    out_dir.mkdir(parents=True, exist_ok=True)
    if stack.kind == "dicom":
        write_dicom_xa(paths["native"], predicted, stack.extra.get("geometry"), overwrite=overwrite)
    elif stack.kind == "nifti":
        write_nifti(paths["native"], Volume(np.moveaxis(predicted, 0, 2), stack.extra["affine"]), overwrite=overwrite)
    write_tiff(paths["float"], predicted, overwrite=overwrite)
    if conventional is not None:
        write_tiff(paths["conventional"], conventional, overwrite=overwrite)
    scale = float(np.percentile(predicted, 99.5)) or 1.0
    for frame in range(min(MAX_PREVIEWS, len(predicted))):
        live = stack.frames[frame]
        span = float(np.ptp(live)) or 1.0
        left = 1.0 - (live - live.min()) / span  # attenuation dark, like a fluoroscopy display
        right = 1.0 - np.clip(predicted[frame] / scale, 0.0, 1.0)
        write_png(paths[f"preview_{frame}"], np.concatenate([left, right], axis=1), overwrite=overwrite)
    return list(dict.fromkeys(paths.values()))


def check_mask(stack: FrameStack, mask: FrameStack) -> None:
    """Mask frames must have the live frames' size."""
    if mask.frames.shape[1:] != stack.frames.shape[1:]:
        raise InputError(f"mask frames are {mask.frames.shape[1:]} (H, W) but the live frames "
                         f"{stack.frames.shape[1:]}", mask.path)
