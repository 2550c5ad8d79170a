"""NRRD volumes (.nrrd, .nhdr) with their index-to-world geometry (pynrrd), as :class:`Volume` in RAS+ millimetres."""

from __future__ import annotations

from pathlib import Path

import nrrd
import numpy as np

from angiogen.errors import InputError
from angiogen.io.checks import require_file, require_finite, require_sane_shape
from angiogen.io.coordinates import SPACE_FLIPS_TO_RAS
from angiogen.io.nifti import Volume

NRRD_SUFFIXES = (".nrrd", ".nhdr")



def read_nrrd(path: str | Path, allow_nonfinite: bool = False) -> Volume:
    """Read a 3D (or 3D + list) NRRD into a :class:`Volume` whose affine maps (i, j, k) to RAS+ mm.

    The affine comes from ``space``, ``space directions`` and ``space origin`` (LPS, as Slicer writes, is turned
    into RAS); a non-spatial leading axis (``kinds`` list/vector/...) becomes the last, channel axis.

    Raises:
        InputError: unreadable file, no ``space directions`` (no spatial metadata), a space other than a 3D one,
            a shape that is not 3D/4D or too large, non-finite values.
    """
    path = require_file(path, NRRD_SUFFIXES)
    try:
        header = nrrd.read_header(str(path))
    except (nrrd.NRRDError, OSError, ValueError, UnicodeDecodeError) as error:
        raise InputError(f"not a readable NRRD header ({error})", path) from error
    require_sane_shape(tuple(int(n) for n in header.get("sizes", ())), path)
    directions = header.get("space directions")
    if directions is None:
        raise InputError("has no spatial metadata (space, space directions); the image cannot be placed", path)
    space = str(header.get("space", "scanner-xyz")).lower()  # "space dimension: 3" alone means scanner axes
    if space not in SPACE_FLIPS_TO_RAS:
        raise InputError(f"space {space!r} is not a 3D patient or scanner space", path)
    try:
        data, header = nrrd.read(str(path))
    except (nrrd.NRRDError, OSError, ValueError, EOFError) as error:
        raise InputError(f"voxel data is truncated or corrupt ({error})", path) from error
    directions = np.asarray(header["space directions"], dtype=object)
    spatial = [axis for axis, row in enumerate(directions) if row is not None and not _is_nan_row(row)]
    if len(spatial) != 3:
        raise InputError(f"has {len(spatial)} spatial axes; expected 3", path)
    channel_axes = [axis for axis in range(data.ndim) if axis not in spatial]
    data = np.moveaxis(np.asarray(data, dtype=np.float32), spatial + channel_axes, range(data.ndim))
    if data.ndim > 4:
        raise InputError(f"holds a {data.ndim}D image; expected 3D or 4D", path)
    flips = np.array(SPACE_FLIPS_TO_RAS[space], dtype=np.float64)
    affine = np.eye(4)
    affine[:3, :3] = np.stack([np.asarray(directions[axis], dtype=np.float64) for axis in spatial], axis=1)
    affine[:3, 3] = np.asarray(header.get("space origin", np.zeros(3)), dtype=np.float64)
    affine[:3] *= flips[:, None]
    if not allow_nonfinite:
        require_finite(data, path)
    return Volume(data=data, affine=affine)


def _is_nan_row(row: object) -> bool:
    """True for pynrrd's marker of a non-spatial axis (a row of NaN)."""
    return bool(np.all(np.isnan(np.asarray(row, dtype=np.float64))))
