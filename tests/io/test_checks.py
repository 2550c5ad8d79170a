"""Input checks: each refuses bad input with an InputError naming the file."""

from __future__ import annotations

import numpy as np
import pytest

from angiogen.errors import InputError
from angiogen.io import MAX_VOXELS, require_file, require_finite, require_sane_shape


def test_require_file_accepts_existing_file_with_listed_suffix(tmp_path):
    path = tmp_path / "scan.NII.GZ"
    path.write_bytes(b"x")
    assert require_file(path, (".nii", ".nii.gz")) == path


def test_require_file_refuses_missing_file(tmp_path):
    path = tmp_path / "absent.nii"
    with pytest.raises(InputError, match="no such file") as caught:
        require_file(path, (".nii",))
    assert caught.value.path == path
    assert "absent.nii" in str(caught.value)


def test_require_file_refuses_wrong_extension_and_names_expected_ones(tmp_path):
    path = tmp_path / "scan.txt"
    path.write_text("x")
    with pytest.raises(InputError) as caught:
        require_file(path, (".nii", ".nii.gz"))
    message = str(caught.value)
    assert "scan.txt" in message and ".nii" in message and ".nii.gz" in message


def test_require_file_refuses_directory(tmp_path):
    with pytest.raises(InputError, match="directory"):
        require_file(tmp_path)


def test_require_finite_counts_nan_and_inf(tmp_path):
    array = np.zeros((4, 4), np.float32)
    array[0, :3] = np.nan
    array[1, 0] = np.inf
    array[2, 0] = -np.inf
    with pytest.raises(InputError) as caught:
        require_finite(array, tmp_path / "frames.tif")
    message = str(caught.value)
    assert "3 NaN" in message and "2 infinite" in message and "frames.tif" in message


def test_require_finite_passes_finite_and_integer_arrays(tmp_path):
    require_finite(np.ones((3, 3), np.float64), tmp_path / "a")
    require_finite(np.arange(5), tmp_path / "b")


def test_require_sane_shape_refuses_more_than_max_voxels(tmp_path):
    side = int(round(MAX_VOXELS ** (1 / 3))) + 2  # side**3 just above the limit
    with pytest.raises(InputError, match="limit") as caught:
        require_sane_shape((side, side, side), tmp_path / "huge.nii")
    assert "huge.nii" in str(caught.value)
    assert require_sane_shape((side, side, side - 10), tmp_path / "ok.nii") == (side, side, side - 10)


@pytest.mark.parametrize("shape", [(0, 4, 4), (4, -1, 4), ()])
def test_require_sane_shape_refuses_empty_or_negative(tmp_path, shape):
    with pytest.raises(InputError, match="empty or invalid"):
        require_sane_shape(shape, tmp_path / "x.nii")
