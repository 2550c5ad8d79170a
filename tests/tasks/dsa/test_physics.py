"""The engine pieces the dsa pairs rest on: Gaussian-blob line integrals, rigid phantom motion, Poisson noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import integrate

from angiogen.errors import InputError
from angiogen.synth.lsystem import random_rotation
from angiogen.xray import CArmGeometry, Cylinder, Ellipsoid, GaussianBlob, add_noise, line_integrals

VIEW = CArmGeometry(primary_deg=25.0, secondary_deg=-15.0, rows=12, cols=10, pixel_spacing_mm=12.0)


def _quadrature(blob: GaussianBlob, origin: np.ndarray, direction: np.ndarray, length: float) -> float:
    centre = np.asarray(blob.center_mm)

    def mu(t: float) -> float:
        offset = origin + t * direction - centre
        return blob.amplitude_per_mm * np.exp(-offset @ offset / (2 * blob.sigma_mm**2))

    # split at the point closest to the centre, where the integrand peaks
    t0 = float(np.clip((centre - origin) @ direction, 0.0, length))
    return sum(integrate.quad(mu, a, b, epsabs=1e-13, epsrel=1e-11, limit=200)[0] for a, b in ((0, t0), (t0, length)))


def test_gaussian_blob_line_integrals_match_quadrature_along_detector_rays() -> None:
    blob = GaussianBlob((12.0, -8.0, 20.0), 18.0, 0.004)
    image = line_integrals(blob, VIEW)
    origins, directions, lengths = VIEW.rays()
    for row, col in [(0, 0), (6, 5), (3, 8), (11, 9), (7, 2)]:
        expected = _quadrature(blob, origins[row, col], directions[row, col], float(lengths[row, col]))
        assert image[row, col] == pytest.approx(expected, rel=1e-8, abs=1e-14)
    # through the centre the whole Gaussian is crossed: A sqrt(2 pi) sigma at most
    assert image.max() <= blob.amplitude_per_mm * np.sqrt(2 * np.pi) * blob.sigma_mm
    assert image.max() > 0.5 * blob.amplitude_per_mm * np.sqrt(2 * np.pi) * blob.sigma_mm


def test_gaussian_blob_cut_by_the_ray_ends_and_negative_amplitudes() -> None:
    blob = GaussianBlob((0.0, 0.0, 0.0), 5.0, -0.01)
    origins = np.array([[-3.0, 1.0, 0.0], [-40.0, 2.0, 1.0], [-40.0, 0.0, 0.0]])
    directions = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.6, 0.8, 0.0]])
    lengths = np.array([50.0, 41.0, 100.0])  # starts inside the blob; ends just past the centre; oblique
    got = blob.line_integrals(origins, directions, lengths)
    for k in range(3):
        assert got[k] == pytest.approx(_quadrature(blob, origins[k], directions[k], lengths[k]), rel=1e-8)
    assert np.all(got < 0)
    with pytest.raises(InputError):
        GaussianBlob((0.0, 0.0, 0.0), 0.0, 0.01)


def _moved(shape, rotation: np.ndarray, translation: np.ndarray):  # noqa: ANN001, ANN202
    """The shape itself carried by x -> R x + t."""
    centre = tuple(rotation @ np.asarray(shape.center_mm) + translation)
    if isinstance(shape, Ellipsoid):
        return Ellipsoid(centre, shape.semi_axes_mm, shape.mu_per_mm,
                         rotation=tuple(map(tuple, rotation @ np.asarray(shape.rotation))))
    if isinstance(shape, Cylinder):
        return Cylinder(centre, tuple(rotation @ np.asarray(shape.axis)), shape.radius_mm, shape.length_mm,
                        shape.mu_per_mm)
    return GaussianBlob(centre, shape.sigma_mm, shape.amplitude_per_mm)


def test_translated_phantom_equals_the_phantom_with_a_moved_centre() -> None:
    ellipsoid = Ellipsoid((5.0, -10.0, 15.0), (40.0, 25.0, 30.0), 0.02)
    shift = np.array([6.0, -4.0, 9.0])
    moved = line_integrals(ellipsoid, VIEW, translation_mm=shift)
    explicit = line_integrals(Ellipsoid(tuple(np.asarray(ellipsoid.center_mm) + shift), ellipsoid.semi_axes_mm,
                                        ellipsoid.mu_per_mm), VIEW)
    np.testing.assert_allclose(moved, explicit, rtol=1e-10, atol=1e-12)
    assert np.abs(moved - line_integrals(ellipsoid, VIEW)).max() > 0.05  # the motion is visible


def test_rigid_motion_of_mixed_shapes_equals_moving_each_shape() -> None:
    rng = np.random.default_rng(4)
    shapes = [
        Ellipsoid((5.0, -10.0, 15.0), (40.0, 25.0, 30.0), 0.02, rotation=tuple(map(tuple, random_rotation(rng)))),
        Cylinder((-20.0, 5.0, 0.0), (0.2, 0.1, 1.0), 15.0, 200.0, 0.03),
        GaussianBlob((10.0, 0.0, -20.0), 20.0, 0.003),
    ]
    rotation, translation = random_rotation(rng), np.array([3.0, -2.0, 7.0])
    moved = line_integrals(shapes, VIEW, rotation=rotation, translation_mm=translation)
    explicit = line_integrals([_moved(s, rotation, translation) for s in shapes], VIEW)
    np.testing.assert_allclose(moved, explicit, rtol=1e-9, atol=1e-12)
    assert np.abs(moved - line_integrals(shapes, VIEW)).max() > 0.05
    identity = line_integrals(shapes, VIEW, rotation=np.eye(3), translation_mm=np.zeros(3))
    assert np.array_equal(identity, line_integrals(shapes, VIEW))


@pytest.mark.parametrize("photons, p", [(5e4, 4.0), (5e5, 2.0), (2e3, 0.5)])
def test_add_noise_gives_poisson_counts_at_the_stated_dose(photons: float, p: float) -> None:
    flat = torch.full((4, 128, 128), p, dtype=torch.float64)
    noisy = add_noise(flat, photons, torch.Generator().manual_seed(11))
    counts = (photons * torch.exp(-noisy)).numpy()
    expected = photons * np.exp(-p)
    assert np.allclose(counts, np.round(counts), atol=1e-6 * expected)  # whole photons
    assert counts.mean() == pytest.approx(expected, rel=4 * np.sqrt(1 / (expected * counts.size)))
    assert counts.var() == pytest.approx(counts.mean(), rel=0.03)  # Poisson: variance = mean
