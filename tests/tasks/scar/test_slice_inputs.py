"""A DICOM series of oblique LGE slices gives the same pixel groups as the equivalent NIfTI stack."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from angiogen.errors import InputError
from angiogen.io.meshes import Mesh, write_mesh
from angiogen.tasks.scar.data import prepare_case
from angiogen.tasks.scar.groups import build_groups
from angiogen.tasks.scar.slices import read_slices

# A double-oblique stack (RAS): unit row / column directions with exact decimal cosines, 2 x 1.5 mm pixels,
# 8 mm between slices along the normal (0.48, -0.36, 0.8).
ROW_RAS = np.array([0.6, 0.8, 0.0])
COL_RAS = np.array([-0.64, 0.48, 0.6])
NORMAL_RAS = np.cross(ROW_RAS, COL_RAS)
PIXEL_I_MM, PIXEL_J_MM, SPACING_MM = 2.0, 1.5, 8.0
ORIGIN_RAS = np.array([-12.0, 5.0, -20.0])
SHAPE = (9, 7, 4)  # (NI columns, NJ rows, slices)


def _affine() -> np.ndarray:
    affine = np.eye(4)
    affine[:3, 0], affine[:3, 1] = ROW_RAS * PIXEL_I_MM, COL_RAS * PIXEL_J_MM
    affine[:3, 2], affine[:3, 3] = NORMAL_RAS * SPACING_MM, ORIGIN_RAS
    return affine


def _values() -> np.ndarray:
    # Multiples of 1/1000, stored exactly as uint16 with RescaleSlope 0.001.
    return np.random.default_rng(0).integers(0, 1001, SHAPE).astype(np.float64) / 1000


def _write_series(directory: Path, values: np.ndarray, drop: str | None = None) -> list[Path]:
    directory.mkdir()
    series, study = generate_uid(), generate_uid()
    flip = np.array([-1.0, -1.0, 1.0])  # RAS -> LPS
    paths = []
    for s in (2, 0, 3, 1):  # file names out of spatial order
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.Modality, ds.InstanceNumber = "MR", s + 1
        ds.ImagePositionPatient = [f"{v:g}" for v in flip * (ORIGIN_RAS + s * SPACING_MM * NORMAL_RAS)]
        ds.ImageOrientationPatient = [f"{v:g}" for v in np.concatenate([flip * ROW_RAS, flip * COL_RAS])]
        ds.PixelSpacing = [f"{PIXEL_J_MM:g}", f"{PIXEL_I_MM:g}"]  # (between rows, between columns)
        ds.SliceThickness = f"{SPACING_MM:g}"
        ds.Rows, ds.Columns = SHAPE[1], SHAPE[0]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleSlope, ds.RescaleIntercept = "0.001", "0"
        ds.PixelData = np.round(values[:, :, s].T * 1000).astype("<u2").tobytes()  # rows = j, columns = i
        if drop is not None and s == 1:
            delattr(ds, drop)
        path = directory / f"slice_{s * 7 % 5}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _nifti(path: Path, values: np.ndarray) -> Path:
    image = nib.Nifti1Image(values.astype(np.float32), _affine())
    image.set_qform(_affine(), code=1)
    image.set_sform(_affine(), code=1)
    nib.save(image, path)
    return path


def _points() -> np.ndarray:
    # Nodes spread over the stack, some beyond its in-plane and through-plane extent.
    rng = np.random.default_rng(1)
    i, j = rng.uniform(-1.5, SHAPE[0] + 0.5, 3000), rng.uniform(-1.5, SHAPE[1] + 0.5, 3000)
    k = rng.uniform(-0.7, SHAPE[2] - 0.3, 3000)
    return ORIGIN_RAS + i[:, None] * PIXEL_I_MM * ROW_RAS + j[:, None] * PIXEL_J_MM * COL_RAS \
        + k[:, None] * SPACING_MM * NORMAL_RAS


def test_dicom_series_groups_match_nifti(tmp_path: Path) -> None:
    values = _values()
    _write_series(tmp_path / "series", values)
    from_dicom = read_slices(tmp_path / "series")
    from_nifti = read_slices(_nifti(tmp_path / "stack.nii.gz", values))

    np.testing.assert_allclose(from_dicom.affines, from_nifti.affines, atol=1e-5)  # NIfTI stores float32
    np.testing.assert_allclose(from_dicom.values, from_nifti.values, atol=1e-6)
    np.testing.assert_allclose(from_dicom.thickness_mm, from_nifti.thickness_mm)
    points = _points()
    groups_dicom, groups_nifti = build_groups(points, from_dicom), build_groups(points, from_nifti)
    assert groups_nifti.n_groups > 50 and groups_nifti.summary()["nodes_in_no_group"] > 0
    np.testing.assert_array_equal(groups_dicom.member_node, groups_nifti.member_node)
    np.testing.assert_array_equal(groups_dicom.member_group, groups_nifti.member_group)
    np.testing.assert_array_equal(groups_dicom.pixel, groups_nifti.pixel)
    np.testing.assert_allclose(groups_dicom.target, groups_nifti.target, atol=1e-6)


def test_prepare_reads_a_dicom_folder(tmp_path: Path) -> None:
    values = _values()
    _write_series(tmp_path / "series", values)
    points = _points()
    mesh = write_mesh(tmp_path / "mesh.vtu", Mesh(points, {"vertex": np.arange(len(points))[:, None]}))
    data = prepare_case(mesh, tmp_path / "series")
    expected = build_groups(points, read_slices(_nifti(tmp_path / "stack.nii.gz", values)))
    np.testing.assert_array_equal(data.groups.member_node, expected.member_node)


@pytest.mark.parametrize("tag", ["ImageOrientationPatient", "ImagePositionPatient", "PixelSpacing",
                                 "SliceThickness"])
def test_missing_geometry_names_the_file(tmp_path: Path, tag: str) -> None:
    paths = _write_series(tmp_path / "series", _values(), drop=tag)
    with pytest.raises(InputError) as error:
        read_slices(tmp_path / "series")
    assert error.value.path == paths[3] and tag in str(error.value)
