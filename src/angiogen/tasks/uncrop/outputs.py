"""The files of ``uncrop predict``: what is read (an image or a folder, masks given or detected) and written.

Per input ``<stem>``: ``<stem>_uncropped`` in the input's own format and size (16-bit PNG for PNG and JPEG inputs,
never JPEG; float32 TIFF for TIFF; DICOM for DICOM, the values mapped back to the file's own units and its C-arm
geometry tags kept), ``<stem>_std.tif`` (float32 per-pixel standard deviation of the K samples) and
``<stem>_preview.png`` (input with the opening outlined | completion | std).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from angiogen.errors import InputError
from angiogen.io.atomic import check_writable
from angiogen.io.checks import has_suffix
from angiogen.io.image_triples import (DICOM_SUFFIXES, IMAGE_FILE_SUFFIXES, binarise_mask, image_stem, pair_folders,
                                       read_grey)
from angiogen.synth.collimation import detect_opening
from angiogen.tasks.uncrop.figures import outlined
from angiogen.tasks.uncrop.infer import Completion


@dataclass
class InputImage:
    """One collimated image to complete: ``image`` (H, W) in [0, 1], its ``opening`` (True = measured), its
    file, and where the opening came from (the mask file, or ``detected``)."""

    name: str
    path: Path
    image: np.ndarray
    opening: np.ndarray
    mask_source: str


def _opening(image: np.ndarray, mask_path: Path | None, path: Path) -> tuple[np.ndarray, str]:
    if mask_path is not None:
        mask = read_grey(mask_path)
        if mask.shape != image.shape:
            raise InputError(f"mask is {mask.shape[::-1]} px (W, H) but its image {image.shape[::-1]}", mask_path)
        return binarise_mask(mask, mask_path), str(mask_path)
    try:
        return detect_opening(image), "detected"
    except InputError as error:
        raise InputError(f"{error.problem}; pass --masks", path) from error


def read_inputs(source: Path, masks: Path | None) -> list[InputImage]:
    """The images of ``source`` (a file or a folder) with their openings: from ``masks`` (a file, or a folder
    paired by name like ``prepare``'s) or detected from the collimator edges."""
    if not source.exists():
        raise InputError("no such file or folder", source)
    if source.is_dir():
        if masks is not None and masks.is_dir():
            return [InputImage(t.name, t.paths["collimated"], t.collimated, t.mask, str(t.paths["mask"]))
                    for t in pair_folders(None, source, masks)]
        if masks is not None:
            raise InputError("a folder of images needs a folder of masks (or none, to detect the openings)", masks)
        files = sorted(p for p in source.iterdir() if p.is_file() and has_suffix(p, IMAGE_FILE_SUFFIXES))
        if not files:
            raise InputError("the folder holds no PNG, TIFF, JPEG or DICOM image", source)
    else:
        if masks is not None and masks.is_dir():
            raise InputError("one image needs one mask file, not a folder", masks)
        files = [source]
    inputs = []
    for path in files:
        image = read_grey(path)
        opening, mask_source = _opening(image, masks if source.is_file() else None, path)
        inputs.append(InputImage(image_stem(path), path, image, opening, mask_source))
    return inputs


def output_paths(out_dir: Path, item: InputImage) -> dict[str, Path]:
    """Every file :func:`write_outputs` writes for ``item``, by role."""
    if has_suffix(item.path, DICOM_SUFFIXES):
        native = ".dcm"
    elif has_suffix(item.path, (".tif", ".tiff")):
        native = ".tif"
    else:
        native = ".png"
    return {"uncropped": out_dir / f"{item.name}_uncropped{native}", "std": out_dir / f"{item.name}_std.tif",
            "preview": out_dir / f"{item.name}_preview.png"}


def _write_dicom_like(path: Path, image: np.ndarray, item: InputImage, overwrite: bool) -> Path:
    """``image`` in [0, 1] mapped back to the DICOM file's own units (the affine map read_grey applied, fitted on
    the input) and written with its geometry tags."""
    from angiogen.io.frames import read_frames, write_frames_like

    stack = read_frames(item.path)
    stored = stack.frames[0].astype(np.float64).ravel()
    grey = item.image.astype(np.float64).ravel()
    slope, intercept = np.polyfit(grey, stored, 1) if grey.std() > 0 else (0.0, float(stored.mean()))
    return write_frames_like(path, (slope * image + intercept)[None].astype(np.float32), stack, overwrite)


def write_outputs(out_dir: Path, item: InputImage, completion: Completion, overwrite: bool = False) -> dict:
    """Write the completion of ``item`` (see the module docstring); returns its record for ``predictions.json``."""
    from angiogen.io.images import write_png, write_tiff

    paths = output_paths(out_dir, item)
    for path in paths.values():
        check_writable(path, overwrite)
    out_dir.mkdir(parents=True, exist_ok=True)
    if paths["uncropped"].suffix == ".dcm":
        _write_dicom_like(paths["uncropped"], completion.mean, item, overwrite)
    elif paths["uncropped"].suffix == ".tif":
        write_tiff(paths["uncropped"], completion.mean, overwrite=overwrite)
    else:
        write_png(paths["uncropped"], completion.mean, bits=16, overwrite=overwrite)
    write_tiff(paths["std"], completion.std, overwrite=overwrite)
    spread = completion.std / max(float(completion.std.max()), 1e-6)
    preview = np.concatenate([outlined(item.image, item.opening), completion.mean, spread], axis=1)
    write_png(paths["preview"], preview, overwrite=overwrite)
    return {"name": item.name, "input": str(item.path), "opening": item.mask_source,
            "opening_fraction": round(float(item.opening.mean()), 4),
            "files": {role: str(path) for role, path in paths.items()}}
