"""VTK XML PolyData (.vtp) surfaces, read and written with VTK itself (meshio has no .vtp support).

Vertices, lines, triangles and quads map one-to-one onto :class:`angiogen.io.meshes.Mesh` cell blocks; larger
polygons and triangle strips are triangulated on reading; polylines become their line segments.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from angiogen.errors import InputError

# PolyData can hold only these cell kinds (meshio names).
SURFACE_CELL_KINDS = ("vertex", "line", "triangle", "quad")


def read_vtp(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray],
                                  dict[str, dict[str, np.ndarray]]]:
    """Read a .vtp file.

    Args:
        path: an existing .vtp file.

    Returns:
        points (N, 3), cells (kind -> (M, k) point ids), point data (name -> (N, ...)) and cell data
        (name -> kind -> (M, ...)), in the order of the cell blocks.

    Raises:
        InputError: VTK cannot parse the file (not PolyData, corrupt or truncated).
    """
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkFiltersCore import vtkTriangleFilter
    from vtkmodules.vtkIOXML import vtkXMLPolyDataReader

    reader = vtkXMLPolyDataReader()
    reader.SetFileName(str(path))
    messages = _captured_errors(reader.Update)
    polydata = reader.GetOutput()
    if "ERROR" in messages or polydata is None:
        raise InputError("not a readable VTK PolyData (.vtp) file, corrupt or truncated", path)
    if polydata.GetPoints() is None or polydata.GetNumberOfPoints() == 0:
        raise InputError("mesh has no points", path)
    if polydata.GetNumberOfStrips() or _largest_polygon(polydata) > 4:
        triangulate = vtkTriangleFilter()
        triangulate.SetInputData(polydata)
        triangulate.PassVertsOn()
        triangulate.PassLinesOn()
        triangulate.Update()
        polydata = triangulate.GetOutput()

    points = vtk_to_numpy(polydata.GetPoints().GetData()).astype(np.float64)
    blocks = [("vertex", polydata.GetVerts()), ("line", polydata.GetLines()), ("polygon", polydata.GetPolys())]
    cells: dict[str, list[np.ndarray]] = {}
    source_cell: dict[str, list[np.ndarray]] = {}  # which PolyData cell each output cell came from
    first_cell = 0
    for kind, cell_array in blocks:
        offsets = vtk_to_numpy(cell_array.GetOffsetsArray()).astype(np.int64)
        connectivity = vtk_to_numpy(cell_array.GetConnectivityArray()).astype(np.int64)
        sizes = np.diff(offsets)
        for size in np.unique(sizes):
            which = np.flatnonzero(sizes == size)
            ids = connectivity[offsets[which][:, None] + np.arange(size)]
            name = kind
            if kind == "polygon":
                name = {3: "triangle", 4: "quad"}.get(int(size), "polygon")
            if kind == "line" and size > 2:  # polyline -> its segments
                ids = np.stack([ids[:, :-1], ids[:, 1:]], axis=-1).reshape(-1, 2)
                which = np.repeat(which, size - 1)
            if kind == "vertex" and size > 1:  # polyvertex -> single vertices
                ids = ids.reshape(-1, 1)
                which = np.repeat(which, size)
            cells.setdefault(name, []).append(ids)
            source_cell.setdefault(name, []).append(which + first_cell)
        first_cell += len(sizes)

    point_data = _arrays(polydata.GetPointData(), vtk_to_numpy)
    cell_arrays = _arrays(polydata.GetCellData(), vtk_to_numpy)
    merged = {kind: np.concatenate(blocks_of_kind) for kind, blocks_of_kind in cells.items()}
    origin = {kind: np.concatenate(ids) for kind, ids in source_cell.items()}
    cell_data = {name: {kind: values[origin[kind]] for kind in merged} for name, values in cell_arrays.items()}
    return points, merged, point_data, cell_data


def write_vtp(path: Path, points: np.ndarray, cells: dict[str, np.ndarray], point_data: dict[str, np.ndarray],
              cell_data: dict[str, dict[str, np.ndarray]] | None = None, binary: bool = True) -> None:
    """Write points, surface cells, point and cell data to ``path`` as VTK XML PolyData (zlib-compressed when
    binary); cell data is name -> cell kind -> (M, ...) values, like :attr:`angiogen.io.meshes.Mesh.cell_data`.

    Raises:
        InputError: a cell kind PolyData cannot hold (volumetric cells belong in .vtu).
    """
    from vtkmodules.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray
    from vtkmodules.vtkCommonCore import vtkPoints
    from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
    from vtkmodules.vtkIOXML import vtkXMLPolyDataWriter

    other = sorted(set(cells) - set(SURFACE_CELL_KINDS))
    if other:
        raise InputError(f"holds {', '.join(other)} cells, which VTK PolyData cannot store; write a .vtu instead",
                         path)
    polydata = vtkPolyData()
    vtk_points = vtkPoints()
    vtk_points.SetData(numpy_to_vtk(np.ascontiguousarray(points, dtype=np.float64), deep=True))
    polydata.SetPoints(vtk_points)
    order = []  # cell kinds in VTK's cell id order: vertices, lines, polygons
    for kind_names, setter in ((("vertex",), polydata.SetVerts), (("line",), polydata.SetLines),
                               (("triangle", "quad"), polydata.SetPolys)):
        kinds = [kind for kind in kind_names if kind in cells and len(cells[kind])]
        if kinds:
            setter(_cell_array([cells[kind] for kind in kinds], numpy_to_vtkIdTypeArray, vtkCellArray))
            order += kinds
    arrays = [(polydata.GetPointData(), name, values) for name, values in point_data.items()]
    arrays += [(polydata.GetCellData(), name, np.concatenate([per_kind[kind] for kind in order]))
               for name, per_kind in (cell_data or {}).items()]
    for field_data, name, values in arrays:
        array = numpy_to_vtk(np.ascontiguousarray(values), deep=True)
        array.SetName(name)
        field_data.AddArray(array)
    writer = vtkXMLPolyDataWriter()
    writer.SetFileName(str(path))
    writer.SetInputData(polydata)
    if binary:
        writer.SetDataModeToAppended()
        writer.EncodeAppendedDataOff()
        writer.SetCompressorTypeToZLib()
    else:
        writer.SetDataModeToAscii()
    if not writer.Write():
        raise InputError("VTK could not write the file", path)


def _cell_array(blocks: list[np.ndarray], to_ids, cell_array_type):  # noqa: ANN001, ANN202 - vtk types
    """One vtkCellArray holding the cells of every (M, k) block in order."""
    sizes = np.concatenate([np.full(len(ids), ids.shape[1], dtype=np.int64) for ids in blocks])
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    connectivity = np.concatenate([ids.ravel() for ids in blocks]).astype(np.int64)
    cell_array = cell_array_type()
    cell_array.SetData(to_ids(offsets, deep=True), to_ids(connectivity, deep=True))
    return cell_array


def _largest_polygon(polydata) -> int:  # noqa: ANN001 - a vtkPolyData
    """Largest number of points in one polygon of ``polydata`` (0 when it has none)."""
    polys = polydata.GetPolys()
    return int(polys.GetMaxCellSize()) if polys.GetNumberOfCells() else 0


def _arrays(field_data, vtk_to_numpy) -> dict[str, np.ndarray]:  # noqa: ANN001 - vtk objects
    """Named arrays of a vtkPointData/vtkCellData as numpy arrays (unnamed ones get ``array_<i>``)."""
    arrays = {}
    for index in range(field_data.GetNumberOfArrays()):
        array = field_data.GetArray(index)
        if array is None:  # string or other non-numeric arrays
            continue
        arrays[array.GetName() or f"array_{index}"] = np.array(vtk_to_numpy(array))
    return arrays


def _captured_errors(update) -> str:  # noqa: ANN001 - a bound vtk method
    """Run a VTK pipeline update with its console messages captured instead of printed; return them."""
    from vtkmodules.vtkCommonCore import vtkLogger, vtkOutputWindow, vtkStringOutputWindow

    previous_window = vtkOutputWindow.GetInstance()
    previous_verbosity = vtkLogger.GetCurrentVerbosityCutoff()
    window = vtkStringOutputWindow()
    vtkOutputWindow.SetInstance(window)
    vtkLogger.SetStderrVerbosity(vtkLogger.VERBOSITY_OFF)
    try:
        update()
    finally:
        vtkOutputWindow.SetInstance(previous_window)
        vtkLogger.SetStderrVerbosity(previous_verbosity)
    return window.GetOutput()
