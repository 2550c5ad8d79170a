"""Simulated short-axis LGE stacks of the LV phantom: partial volume over each pixel's prism, noise and per-slice
in-plane misalignment (breath-hold shifts)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from angiogen.io.slice_stack import SliceStack
from angiogen.synth.lv_phantom import LVGeometry, ScarField, near_shell


@dataclass
class SimulatedSlices:
    """A simulated LGE stack and what produced it.

    Attributes:
        stack: the slices as a user would receive them (nominal affines, noisy values).
        myocardial_fraction: (S, NI, NJ) fraction of each pixel's prism that is myocardium.
        clean_values: (S, NI, NJ) scar fraction of the myocardium in each prism, before noise.
        shift_mm: (S, 2) true in-plane shift of each slice (along i and j) not reflected in its affine.
    """

    stack: SliceStack
    myocardial_fraction: np.ndarray
    clean_values: np.ndarray
    shift_mm: np.ndarray


def short_axis_affines(
    geometry: LVGeometry,
    spacing_mm: float = 8.0,
    pixel_mm: float = 1.5,
    tilt_deg: float = 0.0,
    tilt_azimuth_deg: float = 0.0,
    phase: float = 0.5,
    margin_mm: float = 6.0,
) -> tuple[np.ndarray, tuple[int, int]]:
    """Affines (S, 4, 4) and image size (NI, NJ) of a short-axis stack covering the LV.

    The normal is the long axis (+z) tilted by ``tilt_deg`` towards azimuth ``tilt_azimuth_deg``; slices step by
    ``spacing_mm``; ``phase`` in [0, 1) places the first slice centre at ``phase * spacing_mm`` past the apex.
    """
    tilt, azimuth = np.deg2rad(tilt_deg), np.deg2rad(tilt_azimuth_deg)
    normal = np.array([np.sin(tilt) * np.cos(azimuth), np.sin(tilt) * np.sin(azimuth), np.cos(tilt)])
    helper = np.array([1.0, 0.0, 0.0]) if abs(normal[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    axis_i = helper - (helper @ normal) * normal
    axis_i /= np.linalg.norm(axis_i)
    axis_j = np.cross(normal, axis_i)
    shell = _shell_samples(geometry)
    along, u, v = shell @ normal, shell @ axis_i, shell @ axis_j
    n_slices = int(np.floor((along.max() - along.min()) / spacing_mm - phase)) + 1
    first = along.min() + phase * spacing_mm
    n_i = int(np.ceil((u.max() - u.min() + 2 * margin_mm) / pixel_mm))
    n_j = int(np.ceil((v.max() - v.min() + 2 * margin_mm) / pixel_mm))
    u0 = (u.max() + u.min()) / 2 - (n_i - 1) / 2 * pixel_mm
    v0 = (v.max() + v.min()) / 2 - (n_j - 1) / 2 * pixel_mm
    affines = np.zeros((n_slices, 4, 4))
    affines[:, :3, 0] = axis_i * pixel_mm
    affines[:, :3, 1] = axis_j * pixel_mm
    affines[:, :3, 2] = normal * spacing_mm
    affines[:, :3, 3] = u0 * axis_i + v0 * axis_j + (first + np.arange(n_slices)[:, None] * spacing_mm) * normal
    affines[:, 3, 3] = 1.0
    return affines, (n_i, n_j)


def _shell_samples(geometry: LVGeometry, n: int = 60) -> np.ndarray:
    # Points on the epicardium below the base (for extents).
    a, b, c = geometry.epi_semi_axes_mm
    theta, phi = np.meshgrid(np.linspace(0, np.pi, n), np.linspace(-np.pi, np.pi, n), indexing="ij")
    points = np.stack([a * np.sin(theta) * np.cos(phi), b * np.sin(theta) * np.sin(phi), c * np.cos(theta)], -1)
    points = points.reshape(-1, 3)
    points[:, 2] = np.minimum(points[:, 2], geometry.base_z_mm)
    return points


def simulate_slices(
    scar: ScarField,
    spacing_mm: float = 8.0,
    pixel_mm: float = 1.5,
    thickness_mm: float | None = None,
    tilt_deg: float = 0.0,
    noise_sd: float = 0.05,
    shift_sd_mm: float = 1.0,
    supersample: tuple[int, int, int] = (4, 4, 16),
    seed: int = 0,
) -> SimulatedSlices:
    """Simulate a short-axis LGE stack of the phantom: each pixel holds the scar fraction of the myocardium in its
    prism (pixel footprint x thickness, ``supersample`` points per axis), plus Gaussian noise (clipped to [0, 1])
    on pixels that contain myocardium; each slice is sampled shifted in-plane by N(0, shift_sd_mm) per axis
    while its affine stays nominal (breath-hold misalignment). Pixels without myocardium are 0.

    Args:
        scar: the truth.
        spacing_mm: distance between slice centres.
        pixel_mm: in-plane pixel size.
        thickness_mm: slice thickness; defaults to ``spacing_mm``.
        tilt_deg: tilt of the stack normal from the long axis (azimuth drawn from ``seed``).
        noise_sd: standard deviation of the additive noise.
        shift_sd_mm: standard deviation of the per-slice in-plane shift.
        supersample: sub-points per pixel along i, j and the normal.
        seed: seed of the slice phase, tilt azimuth, shifts and noise.
    """
    rng = np.random.default_rng(seed)
    geometry = scar.geometry
    thickness_mm = spacing_mm if thickness_mm is None else thickness_mm
    affines, (n_i, n_j) = short_axis_affines(
        geometry, spacing_mm, pixel_mm, tilt_deg, rng.uniform(0, 360), phase=rng.uniform(0.2, 0.8)
    )
    stack = SliceStack(np.zeros((len(affines), n_i, n_j), np.float32), affines, thickness_mm)
    normal = stack.normals
    shift = rng.normal(0.0, shift_sd_mm, size=(len(affines), 2))
    sub_i, sub_j, sub_k = (((np.arange(n) + 0.5) / n - 0.5) for n in supersample)
    myo_fraction = np.zeros(stack.values.shape)
    clean = np.zeros(stack.values.shape)
    for s in range(stack.n_slices):
        unit_i = affines[s, :3, 0] / pixel_mm
        unit_j = affines[s, :3, 1] / pixel_mm
        centres = stack.pixel_centres(s) + shift[s, 0] * unit_i + shift[s, 1] * unit_j
        flat = centres.reshape(-1, 3)
        candidate = np.flatnonzero(near_shell(geometry, flat, pixel_mm + thickness_mm / 2 + 1.0))
        offsets = (
            sub_i[:, None, None, None] * pixel_mm * unit_i
            + sub_j[None, :, None, None] * pixel_mm * unit_j
            + sub_k[None, None, :, None] * thickness_mm * normal[s]
        ).reshape(-1, 3)
        for start in range(0, len(candidate), 2048):
            block = candidate[start : start + 2048]
            samples = flat[block, None, :] + offsets[None]
            myo = geometry.inside(samples)
            scarred = np.zeros_like(myo)
            scarred[myo] = scar(samples[myo])
            n_myo = myo.sum(axis=1)
            myo_fraction[s].reshape(-1)[block] = n_myo / offsets.shape[0]
            clean[s].reshape(-1)[block] = scarred.sum(axis=1) / np.maximum(n_myo, 1)
    noisy = np.clip(clean + rng.normal(0.0, noise_sd, clean.shape), 0.0, 1.0)
    stack.values = np.where(myo_fraction > 0, noisy, 0.0).astype(np.float32)
    return SimulatedSlices(stack, myo_fraction.astype(np.float32), clean.astype(np.float32), shift)
