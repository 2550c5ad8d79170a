"""X-ray intensity model: attenuation (HU, iodine), Beer-Lambert, photon and electronic noise, blur, collimation.

Attenuation values are at one effective energy (default 60 keV). Mass attenuation coefficients (total, with
coherent scattering) are from the NIST XCOM / Hubbell & Seltzer tables (NIST Standard Reference Database 126):
water 0.2683, 0.2269, 0.2059, 0.1837, 0.1707 cm^2/g and iodine 22.10, 12.32, 7.583, 3.510, 1.942 cm^2/g at
40, 50, 60, 80, 100 keV (all above iodine's K edge at 33.2 keV); values between are interpolated log-log.
Tissue values at 60 keV follow docs/methods/engine.md §2.5.

Noise model per frame (docs/methods/engine.md §2.5): N ~ Poisson(N0 e^-p) photons, plus Normal(0, sigma_e^2) electronic noise in
photon equivalents, optional Gaussian detector blur of N, then p~ = -ln(max(N, 1) / N0). Without blur,
Var p~ ≈ e^p / N0 + sigma_e^2 e^(2p) / N0^2.

Images are (B, rows, cols) or (rows, cols) tensors throughout.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from angiogen.errors import InputError

# NIST XCOM mass attenuation coefficients (cm^2/g) at these energies (keV).
_ENERGIES_KEV = np.array([40.0, 50.0, 60.0, 80.0, 100.0])
_WATER_CM2_PER_G = np.array([0.2683, 0.2269, 0.2059, 0.1837, 0.1707])
_IODINE_CM2_PER_G = np.array([22.10, 12.32, 7.583, 3.510, 1.942])

DEFAULT_ENERGY_KEV = 60.0

# Linear attenuation at 60 keV in 1/mm (docs/methods/engine.md §2.5).
MU_60KEV_PER_MM: dict[str, float] = {
    "air": 0.0,
    "lung": 0.0053,
    "fat": 0.0185,
    "water": 0.0206,
    "soft_tissue": 0.0215,
    "blood": 0.0218,
    "trabecular_bone": 0.0375,
    "cortical_bone": 0.060,
}


def _loglog(energy_kev: float, table: np.ndarray) -> float:
    if not _ENERGIES_KEV[0] <= energy_kev <= _ENERGIES_KEV[-1]:
        raise InputError(
            f"effective energy {energy_kev:g} keV is outside the tabulated {_ENERGIES_KEV[0]:g}-{_ENERGIES_KEV[-1]:g} keV"
        )
    return float(np.exp(np.interp(np.log(energy_kev), np.log(_ENERGIES_KEV), np.log(table))))


def mu_water_per_mm(energy_kev: float = DEFAULT_ENERGY_KEV) -> float:
    """Linear attenuation of water (density 1 g/cm^3) in 1/mm at an effective energy in keV (40-100)."""
    return _loglog(energy_kev, _WATER_CM2_PER_G) / 10.0


def iodine_mu_per_mm_per_mg_ml(energy_kev: float = DEFAULT_ENERGY_KEV) -> float:
    """Attenuation added by 1 mg/mL of iodine, in 1/mm (7.58e-4 at 60 keV)."""
    return _loglog(energy_kev, _IODINE_CM2_PER_G) * 1e-3 / 10.0


def hu_to_mu(hu: torch.Tensor, energy_kev: float = DEFAULT_ENERGY_KEV) -> torch.Tensor:
    """CT numbers to linear attenuation: ``mu = mu_water (1 + HU / 1000)``, clipped at 0 (air).

    Args:
        hu: tensor of Hounsfield units, any shape.
        energy_kev: effective energy in keV; default 60.

    Returns:
        Tensor of the same shape in 1/mm.
    """
    return (mu_water_per_mm(energy_kev) * (1.0 + hu / 1000.0)).clamp(min=0.0)


def iodine_to_mu(concentration_mg_ml: torch.Tensor, energy_kev: float = DEFAULT_ENERGY_KEV) -> torch.Tensor:
    """Iodine concentration in mg/mL to the attenuation it adds, in 1/mm (add it to the blood's mu)."""
    return concentration_mg_ml * iodine_mu_per_mm_per_mg_ml(energy_kev)


def beer_lambert(line_integrals: torch.Tensor, photons_per_pixel: float) -> torch.Tensor:
    """Expected photon counts ``I = I0 exp(-p)`` from line integrals ``p`` (dimensionless)."""
    return photons_per_pixel * torch.exp(-line_integrals)


def log_transform(counts: torch.Tensor, photons_per_pixel: float) -> torch.Tensor:
    """Line integrals back from counts: ``p = -ln(max(N, 1) / I0)``."""
    return -torch.log(counts.clamp(min=1.0) / photons_per_pixel)


def gaussian_blur(images: torch.Tensor, sigma_px: float) -> torch.Tensor:
    """2-D Gaussian blur (detector point-spread), sigma in pixels; edges replicated; 0 returns the input.

    Args:
        images: (B, rows, cols) or (rows, cols) tensor.
        sigma_px: standard deviation in pixels.
    """
    if sigma_px < 0:
        raise InputError(f"blur sigma must be >= 0 pixels, got {sigma_px}")
    if sigma_px == 0:
        return images
    radius = max(1, int(math.ceil(3 * sigma_px)))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (offsets / sigma_px) ** 2)
    kernel = kernel / kernel.sum()
    flat = images.reshape(-1, 1, *images.shape[-2:])
    flat = F.pad(flat, (radius, radius, radius, radius), mode="replicate")
    flat = F.conv2d(flat, kernel.view(1, 1, 1, -1))
    flat = F.conv2d(flat, kernel.view(1, 1, -1, 1))
    return flat.reshape(images.shape)


def noisy_counts(
    line_integrals: torch.Tensor,
    photons_per_pixel: float,
    generator: torch.Generator | None = None,
    electronic_sigma: float = 0.0,
    blur_sigma_px: float = 0.0,
) -> torch.Tensor:
    """Detected photon counts: Poisson(I0 e^-p) + Normal(0, sigma_e^2), then detector blur.

    Args:
        line_integrals: (B, rows, cols) or (rows, cols) line integrals ``p``.
        photons_per_pixel: unattenuated photons per pixel, ``I0`` (> 0).
        generator: seeded ``torch.Generator`` (on the tensor's device) for reproducible noise.
        electronic_sigma: standard deviation of the electronic noise in photon equivalents; default 0.
        blur_sigma_px: Gaussian detector blur in pixels; default 0.

    Returns:
        Counts, same shape, float.
    """
    if photons_per_pixel <= 0:
        raise InputError(f"photons per pixel must be > 0, got {photons_per_pixel}")
    if electronic_sigma < 0:
        raise InputError(f"electronic noise sigma must be >= 0, got {electronic_sigma}")
    expected = beer_lambert(line_integrals.detach(), photons_per_pixel)
    counts = torch.poisson(expected, generator=generator)
    if electronic_sigma > 0:
        noise = torch.randn(counts.shape, generator=generator, dtype=counts.dtype, device=counts.device)
        counts = counts + electronic_sigma * noise
    return gaussian_blur(counts, blur_sigma_px)


def add_noise(
    line_integrals: torch.Tensor,
    photons_per_pixel: float,
    generator: torch.Generator | None = None,
    electronic_sigma: float = 0.0,
    blur_sigma_px: float = 0.0,
) -> torch.Tensor:
    """Noisy line integrals: :func:`noisy_counts` followed by :func:`log_transform` (same arguments)."""
    counts = noisy_counts(line_integrals, photons_per_pixel, generator, electronic_sigma, blur_sigma_px)
    return log_transform(counts, photons_per_pixel)


def collimate(
    images: torch.Tensor,
    shutter_px: tuple[int, int, int, int] | None = None,
    iris_center_px: tuple[float, float] | None = None,
    iris_radius_px: float | None = None,
    fill_value: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply a rectangular shutter and/or a circular iris, as DICOM Shutter Shape RECTANGULAR / CIRCULAR.

    Args:
        images: (B, rows, cols) or (rows, cols) tensor.
        shutter_px: (left, right, upper, lower) edges in pixels, the exposed field being columns ``left <= j <
            right`` and rows ``upper <= i < lower``; None for no rectangular shutter.
        iris_center_px: (row, col) centre of the circular opening; default the image centre.
        iris_radius_px: radius of the circular opening in pixels; None for no iris.
        fill_value: value put where the field is closed; default 0.

    Returns:
        (collimated images, mask): the mask is a bool (rows, cols) tensor, True inside the exposed field.
    """
    rows, cols = images.shape[-2:]
    row = torch.arange(rows, device=images.device)[:, None]
    col = torch.arange(cols, device=images.device)[None, :]
    mask = torch.ones((rows, cols), dtype=torch.bool, device=images.device)
    if shutter_px is not None:
        left, right, upper, lower = shutter_px
        if not (0 <= left < right <= cols and 0 <= upper < lower <= rows):
            raise InputError(
                f"shutter (left, right, upper, lower) = {shutter_px} must satisfy 0 <= left < right <= {cols} "
                f"and 0 <= upper < lower <= {rows}"
            )
        mask &= (col >= left) & (col < right) & (row >= upper) & (row < lower)
    if iris_radius_px is not None:
        if iris_radius_px <= 0:
            raise InputError(f"iris radius must be > 0 pixels, got {iris_radius_px}")
        centre_row, centre_col = iris_center_px if iris_center_px is not None else ((rows - 1) / 2, (cols - 1) / 2)
        mask &= (row - centre_row) ** 2 + (col - centre_col) ** 2 <= iris_radius_px**2
    collimated = torch.where(mask, images, torch.as_tensor(fill_value, dtype=images.dtype, device=images.device))
    return collimated, mask
