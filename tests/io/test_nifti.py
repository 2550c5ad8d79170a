"""NIfTI reading and writing: data, affine, spacing and orientation survive; bad files are refused."""

from __future__ import annotations

import time

import nibabel as nib
import numpy as np
import pytest

from angiogen.errors import InputError
from angiogen.io import Volume, read_nifti, write_nifti


def _oblique_affine() -> np.ndarray:
    """Voxel-to-world (mm): anisotropic spacing (0.5, 0.8, 2.0) rotated 30 deg about z, then shifted."""
    angle = np.deg2rad(30.0)
    rotation = np.array(
        [[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]]
    )
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([0.5, 0.8, 2.0])
    affine[:3, 3] = [-10.0, 25.5, 3.0]
    return affine


def _volume(shape=(6, 7, 5), affine=None, seed=0) -> Volume:
    rng = np.random.default_rng(seed)
    data = rng.normal(size=shape).astype(np.float32) * 300.0
    return Volume(data=data, affine=np.diag([0.7, 0.7, 1.5, 1.0]) if affine is None else affine)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize(
    "affine, spacing, orientation",
    [
        (np.diag([0.7, 0.7, 1.5, 1.0]), (0.7, 0.7, 1.5), ("R", "A", "S")),
        (np.diag([-1.0, -1.0, 2.0, 1.0]), (1.0, 1.0, 2.0), ("L", "P", "S")),
        (_oblique_affine(), (0.5, 0.8, 2.0), ("R", "A", "S")),
    ],
)
def test_round_trip_keeps_data_affine_spacing_orientation(tmp_path, suffix, affine, spacing, orientation):
    volume = _volume(affine=affine)
    path = write_nifti(tmp_path / f"vol{suffix}", volume)
    back = read_nifti(path)
    assert back.data.dtype == np.float32 and back.data.shape == (6, 7, 5)
    np.testing.assert_array_equal(back.data, volume.data)
    np.testing.assert_allclose(back.affine, affine, atol=1e-5)  # NIfTI stores the sform as float32
    np.testing.assert_allclose(back.spacing_mm, spacing, rtol=1e-6)
    assert back.orientation == orientation
    # an independent reader agrees on the affine: the file itself is right, not just our reader
    np.testing.assert_allclose(nib.load(path).affine, affine, atol=1e-5)


def test_orientation_of_oblique_affine_follows_dominant_axis():
    # rotate 80 deg about z: voxel axis i now points mostly towards A, axis j mostly towards L
    angle = np.deg2rad(80.0)
    affine = np.eye(4)
    affine[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    assert Volume(np.zeros((2, 2, 2)), affine).orientation == ("A", "L", "S")


def test_round_trip_4d(tmp_path):
    volume = _volume(shape=(4, 3, 2, 5))
    back = read_nifti(write_nifti(tmp_path / "cine.nii.gz", volume))
    assert back.shape == (4, 3, 2, 5)
    np.testing.assert_array_equal(back.data, volume.data)


def test_writer_refuses_existing_file_and_leaves_it_unchanged(tmp_path):
    path = write_nifti(tmp_path / "vol.nii.gz", _volume(seed=1))
    before = path.read_bytes()
    with pytest.raises(InputError, match="exists") as caught:
        write_nifti(path, _volume(seed=2))
    assert "vol.nii.gz" in str(caught.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vol.nii.gz"]  # no temp file left behind
    write_nifti(path, _volume(seed=2), overwrite=True)
    np.testing.assert_array_equal(read_nifti(path).data, _volume(seed=2).data)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file") as caught:
        read_nifti(tmp_path / "absent.nii.gz")
    assert "absent.nii.gz" in str(caught.value)


def test_wrong_extension(tmp_path):
    path = tmp_path / "vol.mha"
    path.write_bytes(b"\0" * 400)
    with pytest.raises(InputError, match=r"\.nii\.gz") as caught:
        read_nifti(path)
    assert "vol.mha" in str(caught.value)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_wrong_content(tmp_path, suffix):
    path = tmp_path / f"notes{suffix}"
    path.write_text("this is not an image\n" * 50)
    with pytest.raises(InputError) as caught:
        read_nifti(path)
    assert f"notes{suffix}" in str(caught.value)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_truncated_file(tmp_path, suffix):
    path = write_nifti(tmp_path / f"vol{suffix}", _volume(shape=(40, 40, 40)))
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(InputError, match="truncated") as caught:
        read_nifti(path)
    assert f"vol{suffix}" in str(caught.value)


def test_nonfinite_voxels_refused_unless_allowed(tmp_path):
    volume = _volume()
    volume.data[0, 0, 0] = np.nan
    volume.data[1, 0, 0] = np.inf
    path = write_nifti(tmp_path / "nan.nii", volume)
    with pytest.raises(InputError, match="1 NaN and 1 infinite") as caught:
        read_nifti(path)
    assert "nan.nii" in str(caught.value)
    back = read_nifti(path, allow_nonfinite=True)
    assert np.isnan(back.data[0, 0, 0]) and np.isposinf(back.data[1, 0, 0])


@pytest.mark.parametrize("header_class", [nib.Nifti1Header, nib.Nifti2Header])
def test_absurd_header_size_refused_before_allocating(tmp_path, header_class):
    # NIfTI-1 dims are int16 (max 32767); NIfTI-2 dims are int64 and can declare 100000**3
    side = 30000 if header_class is nib.Nifti1Header else 100000
    header = header_class()
    header.set_data_shape((side, side, side))
    header.set_data_dtype(np.float32)
    path = tmp_path / "huge.nii"
    offset = int(header.get_data_offset())
    path.write_bytes(header.binaryblock.ljust(offset, b"\0") + b"\0" * 64)
    start = time.perf_counter()
    with pytest.raises(InputError, match="limit") as caught:
        read_nifti(path)
    assert time.perf_counter() - start < 1.0
    assert "huge.nii" in str(caught.value)
