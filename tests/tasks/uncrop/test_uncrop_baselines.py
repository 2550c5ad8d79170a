"""The baselines of uncrop and the evaluation's scores (uncertainty calibration, the method's SSIM / MSE)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from angiogen.tasks.uncrop.baselines import BASELINES, TrainingSetBaselines, biharmonic, mean_fill
from angiogen.tasks.uncrop.data import UncropPairs
from angiogen.tasks.uncrop.evaluate import (METRICS, ORIGINAL_METRICS, best_baseline, evaluate, image_metrics,
                                            original_ssim, uncertainty_scores)
from angiogen.tasks.uncrop.infer import Completion


def _opening(size: int = 32) -> np.ndarray:
    opening = np.zeros((size, size), bool)
    opening[size // 4: size // 2, size // 4: 3 * size // 4] = True
    return opening


def _structured(seed: int, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    r, c = np.mgrid[:size, :size]
    image = 0.5 + 0.2 * np.sin(r / rng.uniform(2, 6) + rng.uniform(0, 6)) * np.cos(c / rng.uniform(2, 6))
    return np.clip(image + 0.05 * rng.standard_normal((size, size)), 0.05, 0.95).astype(np.float32)


def test_mean_fill_keeps_the_opening_and_fills_with_its_mean() -> None:
    opening = _opening()
    collimated = np.where(opening, _structured(0), 0.1).astype(np.float32)
    filled = mean_fill(collimated, opening)
    assert filled.dtype == np.float32
    assert np.array_equal(filled[opening], collimated[opening])
    np.testing.assert_allclose(filled[~opening], collimated[opening].mean(), rtol=1e-6)


def test_train_mean_is_offset_to_the_opening_mean() -> None:
    train = np.stack([_structured(seed) for seed in range(4)])  # 32 px references, the query is 64 px
    baselines = TrainingSetBaselines(train)
    np.testing.assert_allclose(baselines.mean_image, train.mean(axis=0), rtol=1e-6)
    opening = _opening(64)
    collimated = np.where(opening, 0.6, 0.05).astype(np.float32)
    result = baselines.train_mean(collimated, opening)
    assert np.array_equal(result[opening], collimated[opening])
    template = np.kron(baselines.mean_image, np.ones((2, 2)))  # roughly the bilinear enlargement
    offset = 0.6 - float(template[opening].mean())
    expected = np.clip(template + offset, 0, 1)
    assert abs(float(result[~opening].mean() - expected[~opening].mean())) < 0.01
    assert np.corrcoef(result[~opening], template[~opening])[0, 1] > 0.9  # the template's structure, shifted


def test_nearest_picks_the_exact_training_image() -> None:
    train = np.stack([_structured(seed) for seed in range(6)])
    baselines = TrainingSetBaselines(train)
    opening = _opening()
    for pick in (2, 5):
        collimated = np.where(opening, train[pick], 0.2 * train[pick]).astype(np.float32)
        result = baselines.nearest(collimated, opening)
        assert np.array_equal(result[opening], collimated[opening])
        np.testing.assert_allclose(result[~opening], train[pick][~opening], atol=1e-6)
        # a brighter acquisition of it: still that image (means matched), offset by the difference
        brighter = np.where(opening, train[pick] + 0.03, 0.1).astype(np.float32)
        shifted = baselines.nearest(brighter, opening)
        np.testing.assert_allclose(shifted[~opening], np.clip(train[pick] + 0.03, 0, 1)[~opening], atol=1e-5)


def test_biharmonic_reproduces_a_linear_ramp() -> None:
    r, c = np.mgrid[:48, :48]
    ramp = (0.2 + 0.5 * c / 47 + 0.2 * r / 47).astype(np.float32)
    measured = np.ones((48, 48), bool)
    measured[14:30, 12:34] = False  # the missing region enclosed by the measured one: exact
    np.testing.assert_allclose(biharmonic(ramp, measured), ramp, atol=1e-5)
    # the uncrop case, the measured region enclosed: continuous at the opening, though scikit-image's
    # biharmonic flattens out towards the image border (it does not extrapolate the ramp)
    opening = ~measured
    completed = biharmonic(ramp, opening)
    assert np.array_equal(completed[opening], ramp[opening])
    first_ring = ndimage.distance_transform_edt(~opening) == 1
    assert np.abs(completed - ramp)[first_ring].max() < 0.03


def test_all_baselines_in_order() -> None:
    baselines = TrainingSetBaselines(np.stack([_structured(0), _structured(1)])).all()
    assert tuple(baselines) == BASELINES == ("mean_fill", "train_mean", "nearest", "biharmonic")


def test_calibrated_uncertainty_has_spearman_one_and_full_coverage() -> None:
    rng = np.random.default_rng(0)
    truth = rng.uniform(0.2, 0.8, (32, 32)).astype(np.float32)
    opening = _opening()
    mean = truth + rng.normal(0, 0.05, truth.shape).astype(np.float32)
    mean[opening] = truth[opening]
    std = np.abs(mean - truth)
    calibrated = Completion(mean, std, mean[None])
    scores = uncertainty_scores(calibrated, truth, opening)
    assert scores["uncertainty_spearman"] == pytest.approx(1.0)
    assert scores["coverage_2sd"] == 1.0
    reversed_std = Completion(mean, 1.0 - std / std.max(), mean[None])
    assert uncertainty_scores(reversed_std, truth, opening)["uncertainty_spearman"] == pytest.approx(-1.0)
    flat = Completion(mean, np.zeros_like(std), mean[None])
    assert uncertainty_scores(flat, truth, opening) == {"uncertainty_spearman": 0.0, "coverage_2sd": 0.0}


def test_the_methods_metrics() -> None:
    truth = _structured(3)
    opening = _opening()
    assert original_ssim(truth, truth) == pytest.approx(1.0)
    worse = np.clip(truth + np.random.default_rng(1).normal(0, 0.1, truth.shape), 0, 1).astype(np.float32)
    assert original_ssim(worse, truth) < 0.9
    scores = image_metrics(worse, truth, opening, "original")
    assert set(scores) == set(METRICS + ORIGINAL_METRICS)
    assert scores["mse_original"] == pytest.approx(4.0 * scores["mse"])  # MSE on [-1, 1]
    assert scores["mse"] == pytest.approx(float(np.mean((worse.astype(np.float64) - truth) ** 2)))
    assert set(image_metrics(worse, truth, opening)) == set(METRICS)
    perfect = image_metrics(truth, truth, opening)
    assert perfect["mse_missing"] == 0 and perfect["ssim_missing"] == pytest.approx(1.0)


def test_evaluate_scores_every_method_on_every_image() -> None:
    truths = np.stack([_structured(seed) for seed in range(3)])
    opening = np.stack([_opening()] * 3)
    collimated = np.where(opening, truths, 0.1 * truths).astype(np.float32)
    test = UncropPairs(truths, collimated, opening, ["a", "b", "c"])

    def oracle(image: np.ndarray, measured: np.ndarray, index: int) -> Completion:
        estimate = np.where(measured, image, truths[index] + 0.01).astype(np.float32)  # off by 0.01 outside
        spread = np.where(measured, 0.0, 0.01 + 0.01 * truths[index]).astype(np.float32)
        return Completion(estimate, spread, np.stack([estimate, image]))

    baselines = TrainingSetBaselines(np.stack([_structured(seed) for seed in (10, 11)])).all()
    results = evaluate(oracle, test, baselines, {"other": oracle}, "original", seed=0)
    assert results["n"] == 3 and len(results["rows"]) == 3 * (3 + 4)
    assert list(results["methods"]) == ["ours", "ours_one_sample", "other", *BASELINES]
    ours = results["methods"]["ours"]
    assert ours["mse_missing"]["mean"] == pytest.approx(1e-4, rel=1e-3)
    assert 0 < ours["ssim_original"]["mean"] < 1
    assert results["methods"]["ours_one_sample"]["mse"] == ours["mse"]  # the first sample is the estimate here
    assert results["uncertainty"]["coverage_2sd"]["mean"] == 1.0
    assert len(ours["psnr"]["values"]) == 3 and len(ours["psnr"]["ci95"]) == 2
    assert sorted(results["examples"]) == [0, 1, 2]
    assert best_baseline(results["methods"], "ssim_missing", BASELINES)[0] in BASELINES
