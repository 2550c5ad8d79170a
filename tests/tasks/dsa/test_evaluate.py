"""Baselines, image metrics and the motion benchmark of the dsa task."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import ndimage

from angiogen.metrics.image import central_crop, psnr, rms, roi_mask, ssim
from angiogen.tasks.dsa.baselines import register_mask, registered_dsa, subtract
from angiogen.tasks.dsa.data import MotionTestSet, noisy_case_frames
from angiogen.tasks.dsa.evaluate import METHODS, METRICS, evaluate, image_metrics, summary_table
from angiogen.tasks.dsa.pairs import VESSEL_THRESHOLD


def _smooth_image(size: int = 64) -> np.ndarray:
    """A sum of Gaussian bumps that fades to ~0 at the edges (no wrap-around for the phase correlation)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size].astype(np.float64)
    image = np.zeros((size, size))
    for _ in range(12):
        cy, cx = rng.uniform(0.3, 0.7, 2) * size
        image += rng.uniform(0.5, 2.0) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rng.uniform(3, 7) ** 2))
    return image


def test_registration_recovers_a_sub_pixel_shift() -> None:
    mask = _smooth_image()
    live = ndimage.shift(mask, (1.3, -0.7), order=3, mode="nearest")
    moved, shift = register_mask(live, mask)
    np.testing.assert_allclose(shift, (1.3, -0.7), atol=0.1)  # 1/10 px upsampling
    unregistered = rms(subtract(live, mask))
    registered = rms(registered_dsa(live, mask))
    assert registered < 0.1 * unregistered
    assert moved.shape == mask.shape and moved.dtype == np.float32
    # registration of a vessel-free live frame leaves almost nothing, smoothing removes a little more noise
    noisy_live = live + np.random.default_rng(1).normal(0, 0.02, live.shape)
    assert rms(registered_dsa(noisy_live, mask, 1.0)) < rms(registered_dsa(noisy_live, mask))


def test_subtraction_is_live_minus_mask() -> None:
    live, mask = np.full((4, 4), 3.5), np.full((4, 4), 3.0)
    out = subtract(live, mask)
    assert out.dtype == np.float32 and np.allclose(out, 0.5)


def test_psnr_rms_and_ssim_values() -> None:
    image = _smooth_image(32)
    assert psnr(image, image, 0.5) == math.inf
    assert psnr(image + 0.05, image, 0.5) == pytest.approx(20.0)  # 10 log10(0.25 / 0.0025)
    mask = np.zeros_like(image, bool)
    mask[:4] = True
    shifted = image.copy()
    shifted[:4] += 0.5
    assert psnr(shifted, image, 0.5, mask) == pytest.approx(0.0)  # only the masked rows count
    assert psnr(shifted, image, 0.5, ~mask) == math.inf
    assert rms(np.full((3, 3), -2.0)) == pytest.approx(2.0)
    assert rms(np.ones((3, 3)), np.zeros((3, 3), bool)) == 0.0
    vessels = 0.3 * image / image.max()  # in the 0.5 data range
    assert ssim(vessels, vessels, 0.5) == pytest.approx(1.0)
    assert ssim(vessels + np.random.default_rng(0).normal(0, 0.05, image.shape), vessels, 0.5) < 0.7
    assert ssim(np.zeros_like(vessels), vessels, 0.5) < 0.01
    with pytest.raises(ValueError):
        psnr(image, image[:-1], 0.5)


def test_roi_mask_dilates_by_a_disc_of_the_given_radius() -> None:
    target = np.zeros((21, 21))
    target[10, 10] = 0.5
    for radius, count in [(0, 1), (1, 5), (2, 13), (3, 29)]:  # lattice points with x^2 + y^2 <= r^2
        roi = roi_mask(target, 0.01, radius)
        assert roi.dtype == bool and int(roi.sum()) == count
    roi = roi_mask(target, 0.01, 3)
    assert roi[10, 13] and roi[13, 10] and not roi[12, 13] and not roi[10, 14]
    assert not roi_mask(target, 0.5, 3).any()  # strictly above the threshold


def test_central_crop() -> None:
    image = np.arange(128 * 128).reshape(128, 128)
    crop = central_crop(image, 112)
    assert crop.shape == (112, 112) and crop[0, 0] == image[8, 8]


def _exactly(test: MotionTestSet):  # noqa: ANN202
    def predict(frames: np.ndarray) -> np.ndarray:
        assert frames.shape == test.vessel_b.shape
        return test.vessel_b.copy()

    return predict


@pytest.mark.filterwarnings("ignore:invalid value encountered in subtract")  # sd of [inf, inf]
def test_perfect_prediction_scores_and_every_method_is_reported(tiny_test: MotionTestSet) -> None:
    # targets without faint (<= threshold) tails, so that the background outside the ROI is empty
    vessels = np.where(tiny_test.vessel_b > VESSEL_THRESHOLD, tiny_test.vessel_b, 0.0).astype(np.float32)
    test = dataclasses.replace(tiny_test, mask_b=tiny_test.mask_b + tiny_test.vessel_b - vessels, vessel_b=vessels)
    calls = []
    results = evaluate(_exactly(test), test, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (6, 6) and len(calls) == 6
    assert results["n_cases"] == 2
    assert set(results["doses"]) == {f"{dose:g}" for dose in tiny_test.doses}
    for dose, by_method in results["doses"].items():
        assert set(METHODS) <= set(by_method)
        for method in METHODS:
            assert set(by_method[method]) == set(METRICS)
            assert len(by_method[method]["roi_psnr"]["values"]) == 2
        assert by_method["ours"]["roi_psnr"]["mean"] == math.inf
        assert by_method["ours"]["psnr"]["mean"] == math.inf
        assert by_method["ours"]["bg_rms"]["mean"] == 0.0
        assert by_method["ours"]["ssim"]["mean"] == pytest.approx(1.0)
        assert by_method["zero"]["bg_rms"]["mean"] == 0.0
        assert by_method["zero"]["roi_psnr"]["mean"] < 40
        # without motion, live - static mask is the target plus noise only
        assert by_method["no_motion"]["bg_rms"]["mean"] < by_method["conventional"]["bg_rms"]["mean"]
        assert by_method["wilcoxon_vs_registered"]["bg_rms"]["median_difference"] < 0
    # noise falls with the dose: the no-motion DSA improves from the lowest to the highest dose
    low, high = (results["doses"][f"{d:g}"]["no_motion"]["bg_rms"]["mean"] for d in (5e4, 5e5))
    assert high < low
    table = summary_table(results)
    assert table["50000"]["ours"] == {"roi_psnr": math.inf, "bg_rms": 0.0}
    assert set(results["examples"]) == set(tiny_test.doses)
    assert set(results["examples"][5e4]) >= {"live", "target", *METHODS}


@pytest.mark.filterwarnings("ignore:invalid value encountered in subtract")  # sd of ours' [inf, inf]
def test_variants_are_scored_beside_ours_on_the_same_frames(tiny_test: MotionTestSet) -> None:
    seen: list[np.ndarray] = []

    def all_zero(lives: np.ndarray) -> np.ndarray:
        seen.append(lives)
        return np.zeros_like(lives)

    results = evaluate(_exactly(tiny_test), tiny_test, variants={"ours_zero": all_zero})
    assert results["methods"] == [*METHODS, "ours_zero"]
    assert len(seen) == len(tiny_test.doses)
    lowest_dose = np.stack([noisy_case_frames(tiny_test, case, 0)["live"] for case in range(len(tiny_test))])
    assert np.array_equal(seen[0], lowest_dose)
    table = summary_table(results)
    for dose, row in table.items():
        assert row["ours_zero"] == row["zero"]  # the same images get the same scores
        assert results["doses"][dose]["ours_zero"]["roi_psnr"]["values"] == \
            results["doses"][dose]["zero"]["roi_psnr"]["values"]


@pytest.mark.filterwarnings("ignore:invalid value encountered in subtract")
def test_a_perfect_prediction_has_no_background_error(tiny_test: MotionTestSet) -> None:
    assert np.any((tiny_test.vessel_b > 0) & (tiny_test.vessel_b <= VESSEL_THRESHOLD))  # faint tails exist
    results = evaluate(_exactly(tiny_test), tiny_test)
    for by_method in results["doses"].values():
        assert by_method["ours"]["bg_rms"]["mean"] == 0.0
        assert by_method["ours"]["bg_rms"]["mean"] <= by_method["zero"]["bg_rms"]["mean"]


def test_image_metrics_use_the_central_crop() -> None:
    target = np.zeros((128, 128))
    target[60:68, 20:108] = 0.2
    pred = target.copy()
    pred[:8] = 1.0  # outside the central 112 x 112
    pred[:, :8] = 1.0
    scores = image_metrics(pred, target)
    assert scores["roi_psnr"] == math.inf and scores["bg_rms"] == 0.0 and scores["psnr"] == math.inf
    pred[64, 64] += 0.1  # inside the vessel ROI
    assert image_metrics(pred, target)["roi_psnr"] < math.inf and image_metrics(pred, target)["bg_rms"] == 0.0
