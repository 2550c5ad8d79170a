"""The original method's slice input: a folder of VTK grid layers, one file per slice, one cell per pixel carrying
the pixel value as a cell scalar, slices perpendicular to z.

Each layer becomes one slice of a :class:`SliceStack`: the cells' axis-aligned footprints must tile a regular x/y
grid (missing cells are marked not valid), the slice plane is the middle of the cells' z range and the prism
thickness is that z range plus the original's 5 mm padding on each side (a flat layer gives a 10 mm prism), unless
a thickness is given.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from angiogen.errors import InputError
from angiogen.io.meshes import MESH_SUFFIXES, Mesh, read_mesh
from angiogen.io.paths import natural_sort_key
from angiogen.io.slice_stack import SliceStack

ORIGINAL_LAYER_PAD_MM = 5.0
LAYER_SUFFIXES = tuple(suffix for suffix in MESH_SUFFIXES if suffix != ".stl")
_GRID_TOLERANCE = 0.01  # share of a pixel by which cell corners may miss the grid


def layer_files(folder: Path) -> list[Path]:
    """The VTK files of a layer folder in natural name order (layer_2 before layer_10); [] when there are none."""
    files = [path for path in folder.iterdir() if path.is_file() and path.suffix.lower() in LAYER_SUFFIXES]
    return sorted(files, key=natural_sort_key)


def read_vtk_layers(folder: str | Path, thickness_mm: float | None = None, array: str | None = None) -> SliceStack:
    """Read a folder of VTK grid layers (.vtk/.vtu/.vtp, one per slice, in file-name order) into a slice stack.

    Args:
        folder: the layer folder.
        thickness_mm: prism thickness of every slice; default: each layer's z range + 2 x 5 mm (the original's).
        array: name of the cell array holding pixel values; needed only when a layer has several.

    Raises:
        InputError: no layer files, a layer without cells or cell values, values outside [0, 1] or NaN, cells
            that are not on one plane perpendicular to z or do not tile a regular pixel grid, two cells on one
            pixel, naming the file.
    """
    folder = Path(folder)
    paths = layer_files(folder)
    if not paths:
        raise InputError(f"holds no VTK layer files ({', '.join(LAYER_SUFFIXES)})", folder)
    if thickness_mm is not None and thickness_mm <= 0:
        raise InputError(f"slice thickness must be positive, got {thickness_mm}", folder)
    layers = [_layer_pixels(path, array) for path in paths]
    n_i = max(int(layer["i"].max()) + 1 for layer in layers)
    n_j = max(int(layer["j"].max()) + 1 for layer in layers)
    values = np.zeros((len(layers), n_i, n_j), dtype=np.float32)
    valid = np.zeros(values.shape, dtype=bool)
    affines = np.tile(np.eye(4), (len(layers), 1, 1))
    thickness = np.empty(len(layers))
    for s, layer in enumerate(layers):
        values[s, layer["i"], layer["j"]] = layer["values"]
        valid[s, layer["i"], layer["j"]] = True
        affines[s, :3, :3] = np.diag([layer["pixel"][0], layer["pixel"][1], 1.0])
        affines[s, :3, 3] = layer["first_centre"]
        thickness[s] = thickness_mm if thickness_mm is not None else layer["z_range"] + 2 * ORIGINAL_LAYER_PAD_MM
    for s in range(len(layers)):
        step = affines[s + 1, 2, 3] - affines[s, 2, 3] if s + 1 < len(layers) else 0.0
        affines[s, 2, 2] = step if step > 1e-6 else thickness[s]
    return SliceStack(values, affines, thickness, valid)


def _layer_pixels(path: Path, array: str | None) -> dict[str, np.ndarray]:
    """One layer's cells as pixels: grid indices i, j, values, pixel size, first pixel centre, z range."""
    mesh = read_mesh(path)
    values, low, high = _cell_values_and_bounds(mesh, path, array)
    if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 1:
        raise InputError(f"cell values span [{np.nanmin(values):.3g}, {np.nanmax(values):.3g}] or hold NaN; "
                         "expected scar probabilities or masks in [0, 1]", path)
    z_low, z_high = low[:, 2], high[:, 2]
    z_tolerance = 1e-3 * max(1.0, float(np.abs(z_high).max()))
    if np.ptp(z_low) > z_tolerance or np.ptp(z_high) > z_tolerance:
        raise InputError("cells are not on one plane perpendicular to z (the original's grid layers are)", path)
    size = high[:, :2] - low[:, :2]
    pixel = np.median(size, axis=0)
    if np.any(pixel <= 0) or np.any(np.abs(size - pixel) > _GRID_TOLERANCE * pixel):
        raise InputError("cells are not equal axis-aligned pixels of one regular grid", path)
    origin = low[:, :2].min(axis=0)
    index = (low[:, :2] - origin) / pixel
    rounded = np.rint(index)
    if np.any(np.abs(index - rounded) > _GRID_TOLERANCE):
        raise InputError("cells do not lie on one regular pixel grid", path)
    i, j = rounded[:, 0].astype(np.int64), rounded[:, 1].astype(np.int64)
    if len(np.unique(i * (j.max() + 1) + j)) != len(i):
        raise InputError("two cells cover the same pixel", path)
    centre = np.array([origin[0] + pixel[0] / 2, origin[1] + pixel[1] / 2, (z_low.min() + z_high.max()) / 2])
    return {"i": i, "j": j, "values": values, "pixel": pixel, "first_centre": centre,
            "z_range": float(z_high.max() - z_low.min())}


def _cell_values_and_bounds(mesh: Mesh, path: Path, array: str | None
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-cell scalar values (C,) and axis-aligned bounds (low, high: (C, 3) mm) of the layer's area or volume
    cells."""
    if not mesh.cell_data:
        raise InputError("has no cell data; each grid cell must carry its pixel value", path)
    if array is None:
        if len(mesh.cell_data) > 1:
            raise InputError(f"has several cell arrays ({', '.join(sorted(mesh.cell_data))}); name the one with "
                             "the pixel values", path)
        array = next(iter(mesh.cell_data))
    if array not in mesh.cell_data:
        raise InputError(f"has no cell array {array!r} (has {', '.join(sorted(mesh.cell_data))})", path)
    kinds = [kind for kind in mesh.cells if kind not in ("vertex", "line") and len(mesh.cells[kind])]
    if not kinds:
        raise InputError("has no pixel cells (quads, pixels, hexahedra, ...)", path)
    values = np.concatenate([np.asarray(mesh.cell_data[array][kind], dtype=np.float64).reshape(
        len(mesh.cells[kind]), -1)[:, 0] for kind in kinds])
    low = np.concatenate([mesh.points[mesh.cells[kind]].min(axis=1) for kind in kinds])
    high = np.concatenate([mesh.points[mesh.cells[kind]].max(axis=1) for kind in kinds])
    return values, low, high
