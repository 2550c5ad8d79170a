"""Scoring a reconstructed scar field against the truth, slice residuals (QC without truth), and the baselines."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from angiogen.metrics.classification import auroc
from angiogen.metrics.segmentation import dice, volume_error_pct
from angiogen.tasks.scar.baselines import baseline_fields
from angiogen.tasks.scar.data import ScarData


def isthmus_open(points_mm: np.ndarray, healthy: np.ndarray, channel: np.ndarray, low: np.ndarray,
                 high: np.ndarray, k: int = 8) -> bool:
    """True when the healthy channel nodes connect its two ends on the k-nearest-neighbour graph of all nodes.

    Args:
        points_mm: (N, 3) nodes.
        healthy: (N,) predicted healthy (probability < threshold).
        channel, low, high: (N,) channel nodes and its two end bands.
        k: neighbours per node.
    """
    keep = np.flatnonzero(healthy & channel)
    if not (low[keep].any() and high[keep].any()):
        return False
    _, neighbours = cKDTree(points_mm).query(points_mm[keep], k=k + 1)
    local = np.full(len(points_mm), -1)
    local[keep] = np.arange(len(keep))
    rows = np.repeat(np.arange(len(keep)), k + 1)
    cols = local[neighbours.ravel()]
    edge = cols >= 0
    graph = coo_matrix((np.ones(edge.sum()), (rows[edge], cols[edge])), shape=(len(keep), len(keep)))
    _, label = connected_components(graph, directed=False)
    return bool(np.intersect1d(label[low[keep]], label[high[keep]]).size)


def score_field(data: ScarData, probability: np.ndarray, std: np.ndarray | None = None,
                threshold: float = 0.5) -> dict[str, float | bool | None]:
    """Metrics of a field (N,) against ``data.truth``.

    Returns:
        ``dice`` (volume-weighted, the headline), ``dice_nodes`` (node-wise), ``vol_err_pct`` (volume-weighted),
        ``mae`` (volume-weighted mean |p - truth|), ``isthmus_open`` (None without a channel), and with ``std``
        ``uncertainty_auroc`` (std as a detector of misclassified nodes).
    """
    if data.truth is None:
        raise ValueError("this case has no truth; use slice_residuals for QC")
    truth = data.truth.astype(bool)
    weights = data.node_volume_mm3
    pred = probability >= threshold
    result: dict[str, float | bool | None] = {
        "dice": dice(pred, truth, weights),
        "dice_nodes": dice(pred, truth),
        "vol_err_pct": volume_error_pct(pred, truth, weights),
        "mae": float(np.average(np.abs(probability - truth), weights=weights)),
        "isthmus_open": None,
    }
    if "channel" in data.isthmus:
        result["isthmus_open"] = isthmus_open(data.points_mm, ~pred, data.isthmus["channel"], data.isthmus["low"],
                                              data.isthmus["high"])
    if std is not None:
        result["uncertainty_auroc"] = auroc(std, pred != truth)
    return result


def slice_residuals(data: ScarData, probability: np.ndarray) -> dict[str, object]:
    """How well a field reproduces the slices: per slice the RMS of (pixel value - volume-weighted group mean)."""
    groups = data.groups
    weight = data.node_volume_mm3[groups.member_node]
    mean = (np.bincount(groups.member_group, weight * probability[groups.member_node], groups.n_groups)
            / np.bincount(groups.member_group, weight, groups.n_groups))
    residual = groups.target - mean
    per_slice = {int(s): float(np.sqrt(np.mean(residual[groups.pixel[:, 0] == s] ** 2)))
                 for s in np.unique(groups.pixel[:, 0])}
    return {"rms": float(np.sqrt(np.mean(residual**2))), "rms_per_slice": per_slice}


def score_baselines(data: ScarData, threshold: float = 0.5) -> dict[str, dict[str, float | bool | None]]:
    """:func:`score_field` of every non-learned baseline of :mod:`angiogen.tasks.scar.baselines`."""
    return {name: score_field(data, field, threshold=threshold) for name, field in baseline_fields(data).items()}
