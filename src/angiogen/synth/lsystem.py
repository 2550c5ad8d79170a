"""Stochastic L-system vessel trees (V-System grammar of Galarreta-Valverde et al. 2013; docs/methods/engine.md §2.1).

Productions, with f move, +/- turn, / roll and [ ] push/pop:

    F(n, d) -> S(n-1, d) [ +(theta1) /(tau) F(n-1, d1) ] [ -(theta2) /(tau) F(n-1, d2) ]
    S(n, d) -> D +(rho) D -(rho) D -(rho) D +(rho) D   (or mirrored, p = 1/2),  D = D(n-1, d)
    D(n, d) -> f(l/5, d),  l ~ U(eps d (1 - m), eps d (1 + m))

Bifurcations follow the generalised Murray law ``d1^k + d2^k = d0^k`` with optimal angles (Zamir 1988). The tree
is grown by a heading turtle (H, L, U) in millimetres from the origin along +z and returned as a
:class:`~angiogen.synth.tree.VesselTree`; every random draw comes from one NumPy Generator seeded by
(seed, index).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from angiogen.errors import InputError
from angiogen.synth.tree import VesselTree

MAX_ITERATIONS = 16


@dataclass(frozen=True)
class LSystemParams:
    """Parameters of the stochastic L-system.

    Args:
        n_iter: depth of the axiom F(n_iter, d0); n_iter - 2 generations of trunks; 1..16. Default 7.
        d0_mm: root diameter in mm. Default 4.0.
        epsilon: trunk length / diameter ratio. Default 6.5.
        asym: Murray asymmetry ratio d (>= 1): the optimal larger daughter is ``d0 * asym**(-1/k)``. Default 2.
        k: Murray exponent. Default 3.
        sigma_d: daughter diameter spread, sd = mean / sigma_d. Default 5.
        length_jitter: half-width of the relative trunk-length jitter m. Default 0.1.
        wiggle_deg: range of the stem zig-zag angle rho (times a random sign in {-1, 0, 1}). Default 22.5..27.5.
        roll_deg: range of the daughter roll angle tau (times a random sign in {-1, 0, 1}). Default 22.5..27.5.
        tortuosity: factor on the zig-zag angle (0 gives straight trunks). Default 1.
        angle_scale: factor on the Murray-optimal branching angles. Default 1.
        grammar: ``"default"`` or ``"vsystem"`` (d = 2, one roll per daughter, stem turns from a fresh
            bifurcation draw, occasional aneurysm-like diameter bulges).
    """

    n_iter: int = 7
    d0_mm: float = 4.0
    epsilon: float = 6.5
    asym: float = 2.0
    k: float = 3.0
    sigma_d: float = 5.0
    length_jitter: float = 0.1
    wiggle_deg: tuple[float, float] = field(default=(22.5, 27.5))
    roll_deg: tuple[float, float] = field(default=(22.5, 27.5))
    tortuosity: float = 1.0
    angle_scale: float = 1.0
    grammar: str = "default"

    def __post_init__(self) -> None:
        if int(self.n_iter) != self.n_iter or not 1 <= self.n_iter <= MAX_ITERATIONS:
            raise InputError(f"n_iter must be a whole number in 1..{MAX_ITERATIONS}, got {self.n_iter}")
        for name in ("d0_mm", "epsilon", "k", "sigma_d"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"{name} must be positive, got {value}")
        if not self.asym >= 1.0:
            raise InputError(f"asym (Murray asymmetry ratio) must be >= 1, got {self.asym}")
        if not 0 <= self.length_jitter < 1:
            raise InputError(f"length_jitter must be in [0, 1), got {self.length_jitter}")
        if self.tortuosity < 0 or self.angle_scale < 0:
            raise InputError("tortuosity and angle_scale must be non-negative")
        if self.grammar not in ("default", "vsystem"):
            raise InputError(f"grammar must be 'default' or 'vsystem', got {self.grammar!r}")

    def to_dict(self) -> dict:
        """JSON-ready parameters."""
        return asdict(self)


def sample_params(rng: np.random.Generator, n_iter: int = 7) -> LSystemParams:
    """Random parameters over the angiogen default ranges (d0 ~ U(3, 6) mm, eps ~ U(4, 9), asym in {1.2, 1.5, 2})."""
    return LSystemParams(
        n_iter=n_iter,
        d0_mm=float(rng.uniform(3.0, 6.0)),
        epsilon=float(rng.uniform(4.0, 9.0)),
        asym=float(rng.choice([1.2, 1.5, 2.0])),
    )


def bifurcation(
    d0: float, asym: float, k: float, sigma_d: float, rng: np.random.Generator
) -> tuple[float, float, float, float]:
    """Daughter diameters and optimal branching angles of a parent of diameter d0.

    d_opt = d0 asym^(-1/k); d1 = |N(d_opt, (d_opt/sigma_d)^2)| (reset to d_opt if >= d0);
    d2 = (d0^k - d1^k)^(1/k); angles from alpha = d2/d1 (Zamir 1988), clamped.

    Returns:
        (d1, d2, theta1_deg, theta2_deg).
    """
    d_opt = d0 * asym ** (-1.0 / k)
    d1 = abs(rng.normal(d_opt, d_opt / sigma_d))
    if d1 >= d0 or d1 == 0.0:
        d1 = d_opt
    d2 = (d0**k - d1**k) ** (1.0 / k)
    alpha = d2 / d1
    a3 = 1.0 + alpha**3
    cos1 = (a3 ** (4 / 3) + 1.0 - alpha**4) / (2.0 * a3 ** (2 / 3))
    cos2 = (a3 ** (4 / 3) + alpha**4 - 1.0) / (2.0 * alpha**2 * a3 ** (2 / 3))
    theta1 = math.degrees(math.acos(min(1.0, max(-1.0, cos1))))
    theta2 = math.degrees(math.acos(min(1.0, max(-1.0, cos2))))
    return d1, d2, theta1, theta2


_Vec3 = tuple[float, float, float]  # the turtle works on plain floats: NumPy is slow on 3-vectors


class _Builder:
    """Collects nodes and edges while the turtle walks."""

    def __init__(self, d0: float) -> None:
        self.positions: list[_Vec3] = [(0.0, 0.0, 0.0)]
        self.radii: list[float] = [d0 / 2.0]
        self.edges: list[tuple[int, int]] = []
        self.segment: list[int] = []
        self.generation: list[int] = []
        self.n_trunks = 0

    def move(self, node: int, position: _Vec3, diameter: float, trunk: int, generation: int) -> int:
        self.positions.append(position)
        self.radii.append(diameter / 2.0)
        new = len(self.positions) - 1
        self.edges.append((node, new))
        self.segment.append(trunk)
        self.generation.append(generation)
        return new


def _combine(a: float, x: _Vec3, b: float, y: _Vec3) -> _Vec3:
    """a x + b y."""
    return (a * x[0] + b * y[0], a * x[1] + b * y[1], a * x[2] + b * y[2])


def _turn(heading: _Vec3, left: _Vec3, angle_deg: float) -> tuple[_Vec3, _Vec3]:
    """+(a): turn H toward L about U."""
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    return _combine(c, heading, s, left), _combine(-s, heading, c, left)


def _roll(left: _Vec3, up: _Vec3, angle_deg: float) -> tuple[_Vec3, _Vec3]:
    """/(a): roll L toward U about H."""
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    return _combine(c, left, s, up), _combine(-s, left, c, up)


def _signed_angle(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    """U(lo, hi) times a random sign in {-1, 0, 1}."""
    return float(rng.uniform(*bounds)) * float(rng.integers(-1, 2))


def grow_lsystem(params: LSystemParams, seed: int = 0, index: int = 0) -> VesselTree:
    """Grow one L-system tree from the origin along +z (mm as grown).

    Args:
        params: grammar parameters.
        seed, index: the tree is a function of (seed, index) only.

    Returns:
        VesselTree: node radius d/2, one segment label per trunk, edge generation = trunk depth (root 0).
    """
    rng = np.random.default_rng([int(seed), int(index)])
    builder = _Builder(params.d0_mm)
    vsystem = params.grammar == "vsystem"
    asym = 2.0 if vsystem else params.asym
    # Explicit stack of pending F(n, d) calls: (n, d, node, position, H, L, U, generation).
    stack = [(params.n_iter, params.d0_mm, 0, (0.0, 0.0, 0.0), (0.0, 0.0, 1.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), 0)]
    while stack:
        n, diameter, node, position, heading, left, up, generation = stack.pop()
        if n < 3:  # F(2) -> S(1) -> D(0) -> nothing; daughters F(1) likewise.
            continue
        trunk = builder.n_trunks
        builder.n_trunks += 1
        sign = 1.0 if rng.random() < 0.5 else -1.0  # S1 or the mirrored S2
        if vsystem:
            _, _, t1, t2 = bifurcation(diameter, asym, params.k, params.sigma_d, rng)
            j = float(rng.integers(-1, 2))
            turns = [t1 * j, -t2 * abs(j), -t1 * j, t2 * abs(j)]
        else:
            rho = _signed_angle(rng, params.wiggle_deg) * params.tortuosity
            turns = [rho, -rho, -rho, rho]
        turns = [sign * t for t in turns]
        piece_diameters = [diameter] * 5
        if vsystem and rng.random() < 0.1:
            bulge = np.sort(rng.uniform(1.0, 1.5, 3)).tolist() + np.sort(rng.uniform(1.0, 1.5, 2))[::-1].tolist()
            piece_diameters = [diameter * f for f in bulge]
        scale = params.epsilon * diameter  # the five piece lengths in one draw: the same numbers as one by one
        lengths = rng.uniform(scale * (1 - params.length_jitter), scale * (1 + params.length_jitter), 5).tolist()
        for piece in range(5):
            position = _combine(1.0, position, lengths[piece] / 5.0, heading)
            node = builder.move(node, position, piece_diameters[piece], trunk, generation)
            if piece < 4:
                heading, left = _turn(heading, left, turns[piece])
        d1, d2, theta1, theta2 = bifurcation(diameter, asym, params.k, params.sigma_d, rng)
        theta1 *= params.angle_scale
        theta2 *= params.angle_scale
        tau1 = _signed_angle(rng, params.roll_deg)
        tau2 = _signed_angle(rng, params.roll_deg) if vsystem else tau1
        daughters = []
        for angle, tau, child in ((theta1, tau1, d1), (-theta2, tau2, d2)):
            h, l_ = _turn(heading, left, angle)
            l_, u = _roll(l_, up, tau)
            daughters.append((n - 1, child, node, position, h, l_, u, generation + 1))
        stack.extend(reversed(daughters))  # first daughter grows first
    return VesselTree(
        positions_mm=np.asarray(builder.positions),
        radii_mm=np.asarray(builder.radii),
        edges=np.asarray(builder.edges, dtype=np.int64).reshape(-1, 2),
        edge_segment=np.asarray(builder.segment, dtype=np.int64),
        edge_generation=np.asarray(builder.generation, dtype=np.int64),
        meta={"generator": "lsystem", "seed": int(seed), "index": int(index), "params": params.to_dict()},
    )


def place_tree(
    tree: VesselTree,
    centre_mm: np.ndarray | tuple[float, float, float] = (0.0, 0.0, 0.0),
    extent_mm: float | None = None,
    rotation: np.ndarray | None = None,
) -> VesselTree:
    """Rotate a grown tree, then centre its bounding box at ``centre_mm``.

    Args:
        tree: the tree as grown.
        centre_mm: where the centre of the node bounding box goes.
        extent_mm: ``None`` keeps mm as grown; a number scales positions so the largest box side equals it,
            keeping the diameters (``fit`` placement).
        rotation: (3, 3) rotation; default identity.
    """
    rot = np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64)
    positions = tree.positions_mm @ rot.T
    lo, hi = positions.min(axis=0), positions.max(axis=0)
    if extent_mm is not None:
        if not extent_mm > 0:
            raise InputError(f"extent_mm must be positive, got {extent_mm}")
        positions = (positions - (lo + hi) / 2) * (extent_mm / max(float((hi - lo).max()), 1e-9))
        lo, hi = positions.min(axis=0), positions.max(axis=0)
    positions = positions - (lo + hi) / 2 + np.asarray(centre_mm, dtype=np.float64)
    return tree.replace(positions_mm=positions)


def axis_angle_rotation(axis: np.ndarray, angle_deg: float) -> np.ndarray:
    """(3, 3) rotation by ``angle_deg`` degrees about ``axis`` (any non-zero length), by Rodrigues' formula."""
    axis = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    angle = math.radians(angle_deg)
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * cross + (1 - math.cos(angle)) * cross @ cross


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random (3, 3) rotation matrix drawn from ``rng``."""
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )
