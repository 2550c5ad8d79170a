"""Reading files back with VTK's own readers (what ParaView and PyVista use), for tests of what angiogen writes."""

from __future__ import annotations

from pathlib import Path

from vtkmodules.vtkIOLegacy import vtkUnstructuredGridReader
from vtkmodules.vtkIOXML import vtkXMLPolyDataReader, vtkXMLUnstructuredGridReader

READERS = {".vtk": vtkUnstructuredGridReader, ".vtu": vtkXMLUnstructuredGridReader, ".vtp": vtkXMLPolyDataReader}


def read_with_vtk(path: Path):  # noqa: ANN201 - a vtkDataSet
    """The dataset VTK's reader for ``path``'s suffix returns (point and cell arrays as VTK holds them)."""
    reader = READERS[Path(path).suffix]()
    reader.SetFileName(str(path))
    reader.Update()
    return reader.GetOutput()
