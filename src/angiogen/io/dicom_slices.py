"""DICOM series of planar image slices (MR, e.g. LGE short-axis stacks) with their place in patient space.

One single-frame file per slice. The geometry of each file comes from the image-plane module:

- ImagePositionPatient (0020,0032): centre of the first transmitted pixel (row 0, column 0), mm.
- ImageOrientationPatient (0020,0037): unit direction of a row (column index increasing), then of a column
  (row index increasing).
- PixelSpacing (0028,0030): (between rows, between columns) in mm.
- SliceThickness (0018,0050): mm.

DICOM patient coordinates are LPS; they are returned in RAS (x and y negated), the frame of NIfTI affines as
nibabel reads them, so a mesh placed for the NIfTI export of a series fits the series itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from angiogen.errors import InputError
from angiogen.io.checks import require_directory
from angiogen.io.coordinates import lps_to_ras
from angiogen.io.dicom import _frames_of, _read_dataset, _read_image_header


@dataclass
class DicomSlice:
    """One image plane.

    Attributes:
        pixels: (NI, NJ) float32 values after the modality rescale; ``pixels[i, j]`` is column i, row j of the
            file (i runs along the row direction).
        affine: (4, 4) RAS affine; ``affine @ (i, j, 0, 1)`` is the centre of pixel (i, j) in mm; column 2 is
            the unit plane normal (row direction x column direction, in RAS).
        thickness_mm: SliceThickness, or None when the file has none.
        path: the file.
    """

    pixels: np.ndarray
    affine: np.ndarray
    thickness_mm: float | None
    path: Path


def _floats(dataset: Dataset, keyword: str, count: int, path: Path) -> np.ndarray:
    # A multi-valued numeric tag as floats, or an InputError naming the file and the tag.
    value = dataset.get(keyword)
    if value is None:
        raise InputError(f"has no {keyword}; the slice cannot be placed in space", path)
    values = [value] if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__") else list(value)
    try:
        numbers = np.asarray([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputError(f"has an unreadable {keyword} ({value!r})", path) from error
    if numbers.shape != (count,) or not np.all(np.isfinite(numbers)):
        raise InputError(f"has {keyword} {list(numbers)}; expected {count} finite numbers", path)
    return numbers


def slice_geometry(dataset: Dataset, path: Path) -> tuple[np.ndarray, float | None]:
    """RAS affine (4, 4) of one image plane and its SliceThickness (None when absent).

    Raises:
        InputError: missing or malformed ImagePositionPatient, ImageOrientationPatient or PixelSpacing, direction
            cosines that are not two orthogonal unit vectors, non-positive spacing or thickness.
    """
    position = _floats(dataset, "ImagePositionPatient", 3, path)
    orientation = _floats(dataset, "ImageOrientationPatient", 6, path)
    spacing = _floats(dataset, "PixelSpacing", 2, path)
    row_dir, col_dir = orientation[:3], orientation[3:]
    if (abs(np.linalg.norm(row_dir) - 1) > 1e-3 or abs(np.linalg.norm(col_dir) - 1) > 1e-3
            or abs(row_dir @ col_dir) > 1e-3):
        raise InputError(f"has ImageOrientationPatient {list(orientation)}; expected two orthogonal unit vectors",
                         path)
    if np.any(spacing <= 0):
        raise InputError(f"has PixelSpacing {list(spacing)}; expected positive values", path)
    thickness = None
    if dataset.get("SliceThickness") not in (None, ""):
        thickness = float(_floats(dataset, "SliceThickness", 1, path)[0])
        if thickness <= 0:
            raise InputError(f"has SliceThickness {thickness}; expected a positive value", path)
    affine_lps = np.eye(4)
    affine_lps[:3, 0] = row_dir * spacing[1]  # column index i steps along a row by the column spacing
    affine_lps[:3, 1] = col_dir * spacing[0]  # row index j steps down a column by the row spacing
    affine_lps[:3, 2] = np.cross(row_dir, col_dir)
    affine_lps[:3, 3] = position
    return lps_to_ras(affine_lps), thickness


def read_dicom_slices(directory: str | Path) -> list[DicomSlice]:
    """Read a folder of single-frame DICOM image files, one slice each, in file-name order.

    Files that are not DICOM or hold no image (DICOMDIR, notes) are skipped.

    Raises:
        InputError: missing folder, no image files, more than one series, a multi-frame file, or bad geometry
            (named with the file).
    """
    directory = require_directory(directory)
    slices = []
    series = set()
    for path in sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")):
        if _read_image_header(path) is None:
            continue
        dataset = _read_dataset(path)
        series.add(str(dataset.get("SeriesInstanceUID", "")))
        frames = _frames_of(dataset, path)
        if len(frames) != 1:
            raise InputError(f"holds {len(frames)} frames; expected one slice per file", path)
        affine, thickness = slice_geometry(dataset, path)
        slices.append(DicomSlice(np.ascontiguousarray(frames[0].T), affine, thickness, path))
    if not slices:
        raise InputError("no DICOM image files in this folder", directory)
    if len(series) > 1:
        raise InputError(f"holds {len(series)} series; pass a folder with one series", directory)
    return slices
