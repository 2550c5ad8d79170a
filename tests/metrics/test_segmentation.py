"""Dice, volume error and AUROC on hand-counted masks and scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from angiogen.metrics.classification import auroc
from angiogen.metrics.segmentation import dice, volume_error_pct


def test_dice_and_volume_error_count_the_overlap() -> None:
    truth = np.array([1, 1, 1, 1, 0, 0], bool)
    pred = np.array([0, 1, 1, 1, 1, 1], bool)
    assert dice(pred, truth) == pytest.approx(2 * 3 / (5 + 4))
    assert volume_error_pct(pred, truth) == pytest.approx(25.0)
    weights = np.array([1, 1, 1, 1, 2, 6], float)  # the false positives weigh 8
    assert dice(pred, truth, weights) == pytest.approx(2 * 3 / (11 + 4))
    assert volume_error_pct(pred, truth, weights) == pytest.approx(100 * (11 - 4) / 4)
    assert dice(np.zeros(3, bool), np.zeros(3, bool)) == 1.0
    assert math.isnan(volume_error_pct(pred, np.zeros(6, bool)))
    with pytest.raises(ValueError):
        dice(pred, truth[:-1])


def test_auroc_counts_ordered_pairs_and_ties_half() -> None:
    labels = np.array([0, 0, 1, 1], bool)
    assert auroc(np.array([0.1, 0.2, 0.8, 0.9]), labels) == 1.0
    assert auroc(np.array([0.9, 0.8, 0.2, 0.1]), labels) == 0.0
    # pairs (pos, neg): (0.5, 0.1) win, (0.5, 0.5) tie, (0.3, 0.1) win, (0.3, 0.5) loss -> (2 + 0.5) / 4
    assert auroc(np.array([0.1, 0.5, 0.5, 0.3]), labels) == pytest.approx(0.625)
    assert math.isnan(auroc(np.ones(3), np.ones(3, bool)))
