"""Surface and volume meshes: VTK legacy (.vtk), VTK XML unstructured grid (.vtu) and STL via meshio, and VTK XML
PolyData (.vtp) via VTK (:mod:`angiogen.io.vtk_polydata`; meshio has no .vtp support).

Everything written opens in VTK's own readers (so ParaView, PyVista, 3D Slicer): legacy files are written in the
classic 4.2 layout, whose type names (``unsigned_char``, ``int``, ...) every VTK reader knows; meshio's default
5.1 layout names 8-32-bit integers ``vtktypeint32`` and the like, which VTK's legacy reader rejects, dropping all
point data. Boolean arrays, which no VTK format stores, are written as uint8 0/1 and float16 as float32.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import ParseError

import meshio
import numpy as np

from angiogen.errors import InputError
from angiogen.io.atomic import atomic_path
from angiogen.io.checks import require_file
from angiogen.io.vtk_polydata import read_vtp, write_vtp

MESH_SUFFIXES = (".vtk", ".vtu", ".vtp", ".stl")
# The legacy layout written: 4.2 uses VTK's classic type names, which every VTK legacy reader accepts.
LEGACY_VTK_VERSION = "4.2"
_MESHIO_FORMATS = {".vtk": "vtk", ".vtu": "vtu", ".stl": "stl"}
# The format readers are called directly: meshio.read() prints a ReadError and calls sys.exit.
_READERS = {"vtk": meshio.vtk.read, "vtu": meshio.vtu.read, "stl": meshio.stl.read}

# What meshio raises on a file that is not a mesh of the named format or is cut short.
_PARSE_ERRORS = (
    meshio.ReadError,
    ParseError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    EOFError,
    OSError,
    UnicodeDecodeError,
    struct.error,
    zlib.error,
)


@dataclass
class Mesh:
    """A mesh in world coordinates.

    Attributes:
        points: (N, 3) float64 vertex positions in millimetres.
        cells: cell type (meshio names: "triangle", "quad", "tetra", "line", ...) -> (M, k) int64
            array of point indices, k points per cell.
        point_data: name -> (N,) or (N, C) array of per-point values (e.g. scar probability).
        cell_data: name -> cell type -> (M, ...) array of per-cell values, rows in the order of ``cells[type]``
            (read and written).
    """

    points: np.ndarray
    cells: dict[str, np.ndarray] = field(default_factory=dict)
    point_data: dict[str, np.ndarray] = field(default_factory=dict)
    cell_data: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.points = np.asarray(self.points, dtype=np.float64)
        if self.points.ndim != 2 or self.points.shape[1] != 3:
            raise ValueError(f"Mesh.points must be (N, 3), got {self.points.shape}")
        self.cells = {kind: np.asarray(ids, dtype=np.int64) for kind, ids in self.cells.items()}
        for kind, ids in self.cells.items():
            if ids.ndim != 2:
                raise ValueError(f"Mesh.cells[{kind!r}] must be (M, k), got {ids.shape}")
            if ids.size and (ids.min() < 0 or ids.max() >= len(self.points)):
                raise ValueError(f"Mesh.cells[{kind!r}] refers to points outside 0..{len(self.points) - 1}")
        self.point_data = {name: _native(np.asarray(values)) for name, values in self.point_data.items()}
        for name, values in self.point_data.items():
            if values.shape[:1] != (len(self.points),):
                raise ValueError(
                    f"Mesh.point_data[{name!r}] has {values.shape[:1]} rows, expected {len(self.points)}"
                )

    @property
    def n_points(self) -> int:
        """Number of vertices N."""
        return int(len(self.points))


def read_mesh(path: str | Path) -> Mesh:
    """Read a mesh from .vtk (legacy, ASCII or binary), .vtu, .vtp or .stl.

    Args:
        path: the mesh file.

    Returns:
        Mesh with points (N, 3) in the file's units (millimetres by convention), cells of the same
        type merged into one array, point data and cell data arrays.

    Raises:
        InputError: missing file, wrong extension, not a mesh, truncated, no points, or cells referring to
            missing points.
    """
    path = require_file(path, MESH_SUFFIXES)
    if path.suffix.lower() == ".vtp":
        points, cells, point_data, cell_data = read_vtp(path)
        return _checked_mesh(path, points, cells, point_data, cell_data)
    file_format = _meshio_format(path)
    try:
        with np.errstate(all="ignore"):  # meshio's STL sniffing overflows on non-STL bytes
            raw = _READERS[file_format](str(path))
    except _PARSE_ERRORS as error:
        if _declares_no_points(path):
            raise InputError("mesh has no points", path) from error
        reason = str(error) or type(error).__name__
        raise InputError(f"not a readable {file_format.upper()} mesh, corrupt or truncated ({reason})", path) from error

    points = np.asarray(raw.points, dtype=np.float64)
    if points.ndim != 2 or len(points) == 0:
        raise InputError("mesh has no points", path)
    if points.shape[1] == 2:
        points = np.column_stack([points, np.zeros(len(points))])
    cells: dict[str, list[np.ndarray]] = {}
    cell_data: dict[str, dict[str, list[np.ndarray]]] = {}
    for index, block in enumerate(raw.cells):
        cells.setdefault(block.type, []).append(np.asarray(block.data))
        for name, per_block in raw.cell_data.items():
            cell_data.setdefault(name, {}).setdefault(block.type, []).append(np.asarray(per_block[index]))
    return _checked_mesh(
        path, points, {kind: np.concatenate(blocks) for kind, blocks in cells.items()}, dict(raw.point_data),
        {name: {kind: np.concatenate(blocks) for kind, blocks in per_kind.items()} for name, per_kind in
         cell_data.items()})


def _checked_mesh(path: Path, points: np.ndarray, cells: dict[str, np.ndarray], point_data: dict[str, np.ndarray],
                  cell_data: dict[str, dict[str, np.ndarray]]) -> Mesh:
    """A :class:`Mesh` of what a reader returned; inconsistencies raise InputError naming ``path``."""
    if points.ndim != 2 or len(points) == 0:
        raise InputError("mesh has no points", path)
    try:
        return Mesh(points=points, cells=cells, point_data=point_data,
                    cell_data={name: {kind: _native(values) for kind, values in per_kind.items()}
                               for name, per_kind in cell_data.items()})
    except ValueError as error:
        raise InputError(f"inconsistent mesh: {error}", path) from error


def write_mesh(path: str | Path, mesh: Mesh, overwrite: bool = False, binary: bool = True) -> Path:
    """Write ``mesh`` with its point data, atomically, in the format named by the extension.

    Args:
        path: target .vtk (legacy), .vtu (XML, zlib-compressed when binary), .vtp (surface cells only) or .stl
            (triangles only).
        mesh: points (N, 3) in millimetres, cells, point data (arrays stored as :func:`vtk_storable` makes them).
        overwrite: replace an existing file; otherwise an existing file raises InputError.
        binary: binary (default) or ASCII encoding.

    Returns:
        ``path`` as a Path.
    """
    path = Path(path)
    point_data = {name: vtk_storable(values) for name, values in mesh.point_data.items()}
    cell_data = {name: {kind: vtk_storable(values) for kind, values in per_kind.items()}
                 for name, per_kind in mesh.cell_data.items()}
    if path.suffix.lower() == ".vtp":
        with atomic_path(path, overwrite) as tmp:
            write_vtp(tmp, mesh.points, mesh.cells, point_data, cell_data, binary)
        return path
    file_format = _meshio_format(path)
    raw = meshio.Mesh(
        points=mesh.points,
        cells=[(kind, ids) for kind, ids in mesh.cells.items()],
        point_data=point_data,
        cell_data={name: [per_kind[kind] for kind in mesh.cells] for name, per_kind in cell_data.items()},
    )
    with atomic_path(path, overwrite) as tmp:
        if file_format == "vtk":
            meshio.vtk.write(str(tmp), raw, binary=binary, fmt_version=LEGACY_VTK_VERSION)
        else:
            meshio.write(tmp, raw, file_format=file_format, binary=binary)
    return path


def vtk_storable(values: np.ndarray) -> np.ndarray:
    """``values`` in a type every VTK reader accepts: bool as uint8 0/1, float16 as float32, others unchanged.

    Raises:
        ValueError: complex, string or object arrays (VTK has no such data arrays).
    """
    values = np.asarray(values)
    if values.dtype == np.bool_:
        return values.astype(np.uint8)
    if values.dtype == np.float16:
        return values.astype(np.float32)
    if values.dtype.kind not in "iuf":
        raise ValueError(f"cannot store a {values.dtype} array in a VTK file")
    return values


def _declares_no_points(path: Path) -> bool:
    """True when the head of a VTK file declares zero points (meshio fails on such files)."""
    with open(path, "rb") as handle:
        head = handle.read(65536)
    return bool(re.search(rb"^POINTS\s+0\s", head, re.MULTILINE) or re.search(rb'NumberOfPoints="0"', head))


def _native(values: np.ndarray) -> np.ndarray:
    """``values`` in native byte order (binary legacy VTK is big-endian)."""
    return values.astype(values.dtype.newbyteorder("="), copy=False)


def _meshio_format(path: Path) -> str:
    """meshio's format name for the extension of ``path``; others raise InputError."""
    suffix = path.suffix.lower()
    if suffix not in _MESHIO_FORMATS:
        expected = ", ".join(MESH_SUFFIXES)
        raise InputError(f"unsupported mesh extension; expected one of: {expected}", path)
    return _MESHIO_FORMATS[suffix]
