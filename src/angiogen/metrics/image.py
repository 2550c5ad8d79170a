"""Image metrics with a fixed data range, and region metrics for sparse targets (vessels on an empty background).

When the structure of interest covers few pixels, whole-image PSNR and SSIM reward predicting nothing; rank on the
PSNR inside a region of interest around the structure together with the RMS outside it (docs/methods/dsa.md §2.8).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from skimage.metrics import structural_similarity


def _pair(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, target = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape:
        raise ValueError(f"images differ in shape: {pred.shape} vs {target.shape}")
    return pred, target


def psnr(pred: np.ndarray, target: np.ndarray, data_range: float, mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio 10 log10(R^2 / MSE) in dB, over ``mask`` when given (inf when equal)."""
    pred, target = _pair(pred, target)
    error = (pred - target) ** 2
    mse = float(error[np.asarray(mask, bool)].mean() if mask is not None else error.mean())
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def rms(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Root mean square of ``image`` (over ``mask`` when given)."""
    values = np.asarray(image, dtype=np.float64)
    values = values[np.asarray(mask, bool)] if mask is not None else values
    return float(np.sqrt(np.mean(values**2))) if values.size else 0.0


def ssim(pred: np.ndarray, target: np.ndarray, data_range: float, sigma: float = 1.5,
         mask: np.ndarray | None = None) -> float:
    """Structural similarity of two 2-D images with a Gaussian window (sigma px) and a fixed data range (the
    scikit-image convention of Wang et al.); with ``mask``, the mean of the SSIM map over the masked pixels."""
    pred, target = _pair(pred, target)
    if mask is None:
        return float(structural_similarity(pred, target, data_range=data_range, gaussian_weights=True, sigma=sigma,
                                           use_sample_covariance=False))
    _, values = structural_similarity(pred, target, data_range=data_range, gaussian_weights=True, sigma=sigma,
                                      use_sample_covariance=False, full=True)
    return float(values[np.asarray(mask, bool)].mean())


def roi_mask(target: np.ndarray, threshold: float, dilation_px: int) -> np.ndarray:
    """Pixels where ``target > threshold``, dilated by ``dilation_px`` (a disc), as a boolean mask."""
    radius = int(dilation_px)
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return ndimage.binary_dilation(np.asarray(target) > threshold, structure=xx**2 + yy**2 <= radius**2)


def central_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central ``size`` x ``size`` pixels of the last two axes."""
    height, width = image.shape[-2:]
    top, left = (height - size) // 2, (width - size) // 2
    return image[..., top:top + size, left:left + size]
