"""Every mesh angiogen writes opens in VTK's own readers (what ParaView and PyVista use) with every array intact."""

from __future__ import annotations

import numpy as np
import pytest
from vtkmodules.util.numpy_support import vtk_to_numpy

from angiogen.io.meshes import Mesh, vtk_storable, write_mesh
from vtk_checks import read_with_vtk

DTYPES = [np.bool_, np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.int64, np.float16, np.float32,
          np.float64]


def _mesh(kind: str, dtype) -> Mesh:
    points = np.random.default_rng(0).uniform(-10, 10, (6, 3))
    cells = {"tetra": np.array([[0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5]])} if kind == "volume" else \
        {"triangle": np.array([[0, 1, 2], [1, 2, 3], [3, 4, 5]])}
    values = (np.arange(6) % 2 == 0) if dtype is np.bool_ else (np.arange(6) * 3).astype(dtype)
    per_cell = values[:3]
    return Mesh(points, cells, {"values": values, "vector": np.arange(18.0).reshape(6, 3)},
                {"per_cell": {next(iter(cells)): per_cell}})


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda dtype: np.dtype(dtype).name)
@pytest.mark.parametrize("suffix", [".vtk", ".vtu", ".vtp"])
def test_vtk_readers_get_every_array(tmp_path, suffix, dtype, binary):
    mesh = _mesh("surface" if suffix == ".vtp" else "volume", dtype)
    path = write_mesh(tmp_path / f"mesh{suffix}", mesh, binary=binary)
    data = read_with_vtk(path)
    assert data.GetNumberOfPoints() == 6
    np.testing.assert_allclose(vtk_to_numpy(data.GetPoints().GetData()), mesh.points, rtol=1e-6)
    for name, values in mesh.point_data.items():
        array = data.GetPointData().GetArray(name)
        assert array is not None, f"VTK's reader dropped point array {name!r} ({values.dtype})"
        np.testing.assert_array_equal(vtk_to_numpy(array), vtk_storable(values))
    cell_array = data.GetCellData().GetArray("per_cell")
    assert cell_array is not None
    (per_cell,) = mesh.cell_data["per_cell"].values()
    np.testing.assert_array_equal(vtk_to_numpy(cell_array), vtk_storable(per_cell))


def test_storable_types():
    assert vtk_storable(np.array([True, False])).dtype == np.uint8
    assert vtk_storable(np.zeros(2, np.float16)).dtype == np.float32
    assert vtk_storable(np.zeros(2, np.int32)).dtype == np.int32
    with pytest.raises(ValueError, match="complex"):
        vtk_storable(np.zeros(2, np.complex64))
