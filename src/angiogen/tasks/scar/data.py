"""The scar task's training file: a mesh's nodes, their pixel groups and the slices, in one compact ``.npz``.

Schema ``angiogen.scar.data/1`` (numpy ``.npz``, no pickled objects; N nodes, E memberships, G groups, S slices):

================================  ==============  =====================================================
key                               shape, dtype    meaning
================================  ==============  =====================================================
schema                            () str          ``"angiogen.scar.data/1"``
case_id                           () str          16 hex digits of the SHA-256 of ``points_mm``
points_mm                         (N, 3) f8       node coordinates in mm in the slices' frame (RAS)
mesh_frame                        () str          frame of the mesh file's nodes, "ras" or "lps" (absent: "ras")
node_volume_mm3                   (N,) f8         lumped node volume (1.0 each when the mesh has none)
member_node, member_group         (E,) i8         memberships, sorted by group
group_target                      (G,) f4         pixel value in [0, 1]
group_pixel                       (G, 3) i8       (slice, i, j) of the group's pixel
group_myocardial_fraction         (G,) f4         node volume in the prism / prism volume, clipped to 1
slice_values                      (S, NI, NJ) f4  the slices
slice_affines                     (S, 4, 4) f8    index (i, j, k) -> world mm of each slice
slice_thickness_mm                (S,) f8         slice thickness
slice_valid                       (S, NI, NJ) ?   pixel present (False: a grid layer without that cell)
pad_mm                            () f8           prism padding used
normaliser_centre_mm              (3,) f8         isotropic coordinate normalisation: centre ...
normaliser_scale_mm               () f8           ... and scale (half the largest extent)
summary_json                      () str          groups, memberships, nodes per group, nodes in no group, sources
truth (synthetic cases only)      (N,) u1         true binary scar per node
isthmus_channel/_low/_high        (N,) bool       channel nodes and its two ends (synthetic isthmus cases)
================================  ==============  =====================================================
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from angiogen.errors import InputError
from angiogen.io.atomic import atomic_path
from angiogen.io.coordinates import points_to_ras
from angiogen.io.mesh_frame import decide_mesh_frame
from angiogen.io.meshes import Mesh, read_mesh
from angiogen.nets.coordinate_mlp import CoordinateNormaliser
from angiogen.tasks.scar.groups import Groups, build_groups
from angiogen.io.slice_stack import SliceStack
from angiogen.tasks.scar.slices import read_slices

SCHEMA = "angiogen.scar.data/1"


def case_id(points_mm: np.ndarray) -> str:
    """Fingerprint of a mesh: 16 hex digits of the SHA-256 of its float64 node coordinates."""
    return hashlib.sha256(np.ascontiguousarray(points_mm, dtype=np.float64).tobytes()).hexdigest()[:16]


@dataclass
class ScarData:
    """Everything training, inference and evaluation need for one case (see the module docstring).

    ``points_mm`` are in the slices' frame (RAS); ``mesh_frame`` is the frame of the mesh file they came from,
    so results can be written back in it.
    """

    points_mm: np.ndarray
    node_volume_mm3: np.ndarray
    groups: Groups
    slices: SliceStack
    pad_mm: float = 0.0
    truth: np.ndarray | None = None
    isthmus: dict[str, np.ndarray] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    mesh_frame: str = "ras"

    @property
    def case_id(self) -> str:
        return case_id(self.points_mm)

    @property
    def normaliser(self) -> CoordinateNormaliser:
        return CoordinateNormaliser.fit(self.points_mm)

    @property
    def myocardial_fraction(self) -> np.ndarray:
        """(G,) node volume inside each prism over the prism volume, clipped to [0, 1]."""
        volume_in = np.bincount(
            self.groups.member_group, self.node_volume_mm3[self.groups.member_node], self.groups.n_groups
        )
        slice_index = self.groups.pixel[:, 0]
        pixel = self.slices.pixel_mm[slice_index]
        prism = pixel[:, 0] * pixel[:, 1] * (self.slices.thickness_mm[slice_index] + 2 * self.pad_mm)
        return np.clip(volume_in / prism, 0.0, 1.0).astype(np.float32)

    def summary(self) -> dict[str, object]:
        return {**self.groups.summary(), "slices": self.slices.n_slices, "pad_mm": self.pad_mm,
                "mesh_frame": self.mesh_frame, "case_id": self.case_id,
                **{f"source_{k}": v for k, v in self.sources.items()}}

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the training file atomically (``.npz``)."""
        path = Path(path)
        normaliser = self.normaliser
        arrays: dict[str, np.ndarray] = {
            "schema": np.array(SCHEMA),
            "case_id": np.array(self.case_id),
            "points_mm": self.points_mm.astype(np.float64),
            "mesh_frame": np.array(self.mesh_frame),
            "node_volume_mm3": self.node_volume_mm3.astype(np.float64),
            "member_node": self.groups.member_node,
            "member_group": self.groups.member_group,
            "group_target": self.groups.target,
            "group_pixel": self.groups.pixel,
            "group_myocardial_fraction": self.myocardial_fraction,
            "slice_values": self.slices.values,
            "slice_affines": self.slices.affines,
            "slice_thickness_mm": self.slices.thickness_mm,
            "slice_valid": self.slices.valid,
            "pad_mm": np.array(self.pad_mm),
            "normaliser_centre_mm": np.array(normaliser.centre_mm),
            "normaliser_scale_mm": np.array(normaliser.scale_mm),
            "summary_json": np.array(json.dumps(self.summary())),
        }
        if self.truth is not None:
            arrays["truth"] = self.truth.astype(np.uint8)
        for name, mask in self.isthmus.items():
            arrays[f"isthmus_{name}"] = mask.astype(bool)
        with atomic_path(path, overwrite) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays)
        return path


def load_data(path: str | Path) -> ScarData:
    """Read a training file written by :meth:`ScarData.save`.

    Raises:
        InputError: missing or unreadable file, or another schema.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError) as error:
        raise InputError(f"not a readable scar training file ({error})", path) from error
    if str(arrays.get("schema", "")) != SCHEMA:
        raise InputError(f"not a scar training file (schema {str(arrays.get('schema', 'missing'))!r}, "
                         f"expected {SCHEMA!r})", path)
    groups = Groups(arrays["member_node"], arrays["member_group"], arrays["group_target"], arrays["group_pixel"],
                    len(arrays["points_mm"]))
    slices = SliceStack(arrays["slice_values"], arrays["slice_affines"], arrays["slice_thickness_mm"],
                        arrays.get("slice_valid"))
    isthmus = {key[len("isthmus_"):]: arrays[key] for key in arrays if key.startswith("isthmus_")}
    summary = json.loads(str(arrays["summary_json"]))
    sources = {key[len("source_"):]: value for key, value in summary.items() if key.startswith("source_")}
    return ScarData(arrays["points_mm"], arrays["node_volume_mm3"], groups, slices, float(arrays["pad_mm"]),
                    arrays["truth"].astype(bool) if "truth" in arrays else None, isthmus, sources,
                    str(arrays.get("mesh_frame", "ras")))


def node_volumes(mesh: Mesh) -> np.ndarray:
    """(N,) lumped node volumes in mm^3: a ``node_volume_mm3`` point array if present, else a quarter of the
    volume of every tetrahedron touching the node, else 1.0 per node (surface meshes, point clouds)."""
    if "node_volume_mm3" in mesh.point_data:
        return np.asarray(mesh.point_data["node_volume_mm3"], dtype=np.float64).reshape(-1)
    tetra = mesh.cells.get("tetra")
    if tetra is not None and len(tetra):
        corners = mesh.points[tetra]
        volume = np.abs(np.linalg.det(corners[:, 1:] - corners[:, :1])) / 6.0
        return np.bincount(tetra.reshape(-1), np.repeat(volume / 4.0, 4), len(mesh.points))
    return np.ones(len(mesh.points))


def load_mesh(path: str | Path) -> Mesh:
    """Read an LV mesh and check it has nodes with finite coordinates.

    Raises:
        InputError: unreadable, empty, or non-finite coordinates.
    """
    mesh = read_mesh(path)
    if mesh.n_points == 0:
        raise InputError("mesh has no points", path)
    if not np.isfinite(mesh.points).all():
        raise InputError("mesh has non-finite node coordinates", path)
    return mesh


def prepare_case(
    mesh_path: str | Path,
    slices_path: str | Path,
    pad_mm: float = 0.0,
    thickness_mm: float | None = None,
    slices: list[int] | None = None,
    layer_array: str | None = None,
    mesh_frame: str = "auto",
) -> ScarData:
    """Build the training data of a user case: read the mesh and the slices (NIfTI or DICOM), build the groups.

    Args:
        mesh_path: .vtk / .vtu / .vtp mesh with tetrahedra (or a point array ``node_volume_mm3``), nodes in mm in
            patient coordinates, RAS or LPS (``mesh_frame``).
        slices_path: see :func:`read_slices`: a NIfTI/NRRD stack, a DICOM series folder or a folder of VTK grid
            layers; values in [0, 1].
        pad_mm: prism padding on each side of a slice.
        thickness_mm: slice thickness (default: the slice spacing).
        slices: indices of the slices to use (default all).
        layer_array: VTK layers only: the cell array with the pixel values, when a layer has several.
        mesh_frame: "ras", "lps" or "auto" (decided from how the nodes fall on the slices,
            :func:`angiogen.io.mesh_frame.decide_mesh_frame`); the slices are RAS whatever their format.

    Raises:
        InputError: bad files (see :func:`load_mesh`, :func:`read_slices`), a mesh without tetrahedra or node
            volumes, fewer than two slices, slice indices out of range, a mesh and slices that do not overlap in
            either frame (or in the one given) or whose frame cannot be told.
    """
    mesh = load_mesh(mesh_path)
    if not len(mesh.cells.get("tetra", ())) and "node_volume_mm3" not in mesh.point_data:
        kinds = ", ".join(sorted(mesh.cells)) or "none"
        raise InputError(f"has no tetrahedra (cells: {kinds}) and no point array node_volume_mm3; the scar field "
                         "needs a volume mesh of the myocardium", mesh_path)
    stack = read_slices(slices_path, thickness_mm, layer_array)
    if slices is not None:
        bad = [s for s in slices if not 0 <= s < stack.n_slices]
        if bad:
            raise InputError(f"slice indices {bad} out of range 0..{stack.n_slices - 1}", slices_path)
    used = stack.n_slices if slices is None else len(set(slices))
    if used < 2:
        raise InputError(f"{used} slice to use; reconstructing between slices needs at least two", slices_path)
    frame = decide_mesh_frame(mesh.points, stack, mesh_frame, mesh_path, slices_path)
    points = points_to_ras(mesh.points, frame)
    groups = build_groups(points, stack, pad_mm, None if slices is None else np.asarray(slices))
    if groups.n_groups == 0:
        raise InputError(f"no node of the mesh {Path(mesh_path).name} lies in any pixel prism of the slices in "
                         f"use (mesh frame {frame.upper()})", slices_path)
    return ScarData(points, node_volumes(mesh), groups, stack, pad_mm,
                    sources={"mesh": str(mesh_path), "slices": str(slices_path)}, mesh_frame=frame)
