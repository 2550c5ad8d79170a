"""Per-group summaries, the paired Wilcoxon test and the bootstrap interval of angiogen.metrics.compare."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import wilcoxon

from angiogen.metrics.compare import bootstrap_ci, mean_sd, paired_wilcoxon, summarise_by_group


def test_summary_per_group_matches_hand_computed_values() -> None:
    rows = [{"dose": 5e4, "psnr": 10.0, "rms": 1.0}, {"dose": 5e5, "psnr": 30.0, "rms": 0.5},
            {"dose": 5e4, "psnr": 14.0, "rms": 3.0}, {"dose": 5e4, "psnr": 12.0, "rms": 2.0}]
    summary = summarise_by_group(rows, "dose", ("psnr", "rms"))
    assert list(summary) == [5e4, 5e5]  # first-seen order
    assert summary[5e4]["psnr"]["mean"] == pytest.approx(12.0)
    assert summary[5e4]["psnr"]["sd"] == pytest.approx(np.sqrt(8 / 3))  # ddof 0: (4 + 4 + 0) / 3
    assert summary[5e4]["rms"] == {"mean": pytest.approx(2.0), "sd": pytest.approx(np.sqrt(2 / 3)), "n": 3,
                                   "values": [1.0, 3.0, 2.0]}
    assert summary[5e5]["psnr"] == {"mean": 30.0, "sd": 0.0, "n": 1, "values": [30.0]}
    with pytest.raises(KeyError):
        summarise_by_group([{"dose": 1.0}], "dose", ("psnr",))


def test_mean_sd_of_a_list() -> None:
    assert mean_sd([1, 2, 3, 6]) == {"mean": 3.0, "sd": pytest.approx(np.sqrt(3.5)), "values": [1.0, 2.0, 3.0, 6.0]}


def test_paired_wilcoxon_median_difference_and_p_value() -> None:
    a = [3.0, 5.0, 2.0, 8.0, 7.0, 6.0]
    b = [1.0, 2.0, 3.0, 4.0, 2.0, 5.5]  # differences 2, 3, -1, 4, 5, 0.5: only rank 2 of |d| is negative
    result = paired_wilcoxon(a, b)
    assert result["median_difference"] == pytest.approx(2.5)
    # exact null of n = 6: 3 of the 64 sign patterns have W- <= 2 ({}, {1}, {2}); two-sided p = 2 * 3 / 64
    assert result["p_value"] == pytest.approx(6 / 64)
    assert result["p_value"] == pytest.approx(wilcoxon(a, b).pvalue)
    assert paired_wilcoxon([1.0, 2.0], [1.0, 2.0]) == {"median_difference": 0.0, "p_value": 1.0}
    assert paired_wilcoxon([4.0], [1.0]) == {"median_difference": 3.0, "p_value": 1.0}
    assert paired_wilcoxon([], []) == {"median_difference": 0.0, "p_value": 1.0}
    assert paired_wilcoxon(b, a)["median_difference"] == pytest.approx(-2.5)


def test_bootstrap_interval_brackets_the_mean_and_is_seeded() -> None:
    values = np.random.default_rng(0).normal(10.0, 2.0, 200)
    low, high = bootstrap_ci(values, 2000, seed=1)
    assert low < values.mean() < high
    standard_error = values.std(ddof=1) / np.sqrt(values.size)
    assert high - low == pytest.approx(2 * 1.96 * standard_error, rel=0.15)  # normal approximation
    assert bootstrap_ci(values, 2000, seed=1) == (low, high)
    assert bootstrap_ci(values, 2000, seed=2) != (low, high)
    assert bootstrap_ci([4.0, 4.0, 4.0], 100, seed=0) == (4.0, 4.0)
    narrow = bootstrap_ci(values, 2000, seed=1, confidence=0.5)
    assert low < narrow[0] < narrow[1] < high
    with pytest.raises(ValueError):
        bootstrap_ci([], 10)
