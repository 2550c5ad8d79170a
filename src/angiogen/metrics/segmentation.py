"""Segmentation metrics over masks with optional per-element weights (voxel or node volumes)."""

from __future__ import annotations

import numpy as np


def dice(pred: np.ndarray, truth: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Dice overlap 2|P & T| / (|P| + |T|) of two boolean masks of the same shape.

    Args:
        pred, truth: boolean masks (any shape).
        weights: non-negative weight of each element (e.g. node volumes in mm^3); None counts elements.

    Returns:
        Dice in [0, 1]; 1.0 when both masks are empty.
    """
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    if pred.shape != truth.shape:
        raise ValueError(f"masks differ in shape: {pred.shape} vs {truth.shape}")
    w = np.ones(pred.shape) if weights is None else np.asarray(weights, np.float64)
    total = (w * pred).sum() + (w * truth).sum()
    return 1.0 if total == 0 else float(2 * (w * (pred & truth)).sum() / total)


def volume_error_pct(pred: np.ndarray, truth: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Signed volume error 100 (V_pred - V_true) / V_true of boolean masks (weighted by ``weights``).

    Returns NaN when the true volume is zero.
    """
    w = np.ones(np.shape(pred)) if weights is None else np.asarray(weights, np.float64)
    true_volume = (w * np.asarray(truth, bool)).sum()
    if true_volume == 0:
        return float("nan")
    return float(100.0 * ((w * np.asarray(pred, bool)).sum() - true_volume) / true_volume)
