"""Left and right coronary trees on an ellipsoidal heart surface, Murray's-law radii, stenoses, cardiac phase.

Vessels are curves on the epicardial ellipsoid ``c + R (a u, b sqrt(1-u^2) cos phi, b sqrt(1-u^2) sin phi)``
(u along the base-to-apex long axis, phi around it, 0 = anterior interventricular groove). Main vessels follow the
grooves (LAD, LCx; RCA, PDA); side branches leave them towards the apex. At every branch point the parent radius
r0 splits as r_side = f r0, r_main = (r0^3 - r_side^3)^(1/3) (Murray's law).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from angiogen.errors import InputError
from angiogen.synth.tree import VesselTree


@dataclass(frozen=True)
class Stenosis:
    """A focal narrowing: ``percent`` diameter reduction at ``position`` (0..1 along the named segment)."""

    segment: str
    position: float = 0.5
    percent: float = 50.0
    length_mm: float = 6.0

    def __post_init__(self) -> None:
        if not 0 <= self.percent < 100:
            raise InputError(f"stenosis percent must be in [0, 100), got {self.percent}")
        if not 0 <= self.position <= 1:
            raise InputError(f"stenosis position must be in [0, 1], got {self.position}")


def _heart_frame() -> np.ndarray:
    """(3, 3) columns: long axis (base -> apex: left, anterior, inferior in LPS), anterior, third axis."""
    long_axis = np.array([0.55, -0.45, -0.7])
    long_axis /= np.linalg.norm(long_axis)
    anterior = np.array([0.0, -1.0, 0.0]) - long_axis * (-long_axis[1])
    anterior /= np.linalg.norm(anterior)
    return np.column_stack([long_axis, anterior, np.cross(long_axis, anterior)])


def coronary_tree(
    side: str = "left",
    seed: int = 0,
    index: int = 0,
    centre_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
    semi_axes_mm: tuple[float, float] = (60.0, 40.0),
    root_radius_mm: float = 2.0,
    side_fraction: float = 0.6,
    stenoses: tuple[Stenosis, ...] = (),
    phase: float = 0.0,
    contraction: float = 0.12,
    step_mm: float = 2.0,
) -> VesselTree:
    """One coronary tree (``side`` "left": LM, LAD, LCx and branches; "right": RCA, PDA and branches).

    Args:
        side: "left" or "right".
        seed, index: the tree is a function of (seed, index) only (branch positions, angles, jitter).
        centre_mm: heart centre (LPS mm). semi_axes_mm: (long, short) ellipsoid semi-axes in mm.
        root_radius_mm: ostium radius. side_fraction: side-branch radius / parent radius at a branch point.
        stenoses: focal narrowings by segment name (e.g. "LAD").
        phase: cardiac phase in [0, 1); positions scale about the centre by 1 - contraction sin^2(pi phase).
        step_mm: node spacing along the vessels.

    Returns:
        VesselTree with named segments (``segment_names``) and generation 0 for main vessels, 1 for branches.
    """
    if side not in ("left", "right"):
        raise InputError(f"side must be 'left' or 'right', got {side!r}")
    if not (root_radius_mm > 0 and step_mm > 0 and 0 < side_fraction < 1):
        raise InputError("root_radius_mm and step_mm must be positive, side_fraction in (0, 1)")
    rng = np.random.default_rng([int(seed), int(index), 0 if side == "left" else 1])
    a, b = semi_axes_mm
    frame = _heart_frame()
    centre = np.asarray(centre_mm, dtype=np.float64)

    def surface(u: np.ndarray, phi: np.ndarray) -> np.ndarray:
        u = np.clip(u, -0.98, 0.98)
        local = np.stack([a * u, b * np.sqrt(1 - u**2) * np.cos(phi), b * np.sqrt(1 - u**2) * np.sin(phi)], -1)
        return centre + 1.03 * local @ frame.T  # just outside the myocardium

    if side == "left":
        mains = [("LM", (-0.75, -0.62), (0.05, 0.25)), ("LAD", (-0.62, 0.95), (0.25, 0.35)),
                 ("LCx", (-0.62, -0.45), (0.25, 2.4))]
    else:
        mains = [("RCA", (-0.65, -0.6), (-0.3, -2.9)), ("PDA", (-0.6, 0.8), (-2.9, -3.1))]
    positions: list[np.ndarray] = []
    radii: list[float] = []
    edges: list[tuple[int, int]] = []
    labels: list[int] = []
    generations: list[int] = []
    names: dict[int, str] = {}

    def add_path(name: str, u_range, phi_range, radius_start: float, start_node: int | None, generation: int):
        u0, u1 = u_range
        p0, p1 = phi_range
        coarse = surface(np.array([u0, u1]), np.array([p0, p1]))
        n = max(2, int(np.ceil(np.linalg.norm(coarse[1] - coarse[0]) * 1.3 / step_mm)))
        s = np.linspace(0.0, 1.0, n)
        wiggle = 0.04 * np.sin(2 * np.pi * (s * rng.uniform(1.5, 3.0) + rng.uniform()))
        pts = surface(u0 + (u1 - u0) * s, p0 + (p1 - p0) * s + wiggle)
        label = len(names)
        names[label] = name
        taper = radius_start * (1.0 - 0.35 * s)  # gentle distal taper
        nodes = []
        for m, (point, radius) in enumerate(zip(pts, taper)):
            if m == 0 and start_node is not None:
                nodes.append(start_node)
                continue
            positions.append(point)
            radii.append(float(radius))
            nodes.append(len(positions) - 1)
        for m in range(len(nodes) - 1):
            edges.append((nodes[m], nodes[m + 1]))
            labels.append(label)
            generations.append(generation)
        return nodes, s, taper

    # Main vessels: LM splits into LAD and LCx by Murray's law (RCA continues into PDA).
    first, _, taper = add_path(mains[0][0], mains[0][1], mains[0][2], root_radius_mm, None, 0)
    end_radius = taper[-1]
    if side == "left":
        r_lad = end_radius * 2 ** (-1 / 3) * rng.uniform(0.97, 1.03)
        r_lcx = (end_radius**3 - r_lad**3) ** (1 / 3)
        main_radii = [r_lad, r_lcx]
    else:
        main_radii = [end_radius]
    main_paths = [(mains[0][0], first)]
    for (name, u_range, phi_range), radius in zip(mains[1:], main_radii):
        nodes, _, _ = add_path(name, u_range, phi_range, radius, first[-1], 0)
        main_paths.append((name, nodes))
    # Side branches (diagonals / marginals) towards the apex; the parent's downstream radius follows Murray.
    for name, nodes in main_paths[1:]:
        n_branches = int(rng.integers(2, 4))
        for j, where in enumerate(np.sort(rng.uniform(0.2, 0.8, n_branches))):
            at = nodes[int(where * (len(nodes) - 1))]
            r0 = radii[at]
            r_side = side_fraction * r0
            r_main = (r0**3 - r_side**3) ** (1 / 3)
            downstream = nodes[nodes.index(at) + 1 :]
            for node in downstream:
                radii[node] *= r_main / r0
            start = positions[at]
            local = (start - centre) @ frame / 1.03
            u_start = local[0] / a
            phi_start = np.arctan2(local[2], local[1])
            direction = 1.0 if name in ("LAD", "LCx") else -1.0
            add_path(f"{name}-B{j + 1}", (u_start, min(0.9, u_start + rng.uniform(0.4, 0.8))),
                     (phi_start, phi_start + direction * rng.uniform(0.5, 1.0)), r_side, at, 1)

    tree = VesselTree(
        positions_mm=np.asarray(positions), radii_mm=np.asarray(radii), edges=np.asarray(edges),
        edge_segment=np.asarray(labels), edge_generation=np.asarray(generations), segment_names=names,
        meta={"generator": "coronary", "side": side, "seed": int(seed), "index": int(index), "phase": phase},
    )
    for stenosis in stenoses:
        tree = apply_stenosis(tree, stenosis)
    if phase:
        scale = 1.0 - contraction * np.sin(np.pi * phase) ** 2
        tree = tree.replace(positions_mm=centre + scale * (tree.positions_mm - centre))
    return tree


def apply_stenosis(tree: VesselTree, stenosis: Stenosis) -> VesselTree:
    """Narrow the named segment: radius times 1 - p/100 at the centre, a cosine profile over ``length_mm``."""
    labels = [k for k, v in tree.segment_names.items() if v == stenosis.segment]
    if not labels:
        raise InputError(f"no segment named {stenosis.segment!r}; have {sorted(tree.segment_names.values())}")
    edge_ids = np.flatnonzero(tree.edge_segment == labels[0])
    nodes = np.concatenate([tree.edges[edge_ids[:1], 0], tree.edges[edge_ids, 1]])
    arc = np.concatenate([[0.0], np.cumsum(tree.edge_lengths_mm()[edge_ids])])
    centre_arc = stenosis.position * arc[-1]
    nearest = int(np.argmin(np.abs(arc - centre_arc)))
    distance = np.abs(arc - arc[nearest])
    profile = np.where(distance < stenosis.length_mm / 2, 0.5 * (1 + np.cos(2 * np.pi * distance / stenosis.length_mm)), 0.0)
    radii = tree.radii_mm.copy()
    radii[nodes] *= 1.0 - (stenosis.percent / 100.0) * profile
    meta = dict(tree.meta)
    meta.setdefault("stenoses", []).append(vars(stenosis).copy())
    return tree.replace(radii_mm=radii, meta=meta)
