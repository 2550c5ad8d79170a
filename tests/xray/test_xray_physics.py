"""X-ray physics: attenuation tables, Beer-Lambert, photon statistics, blur, collimation."""

from __future__ import annotations

import math

import pytest
import torch

from angiogen.errors import InputError
from angiogen.xray import (
    add_noise,
    beer_lambert,
    collimate,
    gaussian_blur,
    hu_to_mu,
    iodine_mu_per_mm_per_mg_ml,
    iodine_to_mu,
    log_transform,
    mu_water_per_mm,
    noisy_counts,
)


def test_attenuation_values_at_60kev() -> None:
    assert mu_water_per_mm(60.0) == pytest.approx(0.02059, rel=1e-3)
    assert iodine_mu_per_mm_per_mg_ml(60.0) == pytest.approx(7.583e-4, rel=1e-3)
    hu = torch.tensor([-1000.0, -2000.0, 0.0, 1000.0])
    torch.testing.assert_close(hu_to_mu(hu), torch.tensor([0.0, 0.0, 0.02059, 0.04118]), rtol=1e-3, atol=1e-7)
    assert float(iodine_to_mu(torch.tensor(10.0))) == pytest.approx(7.583e-3, rel=1e-3)
    # Attenuation falls with energy; the interpolation passes through the table.
    assert mu_water_per_mm(80.0) == pytest.approx(0.01837, rel=1e-3)
    assert mu_water_per_mm(40.0) > mu_water_per_mm(70.0) > mu_water_per_mm(100.0)
    with pytest.raises(InputError, match="keV"):
        mu_water_per_mm(20.0)


def test_beer_lambert_and_log_transform_are_inverse() -> None:
    p = torch.linspace(0.0, 5.0, 11, dtype=torch.float64)
    counts = beer_lambert(p, 1e5)
    assert float(counts[0]) == pytest.approx(1e5)
    torch.testing.assert_close(log_transform(counts, 1e5), p)


@pytest.mark.parametrize("photons", [1e4, 1e6])
def test_poisson_noise_variance(photons: float) -> None:
    p = torch.full((256, 256), 1.5, dtype=torch.float64)
    generator = torch.Generator().manual_seed(3)
    counts = noisy_counts(p, photons, generator=generator)
    expected = photons * math.exp(-1.5)
    assert float(counts.mean()) == pytest.approx(expected, rel=2e-3)
    assert float(counts.var()) == pytest.approx(expected, rel=0.03)  # Poisson: variance = mean
    noisy = add_noise(p, photons, generator=torch.Generator().manual_seed(3))
    # Log domain: Var p~ ≈ e^p / N0.
    assert float(noisy.var()) == pytest.approx(math.exp(1.5) / photons, rel=0.05)


def test_electronic_noise_adds_variance_and_blur_reduces_it() -> None:
    p = torch.zeros((256, 256), dtype=torch.float64)
    photons, sigma_e = 1e4, 50.0
    counts = noisy_counts(p, photons, generator=torch.Generator().manual_seed(4), electronic_sigma=sigma_e)
    assert float(counts.var()) == pytest.approx(photons + sigma_e**2, rel=0.03)
    blurred = noisy_counts(p, photons, generator=torch.Generator().manual_seed(4), blur_sigma_px=2.0)
    # A Gaussian blur of sigma s divides white-noise variance by about 4 pi s^2.
    assert float(blurred.var()) == pytest.approx(photons / (4 * math.pi * 4.0), rel=0.15)


def test_noise_is_reproducible_from_the_seed() -> None:
    p = torch.rand((2, 16, 16), generator=torch.Generator().manual_seed(0))
    first = add_noise(p, 1e4, generator=torch.Generator().manual_seed(7), electronic_sigma=3.0)
    second = add_noise(p, 1e4, generator=torch.Generator().manual_seed(7), electronic_sigma=3.0)
    assert torch.equal(first, second)


def test_blur_preserves_mean_of_flat_image() -> None:
    flat = torch.full((3, 20, 24), 2.5)
    torch.testing.assert_close(gaussian_blur(flat, 1.3), flat)
    assert gaussian_blur(flat, 0.0) is flat


def test_collimation_masks() -> None:
    images = torch.ones((2, 40, 50))
    shuttered, mask = collimate(images, shutter_px=(5, 45, 10, 30), fill_value=-1.0)
    assert mask.shape == (40, 50) and mask.dtype == torch.bool
    assert int(mask.sum()) == 40 * 20
    assert bool(mask[10, 5]) and not bool(mask[9, 5]) and not bool(mask[10, 45])
    assert float(shuttered[0, 0, 0]) == -1.0 and float(shuttered[1, 20, 20]) == 1.0
    _, iris = collimate(images, iris_radius_px=15.0)
    assert abs(int(iris.sum()) - math.pi * 15**2) < 2 * math.pi * 15  # area of the disc, up to the rim
    assert bool(iris[19, 24]) and not bool(iris[0, 0])
    _, both = collimate(images, shutter_px=(0, 25, 0, 40), iris_radius_px=15.0)
    assert torch.equal(both, iris & (torch.arange(50) < 25)[None, :])
    with pytest.raises(InputError, match="shutter"):
        collimate(images, shutter_px=(30, 20, 0, 40))
