"""Evaluation of uncrop on a test set of (full, collimated, opening) images (docs/methods/uncrop.md §3).

Methods on the same images: ``ours`` (the mean of K samples), ``ours_one_sample`` (the first sample), optional
further models (e.g. ``regression``), and the baselines of :mod:`uncrop.baselines`. Metrics (``standard``): MSE and
PSNR on [0, 1] and SSIM (scikit-image convention, Gaussian sigma 1.5, data range 1), each over the whole image and
over the missing region (the SSIM map's mean there). ``original`` adds the method's own definitions (§2.6): MSE on
[-1, 1] and its SSIM variant (11 x 11 Gaussian window, sigma 1.5, zero padding, C1 = 0.01^2, C2 = 0.03^2 applied
to the range 2), over the whole image. Uncertainty: the Spearman correlation of the std map with the absolute
error of the mean over missing pixels (per image, then averaged), and the share of missing pixels whose truth lies
within mean +- 2 std (coverage).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from scipy import ndimage
from scipy.stats import spearmanr

from angiogen.metrics.compare import bootstrap_ci, mean_sd
from angiogen.metrics.image import psnr, ssim
from angiogen.tasks.uncrop.data import UncropPairs
from angiogen.tasks.uncrop.infer import Completion

METRICS = ("psnr_missing", "ssim_missing", "mse_missing", "psnr", "ssim", "mse")
ORIGINAL_METRICS = ("mse_original", "ssim_original")
METRIC_SETS = ("standard", "original")
Method = Callable[[np.ndarray, np.ndarray], np.ndarray]
Completer = Callable[[np.ndarray, np.ndarray, int], Completion]


def original_ssim(estimate: np.ndarray, truth: np.ndarray) -> float:
    """The method's SSIM (§2.6) of two images in [0, 1], computed on [-1, 1]: 11 x 11 Gaussian window (sigma
    1.5, truncated at 5 px) with zero padding, constants of a data range of 1, NaN-mean of the map."""
    x, y = estimate.astype(np.float64) * 2 - 1, truth.astype(np.float64) * 2 - 1

    def smooth(image: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(image, 1.5, mode="constant", cval=0.0, truncate=5 / 1.5)

    mu_x, mu_y = smooth(x), smooth(y)
    var_x, var_y = smooth(x * x) - mu_x**2, smooth(y * y) - mu_y**2
    cov = smooth(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    values = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(np.nanmean(values))


def image_metrics(estimate: np.ndarray, truth: np.ndarray, opening: np.ndarray,
                  metric_set: str = "standard") -> dict[str, float]:
    """Every metric of one (H, W) estimate against its truth (both in [0, 1])."""
    missing = ~opening
    error = (estimate.astype(np.float64) - truth) ** 2
    scores = {"psnr_missing": psnr(estimate, truth, 1.0, missing), "ssim_missing": ssim(estimate, truth, 1.0,
                                                                                         mask=missing),
              "mse_missing": float(error[missing].mean()), "psnr": psnr(estimate, truth, 1.0),
              "ssim": ssim(estimate, truth, 1.0), "mse": float(error.mean())}
    if metric_set == "original":
        scores.update({"mse_original": 4.0 * scores["mse"], "ssim_original": original_ssim(estimate, truth)})
    return scores


def uncertainty_scores(completion: Completion, truth: np.ndarray, opening: np.ndarray) -> dict[str, float]:
    """Spearman (std vs |error of the mean|) and mean +- 2 std coverage over the missing pixels."""
    missing = ~opening
    error = np.abs(completion.mean - truth)[missing]
    spread = completion.std[missing]
    rho = float(spearmanr(spread, error).statistic) if spread.std() > 0 and error.std() > 0 else 0.0
    return {"uncertainty_spearman": rho, "coverage_2sd": float(np.mean(error <= 2 * spread))}


def _summary(values: list[float], seed: int) -> dict[str, float | list[float]]:
    low, high = bootstrap_ci(values, seed=seed)
    return {**mean_sd(values), "ci95": [low, high]}


def evaluate(complete: Completer, test: UncropPairs, baselines: Mapping[str, Method],
             others: Mapping[str, Completer] | None = None, metric_set: str = "standard", seed: int = 0,
             progress: Callable[[int, int], None] | None = None) -> dict:
    """Score ``complete`` (``(collimated, opening, index) -> Completion``), further completers and the baselines
    on every test image.

    Returns:
        ``{"rows": [per-image dicts], "methods": {method: {metric: {"mean", "sd", "values", "ci95"}}},
        "uncertainty": {...}, "examples": {index: {name: image}}, "n": N}``.
    """
    keys = METRICS + (ORIGINAL_METRICS if metric_set == "original" else ())
    rows: list[dict] = []
    uncertainty: dict[str, list[float]] = {"uncertainty_spearman": [], "coverage_2sd": []}
    examples: dict[int, dict[str, np.ndarray]] = {}
    show = set(np.linspace(0, len(test) - 1, min(3, len(test))).round().astype(int).tolist())
    for index in range(len(test)):
        truth, collimated, opening = test.full[index], test.collimated[index], test.opening[index]
        completion = complete(collimated, opening, index)
        estimates = {"ours": completion.mean, "ours_one_sample": completion.samples[0]}
        for name, other in (others or {}).items():
            estimates[name] = other(collimated, opening, index).mean
        estimates.update({name: method(collimated, opening) for name, method in baselines.items()})
        for name, estimate in estimates.items():
            rows.append({"image": test.names[index], "method": name,
                         **image_metrics(estimate, truth, opening, metric_set),
                         "known_fraction": float(opening.mean())})
        for name, value in uncertainty_scores(completion, truth, opening).items():
            uncertainty[name].append(value)
        if index in show:
            examples[index] = {"collimated": collimated, **estimates, "std": completion.std, "truth": truth,
                               "opening": opening}
        if progress is not None:
            progress(index + 1, len(test))
    methods = {}
    for name in dict.fromkeys(row["method"] for row in rows):
        picked = [row for row in rows if row["method"] == name]
        methods[name] = {key: _summary([row[key] for row in picked], seed) for key in keys}
    return {"rows": rows, "methods": methods, "n": len(test), "metric_set": metric_set,
            "uncertainty": {name: _summary(values, seed) for name, values in uncertainty.items()},
            "examples": examples}


def best_baseline(methods: Mapping[str, Mapping], metric: str, baselines: tuple[str, ...]) -> tuple[str, float]:
    """The baseline with the highest mean ``metric`` and that mean."""
    best = max((name for name in baselines if name in methods), key=lambda name: methods[name][metric]["mean"])
    return best, float(methods[best][metric]["mean"])
