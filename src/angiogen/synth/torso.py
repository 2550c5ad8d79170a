"""CT-like torso phantom in Hounsfield units, with rigid and respiratory motion (docs/methods/engine.md §2.6).

The anatomy is a set of vectorised implicit shapes in *anatomical* coordinates (LPS mm, the heart centre at the
origin, so a C-arm isocentre at the origin looks at the heart): an elliptic body with fat and muscle layers, lungs
above a two-domed diaphragm, liver and abdomen below it, a spine of vertebrae and discs with neural arches, ribs
descending anteriorly, a sternum, the heart (myocardium, four blood pools, epicardial fat) oriented like the
coronary generator's heart, and the ascending aorta, arch and descending aorta. A seeded, smooth "lumpy" texture
(a Gaussian-filtered random lattice fixed to the anatomy) gives the tissues CT-like inhomogeneity.

Motion per frame: ``breathing`` in [0, 1] (0 end-expiration, 1 end-inspiration) lowers the diaphragm by
:data:`DIAPHRAGM_TRAVEL_MM` and moves the heart by :data:`HEART_BREATHING_SHIFT_MM` (times ``breathing``); then the
whole body moves rigidly, ``world = R @ anatomical + shift`` with ``R`` from ``rotation_deg`` (x, y, z Euler
angles in degrees about the isocentre). :func:`heart_to_world` gives the same transform for the heart, so a
coronary tree built with ``centre_mm=HEART_CENTRE_MM, semi_axes_mm=HEART_SEMI_AXES_MM`` moves with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from angiogen.errors import InputError
from angiogen.io.coordinates import centred_affine
from angiogen.synth.coronary import _heart_frame
from angiogen.synth.voxelize import check_shape

HEART_CENTRE_MM = (0.0, 0.0, 0.0)  # anatomical heart centre (the default isocentre)
HEART_SEMI_AXES_MM = (55.0, 38.0)  # (long, short) semi-axes of the epicardial ellipsoid, as coronary_tree takes
HEART_BREATHING_SHIFT_MM = (0.0, -2.0, -8.0)  # heart displacement at full inspiration (anterior, inferior)
DIAPHRAGM_TRAVEL_MM = 15.0  # diaphragm descent at full inspiration
MAX_TORSO_VOXELS = 512**3

# Hounsfield units of each tissue (label -> HU) and texture amplitude (HU, one standard deviation).
LABELS = {
    "air": 0, "fat": 1, "muscle": 2, "soft_tissue": 3, "lung": 4, "vertebra": 5, "disc": 6, "rib": 7,
    "myocardium": 8, "blood": 9, "aorta": 10, "liver": 11, "spinal_canal": 12, "epicardial_fat": 13,
    "sternum": 14,
}
TISSUE_HU = np.array([-1000, -100, 50, 35, -850, 450, 90, 700, 50, 40, 40, 60, 15, -90, 400], dtype=np.float32)
TEXTURE_HU = np.array([0, 10, 8, 8, 35, 60, 8, 40, 4, 2, 2, 6, 3, 10, 40], dtype=np.float32)
CORTEX_HU = 800.0  # the outer 3 mm of each vertebral body

# Body geometry (anatomical mm): the body axis sits right and posterior of the heart.
BODY_CENTRE_XY_MM = (-20.0, 15.0)
BODY_SEMI_AXES_MM = (140.0, 105.0)
FAT_MM, MUSCLE_MM = 12.0, 12.0
SPINE_XY_MM = (-20.0, 80.0)  # vertebral body centre
VERTEBRA_PERIOD_MM, DISC_MM, VERTEBRA_RADIUS_MM = 32.0, 7.0, 18.0
AORTA_PATH_MM = np.array([  # ascending aorta, arch, descending aorta (points, radius)
    [-10.0, 0.0, 30.0, 14.0], [-14.0, 2.0, 75.0, 14.0], [-10.0, 18.0, 98.0, 13.0], [0.0, 38.0, 102.0, 12.0],
    [8.0, 50.0, 88.0, 12.0], [8.0, 52.0, -400.0, 11.0],
])


@dataclass
class TorsoPhantom:
    """A torso phantom on a grid.

    Attributes:
        hu: (X, Y, Z) float32 CT numbers in HU, voxel (i, j, k) at ``affine @ (i, j, k, 1)``.
        labels: (X, Y, Z) uint8 tissue labels (see :data:`LABELS`).
        affine: (4, 4) voxel-to-world matrix in LPS mm (grid centred on the isocentre at the origin).
        heart_rotation: (3, 3) rotation and heart_translation_mm: (3,) mapping anatomical heart points to world.
        params: the arguments that made it (JSON-ready).
    """

    hu: np.ndarray
    labels: np.ndarray
    affine: np.ndarray
    heart_rotation: np.ndarray
    heart_translation_mm: np.ndarray
    params: dict


def rotation_matrix(rotation_deg: tuple[float, float, float]) -> np.ndarray:
    """(3, 3) rotation R = R_z @ R_y @ R_x for angles (x, y, z) in degrees (right-handed, about LPS axes)."""
    ax, ay, az = (math.radians(float(a)) for a in rotation_deg)
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def heart_to_world(
    breathing: float = 0.0,
    shift_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> tuple[np.ndarray, np.ndarray]:
    """(R, t): a heart point ``a`` (anatomical mm, at rest) lies at ``R @ a + t`` in world mm for this motion."""
    rotation = rotation_matrix(rotation_deg)
    translation = rotation @ (float(breathing) * np.asarray(HEART_BREATHING_SHIFT_MM)) + np.asarray(shift_mm, float)
    return rotation, translation


def _check_motion(breathing: float, shift_mm, rotation_deg) -> tuple[float, np.ndarray, np.ndarray]:
    if not (math.isfinite(breathing) and 0.0 <= breathing <= 1.0):
        raise InputError(f"breathing must be in [0, 1], got {breathing}")
    shift = np.asarray(shift_mm, dtype=np.float64)
    rotation = np.asarray(rotation_deg, dtype=np.float64)
    if shift.shape != (3,) or rotation.shape != (3,) or not (np.all(np.isfinite(shift)) and np.all(np.isfinite(rotation))):
        raise InputError(f"shift_mm and rotation_deg must be 3 finite numbers, got {shift_mm} and {rotation_deg}")
    return float(breathing), shift, rotation


def torso_phantom(
    shape: tuple[int, int, int] = (128, 128, 128),
    spacing_mm: float = 2.5,
    seed: int = 0,
    breathing: float = 0.0,
    shift_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0),
    texture: bool = True,
) -> TorsoPhantom:
    """CT-like torso in HU on a grid centred on the isocentre (the heart centre at rest).

    Args:
        shape: grid shape (X, Y, Z) along LPS x (right -> left), y (anterior -> posterior), z (inferior -> superior).
        spacing_mm: isotropic voxel size in mm (> 0).
        seed: seed of the lumpy texture (the anatomy itself is fixed).
        breathing: respiratory state in [0, 1] (0 expiration, 1 inspiration).
        shift_mm: rigid translation (x, y, z) in mm. rotation_deg: rigid rotation (x, y, z Euler angles) in degrees.
        texture: add the seeded smooth texture (False gives piecewise-constant HU).

    Returns:
        :class:`TorsoPhantom` (HU, labels, LPS affine, heart pose).

    Raises:
        InputError: bad shape (or more than 512^3 voxels), non-positive spacing, breathing outside [0, 1].
    """
    dims = check_shape(shape)
    if np.prod(np.asarray(dims, dtype=np.float64)) > MAX_TORSO_VOXELS:
        raise InputError(f"torso grid {dims} has more than {MAX_TORSO_VOXELS} voxels (absurd size)")
    if not (math.isfinite(spacing_mm) and spacing_mm > 0):
        raise InputError(f"voxel spacing must be positive (mm), got {spacing_mm}")
    breathing, shift, rotation_angles = _check_motion(breathing, shift_mm, rotation_deg)
    affine = centred_affine(dims, float(spacing_mm))
    rotation = rotation_matrix(tuple(rotation_angles))

    # Anatomical coordinates of every voxel centre: a = R^T (p - shift).
    axes = [affine[n, 3] + spacing_mm * np.arange(dims[n], dtype=np.float32) for n in range(3)]
    px, py, pz = (axis.astype(np.float32) - np.float32(shift[n]) for n, axis in enumerate(axes))
    if np.allclose(rotation, np.eye(3)):  # separable (X,1,1), (1,Y,1), (1,1,Z) coordinates
        x, y, z = px[:, None, None], py[None, :, None], pz[None, None, :]
    else:
        r = rotation.astype(np.float32)
        x = r[0, 0] * px[:, None, None] + r[1, 0] * py[None, :, None] + r[2, 0] * pz[None, None, :]
        y = r[0, 1] * px[:, None, None] + r[1, 1] * py[None, :, None] + r[2, 1] * pz[None, None, :]
        z = r[0, 2] * px[:, None, None] + r[1, 2] * py[None, :, None] + r[2, 2] * pz[None, None, :]
    labels = _anatomy(x, y, z, breathing, dims)
    hu = TISSUE_HU[labels]
    cortex = (labels == LABELS["vertebra"]) & np.broadcast_to(
        np.hypot(x - SPINE_XY_MM[0], y - SPINE_XY_MM[1]) > VERTEBRA_RADIUS_MM - 3.0, dims
    )
    hu[cortex] = CORTEX_HU
    if texture:
        hu += TEXTURE_HU[labels] * _lumpy_texture(x, y, z, seed)
    heart_rotation, heart_translation = heart_to_world(breathing, tuple(shift), tuple(rotation_angles))
    params = {
        "shape": list(dims), "spacing_mm": float(spacing_mm), "seed": int(seed), "breathing": breathing,
        "shift_mm": shift.tolist(), "rotation_deg": rotation_angles.tolist(), "texture": bool(texture),
        "heart_centre_mm": list(HEART_CENTRE_MM), "heart_semi_axes_mm": list(HEART_SEMI_AXES_MM),
    }
    return TorsoPhantom(hu.astype(np.float32, copy=False), labels, affine, heart_rotation, heart_translation, params)


def _paint(labels: np.ndarray, mask: np.ndarray, label: int) -> None:
    """labels[mask] = label, with ``mask`` broadcast to the grid."""
    labels[np.broadcast_to(mask, labels.shape)] = label


def _sub(p: np.ndarray, box: tuple[slice, ...]) -> np.ndarray:
    """The part of a (separable or full) coordinate array inside an index box."""
    return p[tuple(s if n > 1 else slice(None) for s, n in zip(box, p.shape))]


def _anatomy(x: np.ndarray, y: np.ndarray, z: np.ndarray, breathing: float, dims: tuple[int, int, int]) -> np.ndarray:
    """(X, Y, Z) uint8 labels at anatomical coordinates x, y, z (mm); later structures paint over earlier ones."""
    labels = np.zeros(dims, dtype=np.uint8)
    bx, by = x - BODY_CENTRE_XY_MM[0], y - BODY_CENTRE_XY_MM[1]  # body-centred
    a, b = BODY_SEMI_AXES_MM
    rho = np.sqrt((bx / a) ** 2 + (by / b) ** 2)  # 1 on the skin
    depth = np.hypot(bx, by) * (1.0 / np.maximum(rho, 1e-3) - 1.0)  # distance below the skin along the radius
    body = rho <= 1.0
    _paint(labels, body, LABELS["fat"])
    _paint(labels, body & (depth > FAT_MM), LABELS["muscle"])
    cavity = body & (depth > FAT_MM + MUSCLE_MM)
    _paint(labels, cavity, LABELS["soft_tissue"])

    # Diaphragm: two domes (right higher), lowered by breathing; liver under the right dome.
    drop = DIAPHRAGM_TRAVEL_MM * breathing
    dome_right = -35.0 - drop - 0.004 * ((bx + 55.0) ** 2 + 0.6 * (by - 5.0) ** 2)
    dome_left = -50.0 - drop - 0.004 * ((bx - 65.0) ** 2 + 0.6 * (by - 5.0) ** 2)
    diaphragm_z = np.maximum(dome_right, dome_left)
    above = z > diaphragm_z
    # Lungs: thoracic cavity above the diaphragm, outside the mediastinum band and the spine.
    mediastinum = (np.abs(bx - 12.0) < 38.0) & (by < 60.0)
    paraspinal = np.hypot(bx, by - 65.0) < 45.0
    apex = z < 200.0 - 0.002 * (bx**2)
    lung = cavity & (depth > FAT_MM + MUSCLE_MM + 4.0) & above & apex & ~mediastinum & ~paraspinal
    _paint(labels, lung, LABELS["lung"])
    liver = cavity & ~above & (bx < 25.0 - 0.3 * (by + 60.0)) & (z > diaphragm_z - 150.0)
    _paint(labels, liver, LABELS["liver"])

    _paint_heart(labels, x, y, z, breathing)
    _paint_tube(labels, x, y, z, AORTA_PATH_MM, LABELS["aorta"])
    _paint_spine(labels, x, y, z, body)
    _paint_ribs(labels, bx, by, z, rho, cavity | (depth > FAT_MM))
    sternum = (np.abs(bx - 5.0) < 14.0) & (np.abs(by + b - FAT_MM - MUSCLE_MM - 4.0) < 6.0) & (z > -70) & (z < 110)
    _paint(labels, sternum & body, LABELS["sternum"])
    return labels


def _ellipsoid(points: tuple[np.ndarray, ...], centre: np.ndarray, frame: np.ndarray, semi: tuple) -> np.ndarray:
    """Boolean inside-test of an ellipsoid (centre, columns of ``frame`` as axes, semi-axes) at points (x, y, z)."""
    total = 0.0
    for axis in range(3):
        coordinate = sum((points[n] - centre[n]) * np.float32(frame[n, axis]) for n in range(3))
        total = total + (coordinate / np.float32(semi[axis])) ** 2
    return total <= 1.0


def _paint_heart(labels: np.ndarray, x: np.ndarray, y: np.ndarray, z: np.ndarray, breathing: float) -> None:
    """Epicardial fat, myocardium, LV/RV cavities and atria, on the coronary generator's heart ellipsoid."""
    centre = np.asarray(HEART_CENTRE_MM) + breathing * np.asarray(HEART_BREATHING_SHIFT_MM)
    frame = _heart_frame()  # columns: long axis (base -> apex), anterior, third axis
    long_mm, short_mm = HEART_SEMI_AXES_MM
    points = (x, y, z)
    box = _bounding_box(points, centre, long_mm + 40.0)
    sub = tuple(_sub(p, box) for p in points)
    region = labels[box]
    atrium_centre = centre - 0.8 * long_mm * frame[:, 0]
    atrium_semi = (0.45 * long_mm, 0.75 * short_mm, 0.75 * short_mm)
    region[_ellipsoid(sub, centre, frame, (long_mm + 6, short_mm + 6, short_mm + 6))] = LABELS["epicardial_fat"]
    region[_ellipsoid(sub, atrium_centre, frame, tuple(s + 4 for s in atrium_semi))] = LABELS["epicardial_fat"]
    region[_ellipsoid(sub, centre, frame, (long_mm, short_mm, short_mm))] = LABELS["myocardium"]
    region[_ellipsoid(sub, atrium_centre, frame, atrium_semi)] = LABELS["myocardium"]
    lv = centre + 0.1 * long_mm * frame[:, 0] - 0.3 * short_mm * frame[:, 2]
    rv = centre + 0.35 * short_mm * frame[:, 2] - 0.1 * short_mm * frame[:, 1]
    region[_ellipsoid(sub, lv, frame, (0.72 * long_mm, 0.42 * short_mm, 0.42 * short_mm))] = LABELS["blood"]
    region[_ellipsoid(sub, rv, frame, (0.6 * long_mm, 0.3 * short_mm, 0.45 * short_mm))] = LABELS["blood"]
    region[_ellipsoid(sub, atrium_centre, frame, tuple(s - 5 for s in atrium_semi))] = LABELS["blood"]


def _bounding_box(points: tuple[np.ndarray, ...], centre: np.ndarray, radius: float) -> tuple[slice, ...]:
    """Index box of the grid (axis-aligned coordinates only) around ``centre`` +- ``radius``; whole grid if rotated."""
    shape = np.broadcast_shapes(*(p.shape for p in points))
    if any(sum(n > 1 for n in p.shape) > 1 for p in points):
        return tuple(slice(0, n) for n in shape)  # rotated: coordinates are full 3-D arrays
    box = []
    for axis, p in enumerate(points):
        line = p.reshape(-1)
        inside = np.nonzero(np.abs(line - centre[axis]) <= radius)[0]
        box.append(slice(int(inside.min()), int(inside.max()) + 1) if inside.size else slice(0, 0))
    return tuple(box)


def _paint_tube(labels: np.ndarray, x: np.ndarray, y: np.ndarray, z: np.ndarray, path: np.ndarray, label: int) -> None:
    """Paint a tube along a polyline (N, 4: x, y, z, radius) of capsules."""
    for start, end in zip(path[:-1], path[1:]):
        radius = max(start[3], end[3])
        lo, hi = np.minimum(start[:3], end[:3]) - radius, np.maximum(start[:3], end[:3]) + radius
        box = _bounding_box((x, y, z), (lo + hi) / 2, float((hi - lo).max() / 2))
        sub = [_sub(p, box) for p in (x, y, z)]
        axis = (end[:3] - start[:3]).astype(np.float32)
        length2 = float(axis @ axis)
        rel = [sub[n] - np.float32(start[n]) for n in range(3)]
        t = np.clip(sum(rel[n] * axis[n] for n in range(3)) / length2, 0.0, 1.0)
        dist2 = sum((rel[n] - t * axis[n]) ** 2 for n in range(3))
        local_radius = start[3] + t * (end[3] - start[3])
        region = labels[box]
        region[np.broadcast_to(dist2 <= local_radius**2, region.shape) & (region > 0)] = label


def _paint_spine(labels: np.ndarray, x: np.ndarray, y: np.ndarray, z: np.ndarray, body: np.ndarray) -> None:
    """Vertebral bodies with discs between them, neural arches round the spinal canal, spinous processes."""
    sx, sy = x - SPINE_XY_MM[0], y - SPINE_XY_MM[1]
    phase = np.mod(z, VERTEBRA_PERIOD_MM)
    in_disc = np.abs(phase - 0.5 * VERTEBRA_PERIOD_MM) < 0.5 * DISC_MM
    radial = np.hypot(sx, sy)
    column = body & (radial < VERTEBRA_RADIUS_MM)
    _paint(labels, column, LABELS["vertebra"])
    _paint(labels, column & in_disc, LABELS["disc"])
    canal_radial = np.hypot(sx, sy - 27.0)
    arch = body & (canal_radial >= 8.0) & (canal_radial < 14.0) & ~in_disc
    spinous = body & (np.abs(sx) < 4.0) & (sy > 36.0) & (sy < 52.0) & ~in_disc
    transverse = body & (np.abs(sx) < 38.0) & (np.abs(sy - 24.0) < 5.0) & ~in_disc
    _paint(labels, arch | spinous | transverse, LABELS["vertebra"])
    _paint(labels, body & (canal_radial < 8.0), LABELS["spinal_canal"])


def _paint_ribs(labels: np.ndarray, bx: np.ndarray, by: np.ndarray, z: np.ndarray, rho: np.ndarray,
                inside: np.ndarray) -> None:
    """Ribs: an elliptic ring under the muscle at every vertebral level, falling 45 mm from back to front."""
    a, b = BODY_SEMI_AXES_MM
    ring = 1.0 - (FAT_MM + MUSCLE_MM + 3.0) / min(a, b)  # the rib ring in units of the body ellipse
    radial_mm = (rho - ring) * np.hypot(bx, by) / np.maximum(rho, 1e-3)
    angle = np.arctan2(by, bx)  # +pi/2 posterior, -pi/2 anterior
    level_z = z - 45.0 * (1.0 - np.sin(angle)) / 2.0
    phase = np.mod(level_z, VERTEBRA_PERIOD_MM) - 0.5 * VERTEBRA_PERIOD_MM
    front_gap = np.abs(angle + np.pi / 2) < np.radians(22.0)  # costal cartilage and sternum
    back_gap = np.abs(angle - np.pi / 2) < np.radians(10.0)  # the spine
    thorax = (level_z > -120.0) & (level_z < 170.0)
    rib = inside & thorax & ~front_gap & ~back_gap & (radial_mm**2 + (phase * 1.6) ** 2 < 5.5**2)
    _paint(labels, rib, LABELS["rib"])


def _lumpy_texture(x: np.ndarray, y: np.ndarray, z: np.ndarray, seed: int, lattice_mm: float = 6.0,
                   half_extent_mm: float = 300.0) -> np.ndarray:
    """Smooth unit-variance noise fixed to the anatomy: a seeded Gaussian-filtered lattice, trilinear sampling."""
    from scipy.ndimage import gaussian_filter, map_coordinates

    n = int(2 * half_extent_mm / lattice_mm) + 1
    rng = np.random.default_rng([int(seed), 0x70_72_73_6F])
    lattice = gaussian_filter(rng.standard_normal((n, n, n)).astype(np.float32), sigma=1.5, mode="wrap")
    lattice /= max(float(lattice.std()), 1e-6)
    shape = np.broadcast_shapes(x.shape, y.shape, z.shape)
    if all(p.ndim == 3 and sum(k > 1 for k in p.shape) <= 1 for p in (x, y, z)):
        # Axis-aligned grid: separable coordinates, so sample on the outer product with order-1 interpolation.
        coords = [(p.reshape(-1) + half_extent_mm) / lattice_mm for p in (x, y, z)]
        return _trilinear_separable(lattice, coords).reshape(shape)
    coords = np.stack([(np.broadcast_to(p, shape).reshape(-1) + half_extent_mm) / lattice_mm for p in (x, y, z)])
    return map_coordinates(lattice, coords, order=1, mode="nearest").reshape(shape).astype(np.float32)


def _trilinear_separable(lattice: np.ndarray, coords: list[np.ndarray]) -> np.ndarray:
    """Trilinear interpolation of ``lattice`` at the outer product of three 1-D coordinate lists."""
    out = lattice
    for axis, coord in enumerate(coords):
        coord = np.clip(coord, 0.0, lattice.shape[axis] - 1.000001)
        base = np.floor(coord).astype(np.int64)
        weight = (coord - base).astype(np.float32)
        lower = np.take(out, base, axis=axis)
        upper = np.take(out, base + 1, axis=axis)
        view = [1, 1, 1]
        view[axis] = -1
        out = lower + (upper - lower) * weight.reshape(view)
    return out
