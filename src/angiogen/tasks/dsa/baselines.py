"""Conventional DSA baselines (docs/methods/dsa.md §2.8): live - mask, after rigid 2-D sub-pixel registration, and smoothed.

Frames are line integrals (attenuation positive), so the subtraction ``live - mask`` is the vessel image.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.registration import phase_cross_correlation


def subtract(live: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Conventional DSA: ``live - mask`` (H, W)."""
    return np.asarray(live, np.float32) - np.asarray(mask, np.float32)


def register_mask(live: np.ndarray, mask: np.ndarray, upsample: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The mask shifted onto the live frame by phase correlation with 1/``upsample`` px precision.

    Returns:
        (registered mask (H, W), shift (rows, cols) in px).
    """
    shift, _, _ = phase_cross_correlation(np.asarray(live, np.float64), np.asarray(mask, np.float64),
                                          upsample_factor=upsample, normalization=None)
    moved = ndimage.shift(np.asarray(mask, np.float64), shift, order=3, mode="nearest")
    return moved.astype(np.float32), np.asarray(shift, dtype=float)


def registered_dsa(live: np.ndarray, mask: np.ndarray, smooth_sigma_px: float = 0.0) -> np.ndarray:
    """``live - registered mask``, optionally smoothed with a Gaussian of ``smooth_sigma_px``."""
    dsa = subtract(live, register_mask(live, mask)[0])
    return ndimage.gaussian_filter(dsa, smooth_sigma_px).astype(np.float32) if smooth_sigma_px > 0 else dsa
