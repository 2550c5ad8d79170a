"""Circle-of-Willis-like arterial rings and TOF-MRA-like volumes of them (the vessel3d task's training field).

Anatomy is in LPS millimetres centred on the ring (x to the patient's left, y posterior, z superior). Inflow:
the internal carotids (ICA) and the basilar (BA), formed by the two vertebrals (VA), come up from below. The ring
joins them: the A1 segments and the anterior communicating artery (ACOM) in front, the posterior communicating
arteries (PCOM) and the P1 segments behind. Outflow: A2 (anterior, upwards), M1 continuing into two or three M2
branches (lateral), P2 (posterior, around the midbrain).

Each vessel is a smooth curve (cubic spline) through a few landmarks, with a smooth random bend that vanishes at
its ends. Per sample the landmarks are scaled and moved (``jitter``, ~10-15 % of lengths), radii are scaled, and
the whole anatomy turns by a few degrees; open vessel ends are cut where they leave the field. The ring is a cycle
of the :class:`VesselTree` graph (one independent cycle when complete); variants remove ring segments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from angiogen.errors import InputError
from angiogen.synth.tree import VesselTree
from angiogen.synth.voxelize import check_shape, voxelize

# Segment labels (0 is background in label volumes); the same ids in every sample and variant.
SEGMENTS: dict[int, str] = {
    1: "ICA_L", 2: "ICA_R", 3: "VA_L", 4: "VA_R", 5: "BA", 6: "A1_L", 7: "A1_R", 8: "ACOM", 9: "PCOM_L",
    10: "PCOM_R", 11: "P1_L", 12: "P1_R", 13: "A2_L", 14: "A2_R", 15: "M1_L", 16: "M1_R", 17: "M2_L", 18: "M2_R",
    19: "P2_L", 20: "P2_R",
}
LABELS: dict[str, int] = {name: label for label, name in SEGMENTS.items()}
RING = ("A1_L", "A1_R", "ACOM", "PCOM_L", "PCOM_R", "P1_L", "P1_R")
INFLOW = ("ICA_L", "ICA_R", "VA_L", "VA_R")

# Variant -> the ring segments it lacks. A missing P1 is the "fetal" PCOM: the PCOM then takes the P2's calibre.
VARIANTS: dict[str, tuple[str, ...]] = {
    "complete": (),
    "missing_acom": ("ACOM",),
    "missing_pcom_l": ("PCOM_L",),
    "missing_pcom_r": ("PCOM_R",),
    "missing_pcom_both": ("PCOM_L", "PCOM_R"),
    "missing_a1_l": ("A1_L",),
    "missing_a1_r": ("A1_R",),
    "fetal_pcom_l": ("P1_L",),
    "fetal_pcom_r": ("P1_R",),
}
# Draw probabilities of variant="random": a complete ring in under half of people, absent or hypoplastic PCOMs
# the commonest variant, then fetal PCOMs, ACOM and A1 aplasia (population studies give 20-50 % complete rings).
VARIANT_FREQUENCIES: dict[str, float] = {
    "complete": 0.45, "missing_acom": 0.06, "missing_pcom_l": 0.09, "missing_pcom_r": 0.09,
    "missing_pcom_both": 0.10, "missing_a1_l": 0.03, "missing_a1_r": 0.03, "fetal_pcom_l": 0.07,
    "fetal_pcom_r": 0.08,
}

# Vessel -> (nominal radius mm, branching generation, listing order). Listing inflow first makes junction spheres
# take the inflow vessel's label and brightness in the voxeliser.
VESSELS: dict[str, tuple[float, int, int]] = {
    "ICA": (2.1, 0, 0), "VA": (1.35, 0, 0), "BA": (1.5, 0, 0), "A1": (1.1, 1, 1), "ACOM": (0.75, 1, 1),
    "PCOM": (0.6, 1, 1), "P1": (1.0, 1, 1), "A2": (1.0, 1, 2), "M1": (1.3, 1, 2), "P2": (1.0, 1, 2),
    "M2": (0.9, 2, 3),
}

# Nominal landmarks of the left side (the right side mirrors x). A path runs with the flow; a string is a
# junction (a node shared by every vessel meeting there), a tuple a control point. A path that starts or ends
# on a tuple is open there and is cut by the field.
_JUNCTIONS_SIDE = {"ICA_PCOM": (13.5, -1.0, 0.0), "ICA_TERM": (12.5, -3.0, 3.0), "ACOM": (1.3, -15.5, 4.5),
                   "M1_END": (28.0, -0.5, 5.0), "P1P2": (9.5, 11.0, -1.0)}
_JUNCTIONS_MIDLINE = {"BA_ORIGIN": (0.0, 14.0, -5.5), "BA_TIP": (0.0, 11.0, -0.5)}
_PATHS_SIDE = (
    ("ICA", ((15.0, -7.0, -15.0), (16.0, -10.0, -8.0), (14.5, -5.5, -3.0), "ICA_PCOM")),  # siphon: genu, up
    ("ICA", ("ICA_PCOM", "ICA_TERM")),
    ("VA", ((12.0, 27.0, -11.5), (6.0, 20.0, -8.5), "BA_ORIGIN")),
    ("A1", ("ICA_TERM", (7.0, -9.5, 4.0), "ACOM")),
    ("PCOM", ("ICA_PCOM", (12.0, 5.0, -0.5), "P1P2")),
    ("P1", ("BA_TIP", (5.0, 10.0, -0.8), "P1P2")),
    ("A2", ("ACOM", (2.0, -21.0, 6.5), (2.5, -27.0, 10.0), (3.0, -31.0, 15.0))),
    ("M1", ("ICA_TERM", (19.0, -3.5, 3.5), (24.0, -1.5, 4.5), "M1_END")),
    ("M2", ("M1_END", (33.0, -5.0, 8.0), (38.0, -7.0, 12.0), (43.0, -9.0, 15.0))),
    ("M2", ("M1_END", (34.0, 4.0, 4.0), (39.0, 8.0, 5.0), (44.0, 11.0, 6.0))),
    ("P2", ("P1P2", (14.0, 17.0, 0.0), (17.0, 24.0, 1.5), (16.5, 31.0, 3.0), (14.0, 40.0, 5.0))),
)
_PATH_MIDDLE_M2 = ("M2", ("M1_END", (34.0, -1.0, 6.5), (44.0, 0.0, 9.0)))  # a third M2 trunk, in some samples
_PATHS_MIDLINE = (
    ("BA", ("BA_ORIGIN", (0.0, 12.5, -3.5), "BA_TIP")),
    ("ACOM", ("ACOM_L", "ACOM_R")),
)
_ACOM_HALF_LENGTH_MM = 1.3
_LANDMARK_SD_PER_JITTER_MM = 8.0  # landmark offsets: sd = jitter x this (a tenth or so of a ring segment)
_TAPER = 0.1  # radius falls by this fraction from a vessel's start to its end

# The default field: 16 x 64 x 64 at 1.2 mm and 32 x 128 x 128 at 0.6 mm, as (x L-R, y A-P, z S-I) in mm.
SHAPE = (32, 128, 128)
SPACING_MM = 0.6
FIELD_MM = (SHAPE[1] * SPACING_MM, SHAPE[2] * SPACING_MM, SHAPE[0] * SPACING_MM)


@dataclass(frozen=True)
class _Piece:
    """One vessel piece: segment name, control points (K, 3) mm, junction names at its ends (None = open)."""

    segment: str
    vessel: str
    points_mm: np.ndarray
    start: str | None
    end: str | None


def willis_tree(
    variant: str = "complete",
    seed: int = 0,
    index: int = 0,
    field_mm: tuple[float, float, float] = FIELD_MM,
    jitter: float = 0.12,
    max_rotation_deg: float = 6.0,
    step_mm: float = 1.0,
) -> VesselTree:
    """A Circle-of-Willis-like arterial graph with inflow and outflow arteries, in LPS mm centred on the ring.

    Args:
        variant: a name of :data:`VARIANTS` (which ring segments are missing) or "random" (drawn with
            :data:`VARIANT_FREQUENCIES`).
        seed, index: the graph is a function of (seed, index) and the arguments only.
        field_mm: (x, y, z) size of the field centred on the ring; open vessel ends are cut at its faces, so every
            node lies inside it. Default 76.8 x 76.8 x 19.2 mm (the vessel3d grids).
        jitter: relative anatomical variation: landmark scale U(1 +- 0.8 jitter) per axis, landmark offsets
            N(0, (8 mm x jitter)^2) clipped at 2.5 sd, radii U(1 +- jitter) per vessel and side.
        max_rotation_deg: the anatomy turns about the ring centre by up to this angle about z and half of it
            about x and y.
        step_mm: node spacing along the vessels (at least 5 nodes per vessel piece).

    Returns:
        VesselTree with ``segment_names`` = :data:`SEGMENTS` (all of them, so label ids never change), edges
        labelled by segment and directed with the flow, generation 0 for inflow, 1 for ring / A2 / M1 / P2, 2 for
        M2; ``meta`` holds the variant, the missing segments, the rotation and ``inflow_nodes`` (the ICA and VA
        ends where blood enters the field).

    Raises:
        InputError: unknown variant, non-positive field or step, jitter outside [0, 0.3], negative rotation, a
            field too small for the ring's junctions.
    """
    field = np.asarray(field_mm, dtype=np.float64).reshape(-1)
    if field.shape != (3,) or not np.all(np.isfinite(field)) or np.any(field <= 0):
        raise InputError(f"field_mm must be three positive sizes in mm, got {tuple(np.ravel(field_mm))}")
    if not (0 <= jitter <= 0.3 and max_rotation_deg >= 0 and step_mm > 0):
        raise InputError(f"need jitter in [0, 0.3], max_rotation_deg >= 0, step_mm > 0; got {jitter}, "
                         f"{max_rotation_deg}, {step_mm}")
    rng = np.random.default_rng([int(seed), int(index), 0])
    # The variant has its own stream, so every variant of one (seed, index) shares the same geometry.
    variant = resolve_variant(variant, np.random.default_rng([int(seed), int(index), 2]))
    missing = VARIANTS[variant]

    junctions, pieces = _jittered_anatomy(rng, jitter, include_middle_m2=bool(rng.random() < 0.5))
    radius = _segment_radii(rng, jitter, missing)
    angles_deg = rng.uniform(-1.0, 1.0, 3) * max_rotation_deg * np.array([0.5, 0.5, 1.0])
    rotation = _rotation(angles_deg)
    curves = [_bent_curve(piece.points_mm, step_mm, rng) @ rotation.T for piece in pieces]

    present = [(piece, curve) for piece, curve in zip(pieces, curves) if piece.segment not in missing]
    junction_radius = {name: max(radius[p.segment] for p, _ in present if name in (p.start, p.end))
                       for name in junctions}
    half_box = field / 2 - 1e-6
    junctions = {name: rotation @ point for name, point in junctions.items()}
    for name, point in junctions.items():
        if np.any(np.abs(point) > half_box):
            raise InputError(f"field_mm {tuple(float(f) for f in field)} is too small for the ring: junction {name} "
                             f"lies at {tuple(round(float(c), 1) for c in point)} mm")
    builder = _GraphBuilder(junctions, junction_radius)
    for piece, points in present:
        radii = radius[piece.segment] * (1.0 - _TAPER * np.linspace(0.0, 1.0, len(points)))
        if piece.start is None:  # inflow: open at its start
            points, radii = (array[::-1] for array in _cut_at_box(points[::-1], radii[::-1], half_box))
        elif piece.end is None:  # outflow: open at its end
            points, radii = _cut_at_box(points, radii, half_box)
        builder.add(piece, points, radii)
    vessel_generation = {name: VESSELS[name][1] for name in VESSELS}
    return VesselTree(
        positions_mm=np.asarray(builder.positions), radii_mm=np.asarray(builder.radii),
        edges=np.asarray(builder.edges, dtype=np.int64).reshape(-1, 2),
        edge_segment=np.asarray([LABELS[p] for p in builder.edge_pieces], dtype=np.int64),
        edge_generation=np.asarray([vessel_generation[_vessel(p)] for p in builder.edge_pieces], dtype=np.int64),
        segment_names=dict(SEGMENTS),
        meta={"generator": "willis", "variant": variant, "missing": list(missing), "seed": int(seed),
              "index": int(index), "rotation_deg": [round(float(a), 6) for a in angles_deg],
              "field_mm": [float(f) for f in field], "inflow_nodes": builder.inflow_nodes},
    )


def resolve_variant(variant: str, rng: np.random.Generator | None = None) -> str:
    """Check a variant name; "random" draws one from :data:`VARIANT_FREQUENCIES` with ``rng``.

    Raises:
        InputError: a name that is neither a key of :data:`VARIANTS` nor "random".
    """
    if variant == "random":
        if rng is None:
            raise InputError("variant 'random' needs a random generator")
        names = list(VARIANT_FREQUENCIES)
        probabilities = np.asarray([VARIANT_FREQUENCIES[name] for name in names])
        return names[int(rng.choice(len(names), p=probabilities / probabilities.sum()))]
    if variant not in VARIANTS:
        raise InputError(f"variant must be 'random' or one of {', '.join(VARIANTS)}; got {variant!r}")
    return variant


def _vessel(segment: str) -> str:
    """Vessel name of a segment: "PCOM_L" -> "PCOM"."""
    return segment.rsplit("_", 1)[0] if segment.endswith(("_L", "_R")) else segment


def _jittered_anatomy(rng: np.random.Generator, jitter: float,
                      include_middle_m2: bool) -> tuple[dict[str, np.ndarray], list[_Piece]]:
    """Junction positions and vessel pieces with scaled and moved landmarks (both sides, midline)."""
    scale = 1.0 + 0.8 * jitter * rng.uniform(-1.0, 1.0, 3)
    sd_mm = _LANDMARK_SD_PER_JITTER_MM * jitter

    def place(point: tuple[float, float, float], mirror: bool) -> np.ndarray:
        nominal = np.asarray(point, dtype=np.float64) * (-1.0 if mirror else 1.0, 1.0, 1.0)
        return nominal * scale + np.clip(rng.normal(0.0, sd_mm, 3), -2.5 * sd_mm, 2.5 * sd_mm)

    junctions = {name: place(point, False) for name, point in _JUNCTIONS_MIDLINE.items()}
    for side, mirror in (("L", False), ("R", True)):
        junctions.update({f"{name}_{side}": place(point, mirror) for name, point in _JUNCTIONS_SIDE.items()})
    # The ACOM is short (2-3 mm): keep its two ends apart about their jittered midpoint.
    middle = (junctions["ACOM_L"] + junctions["ACOM_R"]) / 2
    half = _ACOM_HALF_LENGTH_MM * scale[0] * rng.uniform(0.85, 1.2)
    junctions["ACOM_L"], junctions["ACOM_R"] = middle + (half, 0.0, 0.0), middle - (half, 0.0, 0.0)

    pieces: list[_Piece] = []
    paths_side = _PATHS_SIDE + ((_PATH_MIDDLE_M2,) if include_middle_m2 else ())
    for side, mirror in (("L", False), ("R", True)):
        for vessel, path in paths_side:
            names = [f"{p}_{side}" if p in _JUNCTIONS_SIDE else p for p in path]
            pieces.append(_piece(f"{vessel}_{side}", vessel, names, junctions, lambda p, m=mirror: place(p, m)))
    for vessel, path in _PATHS_MIDLINE:
        pieces.append(_piece(vessel, vessel, list(path), junctions, lambda p: place(p, False)))
    pieces.sort(key=lambda piece: VESSELS[piece.vessel][2])  # stable: inflow, ring, outflow, M2
    return junctions, pieces


def _piece(segment: str, vessel: str, path: list[str | tuple[float, float, float]],
           junctions: dict[str, np.ndarray], place: Callable[[tuple[float, float, float]], np.ndarray]) -> _Piece:
    """A vessel piece from a path of junction names and control points."""
    points = np.stack([junctions[p] if isinstance(p, str) else place(p) for p in path])
    start = path[0] if isinstance(path[0], str) else None
    end = path[-1] if isinstance(path[-1], str) else None
    return _Piece(segment, vessel, points, start, end)


def _segment_radii(rng: np.random.Generator, jitter: float, missing: tuple[str, ...]) -> dict[str, float]:
    """Radius in mm of every segment: nominal x U(1 +- jitter), with the compensation of the variants."""
    radius = {}
    for segment in SEGMENTS.values():
        radius[segment] = VESSELS[_vessel(segment)][0] * rng.uniform(1.0 - jitter, 1.0 + jitter)
    for side in ("L", "R"):
        if f"P1_{side}" in missing:  # fetal PCOM: the carotid feeds the P2 through a P2-sized PCOM
            radius[f"PCOM_{side}"] = radius[f"P2_{side}"]
        if f"A1_{side}" in missing:  # the ACOM carries that side's A2 flow and grows
            radius["ACOM"] *= 1.4
    return radius


def _rotation(angles_deg: np.ndarray) -> np.ndarray:
    """(3, 3) rotation R = Rz Ry Rx by the angles (about x, y, z) in degrees."""
    ax, ay, az = np.deg2rad(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _bent_curve(control_mm: np.ndarray, step_mm: float, rng: np.random.Generator) -> np.ndarray:
    """(n, 3) nodes of a cubic spline through the control points plus a smooth bend that is zero at both ends."""
    from scipy.interpolate import CubicSpline

    chord = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(control_mm, axis=0), axis=1))])
    length = float(chord[-1])
    n_nodes = max(5, int(np.ceil(length / step_mm)) + 1)
    s = np.linspace(0.0, 1.0, n_nodes)
    curve = CubicSpline(chord / max(length, 1e-9), control_mm, bc_type="natural")(s)
    # Bend: two sine modes along random directions across the chord, amplitude ~4 % of the length (<= 1 mm).
    axis = (control_mm[-1] - control_mm[0]) / max(length, 1e-9)
    for mode in (1, 2):
        across = rng.normal(size=3)
        across -= (across @ axis) * axis
        across /= max(float(np.linalg.norm(across)), 1e-9)
        amplitude = rng.normal(0.0, min(0.04 * length, 1.0)) / mode
        curve += amplitude * np.sin(np.pi * mode * s)[:, None] * across
    return curve


def _cut_at_box(points_mm: np.ndarray, radii_mm: np.ndarray, half_box_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep a polyline from its first point (inside the box |p| <= half) up to where it first leaves the box."""
    outside = np.flatnonzero(np.any(np.abs(points_mm) > half_box_mm, axis=1))
    if len(outside) == 0:
        return points_mm, radii_mm
    last = int(outside[0])
    inside, beyond = points_mm[last - 1], points_mm[last]
    # Fraction of the last step that stays inside: smallest over the faces it crosses.
    step = beyond - inside
    with np.errstate(divide="ignore", invalid="ignore"):
        limits = np.where(step != 0, (np.sign(step) * half_box_mm - inside) / step, np.inf)
    fraction = float(np.clip(limits.min(), 0.0, 1.0))
    cut_point = inside + fraction * step
    cut_radius = radii_mm[last - 1] + fraction * (radii_mm[last] - radii_mm[last - 1])
    keep = last - 1 if fraction < 0.2 and last >= 2 else last  # no stub edge: move the last node to the face
    return np.vstack([points_mm[:keep], cut_point]), np.append(radii_mm[:keep], cut_radius)


class _GraphBuilder:
    """Collects nodes and edges; every junction is one node shared by the pieces that meet there."""

    def __init__(self, junctions_mm: dict[str, np.ndarray], junction_radius_mm: dict[str, float]) -> None:
        self.junctions_mm = junctions_mm
        self.junction_radius_mm = junction_radius_mm
        self.junction_node: dict[str, int] = {}
        self.positions: list[np.ndarray] = []
        self.radii: list[float] = []
        self.edges: list[tuple[int, int]] = []
        self.edge_pieces: list[str] = []
        self.inflow_nodes: list[int] = []

    def _node(self, position: np.ndarray, radius: float) -> int:
        self.positions.append(position)
        self.radii.append(float(radius))
        return len(self.positions) - 1

    def _junction(self, name: str) -> int:
        if name not in self.junction_node:
            self.junction_node[name] = self._node(self.junctions_mm[name], self.junction_radius_mm[name])
        return self.junction_node[name]

    def add(self, piece: _Piece, points_mm: np.ndarray, radii_mm: np.ndarray) -> None:
        """Add a piece's nodes (its junction ends shared) and its edges in flow order."""
        nodes = [self._node(point, radius) for point, radius in zip(points_mm[1:-1], radii_mm[1:-1])]
        first = self._junction(piece.start) if piece.start else self._node(points_mm[0], radii_mm[0])
        last = self._junction(piece.end) if piece.end else self._node(points_mm[-1], radii_mm[-1])
        if piece.start is None and piece.segment in INFLOW:
            self.inflow_nodes.append(first)
        chain = [first, *nodes, last]
        self.edges.extend(zip(chain[:-1], chain[1:]))
        self.edge_pieces.extend([piece.segment] * (len(chain) - 1))


# --- TOF-MRA-like volume ------------------------------------------------------------------------------------------


@dataclass
class WillisVolume:
    """A TOF-MRA-like volume of a Circle-of-Willis graph.

    Attributes:
        image: (D, H, W) float32 in [0, 1]: bright vessels on tissue, Rician noise, min-max normalised. D runs
            inferior -> superior, H right -> left, W anterior -> posterior (see :func:`willis_affine`).
        occupancy: (D, H, W) float32 partial-volume vessel occupancy in [0, 1].
        labels: (D, H, W) uint8 segment label (:data:`SEGMENTS`) where occupancy >= 0.5, else 0.
        affine: (4, 4) voxel (d, h, w) -> LPS mm.
        tree: the vessel graph.
        variant: the ring variant (a key of :data:`VARIANTS`).
    """

    image: np.ndarray
    occupancy: np.ndarray
    labels: np.ndarray
    affine: np.ndarray
    tree: VesselTree
    variant: str


def willis_affine(shape: tuple[int, int, int] = SHAPE, spacing_mm: float = SPACING_MM) -> np.ndarray:
    """(4, 4) voxel-to-LPS affine of a (D, H, W) grid centred on the ring.

    Voxel axis d runs along +z (superior), h along +x (to the patient's left), w along +y (posterior), each with
    ``spacing_mm``; the grid centre is the world origin.
    """
    depth, height, width = check_shape(shape)
    if not (np.isfinite(spacing_mm) and spacing_mm > 0):
        raise InputError(f"voxel spacing must be positive (mm), got {spacing_mm}")
    affine = np.zeros((4, 4))
    affine[2, 0] = affine[0, 1] = affine[1, 2] = float(spacing_mm)
    affine[:3, 3] = -float(spacing_mm) * (np.array([height, width, depth]) - 1) / 2
    affine[3, 3] = 1.0
    return affine


def grid_field_mm(shape: tuple[int, int, int] = SHAPE, spacing_mm: float = SPACING_MM) -> tuple[float, float, float]:
    """(x, y, z) size in mm of a (D, H, W) grid of :func:`willis_affine`."""
    depth, height, width = check_shape(shape)
    return (height * float(spacing_mm), width * float(spacing_mm), depth * float(spacing_mm))


def grid_shape(spacing_mm: float = SPACING_MM,
               field_mm: tuple[float, float, float] = FIELD_MM) -> tuple[int, int, int]:
    """(D, H, W) grid of voxel size ``spacing_mm`` covering ``field_mm`` ((x, y, z) mm): (32, 128, 128) at 0.6 mm
    and (16, 64, 64) at 1.2 mm for the default field."""
    if not (np.isfinite(spacing_mm) and spacing_mm > 0):
        raise InputError(f"voxel spacing must be positive (mm), got {spacing_mm}")
    size_x, size_y, size_z = field_mm
    return tuple(max(1, round(size / spacing_mm)) for size in (size_z, size_x, size_y))  # type: ignore[return-value]


def nifti_order(volume: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A (D, H, W) array and its affine as NIfTI file order (X, Y, Z) = (H, W, D), the same voxels in space."""
    return np.ascontiguousarray(np.transpose(volume, (1, 2, 0))), np.asarray(affine)[:, [1, 2, 0, 3]]


def rician_noise(signal: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of the signal plus complex Gaussian noise: sqrt((A + n1)^2 + n2^2), n1, n2 ~ N(0, sigma^2).

    E[M^2] = A^2 + 2 sigma^2 exactly; where A = 0 the magnitude is Rayleigh with mean sigma sqrt(pi / 2).
    """
    real = signal + rng.normal(0.0, sigma, signal.shape)
    imaginary = rng.normal(0.0, sigma, signal.shape)
    return np.hypot(real, imaginary)


def tof_mra_volume(
    tree: VesselTree,
    shape: tuple[int, int, int] = SHAPE,
    spacing_mm: float = SPACING_MM,
    seed: int = 0,
    index: int = 0,
    tissue_level: float = 0.3,
    noise_sigma: float = 0.035,
    saturation_mm: float = 150.0,
) -> WillisVolume:
    """TOF-MRA-like image, occupancy and segment labels of a Circle-of-Willis graph on a grid centred on the ring.

    Signal (before noise, vessel inflow = 1): tissue ``tissue_level`` with a smooth low-frequency variation and
    darker CSF cisterns around the ring; vessels exp(-path / ``saturation_mm``) (flow-related enhancement that
    fades with the path length from the nearest inflow), mixed with tissue by the partial-volume occupancy. Then
    Rician noise of ``noise_sigma`` and min-max normalisation to [0, 1].

    Args:
        tree: a graph from :func:`willis_tree` (``meta["inflow_nodes"]`` gives the inflow; node 0 otherwise).
        shape: (D, H, W) grid; default (32, 128, 128). spacing_mm: isotropic voxel size; default 0.6 mm.
        seed, index: the tissue texture and noise are a function of (seed, index).
        tissue_level, noise_sigma, saturation_mm: see above (relative signal units; mm).

    Returns:
        WillisVolume (image, occupancy, labels, affine, tree, variant).

    Raises:
        InputError: bad shape or spacing, non-positive noise or saturation length, an empty tree.
    """
    if not (noise_sigma > 0 and saturation_mm > 0 and tissue_level >= 0):
        raise InputError(f"need noise_sigma > 0, saturation_mm > 0, tissue_level >= 0; got {noise_sigma}, "
                         f"{saturation_mm}, {tissue_level}")
    affine = willis_affine(shape, spacing_mm)
    dims = check_shape(shape)
    tree.require_nonempty()
    rng = np.random.default_rng([int(seed), int(index), 1])

    # Occupancy and, per voxel, the edge that set it (edge ids are exact in float32 up to 2^24).
    occupancy, edge_of_voxel = voxelize(tree, dims, affine=affine, edge_values=np.arange(tree.n_edges))
    edge_index = np.rint(edge_of_voxel).astype(np.int64)
    labels = np.where(occupancy >= 0.5, tree.edge_segment[edge_index], 0).astype(np.uint8)

    # Flow-related enhancement: fades with the path length from the nearest inflow node.
    inflow = tree.meta.get("inflow_nodes") or [0]
    path_mm = np.min([tree.path_length_mm(int(node)) for node in inflow], axis=0)
    path_mm = np.where(np.isfinite(path_mm), path_mm, 0.0)
    edge_brightness = np.exp(-path_mm[tree.edges].mean(axis=1) / saturation_mm)
    vessel = edge_brightness[edge_index].astype(np.float32)

    # Tissue: smooth low-frequency variation and finer texture, darker CSF cisterns around the ring.
    variation = 0.12 * _smooth_noise(dims, (4, 6, 6), rng) + 0.05 * _smooth_noise(dims, (8, 24, 24), rng)
    tissue = tissue_level * (1.0 + variation)
    tissue *= 1.0 - 0.4 * _cistern_weight(dims, float(spacing_mm))
    signal = tissue * (1.0 - occupancy) + vessel * occupancy
    magnitude = rician_noise(signal, noise_sigma, rng)
    low, high = float(magnitude.min()), float(magnitude.max())
    image = ((magnitude - low) / max(high - low, 1e-12)).astype(np.float32)
    return WillisVolume(image=image, occupancy=occupancy.astype(np.float32), labels=labels, affine=affine, tree=tree,
                        variant=str(tree.meta.get("variant", "")))


def _smooth_noise(dims: tuple[int, int, int], coarse: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """(D, H, W) smooth random field with zero mean and unit sd: a coarse N(0, 1) grid spread over the grid by
    separable Gaussian weights (sd 0.6 coarse cells)."""
    field = rng.standard_normal(coarse)
    for axis, (n_fine, n_coarse) in enumerate(zip(dims, coarse)):
        position = (np.arange(n_fine) + 0.5) / n_fine * n_coarse - 0.5  # fine voxel centres in coarse cells
        weights = np.exp(-0.5 * ((position[:, None] - np.arange(n_coarse)[None, :]) / 0.6) ** 2)
        weights /= weights.sum(axis=1, keepdims=True)
        field = np.moveaxis(np.tensordot(weights, np.moveaxis(field, axis, 0), axes=1), 0, axis)
    field -= field.mean()
    return field / max(float(field.std()), 1e-12)


def _cistern_weight(dims: tuple[int, int, int], spacing_mm: float) -> np.ndarray:
    """(D, H, W) weight in [0, 1] of the grid of :func:`willis_affine`: 1 inside a soft ellipsoid around the ring
    (semi-axes 22 mm in x and y, 7 mm in z), 0 far outside."""
    z_mm, x_mm, y_mm = ((np.arange(n) - (n - 1) / 2) * spacing_mm for n in dims)
    radius2 = (z_mm / 7.0)[:, None, None] ** 2 + (x_mm / 22.0)[None, :, None] ** 2 + (y_mm / 22.0)[None, None, :] ** 2
    return 1.0 / (1.0 + np.exp((np.sqrt(radius2) - 1.0) / 0.15))


def willis_sample(
    variant: str = "random",
    seed: int = 0,
    index: int = 0,
    shape: tuple[int, int, int] = SHAPE,
    spacing_mm: float = SPACING_MM,
) -> WillisVolume:
    """One synthetic sample: :func:`willis_tree` cut to the grid's field, then :func:`tof_mra_volume`.

    Args:
        variant: a key of :data:`VARIANTS` or "random". seed, index: the sample depends only on these.
        shape: (D, H, W) grid, default (32, 128, 128); spacing_mm: isotropic voxel size, default 0.6 mm.
    """
    tree = willis_tree(variant, seed=seed, index=index, field_mm=grid_field_mm(shape, spacing_mm))
    return tof_mra_volume(tree, shape, spacing_mm, seed=seed, index=index)
