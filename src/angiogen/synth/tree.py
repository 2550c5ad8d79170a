"""Vessel tree graph: nodes with position and radius in millimetres, edges with segment and generation labels.

One :class:`VesselTree` is what every generator (L-system, coronary, Circle of Willis) returns and what the
voxeliser, the bolus model and the exporters read. Coordinates are world millimetres (LPS where a patient frame
applies).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from angiogen.errors import InputError
from angiogen.io.atomic import write_text_atomic
from angiogen.io.meshes import Mesh, write_mesh


@dataclass
class VesselTree:
    """A vessel tree (or any vessel graph) as nodes and straight edges.

    Edges may form cycles (the Circle of Willis is a ring): nothing here assumes a tree, and
    :meth:`path_length_mm` gives shortest path lengths.

    Attributes:
        positions_mm: (N, 3) float64 node positions in millimetres.
        radii_mm: (N,) float64 node radii in millimetres (> 0).
        edges: (E, 2) int64 node indices (parent, child); an edge is a truncated cone between its nodes.
        edge_segment: (E,) int64 segment label of each edge (one label per trunk / named vessel).
        edge_generation: (E,) int64 branching generation of each edge (0 at the root trunk).
        segment_names: optional segment label -> name (e.g. ``{0: "LM", 1: "LAD"}``).
        meta: free JSON-serialisable parameters of the generator (seed, index, ...).
    """

    positions_mm: np.ndarray
    radii_mm: np.ndarray
    edges: np.ndarray
    edge_segment: np.ndarray | None = None
    edge_generation: np.ndarray | None = None
    segment_names: dict[int, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.positions_mm = np.asarray(self.positions_mm, dtype=np.float64).reshape(-1, 3)
        self.radii_mm = np.asarray(self.radii_mm, dtype=np.float64).reshape(-1)
        self.edges = np.asarray(self.edges, dtype=np.int64).reshape(-1, 2)
        n_edges = len(self.edges)
        self.edge_segment = (
            np.zeros(n_edges, np.int64) if self.edge_segment is None else np.asarray(self.edge_segment, np.int64)
        )
        self.edge_generation = (
            np.zeros(n_edges, np.int64)
            if self.edge_generation is None
            else np.asarray(self.edge_generation, np.int64)
        )
        self.segment_names = {int(k): str(v) for k, v in self.segment_names.items()}
        if len(self.radii_mm) != len(self.positions_mm):
            raise InputError(f"vessel tree has {len(self.positions_mm)} nodes but {len(self.radii_mm)} radii")
        if self.edge_segment.shape != (n_edges,) or self.edge_generation.shape != (n_edges,):
            raise InputError("vessel tree edge labels must have one entry per edge")
        if n_edges and (self.edges.min() < 0 or self.edges.max() >= len(self.positions_mm)):
            raise InputError(f"vessel tree edges refer to nodes outside 0..{len(self.positions_mm) - 1}")
        if not (np.all(np.isfinite(self.positions_mm)) and np.all(np.isfinite(self.radii_mm))):
            raise InputError("vessel tree positions and radii must be finite")
        if np.any(self.radii_mm <= 0):
            raise InputError("vessel tree radii must be positive (mm)")

    # --- properties --------------------------------------------------------------------------------------------

    @property
    def n_nodes(self) -> int:
        """Number of nodes N."""
        return int(len(self.positions_mm))

    @property
    def n_edges(self) -> int:
        """Number of edges E."""
        return int(len(self.edges))

    def edge_lengths_mm(self) -> np.ndarray:
        """(E,) edge lengths in mm."""
        return np.linalg.norm(self.positions_mm[self.edges[:, 1]] - self.positions_mm[self.edges[:, 0]], axis=1)

    def bounds_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi): (3,) corners of the box holding every node sphere, in mm."""
        self.require_nonempty()
        lo = (self.positions_mm - self.radii_mm[:, None]).min(axis=0)
        hi = (self.positions_mm + self.radii_mm[:, None]).max(axis=0)
        return lo, hi

    def node_degree(self) -> np.ndarray:
        """(N,) number of edges at each node."""
        return np.bincount(self.edges.reshape(-1), minlength=self.n_nodes)

    def require_nonempty(self) -> None:
        """Raise InputError when the tree has no edges (nothing to voxelise, project or export)."""
        if self.n_edges == 0:
            raise InputError("vessel tree is empty (no segments)")

    # --- transforms --------------------------------------------------------------------------------------------

    def transformed(
        self, rotation: np.ndarray | None = None, translation_mm: np.ndarray | None = None, scale: float = 1.0
    ) -> VesselTree:
        """A copy with positions mapped to ``scale * R @ p + t``; radii are scaled by ``scale`` too.

        Args:
            rotation: (3, 3) rotation matrix; default identity.
            translation_mm: (3,) translation in mm; default zero.
            scale: isotropic scale factor (> 0).
        """
        if not scale > 0:
            raise InputError(f"scale must be positive, got {scale}")
        rot = np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64)
        shift = np.zeros(3) if translation_mm is None else np.asarray(translation_mm, dtype=np.float64)
        return self.replace(positions_mm=scale * self.positions_mm @ rot.T + shift, radii_mm=scale * self.radii_mm)

    def replace(self, **changes: Any) -> VesselTree:
        """A copy with the given attributes replaced."""
        fields = dict(
            positions_mm=self.positions_mm.copy(),
            radii_mm=self.radii_mm.copy(),
            edges=self.edges.copy(),
            edge_segment=self.edge_segment.copy(),
            edge_generation=self.edge_generation.copy(),
            segment_names=dict(self.segment_names),
            meta=dict(self.meta),
        )
        fields.update(changes)
        return VesselTree(**fields)

    def path_length_mm(self, root: int = 0) -> np.ndarray:
        """(N,) path length along the tree from ``root`` to every node in mm (inf where unreachable)."""
        import scipy.sparse
        import scipy.sparse.csgraph

        lengths = self.edge_lengths_mm()
        graph = scipy.sparse.coo_matrix(
            (np.maximum(lengths, 1e-12), (self.edges[:, 0], self.edges[:, 1])), shape=(self.n_nodes,) * 2
        ).tocsr()
        return scipy.sparse.csgraph.dijkstra(graph, directed=False, indices=root)

    # --- export ------------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (lists of numbers; units in the keys)."""
        return {
            "positions_mm": self.positions_mm.round(6).tolist(),
            "radii_mm": self.radii_mm.round(6).tolist(),
            "edges": self.edges.tolist(),
            "edge_segment": self.edge_segment.tolist(),
            "edge_generation": self.edge_generation.tolist(),
            "segment_names": {str(k): v for k, v in self.segment_names.items()},
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VesselTree:
        """Inverse of :meth:`to_dict`."""
        try:
            return cls(
                positions_mm=np.asarray(data["positions_mm"], dtype=np.float64).reshape(-1, 3),
                radii_mm=data["radii_mm"],
                edges=np.asarray(data["edges"], dtype=np.int64).reshape(-1, 2),
                edge_segment=data.get("edge_segment"),
                edge_generation=data.get("edge_generation"),
                segment_names={int(k): v for k, v in data.get("segment_names", {}).items()},
                meta=data.get("meta", {}),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise InputError(f"not a vessel tree: {error}") from error

    def write_json(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the tree as JSON (atomic; refuses to replace a file unless ``overwrite``)."""
        return write_text_atomic(path, json.dumps(self.to_dict(), separators=(",", ":")), overwrite)

    @classmethod
    def read_json(cls, path: str | Path) -> VesselTree:
        """Read a tree written by :meth:`write_json`."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise InputError(f"cannot read vessel tree JSON: {error}", path) from error
        return cls.from_dict(data)

    def centerline_mesh(self) -> Mesh:
        """Centrelines as a line mesh: one 2-point line per edge, radius as point data."""
        self.require_nonempty()
        return Mesh(
            points=self.positions_mm,
            cells={"line": self.edges},
            point_data={"radius_mm": self.radii_mm},
        )

    def write_vtk(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the centrelines as VTK polylines with ``radius_mm`` point data (.vtk or .vtu)."""
        return write_mesh(path, self.centerline_mesh(), overwrite=overwrite)
