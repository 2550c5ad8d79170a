"""What uncrop draws: collimated input | recovered mean | std | truth (and baselines), the opening outlined."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage

from angiogen.report.figures import image_grid

TITLES = {"collimated": "collimated input", "ours": "ours (mean of K)", "ours_one_sample": "ours (one sample)",
          "std": "std of the K samples", "truth": "full field (truth)", "mean_fill": "mean fill",
          "train_mean": "training mean", "nearest": "nearest training image", "biharmonic": "biharmonic",
          "regression": "regression U-Net"}


def outlined(image: np.ndarray, opening: np.ndarray) -> np.ndarray:
    """``image`` with the opening's border drawn white (1.0), to show where the measurement ends."""
    border = opening & ~ndimage.binary_erosion(opening)
    return np.where(border, 1.0, image)


def plot_examples(path: str | Path, examples: Mapping[str, Mapping[str, np.ndarray]], columns: Sequence[str],
                  overwrite: bool = False) -> Path:
    """One row per example (``{label: {"collimated", ..., "std", "truth", "opening"}}``), the ``columns`` in order;
    images on one grey scale [0, 1], the std column on its own scale."""
    rows = {}
    for label, images in examples.items():
        opening = images["opening"]
        rows[label] = {name: outlined(images[name], opening) if name == "collimated" else images[name]
                       for name in columns}
    return image_grid(path, rows, value_range=(0.0, 1.0), titles=TITLES, own_scale=("std",), overwrite=overwrite)
