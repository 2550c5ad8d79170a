"""Comparisons of methods over a set of cases: per-group summaries, paired tests and bootstrap intervals.

Every task that benchmarks methods on the same cases (per dose, per scar kind, ...) reports mean +- sd per group,
a paired test of two methods and, where the spread of the mean matters, a bootstrap confidence interval.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence

import numpy as np
from scipy.stats import wilcoxon


def mean_sd(values: Sequence[float]) -> dict[str, float | list[float]]:
    """``{"mean", "sd", "values"}`` of ``values``: the mean, the population sd (ddof 0) and the values as floats."""
    values = [float(v) for v in values]
    return {"mean": float(np.mean(values)), "sd": float(np.std(values)), "values": values}


def summarise_by_group(rows: Iterable[Mapping], group_key: str, value_keys: Sequence[str]) -> dict[Hashable, dict]:
    """Mean, sd (ddof 0), n and the values of each of ``value_keys`` per group of rows.

    Args:
        rows: one mapping per case, holding ``group_key`` and every key of ``value_keys``.
        group_key: the key whose value groups the rows (e.g. the dose); groups keep the order they first appear.
        value_keys: the keys to summarise (e.g. metric names).

    Returns:
        ``{group: {key: {"mean", "sd", "n", "values"}}}``.
    """
    grouped: dict[Hashable, dict[str, list[float]]] = {}
    for row in rows:
        if group_key not in row or any(key not in row for key in value_keys):
            raise KeyError(f"every row needs {group_key!r} and {list(value_keys)}, got keys {sorted(row)}")
        by_key = grouped.setdefault(row[group_key], {key: [] for key in value_keys})
        for key in value_keys:
            by_key[key].append(row[key])
    return {group: {key: {**mean_sd(values), "n": len(values)} for key, values in by_key.items()}
            for group, by_key in grouped.items()}


def paired_wilcoxon(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    """Median of the paired differences a - b and the two-sided Wilcoxon signed-rank p-value.

    The p-value is 1.0 when fewer than two pairs are given or every difference is 0 (no evidence either way); the
    median difference is 0.0 without pairs.
    """
    differences = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    if differences.ndim != 1:
        raise ValueError(f"a and b must be 1-D sequences of the same length, got shape {differences.shape}")
    if len(differences) < 2 or not np.any(differences):
        return {"median_difference": float(np.median(differences)) if len(differences) else 0.0, "p_value": 1.0}
    return {"median_difference": float(np.median(differences)), "p_value": float(wilcoxon(a, b).pvalue)}


def bootstrap_ci(values: Sequence[float], n_resamples: int = 2000, seed: int = 0,
                 confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap confidence interval (low, high) of the mean of ``values``.

    Args:
        values: the per-case values (1-D, at least one).
        n_resamples: number of resamples with replacement.
        seed: seed of the resampling generator (the same seed gives the same interval).
        confidence: coverage of the interval in (0, 1).
    """
    values = np.asarray(values, np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"values must be a non-empty 1-D sequence, got shape {values.shape}")
    if not 0.0 < confidence < 1.0 or n_resamples < 1:
        raise ValueError(f"need 0 < confidence < 1 and n_resamples >= 1, got {confidence} and {n_resamples}")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, (int(n_resamples), values.size))].mean(axis=1)
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)
