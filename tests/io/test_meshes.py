"""Meshes: VTK legacy, VTU and VTP round trips with point arrays, cell data, STL, and bad files refused."""

from __future__ import annotations

import numpy as np
import pytest

from angiogen.errors import InputError
from angiogen.io import Mesh, read_mesh, write_mesh


def _mesh() -> Mesh:
    """Tetrahedron (mm) with its four faces, one volume cell and three point arrays."""
    points = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 12.5, 0.0], [0.0, 0.0, 7.25]])
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    return Mesh(
        points=points,
        cells={"triangle": faces, "tetra": np.array([[0, 1, 2, 3]])},
        point_data={
            "scar_probability": np.array([0.0, 0.25, 0.5, 1.0]),
            "fibre_direction": np.eye(4, 3),
            "region": np.array([1, 2, 2, 3], np.int32),
        },
    )


@pytest.mark.parametrize("suffix", [".vtk", ".vtu"])
@pytest.mark.parametrize("binary", [True, False])
def test_round_trip_with_point_arrays(tmp_path, suffix, binary):
    mesh = _mesh()
    back = read_mesh(write_mesh(tmp_path / f"lv{suffix}", mesh, binary=binary))
    np.testing.assert_array_equal(back.points, mesh.points)
    assert back.points.dtype == np.float64
    assert set(back.cells) == {"triangle", "tetra"}
    for kind, ids in mesh.cells.items():
        np.testing.assert_array_equal(back.cells[kind], ids)
    assert set(back.point_data) == set(mesh.point_data)
    for name, values in mesh.point_data.items():
        np.testing.assert_array_equal(back.point_data[name], values)
        assert back.point_data[name].dtype.isnative


def test_stl_round_trip_triangles(tmp_path):
    mesh = _mesh()
    surface = Mesh(points=mesh.points, cells={"triangle": mesh.cells["triangle"]})
    back = read_mesh(write_mesh(tmp_path / "lv.stl", surface))
    assert back.cells["triangle"].shape == (4, 3)
    # STL stores coordinates per triangle: compare the triangles' corner positions
    np.testing.assert_allclose(
        np.sort(back.points[back.cells["triangle"]].reshape(-1, 3), axis=0),
        np.sort(mesh.points[mesh.cells["triangle"]].reshape(-1, 3), axis=0),
        atol=1e-5,
    )


@pytest.mark.parametrize("suffix", [".vtk", ".vtu"])
def test_mesh_without_points_refused(tmp_path, suffix):
    path = tmp_path / f"empty{suffix}"
    if suffix == ".vtk":
        path.write_text("# vtk DataFile Version 4.2\nempty\nASCII\nDATASET UNSTRUCTURED_GRID\nPOINTS 0 double\n")
    else:
        path.write_text(
            '<?xml version="1.0"?>\n<VTKFile type="UnstructuredGrid" version="0.1" byte_order="LittleEndian">\n'
            '<UnstructuredGrid><Piece NumberOfPoints="0" NumberOfCells="0"></Piece></UnstructuredGrid>\n'
            "</VTKFile>\n"
        )
    with pytest.raises(InputError, match="no points") as caught:
        read_mesh(path)
    assert f"empty{suffix}" in str(caught.value)


def test_missing_file_and_wrong_extension(tmp_path):
    with pytest.raises(InputError, match="no such file") as caught:
        read_mesh(tmp_path / "absent.vtk")
    assert "absent.vtk" in str(caught.value)
    (tmp_path / "lv.obj").write_text("v 0 0 0\n")
    with pytest.raises(InputError, match=r"\.vtu") as caught:
        read_mesh(tmp_path / "lv.obj")
    assert "lv.obj" in str(caught.value)


@pytest.mark.parametrize("binary", [True, False])
def test_vtp_round_trip_surface_with_lines_and_point_arrays(tmp_path, binary):
    mesh = _mesh()
    surface = Mesh(
        points=mesh.points,
        cells={"triangle": mesh.cells["triangle"], "quad": np.array([[0, 1, 2, 3]]), "line": np.array([[0, 3]])},
        point_data=mesh.point_data,
    )
    back = read_mesh(write_mesh(tmp_path / "lv.vtp", surface, binary=binary))
    np.testing.assert_array_equal(back.points, surface.points)
    assert set(back.cells) == set(surface.cells)
    for kind, ids in surface.cells.items():
        np.testing.assert_array_equal(back.cells[kind], ids)
    for name, values in surface.point_data.items():
        np.testing.assert_array_equal(back.point_data[name], values)


def test_vtp_polygons_triangulated_and_cell_data_follows_cells(tmp_path):
    """A hexagon and a polyline written by VTK itself come back as triangles and segments with their cell values."""
    from vtkmodules.util.numpy_support import numpy_to_vtk
    from vtkmodules.vtkCommonCore import vtkPoints
    from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
    from vtkmodules.vtkIOXML import vtkXMLPolyDataWriter

    angles = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    xyz = np.column_stack([np.cos(angles), np.sin(angles), np.zeros(6)])
    polydata = vtkPolyData()
    points = vtkPoints()
    points.SetData(numpy_to_vtk(xyz, deep=True))
    polydata.SetPoints(points)
    polys, lines = vtkCellArray(), vtkCellArray()
    polys.InsertNextCell(6, list(range(6)))
    lines.InsertNextCell(3, [0, 2, 4])
    polydata.SetPolys(polys)
    polydata.SetLines(lines)
    value = numpy_to_vtk(np.array([7.0, 3.0]), deep=True)  # line first (VTK orders verts, lines, polys)
    value.SetName("label")
    polydata.GetCellData().AddArray(value)
    writer = vtkXMLPolyDataWriter()
    writer.SetFileName(str(tmp_path / "hexagon.vtp"))
    writer.SetInputData(polydata)
    writer.Write()

    back = read_mesh(tmp_path / "hexagon.vtp")
    assert back.cells["triangle"].shape == (4, 3)
    np.testing.assert_array_equal(back.cells["line"], [[0, 2], [2, 4]])
    np.testing.assert_array_equal(back.cell_data["label"]["line"], [7.0, 7.0])
    np.testing.assert_array_equal(back.cell_data["label"]["triangle"], [3.0] * 4)


def test_vtp_bad_files_refused(tmp_path):
    (tmp_path / "surface.vtp").write_text("<VTKFile/>")
    with pytest.raises(InputError, match="not a readable VTK PolyData") as caught:
        read_mesh(tmp_path / "surface.vtp")
    assert "surface.vtp" in str(caught.value)
    with pytest.raises(InputError, match="write a .vtu instead"):
        write_mesh(tmp_path / "out.vtp", _mesh())
    assert not (tmp_path / "out.vtp").exists()


@pytest.mark.parametrize("suffix", [".vtk", ".vtu", ".vtp"])
def test_cell_data_round_trip(tmp_path, suffix):
    mesh = Mesh(np.eye(4, 3), {"triangle": np.array([[0, 1, 2], [1, 2, 3]]), "line": np.array([[0, 3]])},
                cell_data={"value": {"triangle": np.array([0.25, 0.75]), "line": np.array([1.0])}})
    back = read_mesh(write_mesh(tmp_path / f"grid{suffix}", mesh))
    np.testing.assert_array_equal(back.cell_data["value"]["triangle"], [0.25, 0.75])
    np.testing.assert_array_equal(back.cell_data["value"]["line"], [1.0])


@pytest.mark.parametrize("suffix", [".vtk", ".vtu", ".stl"])
def test_wrong_content(tmp_path, suffix):
    path = tmp_path / f"garbage{suffix}"
    path.write_text("garbage\n" * 20)
    with pytest.raises(InputError, match="not a readable") as caught:
        read_mesh(path)
    assert f"garbage{suffix}" in str(caught.value)


@pytest.mark.parametrize("suffix", [".vtk", ".vtu"])
def test_truncated_file(tmp_path, suffix):
    path = write_mesh(tmp_path / f"lv{suffix}", _mesh())
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(InputError, match="corrupt or truncated") as caught:
        read_mesh(path)
    assert f"lv{suffix}" in str(caught.value)


def test_writer_refuses_existing_file_and_leaves_it_unchanged(tmp_path):
    path = write_mesh(tmp_path / "lv.vtu", _mesh())
    before = path.read_bytes()
    with pytest.raises(InputError, match="exists") as caught:
        write_mesh(path, _mesh())
    assert "lv.vtu" in str(caught.value)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["lv.vtu"]


def test_mesh_validates_its_arrays():
    points = np.zeros((3, 3))
    with pytest.raises(ValueError, match="outside"):
        Mesh(points=points, cells={"triangle": np.array([[0, 1, 3]])})
    with pytest.raises(ValueError, match="rows"):
        Mesh(points=points, point_data={"scar": np.zeros(4)})
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        Mesh(points=np.zeros((3, 2)))
