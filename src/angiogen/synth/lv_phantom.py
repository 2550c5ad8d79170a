"""Left-ventricle myocardium phantom with a known scar: a truncated ellipsoidal shell sampled as a node
lattice with lumped node volumes, and scar fields (transmural / subendocardial sectors, patchy blobs, an
isthmus channel) defined analytically so that any point can be tested.

Frame: millimetres, long axis along +z, apex at negative z, base plane at ``base_z_mm``; the LV cavity is
the inside of the endocardial ellipsoid. LV coordinates of a point are its transmural depth
(0 endocardium ... 1 epicardium), its circumferential angle ``atan2(y, x)`` in radians, and its height z.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class LVGeometry:
    """A truncated ellipsoidal shell.

    Args:
        endo_semi_axes_mm: (a, b, c) of the endocardial ellipsoid centred at the origin, c along z.
        epi_semi_axes_mm: (a, b, c) of the epicardial ellipsoid.
        base_z_mm: the base plane; the shell is kept for z <= base_z_mm.
    """

    endo_semi_axes_mm: tuple[float, float, float] = (25.0, 25.0, 60.0)
    epi_semi_axes_mm: tuple[float, float, float] = (35.0, 35.0, 68.0)
    base_z_mm: float = 15.0

    def _radii(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Normalised ellipsoidal radius of each point w.r.t. the endocardial and the epicardial surface.
        rho_endo = np.sqrt(((points / np.asarray(self.endo_semi_axes_mm)) ** 2).sum(axis=-1))
        rho_epi = np.sqrt(((points / np.asarray(self.epi_semi_axes_mm)) ** 2).sum(axis=-1))
        return rho_endo, rho_epi

    def inside(self, points: np.ndarray) -> np.ndarray:
        """Boolean mask (...,) of points (..., 3) in mm that lie in the myocardium."""
        rho_endo, rho_epi = self._radii(points)
        return (rho_endo >= 1.0) & (rho_epi <= 1.0) & (points[..., 2] <= self.base_z_mm)

    def depth(self, points: np.ndarray) -> np.ndarray:
        """Transmural depth (...,): 0 on the endocardium, 1 on the epicardium (monotone in between)."""
        rho_endo, rho_epi = self._radii(points)
        outer = rho_endo - 1.0
        inner = 1.0 - rho_epi
        return outer / np.maximum(outer + inner, 1e-9)

    @property
    def apex_z_mm(self) -> float:
        """z of the epicardial apex."""
        return -self.epi_semi_axes_mm[2]

    @property
    def bounds_mm(self) -> np.ndarray:
        """(2, 3) axis-aligned bounding box [min, max] of the shell."""
        a, b, c = self.epi_semi_axes_mm
        return np.array([[-a, -b, -c], [a, b, self.base_z_mm]], dtype=np.float64)


@dataclass
class LVMesh:
    """Nodes of the LV phantom.

    Attributes:
        points_mm: (N, 3) float64 node coordinates in mm.
        node_volume_mm3: (N,) float64 lumped volume each node stands for; sums to the myocardial volume.
        spacing_mm: lattice spacing.
        geometry: the shell the nodes sample.
        tetra: (T, 4) int64 tetrahedra over the nodes, or None for a point lattice.
    """

    points_mm: np.ndarray
    node_volume_mm3: np.ndarray
    spacing_mm: float
    geometry: LVGeometry
    tetra: np.ndarray | None = None


def make_lv_mesh(
    spacing_mm: float = 1.45,
    jitter: float = 0.25,
    seed: int = 0,
    geometry: LVGeometry | None = None,
    tetra: bool = False,
    subsamples: int = 4,
) -> LVMesh:
    """Sample the myocardium on a jittered cubic lattice with lumped node volumes.

    Every lattice cube (edge ``spacing_mm``) that overlaps the myocardium gives one node. Its volume is the cube
    volume times the fraction of ``subsamples``^3 sub-points inside the shell; an interior node sits at its cube
    centre moved by a uniform jitter of up to ``jitter * spacing_mm`` per axis (breaking the alignment with
    image grids), a boundary node at the centroid of its inside sub-points. At 1.45 mm this gives ~41k nodes.

    Args:
        spacing_mm: lattice spacing in mm.
        jitter: jitter as a fraction of the spacing, in [0, 0.5).
        seed: seed of the jitter (the mesh is a pure function of its arguments).
        geometry: the shell; defaults to :class:`LVGeometry`.
        tetra: also build a tetrahedral mesh (Delaunay of the nodes, keeping tetrahedra whose centroid is in the
            myocardium); node volumes then stay the lattice volumes.
        subsamples: sub-points per axis per cube for the volume fractions.

    Returns:
        :class:`LVMesh`.
    """
    if spacing_mm <= 0:
        raise ValueError(f"spacing_mm must be positive, got {spacing_mm}")
    if not 0 <= jitter < 0.5:
        raise ValueError(f"jitter must be in [0, 0.5), got {jitter}")
    geometry = geometry or LVGeometry()
    rng = np.random.default_rng(seed)
    low, high = geometry.bounds_mm
    axes = [np.arange(lo - spacing_mm, hi + spacing_mm, spacing_mm) for lo, hi in zip(low, high)]
    centres = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    # Keep cubes whose centre is within one cube diagonal of the shell (cheap pre-filter).
    near = near_shell(geometry, centres, margin_mm=spacing_mm * 0.9)
    centres = centres[near]
    offsets = (np.arange(subsamples) + 0.5) / subsamples - 0.5
    sub = np.stack(np.meshgrid(offsets, offsets, offsets, indexing="ij"), axis=-1).reshape(-1, 3) * spacing_mm
    fraction = np.empty(len(centres))
    centroid = np.empty((len(centres), 3))
    for start in range(0, len(centres), 20_000):
        block = centres[start : start + 20_000, None, :] + sub[None]
        inside = geometry.inside(block)
        count = inside.sum(axis=1)
        fraction[start : start + 20_000] = count / len(sub)
        centroid[start : start + 20_000] = (block * inside[..., None]).sum(axis=1) / np.maximum(count, 1)[:, None]
    keep = fraction > 0
    centres, fraction, centroid = centres[keep], fraction[keep], centroid[keep]
    jittered = centres + rng.uniform(-jitter, jitter, size=centres.shape) * spacing_mm
    interior = fraction == 1.0
    points = np.where(interior[:, None], jittered, centroid)
    volume = fraction * spacing_mm**3
    cells = _delaunay_in_shell(points, geometry) if tetra else None
    return LVMesh(points_mm=points, node_volume_mm3=volume, spacing_mm=spacing_mm, geometry=geometry, tetra=cells)


# Where a patient's LV sits in a scanner's RAS frame: the apex points left, anterior and inferior, the LV centre a
# few centimetres left of and below the isocentre (typical of cardiac MR planning).
_APEX_DIRECTION_RAS = (-0.55, 0.45, -0.70)
_LV_CENTRE_RAS_MM = (-20.0, 15.0, -10.0)


def scanner_pose(seed: int, geometry: LVGeometry | None = None, centre_sd_mm: float = 15.0,
                 axis_sd: float = 0.15) -> np.ndarray:
    """(4, 4) rigid transform from the phantom frame to a scanner's RAS frame, as a patient's LV would lie.

    The phantom's long axis (+z towards the base) is turned so that the apex points left, anterior and inferior
    (RAS direction (-0.55, 0.45, -0.70), perturbed by N(0, ``axis_sd``) per component), rolled about it by a
    uniform angle, and the LV's centre (midway from apex to base of ``geometry``) moved to (-20, 15, -10) mm
    + N(0, ``centre_sd_mm``) per axis. A pure function of ``seed``; in such a pose RAS and LPS readings of a mesh
    fall on clearly different places.
    """
    rng = np.random.default_rng([seed, 7193])
    apex = np.asarray(_APEX_DIRECTION_RAS) + rng.normal(0.0, axis_sd, 3)
    axis_z = -apex / np.linalg.norm(apex)
    helper = np.array([0.0, 0.0, 1.0]) if abs(axis_z[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    axis_x = np.cross(helper, axis_z)
    axis_x /= np.linalg.norm(axis_x)
    axis_y = np.cross(axis_z, axis_x)
    roll = rng.uniform(-np.pi, np.pi)
    axis_x, axis_y = np.cos(roll) * axis_x + np.sin(roll) * axis_y, -np.sin(roll) * axis_x + np.cos(roll) * axis_y
    pose = np.eye(4)
    pose[:3, :3] = np.stack([axis_x, axis_y, axis_z], axis=1)
    geometry = geometry or LVGeometry()
    centre_phantom = np.array([0.0, 0.0, (geometry.apex_z_mm + geometry.base_z_mm) / 2])
    pose[:3, 3] = np.asarray(_LV_CENTRE_RAS_MM) + rng.normal(0.0, centre_sd_mm, 3) - pose[:3, :3] @ centre_phantom
    return pose


def near_shell(geometry: LVGeometry, points: np.ndarray, margin_mm: float) -> np.ndarray:
    """(N,) bool: points (N, 3) in mm within about ``margin_mm`` of the myocardium: inside the epicardium grown by
    the margin, outside the endocardium shrunk by it, below the base plane + margin."""
    epi = np.asarray(geometry.epi_semi_axes_mm) + margin_mm
    endo = np.maximum(np.asarray(geometry.endo_semi_axes_mm) - margin_mm, 1e-3)
    rho_epi = np.sqrt(((points / epi) ** 2).sum(-1))
    rho_endo = np.sqrt(((points / endo) ** 2).sum(-1))
    return (rho_epi <= 1.0) & (rho_endo >= 1.0) & (points[:, 2] <= geometry.base_z_mm + margin_mm)


def _delaunay_in_shell(points: np.ndarray, geometry: LVGeometry) -> np.ndarray:
    from scipy.spatial import Delaunay

    simplices = Delaunay(points).simplices
    centroid = points[simplices].mean(axis=1)
    return simplices[geometry.inside(centroid)].astype(np.int64)


def _wrap(angle: np.ndarray) -> np.ndarray:
    # Angle difference wrapped into [-pi, pi).
    return (angle + np.pi) % (2 * np.pi) - np.pi


@dataclass(frozen=True)
class Sector:
    """A scar sector: angles within ``half_width_rad`` of ``centre_rad``, heights in [z_min, z_max], and depth
    below ``max_depth`` (1.0 transmural, 0.3-0.6 subendocardial)."""

    centre_rad: float
    half_width_rad: float
    z_min_mm: float
    z_max_mm: float
    max_depth: float = 1.0

    def contains(self, points: np.ndarray, depth: np.ndarray) -> np.ndarray:
        angle = np.arctan2(points[..., 1], points[..., 0])
        z = points[..., 2]
        return (
            (np.abs(_wrap(angle - self.centre_rad)) <= self.half_width_rad)
            & (z >= self.z_min_mm)
            & (z <= self.z_max_mm)
            & (depth <= self.max_depth)
        )


@dataclass(frozen=True)
class Channel:
    """A healthy channel (isthmus) of ``width_mm`` (arc length at the point's radius) through all the wall.

    Its centre line runs at angle ``centre_rad`` at height ``z_centre_mm`` and turns by ``tilt_rad`` relative
    to the long axis; it extends over heights [z_min_mm, z_max_mm]. The channel is healthy whatever else says.
    """

    centre_rad: float
    width_mm: float
    z_min_mm: float
    z_max_mm: float
    z_centre_mm: float
    tilt_rad: float = 0.0

    def offset_mm(self, points: np.ndarray) -> np.ndarray:
        """Signed circumferential distance (...,) in mm of each point from the centre line."""
        radius = np.hypot(points[..., 0], points[..., 1])
        angle = np.arctan2(points[..., 1], points[..., 0])
        return radius * _wrap(angle - self.centre_rad) - np.tan(self.tilt_rad) * (points[..., 2] - self.z_centre_mm)

    def contains(self, points: np.ndarray) -> np.ndarray:
        z = points[..., 2]
        return (np.abs(self.offset_mm(points)) < self.width_mm / 2) & (z >= self.z_min_mm) & (z <= self.z_max_mm)


@dataclass(frozen=True)
class ScarField:
    """Binary scar of the LV phantom: (sectors OR thresholded Gaussian blobs) AND NOT channel, in myocardium.

    Attributes:
        geometry: the shell.
        sectors: scar sectors.
        blob_centres_mm: (K, 3) Gaussian blob centres.
        blob_sigmas_mm: (K,) blob widths.
        blob_threshold: scar where the sum of unit-height blobs exceeds it.
        channel: an optional healthy isthmus cut through the scar.
        kind: a name for reports.
    """

    geometry: LVGeometry
    sectors: tuple[Sector, ...] = ()
    blob_centres_mm: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    blob_sigmas_mm: np.ndarray = field(default_factory=lambda: np.zeros(0))
    blob_threshold: float = 0.5
    channel: Channel | None = None
    kind: str = "custom"

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """Boolean scar mask (...,) of points (..., 3) in mm (False outside the myocardium)."""
        points = np.asarray(points, dtype=np.float64)
        depth = self.geometry.depth(points)
        scar = np.zeros(points.shape[:-1], dtype=bool)
        for sector in self.sectors:
            scar |= sector.contains(points, depth)
        if len(self.blob_centres_mm):
            blobs = np.zeros(points.shape[:-1])
            for centre, sigma in zip(self.blob_centres_mm, self.blob_sigmas_mm):
                blobs += np.exp(-((points - centre) ** 2).sum(-1) / (2 * sigma**2))
            scar |= blobs > self.blob_threshold
        if self.channel is not None:
            scar &= ~self.channel.contains(points)
        return scar & self.geometry.inside(points)

    def channel_ends(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Masks (N,) of channel nodes, of those at its low end and of those at its high end (2 mm bands)."""
        if self.channel is None:
            empty = np.zeros(len(points), dtype=bool)
            return empty, empty, empty
        in_channel = self.channel.contains(points) & self.geometry.inside(points)
        z = points[:, 2]
        low = in_channel & (z <= self.channel.z_min_mm + 2.0)
        high = in_channel & (z >= self.channel.z_max_mm - 2.0)
        return in_channel, low, high


SCAR_KINDS = ("isthmus", "transmural", "subendocardial", "patchy")


def random_scar(seed: int, kind: str = "isthmus", geometry: LVGeometry | None = None) -> ScarField:
    """Draw a scar of the given kind; a pure function of (seed, kind, geometry).

    Kinds:
        ``"isthmus"``: a transmural sector (90-130 deg, 30-40 mm high) split by a healthy channel 3-5 mm wide
            tilted up to 20 deg from the long axis, plus 3-5 patchy blobs (sigma 4-8 mm) around it.
        ``"transmural"``: one transmural sector.
        ``"subendocardial"``: one sector of depth 0.3-0.6 from the endocardium.
        ``"patchy"``: 6-10 Gaussian blobs at mid-wall, thresholded.
    """
    if kind not in SCAR_KINDS:
        raise ValueError(f"unknown scar kind {kind!r}; expected one of {', '.join(SCAR_KINDS)}")
    geometry = geometry or LVGeometry()
    rng = np.random.default_rng([seed, SCAR_KINDS.index(kind)])
    centre = rng.uniform(-np.pi, np.pi)
    z_low = rng.uniform(-45.0, -25.0)
    height = rng.uniform(30.0, 40.0)
    half_width = np.deg2rad(rng.uniform(45.0, 65.0))
    if kind == "transmural":
        return ScarField(geometry, (Sector(centre, half_width, z_low, z_low + height),), kind=kind)
    if kind == "subendocardial":
        depth = rng.uniform(0.3, 0.6)
        return ScarField(geometry, (Sector(centre, half_width, z_low, z_low + height, depth),), kind=kind)
    if kind == "patchy":
        centres, sigmas = _blobs(rng, geometry, rng.integers(6, 11), centre, np.deg2rad(100.0))
        return ScarField(geometry, (), centres, sigmas, 0.5, kind=kind)
    sector = Sector(centre, half_width, z_low, z_low + height)
    channel = Channel(
        centre_rad=centre + rng.uniform(-0.3, 0.3) * half_width,
        width_mm=rng.uniform(3.0, 5.0),
        z_min_mm=z_low - 4.0,
        z_max_mm=z_low + height + 4.0,
        z_centre_mm=z_low + height / 2,
        tilt_rad=np.deg2rad(rng.uniform(-20.0, 20.0)),
    )
    centres, sigmas = _blobs(rng, geometry, rng.integers(3, 6), centre, half_width + np.deg2rad(40.0))
    return ScarField(geometry, (sector,), centres, sigmas, 0.5, channel, kind=kind)


def _blobs(
    rng: np.random.Generator, geometry: LVGeometry, count: int, centre_rad: float, spread_rad: float
) -> tuple[np.ndarray, np.ndarray]:
    # Blob centres at random depth in [0.2, 0.8], angle near centre_rad, height over the mid ventricle.
    depth = rng.uniform(0.2, 0.8, count)
    angle = centre_rad + rng.uniform(-spread_rad, spread_rad, count)
    z = rng.uniform(-50.0, 5.0, count)
    endo, epi = np.asarray(geometry.endo_semi_axes_mm), np.asarray(geometry.epi_semi_axes_mm)
    semi = endo[None] + depth[:, None] * (epi - endo)[None]
    # Point on the ellipsoid with these semi-axes at height z and angle.
    radial = np.sqrt(np.clip(1.0 - (z / semi[:, 2]) ** 2, 0.0, None))
    centres = np.stack([semi[:, 0] * radial * np.cos(angle), semi[:, 1] * radial * np.sin(angle), z], axis=1)
    return centres, rng.uniform(4.0, 8.0, count)
