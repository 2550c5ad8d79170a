"""Slice inputs: a DICOM series and an NRRD of oblique LGE slices give the same pixel groups as the equivalent NIfTI
stack; the original's VTK grid layers give the groups of their cells' prisms; bad inputs name the file."""

from __future__ import annotations

from pathlib import Path

import meshio
import nibabel as nib
import nrrd
import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from angiogen.errors import InputError
from angiogen.io.meshes import Mesh, read_mesh, write_mesh
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
    mesh = write_mesh(tmp_path / "mesh.vtu", Mesh(points, {"vertex": np.arange(len(points))[:, None]},
                                                  {"node_volume_mm3": np.ones(len(points))}))
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


def test_nrrd_in_lps_gives_the_nifti_groups(tmp_path: Path) -> None:
    values = _values()
    flip = np.array([-1.0, -1.0, 1.0])  # RAS -> LPS, as 3D Slicer writes
    header = {"space": "left-posterior-superior", "space origin": flip * ORIGIN_RAS,
              "space directions": (flip[:, None] * _affine()[:3, :3]).T}
    nrrd.write(str(tmp_path / "stack.nrrd"), values.astype(np.float32), header)
    from_nrrd = read_slices(tmp_path / "stack.nrrd")
    from_nifti = read_slices(_nifti(tmp_path / "stack.nii.gz", values))
    np.testing.assert_allclose(from_nrrd.affines, from_nifti.affines, atol=1e-5)
    points = _points()
    np.testing.assert_array_equal(build_groups(points, from_nrrd).member_node,
                                  build_groups(points, from_nifti).member_node)
    np.testing.assert_array_equal(build_groups(points, from_nrrd).pixel, build_groups(points, from_nifti).pixel)


def test_nrrd_without_space_directions_refused(tmp_path: Path) -> None:
    nrrd.write(str(tmp_path / "plain.nrrd"), np.zeros((4, 4, 2), np.float32))
    with pytest.raises(InputError, match="no spatial metadata") as error:
        read_slices(tmp_path / "plain.nrrd")
    assert error.value.path == tmp_path / "plain.nrrd"


# Grid layers as the original writes them: 3 x 2 mm quads at z = 10, 18, 26 mm, one file per slice.
LAYER_PIXEL, LAYER_Z, LAYER_SHAPE = np.array([3.0, 2.0]), np.array([10.0, 18.0, 26.0]), (5, 4)


def _write_layers(directory: Path, values: np.ndarray, skip: tuple[int, int, int] | None = None,
                  extra_array: bool = False, suffix: str = ".vtk") -> None:
    directory.mkdir()
    for s, z in enumerate(LAYER_Z):
        corners, quads, cell_values = [], [], []
        for i in range(LAYER_SHAPE[0]):
            for j in range(LAYER_SHAPE[1]):
                if skip == (s, i, j):
                    continue
                x0, y0 = -7.0 + i * LAYER_PIXEL[0], 4.0 + j * LAYER_PIXEL[1]
                base = len(corners)
                corners += [[x0, y0, z], [x0 + LAYER_PIXEL[0], y0, z], [x0 + LAYER_PIXEL[0], y0 + LAYER_PIXEL[1], z],
                            [x0, y0 + LAYER_PIXEL[1], z]]
                quads.append([base, base + 1, base + 2, base + 3])
                cell_values.append(values[s, i, j])
        cell_data = {"scar": [np.array(cell_values)]}
        if extra_array:
            cell_data["label"] = [np.ones(len(quads))]
        meshio.write(directory / f"layer_{s * 5}{suffix}", meshio.Mesh(np.array(corners), [("quad", np.array(quads))],
                                                                     cell_data=cell_data))


def test_vtk_layers_give_the_original_prisms(tmp_path: Path) -> None:
    values = np.random.default_rng(2).uniform(0, 1, (3, *LAYER_SHAPE))
    _write_layers(tmp_path / "layers", values, skip=(1, 2, 1))
    stack = read_slices(tmp_path / "layers")
    np.testing.assert_allclose(stack.values, values * stack.valid, atol=1e-6)
    assert not stack.valid[1, 2, 1] and stack.valid.sum() == values.size - 1
    np.testing.assert_allclose(stack.thickness_mm, 10.0)  # flat layers: 2 x the original's 5 mm padding

    def at(s: int, i: int, j: int, dz: float) -> list[float]:  # a node over pixel (i, j) of layer s, dz off its plane
        return [-7.0 + (i + 0.5) * LAYER_PIXEL[0], 4.0 + (j + 0.5) * LAYER_PIXEL[1], LAYER_Z[s] + dz]

    points = np.array([at(0, 0, 0, 0.0), at(0, 4, 3, 4.9), at(2, 3, 1, -4.9), at(0, 1, 1, 5.1),
                       at(1, 2, 1, 0.0), at(1, 2, 2, 0.0), [-7.5, 5.0, 10.0]])
    groups = build_groups(points, stack)
    members = {(int(node), *map(int, groups.pixel[group]))
               for node, group in zip(groups.member_node, groups.member_group)}
    # Prisms are 10 mm thick and 8 mm apart, so they overlap: node 1 (4.9 mm above layer 0) is also 3.1 mm below
    # layer 1; node 3 (5.1 mm above layer 0) is outside layer 0's prism but 2.9 mm below layer 1.
    assert members == {(0, 0, 0, 0), (1, 0, 4, 3), (1, 1, 4, 3), (2, 2, 3, 1), (2, 1, 3, 1), (3, 1, 1, 1),
                       (5, 1, 2, 2)}
    np.testing.assert_allclose(groups.target, values[tuple(groups.pixel.T)], atol=1e-6)
    # node 4 sits on the missing cell, node 6 left of the grid: in no group


@pytest.mark.parametrize("suffix", [".vtu", ".vtp"])
def test_vtk_layers_in_xml_formats(tmp_path: Path, suffix: str) -> None:
    values = np.random.default_rng(3).uniform(0, 1, (3, *LAYER_SHAPE))
    _write_layers(tmp_path / "layers", values, suffix=".vtu")
    if suffix == ".vtp":  # meshio cannot write PolyData: convert each layer with angiogen's writer
        for path in sorted((tmp_path / "layers").iterdir()):
            write_mesh(path.with_suffix(".vtp"), read_mesh(path))
            path.unlink()
    stack = read_slices(tmp_path / "layers")
    np.testing.assert_allclose(stack.values, values, atol=1e-6)
    np.testing.assert_allclose(stack.affines[:, 2, 3], LAYER_Z)


@pytest.mark.parametrize("problem, message", [
    ("two arrays", "several cell arrays"),
    ("not flat", "not on one plane"),
    ("out of range", "expected scar probabilities"),
])
def test_bad_vtk_layers_name_the_file(tmp_path: Path, problem: str, message: str) -> None:
    values = np.random.default_rng(4).uniform(0, 1, (3, *LAYER_SHAPE))
    if problem == "out of range":
        values[1, 0, 0] = 1.5
    _write_layers(tmp_path / "layers", values, extra_array=problem == "two arrays")
    bad = tmp_path / "layers" / "layer_5.vtk"
    if problem == "not flat":
        grid = meshio.read(bad)
        grid.points[:4, 2] += 1.0
        meshio.write(bad, grid)
    with pytest.raises(InputError, match=message) as error:
        read_slices(tmp_path / "layers")
    assert error.value.path in (bad, tmp_path / "layers" / "layer_0.vtk")


def test_layer_array_option_picks_the_values(tmp_path: Path) -> None:
    values = np.random.default_rng(5).uniform(0, 1, (3, *LAYER_SHAPE))
    _write_layers(tmp_path / "layers", values, extra_array=True)
    np.testing.assert_allclose(read_slices(tmp_path / "layers", array="scar").values, values, atol=1e-6)
    np.testing.assert_allclose(read_slices(tmp_path / "layers", array="label").values, 1.0)
