"""Checks on input files and arrays, run before anything is read or allocated.

Each check raises :class:`angiogen.errors.InputError` naming the file, so the CLI prints one line
``path: problem`` and exits with code 2.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from angiogen.errors import InputError

# Largest number of elements (voxels x frames x channels) a reader will allocate: 2**31 float32
# values are 8 GiB, more than any volume or cine run this toolkit handles on one machine.
MAX_VOXELS = 2**31


def has_suffix(path: str | Path, suffixes: Iterable[str]) -> bool:
    """True when the file name ends with one of ``suffixes`` (case-insensitive, e.g. ``".nii.gz"``)."""
    name = Path(path).name.lower()
    return any(name.endswith(suffix.lower()) for suffix in suffixes)


def require_file(path: str | Path, suffixes: Sequence[str] | None = None) -> Path:
    """Return ``path`` as a Path after checking it is an existing file with an accepted extension.

    Args:
        path: the file to read.
        suffixes: accepted endings such as ``(".nii", ".nii.gz")``, compared case-insensitively;
            ``None`` or empty accepts any name (DICOM files often have no extension).

    Raises:
        InputError: the file does not exist, is a directory, or has another extension.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("no such file", path)
    if path.is_dir():
        raise InputError("is a directory, expected a file", path)
    if suffixes and not has_suffix(path, suffixes):
        expected = ", ".join(suffixes)
        raise InputError(f"unsupported file extension; expected one of: {expected}", path)
    return path


def require_directory(path: str | Path) -> Path:
    """Return ``path`` as a Path after checking it is an existing directory."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such directory", path)
    if not path.is_dir():
        raise InputError("is a file, expected a directory", path)
    return path


def require_finite(array: np.ndarray, path: str | Path) -> None:
    """Refuse an array holding NaN or +-Inf values read from ``path``.

    Args:
        array: any shape, floating or integer (integers are always finite).
        path: the file the array came from, named in the message.

    Raises:
        InputError: saying how many values are NaN and how many infinite.
    """
    if not np.issubdtype(array.dtype, np.floating):
        return
    n_nan = int(np.count_nonzero(np.isnan(array)))
    n_inf = int(np.count_nonzero(np.isinf(array)))
    if n_nan or n_inf:
        raise InputError(
            f"holds {n_nan} NaN and {n_inf} infinite values out of {array.size}; "
            "clean the data or explicitly allow non-finite values",
            path,
        )


def require_sane_shape(
    shape: Sequence[int], path: str | Path, max_voxels: int = MAX_VOXELS
) -> tuple[int, ...]:
    """Check a shape declared in a file header before any memory is allocated for it.

    Args:
        shape: array shape read from the header (any number of dimensions).
        path: the file that declares it, named in the message.
        max_voxels: largest accepted number of elements (default :data:`MAX_VOXELS`).

    Returns:
        The shape as a tuple of ints.

    Raises:
        InputError: a dimension is zero or negative, or the element count exceeds ``max_voxels``.
    """
    dims = tuple(int(size) for size in shape)
    if not dims or any(size <= 0 for size in dims):
        raise InputError(f"declares an empty or invalid shape {dims}", path)
    n_voxels = math.prod(dims)
    if n_voxels > max_voxels:
        raise InputError(
            f"declares shape {dims} ({n_voxels:.3g} elements), more than the limit of "
            f"{max_voxels:.3g}; the header is corrupt or the data too large",
            path,
        )
    return dims
