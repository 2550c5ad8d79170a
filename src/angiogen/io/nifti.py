"""NIfTI-1/2 volumes (.nii, .nii.gz) with their voxel-to-world affine kept (nibabel)."""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError
from nibabel.spatialimages import HeaderDataError

from angiogen.errors import InputError
from angiogen.io.atomic import atomic_path
from angiogen.io.checks import require_file, require_finite, require_sane_shape

NIFTI_SUFFIXES = (".nii", ".nii.gz")

# What nibabel raises on a file that is not NIfTI, has a broken header, or ends early.
_NIBABEL_ERRORS = (
    ImageFileError,
    HeaderDataError,
    OSError,
    EOFError,
    ValueError,
    zlib.error,
    struct.error,
    gzip.BadGzipFile,
)


@dataclass
class Volume:
    """A 3D or 4D image on a regular grid with its position in world space.

    Attributes:
        data: (X, Y, Z) or (X, Y, Z, T) float32 array in nibabel (file) order: axis 0 runs along
            the first voxel index i, axis 1 along j, axis 2 along k; T is time or channel.
        affine: (4, 4) float64 matrix mapping voxel indices (i, j, k, 1) to world coordinates in
            millimetres (RAS+ scanner space, as nibabel reports it).
    """

    data: np.ndarray
    affine: np.ndarray

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data, dtype=np.float32)
        self.affine = np.asarray(self.affine, dtype=np.float64)
        if self.data.ndim not in (3, 4):
            raise ValueError(f"Volume.data must be (X, Y, Z) or (X, Y, Z, T), got {self.data.shape}")
        if self.affine.shape != (4, 4):
            raise ValueError(f"Volume.affine must be (4, 4), got {self.affine.shape}")

    @property
    def shape(self) -> tuple[int, ...]:
        """Voxel grid shape (X, Y, Z[, T])."""
        return tuple(self.data.shape)

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        """Voxel size along i, j, k in millimetres (column norms of the affine's 3x3 block)."""
        norms = np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))
        return (float(norms[0]), float(norms[1]), float(norms[2]))

    @property
    def orientation(self) -> tuple[str, str, str]:
        """Axis codes, e.g. ``("R", "A", "S")``: the world direction each voxel axis increases towards."""
        return tuple(nib.aff2axcodes(self.affine))  # type: ignore[return-value]


def read_nifti(path: str | Path, allow_nonfinite: bool = False) -> Volume:
    """Read a NIfTI-1 or NIfTI-2 file (.nii or .nii.gz) into a :class:`Volume`.

    The header is read and its shape checked before any voxel data is loaded, so a corrupt or
    absurd header fails fast instead of exhausting memory. Scaling (scl_slope, scl_inter) is applied.

    Args:
        path: the .nii or .nii.gz file.
        allow_nonfinite: accept NaN/Inf voxels instead of refusing them.

    Returns:
        Volume with data (X, Y, Z[, T]) float32 and affine (4, 4) in millimetres.

    Raises:
        InputError: missing file, wrong extension, not NIfTI, truncated or corrupt data, a shape
            that is not 3D/4D or too large, or non-finite voxels.
    """
    path = require_file(path, NIFTI_SUFFIXES)
    try:
        image = nib.load(path)  # reads the header only; voxel data stays on disk
    except _NIBABEL_ERRORS as error:
        raise InputError(f"not a readable NIfTI file ({_reason(error, path)})", path) from error
    if not isinstance(image, (nib.Nifti1Image, nib.Nifti2Image)):
        raise InputError(f"not a NIfTI file (nibabel reads it as {type(image).__name__})", path)

    shape = require_sane_shape(image.shape, path)
    shape = _squeeze_trailing(shape)
    if len(shape) not in (3, 4):
        raise InputError(f"holds a {len(shape)}D image {shape}; expected 3D or 4D", path)
    _require_complete_uncompressed(image, path)

    try:
        data = np.asarray(image.get_fdata(dtype=np.float32)).reshape(shape)
    except _NIBABEL_ERRORS as error:
        raise InputError(f"voxel data is truncated or corrupt ({_reason(error, path)})", path) from error
    if not allow_nonfinite:
        require_finite(data, path)
    return Volume(data=data, affine=np.asarray(image.affine, dtype=np.float64))


def write_nifti(path: str | Path, volume: Volume, overwrite: bool = False) -> Path:
    """Write ``volume`` as NIfTI-1 float32 (.nii or .nii.gz, chosen by the extension), atomically.

    The affine is stored as both sform and qform with code "scanner"; units are mm and seconds.

    Args:
        path: target file ending in .nii or .nii.gz.
        volume: data (X, Y, Z[, T]) float32 and affine (4, 4) in millimetres.
        overwrite: replace an existing file; otherwise an existing file raises InputError.

    Returns:
        ``path`` as a Path.
    """
    path = Path(path)
    if not path.name.lower().endswith(NIFTI_SUFFIXES):
        raise InputError(f"unsupported file extension; expected one of: {', '.join(NIFTI_SUFFIXES)}", path)
    image = nib.Nifti1Image(volume.data.astype(np.float32, copy=False), volume.affine)
    image.header.set_data_dtype(np.float32)
    image.header.set_xyzt_units("mm", "sec")
    image.set_sform(volume.affine, code="scanner")
    image.set_qform(volume.affine, code="scanner")
    with atomic_path(path, overwrite) as tmp:
        nib.save(image, tmp)
    return path


def _reason(error: BaseException, path: Path) -> str:
    """nibabel's message with the full path it repeats shortened to the file name."""
    text = str(error).replace(str(path), path.name)
    return text or type(error).__name__


def _squeeze_trailing(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Drop trailing singleton dimensions beyond the third (NIfTI pads dim[] with ones)."""
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    return shape


def _require_complete_uncompressed(image: nib.Nifti1Image, path: Path) -> None:
    """For an uncompressed .nii, check the file is long enough for the voxel data its header declares."""
    if path.name.lower().endswith(".gz"):
        return  # the length of compressed data is only known after decompressing it
    header = image.header
    n_bytes = int(np.prod(image.shape, dtype=np.int64)) * header.get_data_dtype().itemsize
    expected = int(header.get_data_offset()) + n_bytes
    actual = path.stat().st_size
    if actual < expected:
        raise InputError(
            f"is truncated: the header declares {expected} bytes, the file holds {actual}", path
        )
