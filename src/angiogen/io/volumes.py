"""One entry point for 3D/4D images with geometry: NIfTI or NRRD, chosen by the file's extension."""

from __future__ import annotations

from pathlib import Path

from angiogen.io.checks import has_suffix, require_file
from angiogen.io.nifti import NIFTI_SUFFIXES, Volume, read_nifti
from angiogen.io.nrrd import NRRD_SUFFIXES, read_nrrd

VOLUME_SUFFIXES = NIFTI_SUFFIXES + NRRD_SUFFIXES


def read_volume(path: str | Path, allow_nonfinite: bool = False) -> Volume:
    """Read a .nii/.nii.gz (:func:`read_nifti`) or .nrrd/.nhdr (:func:`read_nrrd`) file into a RAS+ :class:`Volume`.

    Raises:
        InputError: another extension, or whatever the format's reader refuses.
    """
    path = require_file(path, VOLUME_SUFFIXES)
    reader = read_nrrd if has_suffix(path, NRRD_SUFFIXES) else read_nifti
    return reader(path, allow_nonfinite=allow_nonfinite)
