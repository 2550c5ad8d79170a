"""Figures of the dsa task: the comparison grid (input | conventional | registered | ours | target) and the
training curves next to the all-zero solution's loss."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from angiogen.io.atomic import atomic_path  # noqa: E402

COLUMNS = (("live", "input (live)"), ("conventional", "live - mask (motion)"), ("registered", "registered DSA"),
           ("ours", "ours (no mask)"), ("target", "truth (vessel only)"))


def _save(figure: plt.Figure, path: str | Path, overwrite: bool) -> Path:
    path = Path(path)
    with atomic_path(path, overwrite) as tmp:
        figure.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(figure)
    return path


def plot_comparison(path: str | Path, rows: dict[str, dict[str, np.ndarray]], overwrite: bool = False) -> Path:
    """One row per label (e.g. dose or frame) of the five columns; all vessel images share one grey scale, set by
    the strongest target (dark = iodine), so a faint or empty frame is not stretched into noise.

    Args:
        rows: ``{row label: {"live", "conventional", "registered", "ours", "target": (H, W) arrays}}``.
    """
    figure, axes = plt.subplots(len(rows), len(COLUMNS), figsize=(2.6 * len(COLUMNS), 2.7 * len(rows)),
                                squeeze=False)
    top = max(float(np.percentile(images["target"], 99.5)) for images in rows.values()) or 1.0
    for row, (label, images) in enumerate(rows.items()):
        for col, (key, title) in enumerate(COLUMNS):
            axis = axes[row, col]
            image = images[key]
            if key == "live":
                axis.imshow(image, cmap="gray_r")
            else:
                axis.imshow(np.clip(image, -0.25 * top, top), cmap="gray_r", vmin=-0.25 * top, vmax=top)
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(title, fontsize=9)
            if col == 0:
                axis.set_ylabel(label, fontsize=9)
    figure.tight_layout()
    return _save(figure, path, overwrite)


def plot_training_curves(path: str | Path, metrics_csv: str | Path, overwrite: bool = False) -> Path:
    """Training loss by step, and validation vessel-ROI PSNR of the model and of the all-zero prediction."""
    series: dict[str, list[tuple[int, float]]] = {}
    with open(metrics_csv, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            series.setdefault(row["name"], []).append((int(row["step"]), float(row["value"])))
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, axis, label in (("train/loss", left, "training loss"), ("val_roi_psnr", right, "model"),
                              ("val_roi_psnr_zero", right, "all-zero prediction")):
        if name in series:
            steps, values = zip(*series[name])
            axis.plot(steps, values, label=label, linestyle="--" if name.endswith("zero") else "-",
                      marker="" if name.startswith("train") else "o", markersize=3)
        axis.set_xlabel("step")
    left.set_yscale("log")
    left.set_title("training loss (MSE warm-up, then weighted L1)")
    right.set_title("validation vessel-ROI PSNR (dB)")
    right.legend()
    figure.tight_layout()
    return _save(figure, path, overwrite)
