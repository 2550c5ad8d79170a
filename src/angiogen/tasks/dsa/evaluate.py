"""Evaluation on the motion test set against the noise-free vessel-only target (dsa.md 2.8).

Per case and dose: ours (the network on the live frame alone), the all-zero image, conventional live - mask with
motion, the same after sub-pixel rigid registration, that smoothed (Gaussian sigma 1 px), and the no-motion DSA
(live - static mask at the same pose). Metrics on the central 112 x 112 of 128 x 128 (the same share of other
sizes): vessel-ROI PSNR (target > 0.01 dilated by 3 px; data range 0.5) and the background RMS outside it as the
ranking pair; whole-image PSNR and SSIM (range 0.5) as secondary. Mean +- sd per dose, and a paired Wilcoxon
signed-rank test of ours vs the registered conventional DSA.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from angiogen.metrics.compare import mean_sd, paired_wilcoxon
from angiogen.metrics.image import central_crop, psnr, rms, roi_mask, ssim
from angiogen.tasks.dsa.baselines import registered_dsa, subtract
from angiogen.tasks.dsa.data import MotionTestSet, noisy_case_frames
from angiogen.tasks.dsa.pairs import VESSEL_THRESHOLD

METHODS = ("ours", "zero", "conventional", "registered", "registered_smoothed", "no_motion")
METRICS = ("roi_psnr", "bg_rms", "psnr", "ssim")
DATA_RANGE = 0.5


def case_images(live: np.ndarray, mask: np.ndarray, static_mask: np.ndarray, ours: np.ndarray) -> dict[str, np.ndarray]:
    """Every method's vessel image of one case (H, W)."""
    return {
        "ours": ours, "zero": np.zeros_like(live), "conventional": subtract(live, mask),
        "registered": registered_dsa(live, mask), "registered_smoothed": registered_dsa(live, mask, 1.0),
        "no_motion": subtract(live, static_mask),
    }


def image_metrics(pred: np.ndarray, target: np.ndarray, crop_fraction: float = 112 / 128) -> dict[str, float]:
    """The four metrics of one image against its target, on the central crop."""
    size = int(round(target.shape[-1] * crop_fraction))
    pred, target = central_crop(pred, size), central_crop(target, size)
    roi = roi_mask(target, VESSEL_THRESHOLD, 3)
    return {"roi_psnr": psnr(pred, target, DATA_RANGE, roi), "bg_rms": rms(pred - target, ~roi),
            "psnr": psnr(pred, target, DATA_RANGE), "ssim": ssim(pred, target, DATA_RANGE)}


def evaluate(predict: Callable[[np.ndarray], np.ndarray], test: MotionTestSet,
             progress: Callable[[int, int], None] | None = None,
             variants: dict[str, Callable[[np.ndarray], np.ndarray]] | None = None) -> dict:
    """Score ``predict`` ((F, H, W) live frames -> vessel images) and the baselines on every case and dose.

    Args:
        variants: further predictors scored beside ``ours`` on the same noisy frames, by name (e.g. one view).

    Returns:
        ``{"doses": {N0: {method: {metric: {"mean", "sd", "values"}}, "wilcoxon_vs_registered": {...}}},
        "n_cases": C, "methods": [...]}``; also ``examples``: the images of case 0 at every dose for figures.
    """
    variants = variants or {}
    methods = (*METHODS, *variants)
    doses: dict[str, dict] = {}
    examples = {}
    total, done = len(test.doses) * len(test), 0
    for dose_index, dose in enumerate(test.doses):
        frames = [noisy_case_frames(test, case, dose_index) for case in range(len(test))]
        lives = np.stack([frame["live"] for frame in frames])
        ours = predict(lives)
        predicted = {name: variant(lives) for name, variant in variants.items()}
        scores = {method: {metric: [] for metric in METRICS} for method in methods}
        for case, frame in enumerate(frames):
            images = case_images(frame["live"], frame["mask"], frame["static_mask"], ours[case])
            images.update({name: variant_images[case] for name, variant_images in predicted.items()})
            for method, image in images.items():
                for metric, value in image_metrics(image, test.vessel_b[case]).items():
                    scores[method][metric].append(value)
            if case == 0:
                examples[float(dose)] = {"live": frame["live"], "target": test.vessel_b[case], **images}
            done += 1
            if progress:
                progress(done, total)
        summary = {method: {metric: mean_sd(values) for metric, values in by_metric.items()}
                   for method, by_metric in scores.items()}
        summary["wilcoxon_vs_registered"] = {
            metric: paired_wilcoxon(scores["ours"][metric], scores["registered"][metric])
            for metric in ("roi_psnr", "bg_rms")
        }
        doses[f"{dose:g}"] = summary
    return {"doses": doses, "n_cases": len(test), "methods": list(methods), "examples": examples}


def summary_table(results: dict, metrics: tuple[str, ...] = ("roi_psnr", "bg_rms")) -> dict[str, dict]:
    """``{dose: {method: {metric: mean}}}``: the compact table of the benchmark JSON."""
    return {dose: {method: {metric: by_dose[method][metric]["mean"] for metric in metrics}
                   for method in results["methods"]}
            for dose, by_dose in results["doses"].items()}
