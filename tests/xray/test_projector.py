"""Cone-beam projector: closed-form line integrals, exact adjoint, pose gradients, chunking, batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from angiogen.errors import InputError
from angiogen.xray import (
    CArmGeometry,
    CArmPose,
    ConeBeamProjector,
    Cylinder,
    Ellipsoid,
    backproject,
    centred_affine,
    line_integrals,
    project,
    voxelise,
)

N = 64
AFFINE = centred_affine((N, N, N), spacing_mm=1.0)
VIEWS = ["AP", "LAO45", "RAO30/CAU20", "LAO90", "AP/CRA30"]
ROTATION = tuple(map(tuple, np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]))


def view(name: str, **kwargs) -> CArmGeometry:
    return CArmGeometry.standard(name, rows=64, cols=64, pixel_spacing_mm=1.5, **kwargs)


@pytest.fixture(scope="module")
def ellipsoid_volume() -> tuple[Ellipsoid, torch.Tensor]:
    shape = Ellipsoid(center_mm=(1.0, -2.0, 1.0), semi_axes_mm=(26.0, 20.0, 23.0), mu_per_mm=0.02, rotation=ROTATION)
    return shape, voxelise(shape, (N, N, N), AFFINE, supersample=4, dtype=torch.float64)


@pytest.mark.parametrize("name", VIEWS)
def test_ellipsoid_line_integrals_match_closed_form(ellipsoid_volume, name: str) -> None:
    shape, volume = ellipsoid_volume
    geometry = view(name)
    image = project(volume, AFFINE, geometry)[0].numpy()
    exact = line_integrals(shape, geometry)
    interior = exact > 0.7 * exact.max()  # rays through the central part, away from the silhouette
    assert interior.sum() > 300
    assert np.max(np.abs(image - exact)[interior] / exact[interior]) < 0.01
    grown = Ellipsoid(shape.center_mm, tuple(a + 3.0 for a in shape.semi_axes_mm), 1.0, shape.rotation)
    assert np.abs(image[line_integrals(grown, geometry) == 0]).max() < 1e-12  # nothing outside the shadow


def _distance_to_rims(cylinder: Cylinder, geometry: CArmGeometry) -> np.ndarray:
    """Distance (mm) of each ray to the nearest point on the cylinder's two cap rims."""
    w = np.asarray(cylinder.axis)
    a = np.cross(w, [1.0, 0, 0] if abs(w[0]) < 0.9 else [0, 1.0, 0])
    a /= np.linalg.norm(a)
    b = np.cross(w, a)
    phi = np.linspace(0, 2 * np.pi, 180, endpoint=False)
    ring = cylinder.radius_mm * (np.cos(phi)[:, None] * a + np.sin(phi)[:, None] * b)
    rims = np.concatenate([ring + s * cylinder.length_mm / 2 * w for s in (-1, 1)]) + cylinder.center_mm
    origins, directions, _ = geometry.rays()
    rel = rims[None, None] - origins[..., None, :]
    along = (rel * directions[..., None, :]).sum(-1)
    return np.sqrt(np.clip((rel**2).sum(-1) - along**2, 0, None)).min(-1)


@pytest.mark.parametrize("name", ["AP", "LAO45", "RAO30/CAU20"])
def test_cylinder_line_integrals_match_closed_form(name: str) -> None:
    cylinder = Cylinder(center_mm=(0.0, 0.0, 0.0), axis=(1.0, 0.5, 0.3), radius_mm=14.0, length_mm=44.0, mu_per_mm=0.02)
    volume = voxelise(cylinder, (N, N, N), AFFINE, dtype=torch.float64)
    geometry = view(name)
    image = project(volume, AFFINE, geometry)[0].numpy()
    exact = line_integrals(cylinder, geometry)
    # Interior: long chords, at least 4 voxels from the cap rims (where the projection has a kink) and passing
    # at least 3 voxels inside the curved surface (not grazing it).
    origins, directions, _ = geometry.rays()
    normal = np.cross(directions, cylinder.axis)
    to_axis = np.abs(((origins - cylinder.center_mm) * normal).sum(-1)) / np.linalg.norm(normal, axis=-1)
    interior = (
        (exact > 0.5 * exact.max())
        & (_distance_to_rims(cylinder, geometry) > 4.0)
        & (to_axis < cylinder.radius_mm - 3.0)
    )
    assert interior.sum() > 150
    assert np.max(np.abs(image - exact)[interior] / exact[interior]) < 0.01


def test_uniform_slab_scales_with_step_length() -> None:
    # A constant volume: the central ray of AP crosses 64 planes of 1 mm along y.
    volume = torch.full((N, N, N), 0.01, dtype=torch.float64)
    image = project(volume, AFFINE, view("AP"))[0]
    assert float(image[31:33, 31:33].mean()) == pytest.approx(0.64, rel=2e-3)


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_adjoint_identity(dtype: torch.dtype, tolerance: float) -> None:
    generator = torch.Generator().manual_seed(0)
    shape = (40, 36, 44)  # anisotropic grid, oblique affine: the adjoint must hold for any
    affine = centred_affine(shape, spacing_mm=1.2)
    affine[:3, :3] = np.array(ROTATION) @ affine[:3, :3]
    affine[:3, 3] = -affine[:3, :3] @ (np.array(shape) - 1) / 2  # still centred on the isocentre
    geometries = [
        CArmGeometry.standard(name, rows=30, cols=34, pixel_spacing_mm=(2.0, 1.8)) for name in ("AP", "LAO45", "RAO30/CRA20")
    ]
    x = torch.rand(shape, generator=generator, dtype=dtype)
    y = torch.rand((3, 30, 34), generator=generator, dtype=dtype)
    forward = project(x, affine, geometries)
    adjoint = backproject(y, shape, affine, geometries)
    lhs, rhs = float((forward * y).sum()), float((x * adjoint).sum())
    assert abs(lhs - rhs) / abs(lhs) < tolerance


def test_chunking_changes_nothing_and_keeps_gradients() -> None:
    generator = torch.Generator().manual_seed(1)
    volume = torch.rand((32, 32, 32), generator=generator, dtype=torch.float64, requires_grad=True)
    affine = centred_affine((32, 32, 32), 2.0)
    geometries = [view("RAO30/CRA20", sid_mm=1000.0, sod_mm=800.0), view("LAO90")]
    whole = project(volume, affine, geometries)
    (grad_whole,) = torch.autograd.grad(whole.square().sum(), volume)
    chunked = project(volume, affine, geometries, max_samples=32 * 500)  # 500 rays a chunk, checkpointed
    (grad_chunked,) = torch.autograd.grad(chunked.square().sum(), volume)
    torch.testing.assert_close(chunked, whole)
    torch.testing.assert_close(grad_chunked, grad_whole)


def test_batch_equals_single_views(ellipsoid_volume) -> None:
    _, volume = ellipsoid_volume
    geometries = [view(name) for name in VIEWS]  # mixed main axes in one batch
    batch = project(volume, AFFINE, geometries)
    for index, geometry in enumerate(geometries):
        torch.testing.assert_close(batch[index], project(volume, AFFINE, geometry)[0])


def test_volume_reaching_past_the_detector_is_cut() -> None:
    # Source 400 mm and detector 50 mm from the isocentre: the detector lies inside the 128 mm cube.
    volume = torch.full((N, N, N), 0.01, dtype=torch.float64)
    affine = centred_affine((N, N, N), 2.0)
    geometry = CArmGeometry(sid_mm=450.0, sod_mm=400.0, rows=8, cols=8, pixel_spacing_mm=1.0)
    centre = float(project(volume, affine, geometry)[0, 3:5, 3:5].mean())
    # AP rays run posterior -> anterior: from the source at y = +400 through voxel centres y = +63, +61, ... and
    # stop at the detector at y = -50, i.e. 57 planes of 2 mm instead of 64.
    assert centre == pytest.approx(0.01 * (63 + 50 + 1), rel=0.03)


def test_gradient_wrt_angles_matches_finite_differences(ellipsoid_volume) -> None:
    _, volume = ellipsoid_volume
    target = project(volume, AFFINE, view("LAO30/CRA20"))
    start = view("LAO30/CRA20").replace(primary_deg=33.0, secondary_deg=18.0, isocenter_shift_mm=(2.0, 0.0, -1.0))

    def loss(pose: CArmPose) -> torch.Tensor:
        return (project(volume, AFFINE, pose) - target).square().sum()

    pose = start.pose(dtype=torch.float64)
    pose.primary_deg.requires_grad_(True)
    pose.secondary_deg.requires_grad_(True)
    pose.isocenter_shift_mm.requires_grad_(True)
    value = loss(pose)
    value.backward()
    analytic = [float(pose.primary_deg.grad[0]), float(pose.secondary_deg.grad[0]), float(pose.isocenter_shift_mm.grad[0, 2])]
    assert all(np.isfinite(analytic))
    numeric = []
    for field, step in (("primary_deg", 0.05), ("secondary_deg", 0.05)):
        plus = loss(start.replace(**{field: getattr(start, field) + step}).pose(dtype=torch.float64))
        minus = loss(start.replace(**{field: getattr(start, field) - step}).pose(dtype=torch.float64))
        numeric.append(float(plus - minus) / (2 * step))
    shift = np.array(start.isocenter_shift_mm)
    plus = loss(start.replace(isocenter_shift_mm=tuple(shift + [0, 0, 0.05])).pose(dtype=torch.float64))
    minus = loss(start.replace(isocenter_shift_mm=tuple(shift - [0, 0, 0.05])).pose(dtype=torch.float64))
    numeric.append(float(plus - minus) / 0.1)
    np.testing.assert_allclose(analytic, numeric, rtol=0.05)
    # And descending the gradient lowers the loss (the pose moves towards the target).
    assert analytic[0] > 0 and analytic[1] < 0


def test_projector_object_and_errors() -> None:
    volume = torch.zeros((8, 8, 8))
    projector = ConeBeamProjector((8, 8, 8), centred_affine((8, 8, 8)), view("AP"))
    assert projector(volume).shape == (1, 64, 64)
    assert projector.T(torch.ones((1, 64, 64))).shape == (8, 8, 8)
    with pytest.raises(InputError, match="built for"):
        projector(torch.zeros((8, 8, 9)))
    with pytest.raises(InputError, match=r"\(D, H, W\)"):
        project(torch.zeros((8, 8)), centred_affine((8, 8, 8)), view("AP"))
    with pytest.raises(InputError, match="affine"):
        project(volume, np.zeros((4, 4)), view("AP"))
